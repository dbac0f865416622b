"""Shared helpers for the autograd tests: float64 inputs away from kinks, and a gradcheck assertion."""
import numpy as np
import pytest

from lorabook import gradcheck


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def check():
    """check(fn, *arrays): assert gradcheck passes, showing its verdict (worst entry) if not."""

    def assert_gradcheck(fn, *inputs, **tolerances):
        result = gradcheck(fn, list(inputs), **tolerances)
        assert result, str(result)
        assert result.max_abs_error < 1e-5, str(result)
        return result

    return assert_gradcheck


@pytest.fixture
def away_from_zero():
    """Random float64 numbers with |x| in [0.5, 2]: safe to divide by, far from relu's kink."""

    def make(rng, shape):
        return rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)

    return make


@pytest.fixture
def distinct():
    """Float64 values 0.25 apart in a random order: no ties, so max has no kink nearby."""

    def make(rng, shape):
        return rng.permutation(int(np.prod(shape))).reshape(shape) / 4.0 - 1.0

    return make
