"""Rank sweeps (planted task and rotated digits) and label-budget sweeps."""
import numpy as np
import pytest

from lorabook.experiments import (
    label_budget_sweep, planted_rank_sweep, rank_sweep, rank_sweep_summary,
)

PLANTED_KEYS = {"task", "method", "d", "k", "noise", "n_train", "rank", "train_error", "test_error",
                "suggested_rank", "suggested_rank_unwhitened", "seed", "steps", "lr", "weight_decay",
                "update_penalty"}


@pytest.fixture(scope="module")
def lora_sweep():
    """The README's setting, LoRA trained with the defaults: d=32, k=3, n=40, noise 0.5, seed 0."""
    return planted_rank_sweep(d=32, k=3, n=40, noise=0.5, seed=0, method="lora")


@pytest.fixture(scope="module")
def closed_form_sweep():
    return planted_rank_sweep(d=32, k=3, n=40, noise=0.5, seed=0, method="closed-form")


def errors(records):
    return {r["rank"]: r["test_error"] for r in records}


def test_planted_lora_sweep_is_lowest_at_the_planted_rank(lora_sweep):
    assert [r["rank"] for r in lora_sweep] == [1, 2, 3, 4, 6, 8, 16, 32]
    test_error = errors(lora_sweep)
    assert min(test_error, key=test_error.get) == 3
    # The U: underfitting at r < k, overfitting grows with r > k (measured: 1.58, 0.107, 0.884).
    assert test_error[1] > 10 * test_error[3] and test_error[32] > 5 * test_error[3]
    train_error = [r["train_error"] for r in lora_sweep]
    assert all(a >= b - 1e-9 for a, b in zip(train_error, train_error[1:]))  # more rank fits training better


def test_closed_form_gives_the_documented_numbers(closed_form_sweep):
    test_error = errors(closed_form_sweep)
    assert test_error[1] == pytest.approx(1.58, abs=0.01)
    assert test_error[3] == pytest.approx(0.107, abs=0.005)
    assert test_error[32] == pytest.approx(0.884, abs=0.005)


def test_trained_lora_reaches_the_closed_form_optimum(lora_sweep, closed_form_sweep):
    for trained, exact in zip(lora_sweep, closed_form_sweep):
        assert trained["rank"] == exact["rank"]
        assert trained["test_error"] == pytest.approx(exact["test_error"], rel=0.02, abs=1e-3)
        assert trained["train_error"] == pytest.approx(exact["train_error"], rel=0.01)


def test_gavish_donoho_on_the_whitened_full_update_suggests_the_planted_rank(lora_sweep):
    (summary,) = rank_sweep_summary(lora_sweep)
    assert summary == {"method": "lora", "n_train": 40, "best_rank": 3, "best_test_error": summary["best_test_error"],
                       "k": 3, "suggested_rank": 3, "suggested_rank_unwhitened": 6}
    for record in lora_sweep:
        assert set(record) == PLANTED_KEYS


def test_more_examples_make_high_rank_harmless():
    records = planted_rank_sweep(n=(40, 400), ranks=(3, 32), method="closed-form")
    test_error = {(r["n_train"], r["rank"]): r["test_error"] for r in records}
    assert test_error[(400, 32)] < 0.1 * test_error[(40, 32)]
    assert {r["suggested_rank"] for r in records} == {3}


def test_weight_decay_on_A_and_B_tames_a_too_high_rank():
    plain, decayed = (planted_rank_sweep(ranks=(32,), weight_decay=wd)[0]["test_error"] for wd in (0.0, 0.01))
    assert decayed < 0.5 * plain  # measured 0.19 against 0.88


def test_planted_sweep_is_deterministic():
    a = planted_rank_sweep(ranks=(2,), steps=50)
    b = planted_rank_sweep(ranks=(2,), steps=50)
    assert a == b


# ----- rotated digits ---------------------------------------------------------------------------
def test_rank_sweep_records_errors_per_budget_and_rank(source_model, rotated_digits):
    records = rank_sweep(source_model, rotated_digits.target_train, rotated_digits.target_test,
                         ranks=(1, 8), budgets=(30, 400), steps=100)
    assert [(r["n_train"], r["rank"]) for r in records] == [(30, 1), (30, 8), (400, 1), (400, 8)]
    for r in records:
        assert r["train_error"] == pytest.approx(1 - r["train_accuracy"])
        assert r["test_error"] == pytest.approx(1 - r["test_accuracy"])
    assert [r["epochs"] for r in records] == [100, 100, 8, 8]  # about 100 steps whatever the budget
    by_key = {(r["n_train"], r["rank"]): r for r in records}
    assert by_key[(400, 8)]["test_error"] < by_key[(30, 8)]["test_error"]


def test_label_budget_sweep_gains_with_labels(source_model, rotated_digits):
    records = label_budget_sweep(source_model, rotated_digits.target_train, rotated_digits.target_test,
                                 budgets=(20, 400), methods=("source-only", "lora"), steps=200,
                                 source_data=rotated_digits.source_test)
    assert [(r["method"], r["n_train"]) for r in records] == [
        ("source-only", 20), ("source-only", 400), ("lora", 20), ("lora", 400)]
    acc = {(r["method"], r["n_train"]): r["test_accuracy"] for r in records}
    assert acc[("source-only", 20)] == acc[("source-only", 400)]  # nothing trained: the same model
    assert acc[("lora", 400)] > acc[("lora", 20)] > acc[("source-only", 20)]
    assert all(r["source_accuracy"] is not None for r in records)


def test_budgets_are_stratified_subsets_of_the_pool(source_model, rotated_digits):
    records = label_budget_sweep(source_model, rotated_digits.target_train, rotated_digits.target_test,
                                 budgets=(50,), methods=("head-only",), steps=5)
    assert records[0]["n_train"] == 50
    X, y = rotated_digits.target_train
    from lorabook.experiments.sweeps import _subset

    X_sub, y_sub = _subset((X, y), 50, seed=0)
    assert np.bincount(y_sub, minlength=10).min() >= 4  # every digit present, about 5 each
    rows = {row.tobytes() for row in X}
    assert all(row.tobytes() in rows for row in X_sub)
