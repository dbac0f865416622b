"""The benchmark scripts run, and every way they time computes the same step.

They report and assert nothing about speed (timings belong in benchmarks/,
never in tests); these tests only keep them working, and check that the
ways bench_overhead compares are the same computation: the same losses,
step after step, as the hand-written NumPy step.
"""
import importlib.util
import os
import sys

import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


def load(name):
    if BENCHMARKS not in sys.path:
        sys.path.insert(0, BENCHMARKS)  # the scripts import each other by name, as when run from there
    spec = importlib.util.spec_from_file_location(name, os.path.join(BENCHMARKS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("sizes, batch", [([8, 16, 16, 2], 8), ([64, 128, 128, 10], 64)])
def test_every_way_of_bench_overhead_trains_like_the_hand_written_step(sizes, batch):
    overhead, train_step = load("bench_overhead"), load("bench_train_step")
    x, y, weights, biases = train_step.make_start(sizes, batch)
    steps = [make(weights, biases) for make in overhead.WAYS.values()]
    hand = train_step.HandWrittenMLP(weights, biases)
    for _ in range(5):  # the updates must match too, or the later losses part
        expected = hand.step(x, y)
        for step in steps:
            assert step(x, y) == pytest.approx(expected, rel=1e-5)


def test_bench_overhead_measures_each_way_against_the_hand_written_step():
    overhead = load("bench_overhead")
    seconds = overhead.measure([8, 16, 16, 2], 8, repeats=10, warmup=1)
    assert set(seconds) == set(overhead.WAYS) | {"hand NumPy"}
    assert all(np.isfinite(value) and value > 0 for value in seconds.values())
