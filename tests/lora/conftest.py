"""Shared models for the LoRA tests: small MLPs built fresh, and the 4M-parameter model built once."""
import copy

import numpy as np
import pytest

from lorabook import nn


def small_mlp(seed=0, sizes=(6, 5, 4, 3), dtype=np.float32):
    """Linear layers "0", "2", "4" with ReLUs between, seeded."""
    return nn.MLP(list(sizes), generator=seed, dtype=dtype)


@pytest.fixture
def make_mlp():
    """make_mlp(seed=0, sizes=(6, 5, 4, 3), dtype=float32): a fresh small MLP."""
    return small_mlp


@pytest.fixture
def mlp():
    return small_mlp()


@pytest.fixture
def batch():
    return np.random.default_rng(7).standard_normal((9, 6)).astype(np.float32)


@pytest.fixture(scope="module")
def big_base():
    """Sequential 20-2000-2000-2 (Linear "0", "2", "4", ReLUs between), float32, built once per module."""
    rng = np.random.default_rng(0)
    return nn.Sequential(nn.Linear(20, 2000, generator=rng), nn.ReLU(), nn.Linear(2000, 2000, generator=rng),
                         nn.ReLU(), nn.Linear(2000, 2, generator=rng))


@pytest.fixture
def big(big_base):
    """A fresh copy of the 20-2000-2000-2 model (get_peft_model changes its argument in place)."""
    return copy.deepcopy(big_base)
