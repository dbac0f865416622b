"""Where randomness comes from: `numpy.random.Generator` objects, never np.random's global state.

Functions that draw random numbers take a `generator=` (or `seed=`)
argument. When none is given they use the package's default generator,
which `manual_seed(seed)` resets, as `torch.manual_seed` does. So

    lorabook.manual_seed(0); model = MLP([64, 128, 10])

gives the same weights, bit for bit, on every run.
"""
from __future__ import annotations

import numpy as np

from ._checks import check_int

_default_generator = np.random.default_rng(0)


def manual_seed(seed):
    """Reset the default generator to `seed`; returns it."""
    global _default_generator
    _default_generator = np.random.default_rng(check_int("seed", seed, low=0))
    return _default_generator


def default_generator():
    """The generator used when a function is not given one."""
    return _default_generator


def get_generator(generator=None):
    """`generator` if given (a Generator, or an int seed), else the default one."""
    if generator is None:
        return _default_generator
    if isinstance(generator, np.random.Generator):
        return generator
    return np.random.default_rng(check_int("generator", generator, low=0))
