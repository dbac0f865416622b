"""Input conversion shared by the data modules (shifts, splits)."""
from __future__ import annotations

import numpy as np

from lorabook._checks import _show, first_non_finite


def float_dtype(dtype):
    """`dtype` as a NumPy floating-point dtype, or a clear error."""
    try:
        dtype = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype must be a floating-point dtype such as np.float32, got {dtype!r}") from err
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating-point dtype such as np.float32, got {dtype}")
    return dtype


def as_data(name, X, ndims=(2, 3)):
    """`X` as a finite float array with one of the allowed numbers of axes.

    Float input keeps its dtype (float32 stays float32); integer input becomes
    float64. The array is not copied unless a conversion is needed, so callers
    that change values must work on a copy.
    """
    try:
        array = np.asarray(X)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of numbers, got {_show(X)}") from err
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim not in ndims:
        allowed = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be a {allowed} array, got shape {array.shape}")
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, but it holds NaN or infinite entries")
    return array


def as_labels(name, y, n_rows):
    """`y` as a 1-D int64 array of length `n_rows`."""
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.shape[0] != n_rows:
        raise ValueError(f"{name} must have shape ({n_rows},) to match the rows of X, got shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer class labels, got dtype {labels.dtype}")
    return labels.astype(np.int64, copy=False)


def finite_result(shift, values, dtype, hint="use a smaller strength or rescale X"):
    """A shift's (or a generator's) result `values` in `dtype`, refused if it overflowed (or would, in `dtype`).

    Shifts compute under np.errstate(over="ignore", invalid="ignore") and call
    this, so that an overflow is reported once, as a sentence naming the
    shift and saying what to change (`hint`), instead of coming back as inf.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # reported just below
        result = values.astype(dtype, copy=False)
    index = first_non_finite(result)
    if index is not None:
        where = ", ".join(str(i) for i in index)
        raise ValueError(f"{shift}: the result overflows {np.dtype(dtype)} (first at [{where}], "
                         f"largest finite {np.finfo(dtype).max:.4g}); {hint}")
    return result
