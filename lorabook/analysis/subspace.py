"""How much do two LoRA runs learn the same directions?

The LoRA paper (Hu et al. 2021, Section 7.2) compares the A matrices of two
runs. In the paper, W0 is d x k, B is d x r and A is r x k, with
h = W0 x + B A x: the same shapes as here (lora_A is (r, in)). The paper
takes "the right-singular unitary matrix" of each A and, confusingly, calls
it U. For A of shape (r, in), A = U S V^T, the right singular vectors (the
columns of V, equivalently the rows of V^T) live in the input space R^in
and span the row space of A: the input directions the adapter reads. That is
what we use, and we call it V:

    phi(A1, A2, i, j) = ||V1_i^T V2_j||_F^2 / min(i, j)   in [0, 1]

with V1_i the top-i right singular vectors of A1 (in x i), V2_j the top-j
of A2. phi = 1 when the smaller subspace lies inside the larger, 0 when the
two are orthogonal. Equivalently, it is the mean of cos^2 of the min(i, j)
principal angles between the two subspaces.

Two random subspaces of dimensions i and j in R^d have on average
||V1_i^T V2_j||_F^2 = i j / d, so the baseline to compare phi with is
max(i, j) / d.

The top-i directions of A1 are determined only when A1 has at least i
non-zero singular values: an all-zero A spans no subspace at all, and
beyond A's rank the SVD completes the basis with directions of its own
choosing. So the zero matrix is refused, and subspace_similarity refuses
an i or j above the rank (numpy.linalg.matrix_rank's).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from lorabook._checks import check_int
from lorabook.analysis._validate import as_matrix, check_not_zero, numerical_rank, scale_out

_NO_SUBSPACE = "a zero matrix spans no subspace, so no similarity is defined"


def _right_singular_vectors(A):
    """(V, rank): the right singular vectors of A (r, in) as columns, largest singular value
    first, and the numerical rank of A (how many of them A determines)."""
    _, s, Vt = np.linalg.svd(scale_out(A)[0], full_matrices=False)  # scaled: no overflow on huge entries
    return Vt.T, numerical_rank(s, A.shape)


def _check_dimension(name, value, A_name, rank, rows):
    value = check_int(name, value, low=1, high=rows)
    if value > rank:
        raise ValueError(f"{name} must be at most the rank of {A_name}, {rank}, got {value}: beyond its rank "
                         f"{A_name}'s top singular vectors are not determined by {A_name}")
    return value


def _two_lora_As(A1, A2):
    A1 = as_matrix("A1", A1)
    A2 = as_matrix("A2", A2)
    check_not_zero("A1", A1, _NO_SUBSPACE)
    check_not_zero("A2", A2, _NO_SUBSPACE)
    if A1.shape[1] != A2.shape[1]:
        raise ValueError(
            "A1 and A2 must have the same number of columns (the layer's input size), "
            f"got shapes {A1.shape} and {A2.shape}"
        )
    return A1, A2


def subspace_similarity_grid(A1: ArrayLike, A2: ArrayLike) -> np.ndarray:
    """phi(A1, A2, i, j) for every i in 1..r1 and j in 1..r2, as an (r1, r2) array.

    A1 (r1, in), A2 (r2, in): the LoRA A matrices of two runs, not all zero
    (if a rank exceeds `in`, only `in` directions exist and the grid is cut
    to that). grid[i - 1, j - 1] = phi(i, j). Rows i above the rank of A1
    (columns j above that of A2) use directions the SVD chose (module doc);
    trained or freshly initialised A matrices have full rank.
    """
    A1, A2 = _two_lora_As(A1, A2)
    V1, _ = _right_singular_vectors(A1)
    V2, _ = _right_singular_vectors(A2)
    # ||V1_i^T V2_j||_F^2 is a sum over the top-left i x j block of the squared
    # overlaps, so cumulative sums along both axes give every (i, j) at once.
    overlap = np.cumsum(np.cumsum((V1.T @ V2) ** 2, axis=0), axis=1)
    i = np.arange(1, overlap.shape[0] + 1)[:, None]
    j = np.arange(1, overlap.shape[1] + 1)[None, :]
    return overlap / np.minimum(i, j)


def subspace_similarity(A1: ArrayLike, A2: ArrayLike, i: int, j: int) -> float:
    """phi(A1, A2, i, j) = ||V1_i^T V2_j||_F^2 / min(i, j) (see the module doc).

    i in 1..rank(A1), j in 1..rank(A2) (at most min(A.shape); an all-zero A
    is refused: it spans no subspace). Returns a float in [0, 1].
    """
    A1, A2 = _two_lora_As(A1, A2)
    V1, rank1 = _right_singular_vectors(A1)
    V2, rank2 = _right_singular_vectors(A2)
    i = _check_dimension("i", i, "A1", rank1, min(A1.shape))
    j = _check_dimension("j", j, "A2", rank2, min(A2.shape))
    return float(np.sum((V1[:, :i].T @ V2[:, :j]) ** 2) / min(i, j))


def random_subspace_baseline(i: int, j: int, d: int) -> float:
    """Expected phi for random i- and j-dimensional subspaces of R^d: max(i, j) / d."""
    d = check_int("d", d, low=1)
    i = check_int("i", i, low=1, high=d)
    j = check_int("j", j, low=1, high=d)
    return max(i, j) / d


def principal_angles(U: ArrayLike, V: ArrayLike) -> np.ndarray:
    """Principal angles (radians, smallest first) between the column spaces of U and V.

    U (d, p), V (d, q), any bases (not necessarily orthonormal). Returns
    min(p, q) angles in [0, pi/2]; cos^2 of them averaged is phi at full i, j.
    Uses scipy.linalg.subspace_angles, which lists the largest first; we
    reverse to the textbook order theta_1 <= theta_2 <= ...
    """
    from scipy import linalg  # imported here: SciPy takes a while to load, and only this function needs it

    U = as_matrix("U", U)
    V = as_matrix("V", V)
    if U.shape[0] != V.shape[0]:
        raise ValueError(
            f"U and V must have the same number of rows (the ambient dimension), got shapes {U.shape} and {V.shape}"
        )
    # Scaling changes no column space, and keeps SciPy's orthonormalisation from overflowing.
    return linalg.subspace_angles(scale_out(U)[0], scale_out(V)[0])[::-1].copy()
