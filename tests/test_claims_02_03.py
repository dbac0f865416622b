"""The comparative sentences of notebooks 02 and 03, each checked at its margin over the notebooks' 5 seeds.

A claim "A beats B" is made in the notebooks only where it holds seed by seed:
the mean of the per-seed differences exceeds their standard deviation (and,
where the text says "in every seed", in each seed). These tests repeat the
notebooks' runs with the same seeds, so a change that breaks a sentence fails here.
"""
import numpy as np
import pytest

from lorabook import nn, optim
from lorabook.data import load_digits, train_test_split
from lorabook.nn import functional as F
from lorabook.train import fit, predict

SEEDS = range(5)


def finding(differences):
    """+1 or -1 when the mean of the per-seed differences exceeds their standard deviation, else 0 (a tie)."""
    differences = np.asarray(differences, dtype=float)
    mean, std = differences.mean(), differences.std(ddof=1)
    return 0 if abs(mean) <= std else int(np.sign(mean))


def test_finding_tells_a_consistent_difference_from_noise():
    assert finding([0.02, 0.03, 0.025, 0.01, 0.02]) == 1
    assert finding([-0.1, -0.2, -0.15, -0.1, -0.3]) == -1
    assert finding([0.05, -0.04, 0.01, -0.02, 0.03]) == 0


# ----- notebook 02: optimizers on the digits ------------------------------------------------------
OPTIMIZERS = {
    "sgd": lambda params: optim.SGD(params, lr=0.1),
    "momentum": lambda params: optim.SGD(params, lr=0.1, momentum=0.9),
    "adam": lambda params: optim.Adam(params, lr=1e-3),
    "sgd_lr_10": lambda params: optim.SGD(params, lr=10.0),
}


@pytest.fixture(scope="module")
def digit_runs():
    """{optimizer: [(model, history) per seed]}, exactly as notebook 02 trains them."""
    X, y = load_digits()
    digits = train_test_split(X, y, test_fraction=0.25, seed=0)
    runs = {}
    for name, make in OPTIMIZERS.items():
        runs[name] = []
        for seed in SEEDS:
            model = nn.MLP([64, 128, 10], generator=seed)
            history = fit(model, (digits.X_train, digits.y_train), F.cross_entropy, make(model.parameters()),
                          epochs=10, batch_size=32, val_data=(digits.X_test, digits.y_test), seed=seed,
                          progress=False)
            runs[name].append((model, history))
    return runs, digits


def last(runs, name, metric):
    return np.array([getattr(history, metric)[-1] for _, history in runs[name]])


@pytest.mark.parametrize("other", ["sgd", "adam"])
def test_02_momentum_has_the_lowest_training_loss_and_best_test_accuracy_in_every_seed(digit_runs, other):
    runs, _ = digit_runs
    loss_diff = last(runs, "momentum", "train_loss") - last(runs, other, "train_loss")
    accuracy_diff = last(runs, "momentum", "val_accuracy") - last(runs, other, "val_accuracy")
    assert np.all(loss_diff < 0) and finding(loss_diff) == -1, loss_diff
    assert np.all(accuracy_diff > 0) and finding(accuracy_diff) == 1, accuracy_diff


def test_02_adam_ends_below_plain_sgd_in_training_loss_in_every_seed(digit_runs):
    runs, _ = digit_runs
    loss_diff = last(runs, "adam", "train_loss") - last(runs, "sgd", "train_loss")
    assert np.all(loss_diff < 0) and finding(loss_diff) == -1, loss_diff


def test_02_a_learning_rate_of_10_kills_the_hidden_units_in_every_seed(digit_runs):
    runs, digits = digit_runs
    for model, history in runs["sgd_lr_10"]:
        hidden = model[:2](digits.X_test).data
        assert history.val_accuracy[-1] < 0.2  # chance is 0.1
        assert np.sum(hidden.max(axis=0) == 0) >= 120  # "nearly all" of the 128 units never fire
        assert np.bincount(predict(model, digits.X_test)).max() == len(digits.y_test)  # one class for every image


# ----- notebook 03: LoRA against full fine-tuning on the rotated digits ------------------------------
@pytest.fixture(scope="module")
def finetuning_records():
    """compare_finetuning's records for seeds 0..4, exactly as notebook 03 runs them."""
    from lorabook.data import make_domain_split
    from lorabook.experiments import compare_finetuning, train_source_model

    X, y = load_digits()
    split = make_domain_split(X, y, shift="rotate", strength=45.0, n_target_train=400, seed=0, image_shape=(8, 8))
    source = train_source_model(split.source_train, sizes=(64, 128, 128, 10), seed=0)
    records = []
    for seed in SEEDS:
        records += compare_finetuning(source, split.target_train, split.target_test, ranks=(1, 2, 4, 8),
                                      source_data=split.source_test, seed=seed)
    return records


def per_seed(records, label, key):
    return np.array([r[key] for r in sorted((r for r in records if r["label"] == label), key=lambda r: r["seed"])])


@pytest.mark.parametrize("rank", [1, 2])
def test_03_low_rank_lora_stays_below_full_finetuning_in_every_seed(finetuning_records, rank):
    diffs = (per_seed(finetuning_records, f"LoRA r={rank}", "test_accuracy")
             - per_seed(finetuning_records, "full fine-tuning", "test_accuracy"))
    assert len(diffs) == 5 and np.all(diffs < 0) and finding(diffs) == -1, diffs


def test_03_lora_r8_ties_full_finetuning_within_seed_noise(finetuning_records):
    diffs = (per_seed(finetuning_records, "LoRA r=8", "test_accuracy")
             - per_seed(finetuning_records, "full fine-tuning", "test_accuracy"))
    assert finding(diffs) == 0, diffs
    assert per_seed(finetuning_records, "LoRA r=8", "trainable_params")[0] / per_seed(
        finetuning_records, "full fine-tuning", "trainable_params")[0] == pytest.approx(0.18, abs=0.005)


@pytest.mark.parametrize("rank", [1, 2, 4, 8])
def test_03_lora_peak_memory_is_under_half_of_full_finetuning_in_every_seed(finetuning_records, rank):
    ratio = (per_seed(finetuning_records, f"LoRA r={rank}", "peak_memory_bytes")
             / per_seed(finetuning_records, "full fine-tuning", "peak_memory_bytes"))
    assert len(ratio) == 5 and np.all(ratio < 0.5), ratio
