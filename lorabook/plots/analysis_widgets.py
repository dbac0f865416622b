"""Figures that a slider redraws (notebooks 04 and 06, the classroom app): one call per slider position.

    from ipywidgets import IntSlider, interact

    def show(r):                      # returns None, so the figure is drawn once
        plot_rank_approximation(picture, r)

    interact(show, r=IntSlider(value=4, min=1, max=32))

- plot_rank_approximation(picture, r): a picture, its best rank-r approximation,
  the residual and the singular values kept (slider: r)
- plot_similarity_row(grids, i, d): row i of LoRA-paper subspace-similarity
  grids against the random baseline (slider: i)

and the figures of notebook 06 and the classroom app (lorabook.widgets computes
their numbers):

- plot_rank_selection(numbers): training curves and update spectra of one
  LoRA run on the shifted digits (sliders: rank, lora_alpha, labels, ...)
- plot_planted_rank(numbers): the planted-rank U-curve with the chosen rank
  circled, and the planted update's spectrum against the estimate's
- plot_classroom_digits(numbers, ranks_seen), plot_classroom_planted(numbers):
  the classroom app's figures, text at least 16 pt for a projector
- plot_rank_budget_grid(grid): small multiples of rank against label budget,
  what the sliders show, for a reader without a kernel

Each function is an ordinary plotting function (tests call it directly);
the slider only chooses its arguments.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lorabook._checks import check_int, check_matrix
from lorabook.analysis import low_rank_approx, singular_values
from lorabook.analysis._validate import check_rank
from lorabook.plots.experiments import plot_rank_curve


def rank_approximation_summary(picture, r):
    """What keeping the top r singular values of `picture` (m, n) costs and saves, as a dict.

    keys: r, shape, measured_error = ||P - P_r||_F, eckart_young_error =
    sqrt(s_{r+1}^2 + ... + s_p^2) (the two agree: Eckart-Young),
    relative_error = measured_error / ||P||_F, numbers_full = m * n,
    numbers_factors = r * (m + n) (B is m x r, A is r x n, as in LoRA).
    """
    picture = check_matrix("picture", picture, dtype=np.float64)
    r = check_rank("r", r, picture.shape)
    s = singular_values(picture)
    measured = float(np.linalg.norm(picture - low_rank_approx(picture, r)))
    m, n = picture.shape
    return {
        "r": r,
        "shape": (m, n),
        "measured_error": measured,
        "eckart_young_error": float(np.sqrt(np.sum(s[r:] ** 2))),
        "relative_error": measured / float(np.linalg.norm(picture)),
        "numbers_full": m * n,
        "numbers_factors": r * (m + n),
    }


def plot_rank_approximation(picture, r, cmap="gray_r"):
    """The picture, its best rank-r approximation, what is left over, and its singular values.

    picture (m, n): any matrix drawn as an image (e.g. a mosaic of digits).
    r in 1..min(m, n). Panels, left to right: the picture P; P_r = U_r S_r V_r^T;
    the residual P - P_r (signed, red/blue, white = 0); the singular values
    with the r kept ones in colour and the dropped ones grey. The title gives
    the measured error ||P - P_r||_F next to Eckart-Young's sqrt(s_{r+1}^2 + ...)
    and the numbers stored: r (m + n) for the two factors against m n.
    Returns the Figure.
    """
    picture = check_matrix("picture", picture, dtype=np.float64)
    summary = rank_approximation_summary(picture, r)
    r = summary["r"]
    approx = low_rank_approx(picture, r)
    residual = picture - approx
    s = singular_values(picture)

    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4), layout="constrained",
                             gridspec_kw={"width_ratios": [1, 1, 1, 1.4]})
    low, high = picture.min(), picture.max()
    axes[0].imshow(picture, cmap=cmap, vmin=low, vmax=high)
    axes[0].set_title("picture P")
    # Same colour range as the picture, so a rank-1 approximation looks as faint as it is.
    axes[1].imshow(approx, cmap=cmap, vmin=low, vmax=high)
    axes[1].set_title(f"best rank-{r} approximation P_{r}")
    limit = max(float(np.abs(residual).max()), 1e-12)
    axes[2].imshow(residual, cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[2].set_title("left over: P - P_r")
    for axis in axes[:3]:
        axis.set_axis_off()

    index = np.arange(1, len(s) + 1)
    kept = index <= r
    axes[3].bar(index[kept], s[kept], color="C0", label=f"kept (top {r})")
    axes[3].bar(index[~kept], s[~kept], color="0.75", label="dropped")
    axes[3].set_xlabel("index k")
    axes[3].set_ylabel("singular value s_k")
    axes[3].set_title("singular values")
    axes[3].legend()
    fig.suptitle(
        f"r = {r}: ||P - P_r||_F = {summary['measured_error']:.3f}  "
        f"(Eckart-Young: sqrt(s_{r + 1}^2 + ...) = {summary['eckart_young_error']:.3f}), "
        f"{100 * summary['relative_error']:.1f}% of ||P||_F;  "
        f"stores r(m + n) = {summary['numbers_factors']} numbers instead of mn = {summary['numbers_full']}"
    )
    return fig


def plot_similarity_row(grids, i, d, ax=None):
    """phi(i, j) against j for one or several similarity grids, with the random baseline.

    grids: dict name -> grid from subspace_similarity_grid (grid[i - 1, j - 1] = phi(i, j)),
    e.g. {"r=2 vs r=16": ..., "same start, untrained": ...}; a single array is drawn as "phi".
    i: the row, 1-based: how many top directions of the first A to compare (a grid
    with fewer rows than i is left out). d: the dimension the directions live in
    (the layer's input size), for the baseline max(i, j) / d of random subspaces (dashed).
    A slider over i walks down the rows of the LoRA paper's Figure 3.
    """
    if isinstance(grids, np.ndarray):
        grids = {"phi": grids}
    if not grids:
        raise ValueError("grids must hold at least one similarity grid, got an empty dict")
    grids = {name: check_matrix(f"grids[{name!r}]", grid, dtype=np.float64) for name, grid in grids.items()}
    deepest = max(grid.shape[0] for grid in grids.values())
    i = check_rank("i", i, (deepest, deepest))
    d = check_int("d", d, low=max(max(grid.shape) for grid in grids.values()))
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    else:
        fig = ax.figure
    widest = 1
    for name, grid in grids.items():
        if grid.shape[0] < i:
            continue
        j = np.arange(1, grid.shape[1] + 1)
        ax.plot(j, grid[i - 1], marker="o", markersize=4, label=str(name))
        widest = max(widest, grid.shape[1])
    j = np.arange(1, widest + 1)
    ax.plot(j, np.maximum(i, j) / d, "--", color="0.4", label=f"random subspaces: max(i, j) / {d}")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("j (top-j directions of the second A)")
    ax.set_ylabel(f"phi({i}, j)")
    ax.set_title(f"similarity of the top-{i} directions of the first A with the top-j of the second")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _learning_curves(ax, numbers, labels, title):
    """One slider run's accuracy per epoch on `ax`: train (solid), target test (dashed), and the source model
    on the target (dotted); `labels` names the three lines."""
    train, test, source = labels
    ax.plot(numbers["epochs"], numbers["train_curve"], color="C0", label=train)
    ax.plot(numbers["epochs"], numbers["test_curve"], "--", color="C1", label=test)
    ax.axhline(numbers["source_only_accuracy"], color="0.4", linestyle=":", label=source)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)


def plot_rank_selection(numbers):
    """Two panels from lorabook.widgets.rank_selection_run's numbers: accuracy per epoch, and the update's
    singular values.

    Left: training accuracy (solid) and target test accuracy (dashed) per
    epoch, the source model on the target (dotted). Right: the singular
    values of each layer's update delta W; a rank-r update has exactly r
    non-zero ones (the dotted line marks r), and lora_alpha sets their size.
    """
    fig, (ax_curve, ax_spectrum) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    _learning_curves(ax_curve, numbers, ("train (target labels)", "test (target)", "source model on target"),
                     f"train {numbers['train_accuracy']:.3f}, test {numbers['test_accuracy']:.3f}")
    ax_curve.legend(fontsize=8, loc="lower right")

    shown = max(numbers["rank"] + 4, 12)  # enough indices to see where the update's spectrum stops
    for name, values in numbers["singular_values"].items():
        values = values[:shown]
        ax_spectrum.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=f"layer {name}")
    ax_spectrum.axvline(numbers["rank"], color="k", linestyle=":", label=f"r = {numbers['rank']}")
    ax_spectrum.set_xlabel("index k")
    ax_spectrum.set_ylabel("singular value of delta W")
    ax_spectrum.set_title("spectrum of each layer's update")
    ax_spectrum.legend(fontsize=8)
    ax_spectrum.grid(alpha=0.3)

    rule = "alpha / sqrt(r)" if numbers["use_rslora"] else "alpha / r"
    fig.suptitle(
        f"LoRA r={numbers['rank']}, lora_alpha={numbers['lora_alpha']:g}, scaling {rule} = "
        f"{numbers['scaling']:.3g}; {numbers['label_budget']} labels, rotation {numbers['shift_strength']:g} deg, "
        f"noise {numbers['noise']:g}; {numbers['trainable_params']:,} trainable parameters"
    )
    return fig


def plot_planted_rank(numbers):
    """Two panels from lorabook.widgets.planted_rank_view's numbers.

    Left: train and test error against rank (plot_rank_curve, log scale),
    the chosen rank circled. Right: singular values of the planted update dW
    (rank k) and of the rank-r estimate.
    """
    rank, d, k = numbers["rank"], numbers["d"], numbers["k"]
    fig, (ax_curve, ax_spectrum) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    plot_rank_curve(numbers["records"], ax=ax_curve)
    ax_curve.plot([rank], [numbers["test_error"]], marker="o", markersize=14, markerfacecolor="none",
                  markeredgecolor="k", linestyle="none", label=f"your r = {rank}")
    ax_curve.set_yscale("log")
    ticks = sorted({2**i for i in range(int(np.log2(d)) + 1)} | {d, k})
    ax_curve.set_xticks(ticks, [str(t) for t in ticks])  # every rank 1..d as a label would be unreadable
    ax_curve.legend(fontsize=7)
    best_error = numbers["test_errors"][numbers["ranks"].index(numbers["best_rank"])]
    ax_curve.set_title(f"r = {rank}: test error {numbers['test_error']:.3f} (best r = {numbers['best_rank']}, "
                       f"{best_error:.3f})")

    for label, values, style in ((f"planted dW (rank {k})", numbers["planted_singular_values"], "-"),
                                 (f"rank-{rank} estimate", numbers["estimate_singular_values"], "--")):
        ax_spectrum.plot(np.arange(1, len(values) + 1), values, style, marker="o", markersize=3, label=label)
    ax_spectrum.set_xlabel("index k")
    ax_spectrum.set_ylabel("singular value")
    ax_spectrum.set_title("planted update against the estimate")
    ax_spectrum.legend(fontsize=8)
    ax_spectrum.grid(alpha=0.3)
    fig.suptitle(f"planted rank k={k}, d={d}, n={numbers['n']} examples, noise {numbers['noise']:g}")
    return fig


# ----- the classroom app and notebook 06's grid ------------------------------------------------------
PROJECTOR_FONT_PT = 16  # the smallest text the classroom figure uses: readable from the back of a room


def plot_classroom_digits(numbers, ranks_seen, figsize=(8.4, 5.6)):
    """The classroom app's figure for one position on the rotated digits, in projector sizes (text >= 16 pt).

    numbers: lorabook.widgets.rank_selection_run's dict. ranks_seen: {rank:
    test accuracy} of the runs at the same settings but other ranks
    (lorabook.widgets.ranks_seen): the rank curve as the class has explored it.
    Left: train and test accuracy per epoch. Right: test accuracy against
    rank (log axis), the current rank as a large dot. The default size is
    the figure area of a 1280x720 screen beside the controls, at 100 dpi.
    """
    with plt.rc_context({"font.size": PROJECTOR_FONT_PT, "axes.titlesize": PROJECTOR_FONT_PT + 2,
                         "legend.fontsize": PROJECTOR_FONT_PT, "lines.linewidth": 3}):
        # A fixed layout: matplotlib's constrained layout would double the drawing time of every slider move.
        fig, (ax_curve, ax_rank) = plt.subplots(1, 2, figsize=figsize, gridspec_kw={"width_ratios": [1.1, 1]})
        fig.subplots_adjust(left=0.1, right=0.98, bottom=0.13, top=0.85, wspace=0.38)
        _learning_curves(ax_curve, numbers, ("train", "test", "no adapter"),
                         f"r = {numbers['rank']}: test {numbers['test_accuracy']:.2f}")
        ax_curve.legend(loc="lower right")

        ranks = sorted(ranks_seen)
        ax_rank.plot(ranks, [ranks_seen[r] for r in ranks], "-o", color="C1", markersize=8)
        ax_rank.plot([numbers["rank"]], [numbers["test_accuracy"]], "o", color="C3", markersize=18,
                     label=f"r = {numbers['rank']}")
        ax_rank.set_xscale("log", base=2)
        ax_rank.set_xlim(0.7, 100)  # room for the markers at r = 1 and r = 64
        ax_rank.set_xticks([1, 4, 16, 64], ["1", "4", "16", "64"])
        values = [*ranks_seen.values(), numbers["test_accuracy"]]
        middle, half = (max(values) + min(values)) / 2, max(0.05, (max(values) - min(values)) / 2 + 0.02)
        ax_rank.set_ylim(middle - half, middle + half)  # zoomed on the points, but never closer than +-0.05
        ax_rank.set_xlabel("rank r")
        ax_rank.set_ylabel("test accuracy")
        ax_rank.set_title("ranks tried so far")
        ax_rank.grid(alpha=0.3)
        ax_rank.legend(loc="lower center")
        fig.suptitle(f"{numbers['label_budget']} labels, rotated {numbers['shift_strength']:g} deg, noise "
                     f"{numbers['noise']:g}, alpha {numbers['lora_alpha']:g}"
                     + (" (rsLoRA)" if numbers["use_rslora"] else ""))
    return fig


def plot_classroom_planted(numbers, figsize=(8.4, 5.6)):
    """The classroom app's figure for the planted-rank task (lorabook.widgets.planted_rank_view's numbers).

    Train and test error against rank (log-log), the current rank as a large
    dot, the planted rank k dotted; projector sizes as plot_classroom_digits.
    """
    with plt.rc_context({"font.size": PROJECTOR_FONT_PT, "axes.titlesize": PROJECTOR_FONT_PT + 2,
                         "legend.fontsize": PROJECTOR_FONT_PT, "lines.linewidth": 3}):
        fig, ax = plt.subplots(figsize=figsize)
        fig.subplots_adjust(left=0.13, right=0.97, bottom=0.13, top=0.85)
        ax.plot(numbers["ranks"], numbers["train_errors"], color="C0", label="train error")
        ax.plot(numbers["ranks"], numbers["test_errors"], "--", color="C1", label="test error")
        ax.plot([numbers["rank"]], [numbers["test_error"]], "o", color="C3", markersize=18,
                label=f"r = {numbers['rank']}")
        ax.axvline(numbers["k"], color="0.4", linestyle=":", label=f"planted k = {numbers['k']}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("rank r")
        ax.set_ylabel("error (mean squared)")
        ax.set_title(f"r = {numbers['rank']}: test error {numbers['test_error']:.3f}; "
                     f"best r = {numbers['best_rank']}")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right")
        fig.suptitle(f"planted rank k = {numbers['k']}, {numbers['n']} examples, noise {numbers['noise']:g}")
    return fig


def plot_rank_budget_grid(grid):
    """Small multiples: one panel per (label budget, rank), each the training curves a slider position shows.

    grid: rows of lorabook.widgets.rank_selection_run dicts, one row per
    label budget, the same ranks in every row (lorabook.widgets.rank_budget_grid).
    Each panel: train (solid) and test (dashed) accuracy per epoch, the
    source model on the target (dotted), final test accuracy in its corner;
    the best rank of each row is framed.
    """
    rows, columns = len(grid), len(grid[0]) if grid else 0
    if rows == 0 or columns == 0 or any(len(row) != columns for row in grid):
        raise ValueError(f"grid must be a non-empty list of equally long rows, got row lengths "
                         f"{[len(row) for row in grid]}")
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns + 0.6, 2.1 * rows + 0.6), sharex=True,
                             sharey=True, layout="constrained", squeeze=False)
    for row, ax_row in zip(grid, axes):
        best = max(range(columns), key=lambda j: row[j]["test_accuracy"])
        for j, (numbers, ax) in enumerate(zip(row, ax_row)):
            ax.plot(numbers["epochs"], numbers["train_curve"], color="C0")
            ax.plot(numbers["epochs"], numbers["test_curve"], "--", color="C1")
            ax.axhline(numbers["source_only_accuracy"], color="0.4", linestyle=":")
            ax.text(0.95, 0.05, f"test {numbers['test_accuracy']:.2f}", transform=ax.transAxes, ha="right",
                    va="bottom", fontsize=10, fontweight="bold" if j == best else "normal")
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            if j == best:
                for spine in ax.spines.values():
                    spine.set_linewidth(2.5)
                    spine.set_color("C2")
        ax_row[0].set_ylabel(f"{row[0]['label_budget']} labels\naccuracy")
    for j, ax in enumerate(axes[0]):
        ax.set_title(f"r = {grid[0][j]['rank']}")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    first = grid[0][0]
    fig.suptitle(f"train (solid) and test (dashed) accuracy; rotated {first['shift_strength']:g} deg, noise "
                 f"{first['noise']:g}, alpha {first['lora_alpha']:g}" + (" (rsLoRA)" if first["use_rslora"] else "")
                 + "; best rank of each row framed")
    return fig
