"""The experiments of notebook 04 (rank analysis), as functions that return records.

The LoRA paper (Hu et al. 2021, Section 7) looks at the updates a fine-tune
learns; this module repeats its analyses on models that train in seconds.

- digit_mosaic:         tile digit images into one picture to take apart with the SVD
- planted_rank_matrix:  a rank-k signal plus noise, and rank_rule_records: which rank
                        each rule (Gavish-Donoho, energy, effective, stable) reads off it
- nmf_vs_svd:           parts (NMF) against eigen-digits (SVD) on the digit images
- format_table:         records (a list of dicts) as a fixed-width text table

Records are lists of plain dicts, one row each, so they print as tables and
plot without any further bookkeeping.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lorabook._checks import check_float, check_int, check_matrix, make_rng
from lorabook.analysis import (
    effective_rank,
    energy_rank,
    nmf,
    singular_values,
    stable_rank,
    suggest_rank,
)
from lorabook.analysis._validate import check_rank


# ----- pictures ----------------------------------------------------------------------------
def digit_mosaic(images, rows, cols, image_shape=(8, 8)):
    """The first rows * cols images laid out on a grid, as one (rows * h, cols * w) matrix.

    images: (count, h * w) flattened images (as load_digits returns them) or
    (count, h, w). A single 8x8 digit has rank at most 8; a 4 x 4 mosaic of
    them is a 32 x 32 picture with rank up to 32, more room for a rank slider.
    """
    rows = check_int("rows", rows, low=1)
    cols = check_int("cols", cols, low=1)
    h, w = (check_int("image_shape entry", size, low=1) for size in image_shape)
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 2 and images.shape[1] == h * w:
        images = images.reshape(-1, h, w)
    if images.ndim != 3 or images.shape[1:] != (h, w):
        raise ValueError(
            f"images must have shape (count, {h * w}) or (count, {h}, {w}) for image_shape={tuple(image_shape)}, "
            f"got {images.shape}"
        )
    if len(images) < rows * cols:
        raise ValueError(f"a {rows} x {cols} mosaic needs {rows * cols} images, got {len(images)}")
    grid = images[: rows * cols].reshape(rows, cols, h, w)
    # (rows, cols, h, w) -> (rows, h, cols, w): pixel row y of image (i, j) lands on picture row i*h + y.
    return grid.transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


# ----- which rank does each rule read off a noisy matrix? ------------------------------------
def planted_rank_matrix(m, n, rank, noise, seed=0, strengths=(6.0, 3.0)):
    """M = X + noise * Z, shape (m, n), with X of rank exactly `rank`; returns (M, X).

    X = U diag(s) V^T with U (m, rank), V (n, rank) random orthonormal and
    singular values s evenly spaced from strengths[0] * sqrt(max(m, n)) down
    to strengths[1] * sqrt(max(m, n)). Z has i.i.d. N(0, 1) entries, whose
    singular values fill roughly [sqrt(n) - sqrt(m), sqrt(n) + sqrt(m)]
    (for m <= n): with the default strengths and noise up to 1 every planted
    direction stands above the noise, so the right answer is `rank`.
    Everything is float64.
    """
    m = check_int("m", m, low=1)
    n = check_int("n", n, low=1)
    rank = check_int("rank", rank, low=1, high=min(m, n))
    noise = check_float("noise", noise, low=0.0)
    if len(strengths) != 2:
        raise ValueError(f"strengths must be a pair (largest, smallest), got {strengths!r}")
    largest = check_float("strengths[0]", strengths[0], low=0.0, low_open=True)
    smallest = check_float("strengths[1]", strengths[1], low=0.0, low_open=True, high=largest)
    rng = make_rng(seed)
    U = np.linalg.qr(rng.standard_normal((m, rank)))[0]
    V = np.linalg.qr(rng.standard_normal((n, rank)))[0]
    s = np.linspace(largest, smallest, rank) * np.sqrt(max(m, n))
    signal = (U * s) @ V.T
    return signal + noise * rng.standard_normal((m, n)), signal


def rank_rules(M, sigma=None, tau=0.9):
    """The rank that each rule reads off M (m, n), as a dict.

    gavish_donoho_known_sigma: suggest_rank(M, sigma) (only when sigma is given);
    gavish_donoho:  suggest_rank(M), noise level estimated from the median singular value;
    energy_rank:    smallest k holding a fraction tau of ||M||_F^2;
    effective_rank: exp of the entropy of s / sum(s) (a real number);
    stable_rank:    ||M||_F^2 / ||M||_2^2 (a real number).
    """
    M = check_matrix("M", M, dtype=np.float64)
    rules = {}
    if sigma is not None:
        rules["gavish_donoho_known_sigma"] = suggest_rank(M, sigma=sigma)
    rules["gavish_donoho"] = suggest_rank(M)
    rules["energy_rank"] = energy_rank(M, tau=tau)
    rules["effective_rank"] = effective_rank(M)
    rules["stable_rank"] = stable_rank(M)
    return rules


def rank_rule_records(m=100, n=100, rank=5, noises=(0.25, 0.5, 1.0), seeds=range(10), tau=0.9):
    """One record per (noise, seed): the planted rank and what each rule of `rank_rules` says.

    Keys: noise, seed, planted_rank, then the keys of rank_rules (with the
    true sigma passed in). The matrices come from planted_rank_matrix.
    """
    records = []
    for noise in noises:
        for seed in seeds:
            M, _ = planted_rank_matrix(m, n, rank, noise, seed=seed)
            record = {"noise": float(noise), "seed": int(seed), "planted_rank": rank}
            record.update(rank_rules(M, sigma=noise if noise > 0 else None, tau=tau))
            records.append(record)
    return records


# ----- NMF against the SVD on the digits ------------------------------------------------------
@dataclass
class PartsAndEigenDigits:
    """NMF and truncated SVD of the same non-negative data V (m, n), both with k components.

    nmf_components (k, n):  rows of H, non-negative (V ~ W H)
    svd_components (k, n):  top-k right singular vectors (rows of V_k^T), signed
    nmf_error, svd_error:   ||V - W H||_F / ||V||_F and ||V - V_k||_F / ||V||_F;
                            svd_error <= nmf_error always (Eckart-Young)
    nmf_zero_fraction, svd_zero_fraction: share of component entries below
                            1% of that component's largest |entry| (how sparse, part-like)
    """

    nmf_components: np.ndarray
    svd_components: np.ndarray
    nmf_error: float
    svd_error: float
    nmf_zero_fraction: float
    svd_zero_fraction: float


def _near_zero_fraction(components):
    largest = np.abs(components).max(axis=1, keepdims=True)
    return float(np.mean(np.abs(components) < 0.01 * largest))


def nmf_vs_svd(V, k, iters=300, seed=0):
    """Factor V (m, n) >= 0 with NMF (k parts) and with the truncated SVD (k eigen-components).

    The SVD is of V itself, not centred, so both approximate the same
    matrix and their errors compare. Returns a PartsAndEigenDigits.
    """
    V = check_matrix("V", V, dtype=np.float64)
    k = check_rank("k", k, V.shape)
    W, H = nmf(V, k, iters=iters, seed=seed)
    _, s, Vt = np.linalg.svd(V, full_matrices=False)
    norm = float(np.linalg.norm(V))
    return PartsAndEigenDigits(
        nmf_components=H,
        svd_components=Vt[:k],
        nmf_error=float(np.linalg.norm(V - W @ H)) / norm,
        svd_error=float(np.sqrt(np.sum(s[k:] ** 2))) / norm,
        nmf_zero_fraction=_near_zero_fraction(H),
        svd_zero_fraction=_near_zero_fraction(Vt[:k]),
    )


# ----- printing ------------------------------------------------------------------------------
def format_table(records, columns=None, digits=3):
    """records (list of dicts) as a text table; floats with `digits` decimals.

    columns: the keys to show, in order (default: the first record's keys).
    """
    records = list(records)
    if not records:
        raise ValueError("records must hold at least one row, got none")
    columns = list(columns) if columns is not None else list(records[0])

    def cell(value):
        if isinstance(value, (float, np.floating)):
            return f"{value:.{digits}f}"
        return str(value)

    cells = [[cell(record[name]) for name in columns] for record in records]
    widths = [max(len(name), *(len(row[i]) for row in cells)) for i, name in enumerate(columns)]
    lines = ["  ".join(name.rjust(width) for name, width in zip(columns, widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(value.rjust(width) for value, width in zip(row, widths)) for row in cells]
    return "\n".join(lines)
