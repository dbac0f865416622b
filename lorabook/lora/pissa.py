"""PiSSA (Meng et al. 2024): start the adapter from the principal part of W, freeze the rest.

With W = U S V^T (out, in), the adapter starts with its update equal to the
top-r part of W, and the frozen weight keeps the residual:

    B = U_r sqrt(S_r) / sqrt(scaling)     (out, r)
    A = sqrt(S_r) V_r^T / sqrt(scaling)   (r, in)
    W_res = W - scaling * B @ A           (out, in), frozen

so W_res + scaling * B @ A = W: the output does not change (to float
rounding), but training now moves the directions that matter most. The
factors are balanced (A A^T = B^T B = S_r / scaling).

Where lorabook differs from PEFT on purpose: the SVD runs in float64 whatever
W's dtype (PEFT runs it in float32 and refuses a float64 model), and with
r > min(out, in) the directions the SVD does not have are rows of A and
columns of B set to zero, so the shapes stay (r, in) and (out, r) (PEFT's A
gets min(out, in) rows, a shape that disagrees with r).
"""
from __future__ import annotations

import numpy as np


def pissa_factors(weight: np.ndarray, r: int, scaling: float) -> tuple:
    """(B (out, r), A (r, in), W_res (out, in)) in W's dtype; see the module docstring."""
    out_features, in_features = weight.shape
    U, S, Vt = np.linalg.svd(weight.astype(np.float64), full_matrices=False)
    k = min(r, len(S))
    root = np.sqrt(S[:k] / scaling)
    B = np.zeros((out_features, r), dtype=weight.dtype)
    A = np.zeros((r, in_features), dtype=weight.dtype)
    B[:, :k] = U[:, :k] * root
    A[:k] = root[:, None] * Vt[:k]
    # The residual uses the factors as stored (rounded to W's dtype), so that
    # W_res + scaling * B @ A reproduces W as closely as the dtype allows.
    residual = weight.astype(np.float64) - scaling * (B.astype(np.float64) @ A.astype(np.float64))
    return B, A, residual.astype(weight.dtype)
