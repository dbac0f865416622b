"""Figures for rank analysis: spectra, subspace similarity, truncation error, image grids.

Each function returns the matplotlib Figure it drew on. With `ax=None` it
makes a new figure; pass axes to draw into a figure of your own. pyplot is
only used to create figures, so the notebook backend (inline) stays in charge.
"""
from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

from lorabook._checks import check_int, check_matrix
from lorabook.analysis import energy_curve, low_rank_approx, singular_values
from lorabook.analysis._validate import check_rank


def plot_spectrum(updates, normalize=True, ax=None, log_scale=False):
    """Singular values (left panel) and energy curve (right panel) of one or several matrices.

    updates:   dict name -> matrix (m, n), e.g. {"full fine-tune": dW_full, "LoRA r=4": B @ A};
               a single matrix is drawn under the name "W".
    normalize: divide each spectrum by its largest singular value, so that
               matrices of different size can share the left panel.
    ax:        None, or a pair of Axes (singular values, energy curve).
    log_scale: logarithmic y axis for the singular values (shows the tail, but
               exact zeros, as in a rank-r update, drop off the plot).
    """
    if not isinstance(updates, Mapping):
        updates = {"W": updates}
    if len(updates) == 0:
        raise ValueError("updates must hold at least one matrix, got an empty dict")
    if ax is None:
        fig, (ax_values, ax_energy) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    else:
        if np.ndim(ax) != 1 or len(ax) != 2:
            raise ValueError(f"ax must be None or a pair of Axes (singular values, energy), got {ax!r}")
        ax_values, ax_energy = ax
        fig = ax_values.figure

    for name, matrix in updates.items():
        matrix = check_matrix(f"updates[{name!r}]", matrix, dtype=np.float64)
        if not np.any(matrix):
            raise ValueError(f"updates[{name!r}] is all zeros: it has no spectrum to draw")
        s = singular_values(matrix)
        if normalize:
            s = s / s[0]
        index = np.arange(1, len(s) + 1)
        ax_values.plot(index, s, marker="o", markersize=3, label=str(name))
        ax_energy.plot(index, energy_curve(matrix), marker="o", markersize=3, label=str(name))

    ax_values.set_xlabel("index k")
    ax_values.set_ylabel("s_k / s_1" if normalize else "singular value s_k")
    ax_values.set_title("singular values")
    if log_scale:
        ax_values.set_yscale("log")
    ax_energy.set_xlabel("rank k")
    ax_energy.set_ylabel("fraction of ||W||_F^2 in the top k")
    ax_energy.set_ylim(0, 1.05)
    ax_energy.set_title("energy curve")
    for axis in (ax_values, ax_energy):
        axis.grid(alpha=0.3)
        axis.legend()
    return fig


def plot_subspace_similarity(grid, names=("A1", "A2"), title=None, ax=None):
    """Heat map of phi(i, j) from `subspace_similarity_grid`, with a colorbar.

    grid (r1, r2): grid[i - 1, j - 1] = phi(i, j); row i = 1 is at the top, as
    in the LoRA paper's Figure 3. names: what A1 and A2 are (axis labels).
    Colours are fixed to [0, 1] so that different heat maps compare.
    """
    grid = check_matrix("grid", grid, dtype=np.float64)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    else:
        fig = ax.figure
    rows, cols = grid.shape
    image = ax.imshow(
        grid, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto",
        extent=(0.5, cols + 0.5, rows + 0.5, 0.5), interpolation="nearest",
    )
    fig.colorbar(image, ax=ax, label="phi(i, j)")
    # i and j count directions: whole numbers only (at most ~16 labels per axis)
    ax.set_yticks(range(1, rows + 1, max(1, rows // 16 + (rows % 16 > 0))))
    ax.set_xticks(range(1, cols + 1, max(1, cols // 16 + (cols % 16 > 0))))
    ax.set_ylabel(f"i (top-i directions of {names[0]})")
    ax.set_xlabel(f"j (top-j directions of {names[1]})")
    if title is not None:
        ax.set_title(title)
    return fig


def plot_truncation_error(W, ranks=None, ax=None):
    """Error of the best rank-r approximation against r, measured and as Eckart-Young predicts.

    W (m, n); ranks: the r values to show (default 1..min(m, n)).
    Markers: ||W - W_r||_2 and ||W - W_r||_F computed from low_rank_approx.
    Lines:   s_{r+1} and sqrt(s_{r+1}^2 + ... + s_p^2) from the singular values alone.
    That markers sit on lines is the Eckart-Young theorem at work.
    """
    W = check_matrix("W", W, dtype=np.float64)
    if ranks is None:
        ranks = range(1, min(W.shape) + 1)
    ranks = np.array([check_rank("ranks entry", r, W.shape) for r in ranks], dtype=int)
    if ranks.size == 0:
        raise ValueError("ranks must hold at least one rank, got an empty sequence")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    else:
        fig = ax.figure

    s = singular_values(W)
    tail = np.append(s, 0.0)  # s_{p+1} = 0: keeping every direction loses nothing
    predicted_spectral = tail[ranks]
    predicted_frobenius = np.sqrt([np.sum(s[r:] ** 2) for r in ranks])
    residuals = [W - low_rank_approx(W, r) for r in ranks]
    measured_spectral = [np.linalg.norm(res, 2) for res in residuals]
    measured_frobenius = [np.linalg.norm(res, "fro") for res in residuals]

    ax.plot(ranks, predicted_frobenius, "-", color="C0", label="sqrt(s_{r+1}^2 + ... + s_p^2)  (Eckart-Young)")
    ax.plot(ranks, measured_frobenius, "s", color="C0", markerfacecolor="none", label="||W - W_r||_F  (measured)")
    ax.plot(ranks, predicted_spectral, "-", color="C1", label="s_{r+1}  (Eckart-Young)")
    ax.plot(ranks, measured_spectral, "o", color="C1", markerfacecolor="none", label="||W - W_r||_2  (measured)")
    ax.set_xlabel("rank r")
    ax.set_ylabel("approximation error")
    ax.set_title("best rank-r approximation error")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_image_grid(images, image_shape=(8, 8), ncols=8, titles=None, cmap=None):
    """Show each row of `images` as a small picture: NMF parts, SVD eigen-digits, digits.

    images:      (count, h * w) rows (e.g. NMF's H, or the rows of V^T) or (count, h, w).
    image_shape: (h, w) used to fold rows into pictures.
    ncols:       pictures per row of the grid.
    titles:      None or one string per picture.
    cmap:        None picks "gray_r" for non-negative pictures and, for signed
                 ones (SVD components), "RdBu_r" centred on zero so that white
                 means 0 and the sign of each blob shows.
    """
    try:
        images = np.asarray(images, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"images must be an array of numbers, got {type(images).__name__}") from err
    if len(image_shape) != 2:
        raise ValueError(f"image_shape must be a pair (h, w), got {image_shape!r}")
    h = check_int("image_shape[0]", image_shape[0], low=1)
    w = check_int("image_shape[1]", image_shape[1], low=1)
    if images.ndim == 2:
        if images.shape[1] != h * w:
            raise ValueError(
                f"images rows must have image_shape[0] * image_shape[1] = {h * w} entries, got shape {images.shape}"
            )
        images = images.reshape(len(images), h, w)
    elif images.ndim != 3:
        raise ValueError(f"images must be 2-D (count, h * w) or 3-D (count, h, w), got shape {images.shape}")
    count = len(images)
    if count == 0:
        raise ValueError("images must hold at least one picture, got 0")
    if not np.all(np.isfinite(images)):
        raise ValueError("images must be finite, but some entries are NaN or infinite")
    if titles is not None and len(titles) != count:
        raise ValueError(f"titles must have one entry per image ({count}), got {len(titles)}")
    ncols = min(check_int("ncols", ncols, low=1), count)
    nrows = -(-count // ncols)

    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.4 * nrows), squeeze=False, layout="constrained")
    signed = cmap is None and images.min() < 0
    for index, axis in enumerate(axes.flat):
        axis.set_axis_off()
        if index >= count:
            continue
        picture = images[index]
        if signed:
            limit = max(np.abs(picture).max(), 1e-12)
            axis.imshow(picture, cmap="RdBu_r", vmin=-limit, vmax=limit)
        else:
            axis.imshow(picture, cmap=cmap or "gray_r")
        if titles is not None:
            axis.set_title(str(titles[index]), fontsize=8)
    return fig
