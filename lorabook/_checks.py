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
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a 2-D array of numbers, got {_show(value)}") from err
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (a matrix), got shape {array.shape}")
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    if finite and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} must be finite, but {bad} of its {array.size} entries are NaN or infinite")
    return array


def check_same_shape(name_a, a, name_b, b):
    """Two arrays whose shapes must match exactly."""
    if np.shape(a) != np.shape(b):
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {np.shape(a)} and {np.shape(b)}")


def make_rng(seed):
    """A `numpy.random.Generator` from a seed, or the Generator itself if one is given.

    All randomness in lorabook flows through such generators: same seed,
    same numbers, bit for bit.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer or a numpy.random.Generator, got {_show(seed)}")
    return np.random.default_rng(int(seed))
