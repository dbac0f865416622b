"""Input checks shared by the analysis modules (built on lorabook._checks).

Everything in `lorabook.analysis` works on plain arrays in float64, whatever
came in (lists, float32 arrays, integer images), so the helpers here convert
as they check.
"""
from __future__ import annotations

import numpy as np

from lorabook._checks import check_int, check_matrix


def as_matrix(name, value):
    """`value` as a finite 2-D float64 array; the error names `name`."""
    return check_matrix(name, value, dtype=np.float64)


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


def check_not_zero(name, matrix):
    """Reject the all-zero matrix, for measures that divide by its size."""
    if not np.any(matrix):
        raise ValueError(f"{name} is all zeros; this measure is undefined for the zero matrix")
