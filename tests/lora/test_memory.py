"""Memory is deterministic, so LoRA's saving can be tested (time is not, and never is here).

The benchmark (benchmarks/bench_lora.py) measures a 1024-wide
MLP; this test runs the same measurement on a 512-wide one with the same
batch-to-width ratio, to stay fast.
"""
import copy
import tracemalloc

import numpy as np
import pytest

from lorabook import nn, optim
from lorabook.lora import LoraConfig, get_peft_model
from lorabook.nn import functional as F

SIZES, BATCH = [512, 512, 512, 512], 256


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    return nn.MLP(SIZES, generator=0), x, y


def _models(base, kind):
    model = copy.deepcopy(base)
    if kind == "lora":
        model = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear"), generator=1)
    return model, optim.Adam(model.parameters(), lr=1e-3)


def _step(model, optimizer, x, y):
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def test_gradients_and_adam_state_are_three_copies_of_the_trainable_values(setup):
    base, x, y = setup
    model, optimizer = _models(base, "lora")
    _step(model, optimizer, x, y)
    params = list(model.parameters())
    trainable = sum(p.size for p in params if p.requires_grad)
    assert trainable == 3 * 8 * (512 + 512)
    held = sum(p.grad.nbytes for p in params if p.grad is not None) + optimizer.state_nbytes()
    assert held == 3 * trainable * 4


def test_peak_memory_of_lora_training_is_under_045_of_full_fine_tuning(setup):
    base, x, y = setup
    peaks = {}
    for kind in ("full", "lora"):
        model, optimizer = _models(base, kind)
        tracemalloc.start()
        try:
            _step(model, optimizer, x, y)
            _step(model, optimizer, x, y)
            peaks[kind] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks["lora"] <= 0.45 * peaks["full"], peaks
