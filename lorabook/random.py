"""Where randomness comes from: `numpy.random.Generator` objects, never np.random's global state.

Functions that draw random numbers take a `generator=` (or `seed=`)
argument, and turn it into a Generator with `get_generator`, the one seed
helper of the package. When none is given they use the package's default
generator, which `manual_seed(seed)` resets, as `torch.manual_seed` does. So

    lorabook.manual_seed(0); model = MLP([64, 128, 10])

gives the same weights, bit for bit, on every run.

This module imports nothing from the rest of lorabook, so that every other
module (the argument checks included) can import it.
"""
from __future__ import annotations

import numbers
from typing import Union

import numpy as np

Seed = Union[int, np.random.Generator, None]
"""What a `seed=` or `generator=` argument takes: an int >= 0, a Generator, or None (the default one)."""

_default_generator = np.random.default_rng(0)


def _check_seed(name: str, seed) -> int:
    """`seed` as an int >= 0 (NumPy's seeds are non-negative); bools are refused (a typo, not a seed)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer seed >= 0 or a numpy.random.Generator, got {seed!r:.80}")
    if seed < 0:
        raise ValueError(f"{name} must be an integer seed >= 0 or a numpy.random.Generator, got {int(seed)}")
    return int(seed)


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the default generator to `seed`; returns it."""
    global _default_generator
    _default_generator = np.random.default_rng(_check_seed("seed", seed))
    return _default_generator


def default_generator() -> np.random.Generator:
    """The generator used when a function is not given one."""
    return _default_generator


def get_generator(generator: Seed = None, name: str = "generator") -> np.random.Generator:
    """A `numpy.random.Generator` from what the caller passed as `name`.

    A Generator is used as it is (so its stream continues), an int >= 0
    seeds a new one (same seed, same numbers, bit for bit), and None means
    the package's default generator (see `manual_seed`). `name` is the
    argument's name in error messages, e.g. get_generator(seed, "seed").
    """
    if generator is None:
        return _default_generator
    if isinstance(generator, np.random.Generator):
        return generator
    return np.random.default_rng(_check_seed(name, generator))
