"""Bad input to lorabook.experiments: clear errors that name the argument."""
import numpy as np
import pytest

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
    with pytest.raises(ValueError, match="the data has 10 features but base_model expects 64 inputs"):
        adapt(source_model, "full", (X[:, :10], y), rotated_digits.target_test)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\)"):
        adapt(source_model, "full", (X, y + 5), rotated_digits.target_test)
    with pytest.raises(TypeError, match="train_data: y must hold integer class labels"):
        adapt(source_model, "full", (X, y.astype(float)), rotated_digits.target_test)
    with pytest.raises(TypeError, match="test_data must be an"):
        adapt(source_model, "full", (X, y), X)
    with pytest.raises(TypeError, match="base_model must be a lorabook.nn.MLP"):
        adapt("model", "full", (X, y), rotated_digits.target_test)
    with pytest.raises(ValueError, match="the data has 64 features but base_model expects 32"):
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
