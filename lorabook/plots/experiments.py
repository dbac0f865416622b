"""Figures for the experiments in lorabook.experiments, drawn from their records.

Each function takes the records (lists of dicts) an experiment returned and
returns the matplotlib Figure it drew on; pass `ax` to draw into a figure of
your own. pyplot only creates figures, so the notebook's backend stays in charge.

    plot_accuracy_vs_params   compare_adaptation / compare_finetuning
    plot_source_collapse      compare_adaptation with source_data
    plot_memory_ledger        memory_ledger
    plot_rank_curve           planted_rank_sweep / rank_sweep
    plot_label_budget         label_budget_sweep
    plot_adapter_matrix       adapters_per_domain
    plot_baselines            data_space_baseline
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lorabook.experiments.memory import COMPONENTS, PEAK
from lorabook.experiments.records import check_records

COLORS = plt.get_cmap("tab10").colors
METHOD_STYLE = {  # method -> (colour, marker)
    "source-only": ("0.4", "x"),
    "head-only": (COLORS[2], "s"),
    "lora": (COLORS[0], "o"),
    "full": (COLORS[3], "D"),
}


def _new_axes(ax, figsize):
    if ax is None:
        return plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def _style(method):
    return METHOD_STYLE.get(method, ("k", "^"))


def _over_seeds(records, group, keys):
    """Records of several seeds folded into one row per `group` value (in order of first appearance).

    Each row is the group's first record with every key in `keys` replaced by
    its mean over the group, plus "<key>_std" (standard deviation, ddof = 1;
    0 for a single run) and "seeds" (how many runs). Records of one seed
    come back unchanged apart from the two extra keys.
    """
    groups = {}
    for record in records:
        groups.setdefault(tuple(record[g] for g in group), []).append(record)
    rows = []
    for members in groups.values():
        row = dict(members[0], seeds=len(members))
        for key in keys:
            numbers = np.asarray([m[key] for m in members], dtype=np.float64)
            row[key] = float(numbers.mean())
            row[f"{key}_std"] = float(numbers.std(ddof=1)) if len(numbers) > 1 else 0.0
        rows.append(row)
    return rows


def _plot_with_errors(ax, x, y, errors, **style):
    """ax.plot(x, y, **style), plus error bars of the same colour where any error is non-zero."""
    lines = ax.plot(x, y, **style)
    if any(errors):
        ax.errorbar(x, y, yerr=errors, fmt="none", ecolor=lines[0].get_color(), capsize=3)
    return lines


def _seeds_note(rows):
    n = max(row["seeds"] for row in rows)
    return f" (mean ± std over {n} seeds)" if n > 1 else ""


# ----- accuracy against trainable parameters ----------------------------------------------------
def plot_accuracy_vs_params(records, metric="test_accuracy", ax=None):
    """Target accuracy against the number of trainable parameters (log x axis).

    One marker style per method; the LoRA runs are joined in order of rank and
    labelled "r=...". Source-only trains nothing (0 parameters, which a log
    axis cannot show), so it is a dashed horizontal line.
    metric: "test_accuracy" or "train_accuracy".
    """
    records = check_records("records", records, required=("method", "label", "rank", "trainable_params", metric))
    folded = _over_seeds(records, ("label",), (metric,))
    fig, ax = _new_axes(ax, (6.5, 4.2))
    for method in dict.fromkeys(r["method"] for r in folded):  # in order of first appearance
        rows = [r for r in folded if r["method"] == method]
        color, marker = _style(method)
        if method == "source-only":
            for row in rows:
                ax.axhline(row[metric], color=color, linestyle="--", label=row["label"])
            continue
        if method == "lora":
            rows = sorted(rows, key=lambda r: r["rank"])
            x, y = [r["trainable_params"] for r in rows], [r[metric] for r in rows]
            _plot_with_errors(ax, x, y, [r[f"{metric}_std"] for r in rows], marker=marker, color=color, label="LoRA")
            for row in rows:
                ax.annotate(f"r={row['rank']}", (row["trainable_params"], row[metric]), textcoords="offset points",
                            xytext=(0, 9), ha="center", fontsize=8, color=color)
            continue
        for row in rows:
            _plot_with_errors(ax, [row["trainable_params"]], [row[metric]], [row[f"{metric}_std"]], marker=marker,
                              linestyle="none", markersize=8, color=color, label=row["label"])
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title("accuracy against trainable parameters" + _seeds_note(folded))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


# ----- source collapse and recovery ------------------------------------------------------------
def plot_source_collapse(records, ax=None):
    """Accuracy on the source and on the target domain, two bars per run.

    The source-only run shows the collapse (high on the source, low on the
    target); each adapted run shows how much of the target it recovers and
    how much of the source it keeps. Records need source_accuracy (run
    compare_adaptation with source_data=...).
    """
    records = check_records("records", records, required=("label", "source_accuracy", "test_accuracy"))
    missing = [r["label"] for r in records if r["source_accuracy"] is None]
    if missing:
        raise ValueError(f"records for {missing} have source_accuracy None: "
                         f"run the experiment with source_data=(X_source_test, y_source_test)")
    rows = _over_seeds(records, ("label",), ("source_accuracy", "test_accuracy"))
    fig, ax = _new_axes(ax, (max(7.0, 0.8 * len(rows) + 2), 4.2))
    x = np.arange(len(rows))
    width = 0.38
    for offset, key, color, name in ((-width / 2, "source_accuracy", COLORS[7], "source domain"),
                                     (width / 2, "test_accuracy", COLORS[0], "target domain")):
        errors = [r[f"{key}_std"] for r in rows] if max(r["seeds"] for r in rows) > 1 else None
        ax.bar(x + offset, [r[key] for r in rows], width, yerr=errors, capsize=2, color=color, label=name)
    ax.set_xticks(x, [r["label"] for r in rows], rotation=30, ha="right")
    ax.set_ylim(0, 1.15)  # headroom for the legend above the bars
    ax.set_ylabel("test accuracy")
    ax.set_title("the source model on the target, and after adapting" + _seeds_note(rows))
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    return fig


# ----- memory ledger -----------------------------------------------------------------------------
def _unit(largest):
    for name, size in (("MiB", 2**20), ("KiB", 2**10)):
        if largest >= size:
            return name, size
    return "bytes", 1


def plot_memory_ledger(records, ax=None):
    """Stacked bars of the memory ledger: predicted and measured, side by side, per method.

    Components stack in the order of COMPONENTS. A black bar marks the traced
    peak of two steps, drawn on top of the weights and LoRA parameters (they
    exist before tracing starts, so the peak does not include them).
    """
    records = check_records("records", records, required=("method", "component", "predicted_bytes", "measured_bytes"))
    methods = list(dict.fromkeys(r["method"] for r in records))
    table = {(r["method"], r["component"]): r for r in records}
    largest = max(max(r["predicted_bytes"], r["measured_bytes"]) for r in records)
    unit, size = _unit(largest)
    fig, ax = _new_axes(ax, (6.5, 4.5))
    width = 0.38
    for index, method in enumerate(methods):
        for offset, kind in ((-width / 2, "predicted"), (width / 2, "measured")):
            bottom = 0.0
            for c, component in enumerate(COMPONENTS):
                row = table.get((method, component))
                if row is None:
                    continue
                height = row[f"{kind}_bytes"] / size
                ax.bar(index + offset, height, width, bottom=bottom, color=COLORS[c],
                       edgecolor="white", hatch="//" if kind == "predicted" else None,
                       label=component if index == 0 and kind == "measured" else None)
                bottom += height
        peak = table.get((method, PEAK))
        if peak is not None:
            held = sum(table[(method, c)]["measured_bytes"] for c in ("base weights", "LoRA parameters")
                       if (method, c) in table)
            ax.hlines((held + peak["measured_bytes"]) / size, index, index + width,
                      color="k", linewidth=2.5, label="traced peak (+ weights)" if index == 0 else None)
    ax.set_xticks(np.arange(len(methods)), [f"{m}\npredicted | measured" for m in methods])
    ax.set_ylabel(f"memory ({unit})")
    ax.set_title("memory ledger of a training step (hatched: predicted)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return fig


# ----- rank sweeps --------------------------------------------------------------------------------
def plot_rank_curve(records, ax=None, show_train=True, mark_suggested=True):
    """Test error (solid) and train error (dashed) against rank, one colour per label budget.

    The x axis is logarithmic (ranks 1, 2, 4, ... spread evenly). When the
    records carry the planted rank `k`, a dotted vertical line marks it; with
    mark_suggested, a star marks each curve's `suggested_rank` (Gavish-Donoho)
    on the test curve, when the records have one.
    """
    records = check_records("records", records, required=("rank", "n_train", "train_error", "test_error"))
    folded = _over_seeds(records, ("n_train", "rank"), ("train_error", "test_error"))
    fig, ax = _new_axes(ax, (6.5, 4.2))
    budgets = sorted(dict.fromkeys(r["n_train"] for r in folded))
    for index, n in enumerate(budgets):
        rows = sorted((r for r in folded if r["n_train"] == n), key=lambda r: r["rank"])
        ranks = [r["rank"] for r in rows]
        color = COLORS[index % len(COLORS)]
        for key, style, name in (("test_error", dict(marker="o"), "test"),
                                 ("train_error", dict(marker=".", linestyle="--"), "train")):
            if key == "train_error" and not show_train:
                continue
            mean = np.array([r[key] for r in rows])
            ax.plot(ranks, mean, color=color, label=f"{name}, n={n}", **style)
            if rows[0]["seeds"] > 1:
                std = np.array([r[f"{key}_std"] for r in rows])
                ax.fill_between(ranks, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
        suggested = rows[0].get("suggested_rank")
        # several seeds may suggest different ranks: a star only where they all agree
        agreed = len({r.get("suggested_rank") for r in records if r["n_train"] == n}) == 1
        if mark_suggested and agreed and suggested is not None and suggested in ranks:
            at = rows[ranks.index(suggested)]
            ax.plot([suggested], [at["test_error"]], marker="*", markersize=14, color=color, linestyle="none",
                    label=f"suggested rank, n={n}")
    k = records[0].get("k")
    if k is not None:
        ax.axvline(k, color="k", linestyle=":", label=f"planted rank k={k}")
    ax.set_xscale("log", base=2)
    all_ranks = sorted(dict.fromkeys(r["rank"] for r in records))
    ax.set_xticks(all_ranks, [str(r) for r in all_ranks])
    ax.set_xlabel("rank r")
    ax.set_ylabel("error")
    ax.set_title("error against rank" + _seeds_note(folded))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# ----- label budgets -------------------------------------------------------------------------------
def plot_label_budget(records, metric="test_accuracy", ax=None):
    """Target accuracy against the number of labelled target examples (log x axis), one line per run label.

    Records of several seeds are drawn as means with one standard deviation as error bars.
    """
    records = check_records("records", records, required=("method", "label", "n_train", metric))
    folded = _over_seeds(records, ("label", "n_train"), (metric,))
    fig, ax = _new_axes(ax, (6.5, 4.2))
    for label in dict.fromkeys(r["label"] for r in folded):
        rows = sorted((r for r in folded if r["label"] == label), key=lambda r: r["n_train"])
        color, marker = _style(rows[0]["method"])
        _plot_with_errors(ax, [r["n_train"] for r in rows], [r[metric] for r in rows],
                          [r[f"{metric}_std"] for r in rows], marker=marker, color=color, label=label)
    ax.set_xscale("log")
    budgets = sorted(dict.fromkeys(r["n_train"] for r in records))
    ax.set_xticks(budgets, [str(n) for n in budgets])
    ax.minorticks_off()
    ax.set_xlabel("labelled target examples")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title("accuracy against label budget" + _seeds_note(folded))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# ----- notebook 05 ----------------------------------------------------------------------------------
def plot_adapter_matrix(records, ax=None):
    """Heat map of test accuracy: one row per adapter (and the base model), one column per domain."""
    records = check_records("records", records, required=("adapter", "domain", "test_accuracy"))
    adapters = list(dict.fromkeys(r["adapter"] for r in records))
    domains = list(dict.fromkeys(r["domain"] for r in records))
    grid = np.full((len(adapters), len(domains)), np.nan)
    for r in records:
        grid[adapters.index(r["adapter"]), domains.index(r["domain"])] = r["test_accuracy"]
    fig, ax = _new_axes(ax, (1.3 * len(domains) + 2.5, 0.6 * len(adapters) + 1.8))
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
    for (i, j), value in np.ndenumerate(grid):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.6 else "k", fontsize=9)
    ax.set_xticks(range(len(domains)), domains, rotation=30, ha="right")
    ax.set_yticks(range(len(adapters)), adapters)
    ax.set_xlabel("tested on domain")
    ax.set_ylabel("adapter")
    ax.set_title("each adapter on each domain")
    fig.colorbar(image, ax=ax, label="test accuracy")
    return fig


def plot_baselines(records, ax=None):
    """Horizontal bars of test accuracy per method, with the number of target labels each used."""
    records = check_records("records", records, required=("method", "target_labels", "test_accuracy"))
    fig, ax = _new_axes(ax, (8.0, 0.45 * len(records) + 1.5))
    y = np.arange(len(records))[::-1]
    colors = [COLORS[0] if r["target_labels"] else COLORS[7] for r in records]
    ax.barh(y, [r["test_accuracy"] for r in records], color=colors)
    ax.set_yticks(y, [f"{r['method']}  ({r['target_labels']} labels)" for r in records])
    ax.set_xlim(0, 1)
    ax.set_xlabel("target test accuracy")
    ax.set_title("aligning the data (no labels) vs LoRA (labels)")
    ax.grid(alpha=0.3, axis="x")
    return fig
