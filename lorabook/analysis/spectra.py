"""Singular spectra and three ways to put a number on "how low-rank is W".

For W of shape (m, n) with singular values s_1 >= s_2 >= ... >= s_p >= 0,
p = min(m, n):

- energy curve      e_k = (s_1^2 + ... + s_k^2) / (s_1^2 + ... + s_p^2)
- energy rank       smallest k with e_k >= tau
- effective rank    exp(-sum_i q_i log q_i) with q_i = s_i / sum_j s_j
                    (Roy and Vetterli 2007)
- stable rank       ||W||_F^2 / ||W||_2^2 = sum_i s_i^2 / s_1^2

All three equal k for a matrix with k equal non-zero singular values, and
disagree otherwise: that disagreement is worth looking at (notebook 04).
All three depend only on the ratios s_i / s_1, so they do not change when W
is multiplied by a number: they are computed from the singular values of W
scaled (exactly, by a power of two) to entries of size about 1, so that
1e308 * W and 1e-300 * W give the same answer as W.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from lorabook._checks import check_float
from lorabook.analysis._validate import as_matrix, check_not_zero, scale_back, scale_out

# energy_rank compares a sum of rounded squares with tau; this much slack keeps
# a spectrum whose energy is exactly tau (on paper) from needing one more term.
_ENERGY_SLACK = 1e-12


def singular_values(W: ArrayLike) -> np.ndarray:
    """Singular values of W (m, n), largest first: float64 array of length min(m, n).

    Refused (ValueError) if the largest one exceeds float64's range, which a
    matrix of finite entries near 1e308 can have.
    """
    W = as_matrix("W", W)
    scaled, exponent = scale_out(W)
    return scale_back("W", np.linalg.svd(scaled, compute_uv=False), exponent, "singular values of W")


def _relative_singular_values(W):
    """s_i / s_1 of W (m, n), a non-zero matrix; these are all a scale-free rank measure needs."""
    W = as_matrix("W", W)
    check_not_zero("W", W)
    s = np.linalg.svd(scale_out(W)[0], compute_uv=False)
    return s / s[0]


def energy_curve(W: ArrayLike) -> np.ndarray:
    """Cumulative fraction of squared singular values, e_k for k = 1..min(m, n).

    Non-decreasing, and the last entry is exactly 1.0. Raises for the zero
    matrix, which has no energy to share out.
    """
    cumulative = np.cumsum(_relative_singular_values(W) ** 2)
    # Divide by the last cumulative sum (not a separate np.sum) so e_p == 1.0 exactly.
    return cumulative / cumulative[-1]


def energy_rank(W: ArrayLike, tau: float = 0.9) -> int:
    """Smallest k whose top-k singular values hold a fraction tau of ||W||_F^2.

    tau must be in (0, 1]; tau = 1 gives the numerical rank of W (up to rounding).
    """
    tau = check_float("tau", tau, low=0.0, high=1.0, low_open=True)
    curve = energy_curve(W)
    return int(np.searchsorted(curve, tau - _ENERGY_SLACK, side="left")) + 1


def effective_rank(W: ArrayLike) -> float:
    """Roy and Vetterli's effective rank: exp of the entropy of s / sum(s).

    A real number between 1 (one dominant direction) and min(m, n) (all
    singular values equal). Terms with s_i = 0 contribute 0 (0 log 0 = 0).
    """
    s = _relative_singular_values(W)
    q = s / s.sum()
    q = q[q > 0]
    return float(np.exp(-np.sum(q * np.log(q))))


def stable_rank(W: ArrayLike) -> float:
    """||W||_F^2 / ||W||_2^2 = sum of s_i^2 over s_1^2; between 1 and rank(W)."""
    return float(np.sum(_relative_singular_values(W) ** 2))
