"""Reduced-rank regression: the best rank-r update of a linear layer, in closed form.

A linear layer maps x (d_in,) to W x; with the rows of X (n, d_in) as
inputs and the rows of Y (n, d_out) as targets the fit is Y ~ X W^T. Given
a starting W0 (d_out, d_in), which update D of rank at most r fits best?

    minimise ||Y - X (W0 + D)^T||_F   over D (d_out, d_in) with rank(D) <= r

This is what LoRA's constraint means for a single linear layer trained to
the optimum. Write R = Y - X W0^T (what W0 gets wrong) and split

    ||R - X D^T||^2 = ||R - X C||^2 + ||X C - X D^T||^2,   C = pinv(X) R,

(the least-squares residual R - X C is orthogonal to everything of the form
X M). Only the second term depends on D, and X D^T ranges over rank-r
matrices, so the answer is the Eckart-Young truncation of the fitted values
F = X C: with V_r the top-r right singular vectors of F (d_out, r),

    D = (C V_r V_r^T)^T = V_r V_r^T C^T.

With the pseudo-inverse this is exact also when n < d_in (then C is the
minimum-norm least-squares solution). At full rank, and with X of full
column rank (n >= d_in), D is the ordinary least-squares solution C^T itself.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from lorabook.analysis._validate import as_matrix, check_rank


def reduced_rank_regression(X: ArrayLike, Y: ArrayLike, r: int, W0: ArrayLike | None = None) -> np.ndarray:
    """The rank-<=r update D (d_out, d_in) minimising ||Y - X (W0 + D)^T||_F.

    X (n, d_in), Y (n, d_out), W0 (d_out, d_in) or None (zeros).
    r in 1..min(d_out, d_in). See the module doc for the derivation.
    """
    X = as_matrix("X", X)
    Y = as_matrix("Y", Y)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must have the same number of rows (examples), got shapes {X.shape} and {Y.shape}")
    d_in, d_out = X.shape[1], Y.shape[1]
    if W0 is None:
        residual = Y
    else:
        W0 = as_matrix("W0", W0)
        if W0.shape != (d_out, d_in):
            raise ValueError(f"W0 must have shape (Y columns, X columns) = {(d_out, d_in)}, got {W0.shape}")
        residual = Y - X @ W0.T
    r = check_rank("r", r, (d_out, d_in))

    C, *_ = np.linalg.lstsq(X, residual, rcond=None)  # (d_in, d_out), minimum norm
    fitted = X @ C
    V_r = np.linalg.svd(fitted, full_matrices=False)[2][:r].T  # (d_out, r)
    return V_r @ (V_r.T @ C.T)
