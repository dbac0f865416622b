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


def _overhead_row(floor, spread):
    return {"lorabook": 1.9, "Functions": 1.7, "bare engine": 1.4, "arithmetic": 1.05, "floor": floor,
            "floor spread": spread}


def test_the_report_gives_a_verdict_on_the_floor_only_where_every_process_agrees():
    report = load("report")
    steps = {"8-16-16-2, batch 8": {"target": 1.5}, "64-128-128-10, batch 64": {"target": 1.2}}
    overhead = {"8-16-16-2, batch 8": _overhead_row(1.60, (1.55, 1.66)),
                "64-128-128-10, batch 64": _overhead_row(1.21, (1.17, 1.25))}  # the spread straddles 1.20
    sentence = report._floor_sentence(steps, overhead)
    assert "1.60x at 8-16-16-2 (1.55-1.66; target 1.50x)" in sentence
    assert "At 8-16-16-2 that is over the target in every process" in sentence and "cannot meet it:" in sentence
    assert "64-128-128-10 that" not in sentence and "within the target" not in sentence
    overhead["64-128-128-10, batch 64"] = _overhead_row(1.15, (1.12, 1.19))
    assert "At 64-128-128-10 it is within the target in every process" in report._floor_sentence(steps, overhead)
    overhead["64-128-128-10, batch 64"] = _overhead_row(1.26, (1.22, 1.30))
    assert "At 8-16-16-2 and 64-128-128-10 that is over" in report._floor_sentence(steps, overhead)


def test_the_report_marks_each_speed_target_met_or_not():
    report = load("report")
    steps = {label: {"lorabook": value, "spread": (value, value), "target": 1.2, "dezero": "n/a", "torch": "n/a"}
             for label, value in (("a, batch 1", 1.19), ("b, batch 1", 1.21))}
    overhead = {label: _overhead_row(1.3, (1.25, 1.35)) for label in steps}
    lora = {"time ratio": 0.5, "peak memory ratio": 0.5, "grad+adam bytes": 12, "3 x trainable x itemsize": 12,
            "trainable": 1, "all": 2}
    text = report.markdown(steps, overhead, lora, 0.3, 1)
    assert "| a, batch 1 | 1.19x (1.19-1.19) | at most 1.20x: met |" in text
    assert "| b, batch 1 | 1.21x (1.21-1.21) | at most 1.20x: not met |" in text
    assert "| 0.50x | at most 0.65x: met |" in text and "| 0.50x | at most 0.45x: not met |" in text
    assert "| 0.30 s | at most 0.2 s: not met |" in text
