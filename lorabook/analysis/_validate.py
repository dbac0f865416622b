"""Input checks shared by the analysis modules (built on lorabook._checks).

Everything in `lorabook.analysis` works on plain arrays in float64, whatever
came in (lists, float32 arrays, integer images), so the helpers here convert
as they check.
"""
from __future__ import annotations

import numpy as np

from lorabook._checks import check_int, check_matrix


def as_matrix(name, value):
    """`value` as a finite 2-D float64 array with at least one row and one column; errors name `name`."""
    matrix = check_matrix(name, value, dtype=np.float64)
    if matrix.size == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {matrix.shape}")
    return matrix


def scale_out(M):
    """(M / 2**e, e): M divided by the power of two that puts its largest |entry| in [0.5, 1).

    Dividing by a power of two changes only each entry's exponent, so it is
    exact, and afterwards nothing in an SVD can overflow or underflow (the
    singular values are at most sqrt(m n)). Measures that do not depend on
    the scale (rank measures, singular vectors) are computed on M / 2**e;
    quantities with units (singular values) are multiplied back by 2**e.
    The zero matrix comes back as it is, with e = 0.
    """
    largest = float(np.max(np.abs(M)))
    if largest == 0.0:
        return M, 0
    exponent = int(np.frexp(largest)[1])
    return np.ldexp(M, -exponent), exponent


def scale_back(name, values, exponent, what):
    """values * 2**exponent (exact), refusing results beyond float64's range instead of returning inf.

    `what` names the values in the error ("singular values of W"), `name` the input to scale down.
    """
    with np.errstate(over="ignore"):  # an overflow is reported just below, with the numbers
        result = np.ldexp(values, exponent)
    if not np.all(np.isfinite(result)):
        largest = float(np.max(np.abs(values)))
        raise ValueError(
            f"the {what} {'exceeds' if np.ndim(values) == 0 else 'exceed'} float64's range "
            f"(the largest is {largest:.4g} * 2**{exponent}, "
            f"above {np.finfo(np.float64).max:.4g}); divide {name} by a large power of two first"
        )
    return result


def numerical_rank(s, shape):
    """How many singular values s (largest first, of a matrix of `shape`) exceed numpy.linalg.matrix_rank's
    tolerance s_1 * max(m, n) * eps; below it a singular value cannot be told from rounding error."""
    return int(np.count_nonzero(s > s[0] * max(shape) * np.finfo(np.float64).eps))


def check_rank(name, value, shape):
    """A rank `value` in 1..min(shape), for a matrix of the given shape."""
    value = check_int(name, value)
    largest = min(shape)
    if not 1 <= value <= largest:
        raise ValueError(
            f"{name} must be between 1 and min(m, n) = {largest} for a matrix of shape "
            f"{tuple(shape)}, got {value}"
        )
    return value


def check_not_zero(name, matrix, why="this measure is undefined for the zero matrix"):
    """Reject the all-zero matrix, for measures that divide by its size."""
    if not np.any(matrix):
        raise ValueError(f"{name} is all zeros; {why}")
