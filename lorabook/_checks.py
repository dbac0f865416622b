"""Argument checks shared by the whole package.

Every public function validates its input up front, so that a learner who
passes the wrong thing reads a sentence naming the argument, the value given
and what was expected, instead of a NumPy traceback from deep inside.
Each helper returns the (converted) value so that a check reads as one line:

    r = check_int("r", r, low=1)
"""
from __future__ import annotations

import numbers

import numpy as np

from .random import get_generator


def _show(value, limit=80):
    """A short printable form of `value` for an error message."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_int(name, value, low=None, high=None):
    """`value` as an int in [low, high] (either bound may be None)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_show(value)}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_float(name, value, low=None, high=None, low_open=False, high_open=False):
    """`value` as a finite float in the interval given; `*_open` excludes the bound."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_show(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    lo_bracket = "(" if low_open or low is None else "["
    hi_bracket = ")" if high_open or high is None else "]"
    interval = f"{lo_bracket}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_bracket}"
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be in {interval}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def check_bool(name, value):
    """True or False itself (a NumPy bool too): 1, 0 and strings such as 'yes' are refused (a typo, not a choice)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_show(value)}")
    return bool(value)


def check_choice(name, value, choices):
    """`value` must be one of `choices`."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {_show(value)}")
    return value


def check_matrix(name, value, finite=True, dtype=None):
    """`value` as a 2-D float ndarray (copied only if a conversion is needed)."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a 2-D array of numbers, got {_show(value)}") from err
    # The dtype is checked before converting: a complex matrix cast to float would lose its
    # imaginary part with only a warning, and strings would fail deep inside NumPy.
    if array.dtype.kind not in "fiub" or array.dtype.kind == "b" and dtype is None:
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (a matrix), got shape {array.shape}")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    elif array.dtype.kind != "f":
        array = array.astype(np.float64)
    if finite and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} must be finite, but {bad} of its {array.size} entries are NaN or infinite")
    return array


def check_same_shape(name_a, a, name_b, b):
    """Two arrays whose shapes must match exactly."""
    if np.shape(a) != np.shape(b):
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {np.shape(a)} and {np.shape(b)}")


def first_non_finite(array):
    """The index (a tuple) of the first NaN or infinite entry of `array` in C order, or None."""
    bad = np.flatnonzero(~np.isfinite(array))
    return None if bad.size == 0 else tuple(int(i) for i in np.unravel_index(bad[0], array.shape))


def _check_finite(name, part, array):
    if array.dtype.kind != "f":
        return  # integers and bools cannot be NaN or infinite
    index = first_non_finite(array)
    if index is not None:
        where = ", ".join(str(i) for i in index)
        count = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name}: {part}[{where}] is {array[index]}; the data must be finite "
                         f"({count} of its {array.size} entries are NaN or infinite)")


def check_data(name, data, labels=False, x_ndim=None):
    """(X, y) as two NumPy arrays, checked before anything trains on them.

    data: an (X, y) pair (tuple or list) of arrays or Tensors with one row per
    example: len(X) == len(y) >= 1, numbers only, every entry finite (the
    error names the array and the first bad index, e.g. "train_data: X[17, 2]
    is nan"). labels=True also asks y to be integer class labels of shape (n,);
    x_ndim asks X to have that many axes (2 for (n, features)). The arrays
    are returned as they are, not copied.
    """
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be an (X, y) pair of arrays, got {_show(data)}")
    try:
        # A Tensor's array is its .data (an ndarray's .data is a raw buffer: take the array itself)
        X, y = (np.asarray(part if isinstance(part, np.ndarray) else getattr(part, "data", part)) for part in data)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an (X, y) pair of arrays of numbers, got {_show(data)}") from err
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{name}: X and y must be arrays with one row per example, got shapes {X.shape} and {y.shape}")
    if x_ndim is not None and X.ndim != x_ndim:
        raise ValueError(f"{name}: X must have {x_ndim} axes, got shape {X.shape}")
    if len(X) != len(y):
        raise ValueError(f"{name}: X has {len(X)} rows but y has {len(y)}; they must have one row per example")
    if len(X) == 0:
        raise ValueError(f"{name} is empty: X and y have 0 rows")
    for part, array in (("X", X), ("y", y)):
        if array.dtype.kind not in "fiub":
            raise TypeError(f"{name}: {part} must hold real numbers, got dtype {array.dtype}")
    if labels and (y.ndim != 1 or y.dtype.kind not in "iu"):
        raise TypeError(f"{name}: y must be integer class labels of shape (n,), got shape {y.shape} and dtype {y.dtype}")
    _check_finite(name, "X", X)
    _check_finite(name, "y", y)
    return X, y


def make_rng(seed):
    """Old name of `lorabook.random.get_generator(seed, "seed")`, kept until every caller uses that."""
    return get_generator(seed, "seed")
