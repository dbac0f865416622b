"""Non-negative matrix factorisation by Lee and Seung's multiplicative updates.

For V (m, n) with V >= 0 find W (m, k) >= 0 and H (k, n) >= 0 with V ~ W H,
minimising the Frobenius error ||V - W H||_F. Lee and Seung (2001) alternate

    H <- H * (W^T V) / (W^T W H)
    W <- W * (V H^T) / (W H H^T)

(elementwise * and /). Each update minimises a quadratic upper bound of the
error that touches it at the current point, so the error never increases,
and entries that start positive stay non-negative without any projection.

Against the SVD: the SVD's components are orthogonal and signed (on digit
images they look like "eigen-digits" with positive and negative blobs); NMF's
are non-negative and can only add up, so they tend to come out as parts
(strokes).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from lorabook._checks import check_int
from lorabook.analysis._validate import as_matrix, check_rank, scale_back, scale_out
from lorabook.random import Seed, get_generator

# Added to both numerator and denominator of each update. This keeps 0 / 0
# away (a zero row of V, say) and keeps the guarantee: (a + eps) / (b + eps)
# is exactly the multiplicative step of a slightly looser upper bound, which
# still touches the error at the current point, so the error still never rises.
# The updates run on V scaled to a largest entry in [0.5, 1), so this is
# small next to the data whatever V's units are.
_EPS = 1e-12


def nmf(V: ArrayLike, k: int, iters: int = 200, seed: Seed = 0, return_errors: bool = False,
        ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Factor V (m, n) >= 0 as W (m, k) @ H (k, n), both >= 0, in `iters` rounds.

    k in 1..min(m, n). W and H start uniform in [0, sqrt(mean(V) / k)) from
    `seed` (an int or a numpy Generator), so W H starts at the scale of V.
    Returns (W, H), or (W, H, errors) with return_errors=True, where errors
    (iters + 1,) holds ||V - W H||_F before the first round and after each:
    non-increasing, up to floating-point rounding (relative ~1e-15).
    Any scale of V works (the updates run on V scaled exactly by a power of
    two), except that errors beyond float64's range are refused.
    """
    V = as_matrix("V", V)
    if np.any(V < 0):
        raise ValueError(
            f"V must be non-negative for NMF, but {int(np.count_nonzero(V < 0))} entries are negative "
            f"(smallest {V.min():.4g}); shift or clip the data, or use the SVD"
        )
    k = check_rank("k", k, V.shape)
    iters = check_int("iters", iters, low=1)
    rng = get_generator(seed, "seed")

    # Factor V / 2**e, whose largest entry is in [0.5, 1): exact, and the products in the updates
    # (of size V^1.5) can then neither overflow for huge V nor underflow below _EPS for tiny V.
    V, exponent = scale_out(V)
    scale = np.sqrt(V.mean() / k)
    W = rng.uniform(0.0, scale, size=(V.shape[0], k))
    H = rng.uniform(0.0, scale, size=(k, V.shape[1]))
    errors = [np.linalg.norm(V - W @ H)]
    for _ in range(iters):
        H *= (W.T @ V + _EPS) / (W.T @ W @ H + _EPS)
        W *= (V @ H.T + _EPS) / (W @ (H @ H.T) + _EPS)
        if return_errors:
            errors.append(np.linalg.norm(V - W @ H))
    # Give each factor half of the power of two back (exact): W H is then V's scale again.
    W, H = np.ldexp(W, exponent // 2), np.ldexp(H, exponent - exponent // 2)
    if return_errors:
        return W, H, scale_back("V", np.array(errors), exponent, "errors ||V - W H||_F")
    return W, H
