"""The best rank-r approximation of a matrix, and the same thing as LoRA factors.

Eckart-Young(-Mirsky): among all matrices of rank at most r, the truncated
SVD W_r = U_r diag(s_1..s_r) V_r^T is closest to W, in both norms at once:

    ||W - W_r||_2 = s_{r+1}                       (0 when r = min(m, n))
    ||W - W_r||_F = sqrt(s_{r+1}^2 + ... + s_p^2)

So the singular values of a matrix tell you, before you compute anything
else, how much a rank-r approximation must lose.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from lorabook.analysis._validate import as_matrix, check_rank, scale_back, scale_out


def top_singular_triplets(W: ArrayLike, r: int, name: str = "W", rank_name: str = "r",
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(U_r, s_r, Vt_r): the top-r singular triplets of W (m, n).

    U_r is (m, r) with orthonormal columns, s_r (r,) is non-increasing and
    Vt_r is (r, n) with orthonormal rows, so U_r @ diag(s_r) @ Vt_r = W_r.
    The SVD runs on W scaled exactly to entries of size about 1, so huge
    entries cannot overflow inside it; singular values beyond float64's range
    are refused.
    """
    W = as_matrix(name, W)
    r = check_rank(rank_name, r, W.shape)
    scaled, exponent = scale_out(W)
    U, s, Vt = np.linalg.svd(scaled, full_matrices=False)
    return U[:, :r], scale_back(name, s[:r], exponent, f"singular values of {name}"), Vt[:r, :]


def low_rank_approx(W: ArrayLike, r: int) -> np.ndarray:
    """W_r, the best approximation of W (m, n) of rank at most r; shape (m, n).

    r must be in 1..min(m, n).
    """
    U_r, s_r, Vt_r = top_singular_triplets(W, r)
    return (U_r * s_r) @ Vt_r


def svd_factors(W: ArrayLike, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Factors (B, A) with B (m, r), A (r, n) and B @ A = low_rank_approx(W, r).

    In LoRA's shapes: B plays lora_B (out, r), A plays lora_A (r, in).

        B = U_r diag(sqrt(s_r)),   A = diag(sqrt(s_r)) V_r^T

    Why split sqrt(s) to each side rather than giving all of s to one factor?
    Any invertible r x r matrix G gives another valid pair (B G, G^-1 A), and
    this symmetric one is the *balanced* pair: B^T B = A A^T = diag(s_r), so
    both factors have the same size (||B||_F = ||A||_F) and together the
    smallest possible ||B||_F^2 + ||A||_F^2 (= 2 * sum of s_r). That is the
    pair weight decay pushes towards, and the one from which further gradient
    training steps neither factor much harder than the other.
    """
    U_r, s_r, Vt_r = top_singular_triplets(W, r)
    root = np.sqrt(s_r)
    return U_r * root, root[:, None] * Vt_r
