"""Bad input to lorabook.experiments: clear errors that name the argument."""
import numpy as np
import pytest

from lorabook.experiments import finetune
from lorabook.experiments import (
    adapt, compare_adaptation, label_budget_sweep, memory_ledger, planted_rank_sweep, rank_sweep, train_source_model,
)


def test_unknown_method(source_model, rotated_digits):
    with pytest.raises(ValueError, match=r"method must be one of .*'lora'.*got 'LoRA'"):
        adapt(source_model, "LoRA", rotated_digits.target_train, rotated_digits.target_test, rank=4)
    with pytest.raises(ValueError, match=r"methods\[1\] must be one of"):
        compare_adaptation(source_model, rotated_digits.target_train, rotated_digits.target_test,
                           methods=("full", "prefix-tuning"))


@pytest.mark.parametrize("ranks, match", [
    ((1, 0, 4), r"ranks\[1\] must be >= 1, got 0"),
    ((2, -3), r"ranks\[1\] must be >= 1, got -3"),
    ((2.5,), r"ranks\[0\] must be an integer, got 2.5"),
    (("4",), r"ranks\[0\] must be an integer, got '4'"),
    ((), r"ranks must hold at least one rank"),
    ("4", r"ranks must be a list of ranks"),
])
def test_invalid_rank_lists(source_model, rotated_digits, ranks, match):
    with pytest.raises((ValueError, TypeError), match=match):
        compare_adaptation(source_model, rotated_digits.target_train, rotated_digits.target_test, ranks=ranks)
    with pytest.raises((ValueError, TypeError), match=match):
        rank_sweep(source_model, rotated_digits.target_train, rotated_digits.target_test, ranks=ranks)
    with pytest.raises((ValueError, TypeError), match=match):
        planted_rank_sweep(ranks=ranks)


def test_rank_must_fit_the_method(source_model, rotated_digits):
    data = (rotated_digits.target_train, rotated_digits.target_test)
    with pytest.raises(ValueError, match="rank must be given for method='lora'"):
        adapt(source_model, "lora", *data)
    with pytest.raises(ValueError, match="rank and lora_alpha apply to method='lora' only"):
        adapt(source_model, "full", *data, rank=4)
    with pytest.raises(ValueError, match=r"rank must be >= 1, got 0"):
        adapt(source_model, "lora", *data, rank=0)
    with pytest.raises(ValueError, match=r"ranks\[0\] = 40 is larger than d = 32"):
        planted_rank_sweep(ranks=(40,))


@pytest.mark.parametrize("budgets, match", [
    ((0,), r"budgets\[0\] must be >= 1, got 0"),
    ((50, 401), r"budgets\[1\] = 401 is larger than the pool of 400"),
    ((10.0,), r"budgets\[0\] must be an integer"),
    ((), r"budgets must hold at least one label budget"),
])
def test_invalid_label_budgets(source_model, rotated_digits, budgets, match):
    with pytest.raises((ValueError, TypeError), match=match):
        label_budget_sweep(source_model, rotated_digits.target_train, rotated_digits.target_test, budgets=budgets)
    with pytest.raises((ValueError, TypeError), match=match):
        rank_sweep(source_model, rotated_digits.target_train, rotated_digits.target_test, budgets=budgets)


def test_planted_sweep_arguments():
    with pytest.raises(ValueError, match=r"n\[0\] must be >= 1, got 0"):
        planted_rank_sweep(n=0)
    with pytest.raises(ValueError, match="method must be one of 'lora', 'closed-form'"):
        planted_rank_sweep(method="svd")
    with pytest.raises(ValueError, match="apply to method='lora' only"):
        planted_rank_sweep(method="closed-form", weight_decay=0.1)
    with pytest.raises(ValueError, match=r"k must be <= 32, got 33"):
        planted_rank_sweep(k=33)


def test_data_that_does_not_fit_the_model(source_model, rotated_digits):
    X, y = rotated_digits.target_train
    with pytest.raises(ValueError, match="train_data has 10 features but base_model expects 64 inputs"):
        adapt(source_model, "full", (X[:, :10], y), rotated_digits.target_test)
    with pytest.raises(ValueError, match=r"train_data: labels must be in \[0, 10\)"):
        adapt(source_model, "full", (X, y + 5), rotated_digits.target_test)
    with pytest.raises(TypeError, match="train_data: y must be integer class labels"):
        adapt(source_model, "full", (X, y.astype(float)), rotated_digits.target_test)
    bad = X.copy()
    bad[17, 2] = float("nan")
    with pytest.raises(ValueError, match=r"train_data: X\[17, 2\] is nan"):  # named before any training
        adapt(source_model, "full", (bad, y), rotated_digits.target_test)
    with pytest.raises(TypeError, match="test_data must be an"):
        adapt(source_model, "full", (X, y), X)
    with pytest.raises(TypeError, match="base_model must be a lorabook.nn.MLP"):
        adapt("model", "full", (X, y), rotated_digits.target_test)
    with pytest.raises(ValueError, match="data has 64 features but base_model expects 32"):
        train_source_model((X, y), sizes=(32, 10))


def test_progress_must_be_a_flag(source_model, rotated_digits):
    with pytest.raises(TypeError, match="progress must be True or False, got 'yes'"):
        compare_adaptation(source_model, rotated_digits.target_train, rotated_digits.target_test, progress="yes")


def test_memory_ledger_arguments():
    with pytest.raises(ValueError, match="rank must be >= 1, got 0"):
        memory_ledger(rank=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        memory_ledger(batch_size=0)
    with pytest.raises(ValueError, match="model_sizes must list at least an input and an output size"):
        memory_ledger(model_sizes=(64,))
    with pytest.raises(ValueError, match=r"model_sizes\[1\] must be >= 1, got 0"):
        memory_ledger(model_sizes=(64, 0, 10))
    with pytest.raises(TypeError, match="dtype must be a floating-point type"):
        memory_ledger(dtype=np.int32)


@pytest.fixture
def no_training(monkeypatch):
    """Every experiment trains through finetune.fit; a call here means a check came too late."""
    def fail(*args, **kwargs):
        raise AssertionError("training started before the arguments were checked")
    monkeypatch.setattr(finetune, "fit", fail)


def test_every_experiment_checks_its_test_data_against_the_model_before_training(source_model, rotated_digits,
                                                                                  no_training):
    pool, (X_test, y_test) = rotated_digits.target_train, rotated_digits.target_test
    narrow = (X_test[:, :10], y_test)
    calls = {
        "adapt": lambda test: adapt(source_model, "full", pool, test),
        "compare_adaptation": lambda test: compare_adaptation(source_model, pool, test, ranks=(1,)),
        "rank_sweep": lambda test: rank_sweep(source_model, pool, test, ranks=(1,), budgets=(10,)),
        "label_budget_sweep": lambda test: label_budget_sweep(source_model, pool, test, budgets=(10,)),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=r"test_data has 10 features but base_model expects 64 inputs"):
            call(narrow)
        with pytest.raises(ValueError, match=r"test_data: labels must be in \[0, 10\).*got values from 5 to 14"):
            call((X_test, y_test + 5))


def test_source_data_is_checked_before_training(source_model, rotated_digits, no_training):
    pool, test = rotated_digits.target_train, rotated_digits.target_test
    narrow = (rotated_digits.source_test[0][:, :10], rotated_digits.source_test[1])
    with pytest.raises(ValueError, match="source_data has 10 features"):
        compare_adaptation(source_model, pool, test, methods=("full", "lora"), ranks=(1,), source_data=narrow)
    with pytest.raises(ValueError, match="source_data has 10 features"):
        label_budget_sweep(source_model, pool, test, budgets=(10,), source_data=narrow)


def test_label_budget_sweep_checks_methods_and_rank_before_training(source_model, rotated_digits, no_training):
    pool, test = rotated_digits.target_train, rotated_digits.target_test
    with pytest.raises(ValueError, match=r"methods\[1\] must be one of 'source-only', 'head-only', 'lora', 'full'; "
                                         r"got 'bogus'"):
        label_budget_sweep(source_model, pool, test, budgets=(10,), methods=("head-only", "bogus"))
    with pytest.raises(ValueError, match="methods must name at least one of"):
        label_budget_sweep(source_model, pool, test, budgets=(10,), methods=())
    with pytest.raises(ValueError, match="rank must be >= 1, got 0"):
        label_budget_sweep(source_model, pool, test, budgets=(10,), methods=("head-only", "lora"), rank=0)
