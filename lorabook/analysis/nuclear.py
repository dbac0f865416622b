"""The nuclear norm, its proximal map (singular value thresholding), and why weight decay on LoRA is one.

For M of shape (m, n) with singular values s_1 >= ... >= s_p >= 0, p = min(m, n):

    nuclear norm       ||M||_* = s_1 + ... + s_p

It is to the rank what the L1 norm is to the number of non-zeros: the
tightest convex stand-in for it, so a penalty lambda ||M||_* pushes small
singular values to exactly zero.

Singular value thresholding (Cai, Candes and Shen 2010). The proximal map of
tau ||.||_*, the minimiser of  tau ||X||_* + ||X - M||_F^2 / 2,  is

    SVT(M, tau) = U diag(max(s - tau, 0)) V^T            with M = U diag(s) V^T:

every singular value moves down by tau and those below tau vanish. One
proximal gradient step on  L(W) + lambda ||W - W0||_*  is a gradient step on
L followed by SVT of the update with tau = step size * lambda
(`proximal_nuclear_step`).

The variational identity (Srebro, Rennie and Jaakkola 2005). For every
factorisation M = B A, with B (m, r) and A (r, n),

    (||A||_F^2 + ||B||_F^2) / 2  >=  ||B A||_*,

with equality at the balanced factors A = S^1/2 V^T, B = U S^1/2
(`balanced_factors`). So LoRA with weight decay on A and B (the penalty
lambda (||A||_F^2 + ||B||_F^2) / 2) minimises, over the factors of each
update, exactly lambda ||dW||_*: the nuclear-norm penalty on dW = B A,
restricted to rank r.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from lorabook._checks import check_float
from lorabook.analysis._validate import as_matrix


def nuclear_norm(M: ArrayLike) -> float:
    """||M||_* = sum of the singular values of M (m, n), as a float (float64 arithmetic)."""
    M = as_matrix("M", M)
    return float(np.linalg.svd(M, compute_uv=False).sum())


def singular_value_threshold(M: ArrayLike, tau: float) -> np.ndarray:
    """SVT(M, tau) = U diag(max(s - tau, 0)) V^T, shape (m, n), float64.

    The proximal map of tau ||.||_*: argmin over X of tau ||X||_* + ||X - M||_F^2 / 2.
    tau must be >= 0 (tau = 0 returns M).
    """
    M = as_matrix("M", M)
    tau = check_float("tau", tau, low=0.0)
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    return (U * np.maximum(s - tau, 0.0)) @ Vt


def balanced_factors(M: ArrayLike, tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """(B, A) with B @ A = M and ||A||_F^2 = ||B||_F^2 = ||M||_*, shapes (m, k) and (k, n).

    B = U_k S_k^1/2 and A = S_k^1/2 V_k^T over the k singular values above
    tol * s_1 (the numerical rank; k = 1 with zero factors for M = 0). These
    factors attain the variational bound: variational_bound(A, B) = ||M||_*.
    """
    M = as_matrix("M", M)
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    k = max(1, int(np.sum(s > tol * s[0]))) if s[0] > 0 else 1
    root = np.sqrt(s[:k])
    return U[:, :k] * root, root[:, None] * Vt[:k]


def variational_bound(A: ArrayLike, B: ArrayLike) -> float:
    """(||A||_F^2 + ||B||_F^2) / 2 for LoRA's factors A (r, in), B (out, r); always >= ||B @ A||_*."""
    A, B = as_matrix("A", A), as_matrix("B", B)
    if B.shape[1] != A.shape[0]:
        raise ValueError(f"B (out, r) and A (r, in) must share r; got B of shape {B.shape} and A of shape {A.shape}")
    return float((np.sum(A * A) + np.sum(B * B)) / 2.0)


def proximal_nuclear_step(weight: ArrayLike, reference: ArrayLike, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """(W0 + SVT(W - W0, tau), singular values kept): the proximal step on the update W - W0.

    weight W and reference W0: (out, in) arrays of the same shape. After an
    optimizer step of size eta on L, tau = eta * lambda makes the pair one
    proximal gradient step on L(W) + lambda ||W - W0||_*. The new weight has
    W's dtype (assign it to the parameter: `param.data = new_weight`); the
    singular values of the new update (float64, largest first) say what
    rank it kept.
    """
    W, W0 = as_matrix("weight", weight), as_matrix("reference", reference)
    if W.shape != W0.shape:
        raise ValueError(f"weight and reference must have the same shape, got {W.shape} and {W0.shape}")
    tau = check_float("tau", tau, low=0.0)
    U, s, Vt = np.linalg.svd(W - W0, full_matrices=False)
    kept = np.maximum(s - tau, 0.0)
    new_weight = (W0 + (U * kept) @ Vt).astype(np.asarray(weight).dtype, copy=False)
    return new_weight, kept
