"""One adapter per domain on one base model; data-space alignment against LoRA."""
import numpy as np
import pytest

from lorabook.data import load_digits, make_blobs, make_domain_split
from lorabook.studies.domain_baselines import (
    adapters_per_domain, data_space_baseline, fit_linear_classifier, linear_predict,
)


@pytest.fixture(scope="module")
def two_domains():
    X, y = load_digits()
    domains = {}
    for shift, strength in (("rotate", 45), ("contrast", 0.3)):
        split = make_domain_split(X, y, shift, strength, n_target_train=400, seed=0, image_shape=(8, 8))
        domains[shift] = (split.target_train, split.target_test)
    return domains


def test_each_adapter_is_best_on_its_own_domain(source_model, two_domains):
    before = {k: v.copy() for k, v in source_model.state_dict().items()}
    records, peft_model = adapters_per_domain(source_model, two_domains, rank=4, epochs=20)
    acc = {(r["adapter"], r["domain"]): r["test_accuracy"] for r in records}
    assert set(acc) == {(a, d) for a in ("base model", "rotate", "contrast") for d in ("rotate", "contrast")}
    for adapter in ("rotate", "contrast"):
        other = "contrast" if adapter == "rotate" else "rotate"
        assert acc[(adapter, adapter)] > acc[(adapter, other)] + 0.3
        assert acc[(adapter, adapter)] > acc[("base model", adapter)] + 0.3
    assert [r["own_domain"] for r in records if r["adapter"] == "rotate"] == [True, False]
    assert all(r["trainable_params"] == 2344 for r in records if r["adapter"] != "base model")
    # One copy of the base weights, two small adapters; the base model itself is untouched.
    assert sorted(peft_model.peft_config) == ["contrast", "rotate"]
    for key, value in source_model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_adapters_per_domain_rejects_bad_domains(source_model, two_domains):
    with pytest.raises(TypeError, match="domains must be a non-empty dict"):
        adapters_per_domain(source_model, {})
    with pytest.raises(TypeError, match=r"domains\['rotate'\] must be a \(train_data, test_data\) pair"):
        adapters_per_domain(source_model, {"rotate": two_domains["rotate"][0][0]})
    with pytest.raises(TypeError, match=r"domains\['rotate'\] train_data must be an \(X, y\) pair"):
        adapters_per_domain(source_model, {"rotate": two_domains["rotate"][0]})
    train, (X_test, y_test) = two_domains["rotate"]
    with pytest.raises(ValueError, match=r"domains\['rotate'\] test_data has 10 features but base_model expects 64"):
        adapters_per_domain(source_model, {"rotate": (train, (X_test[:, :10], y_test))})


def test_linear_classifier_separates_separable_blobs():
    X, y = make_blobs(300, centers=3, dim=2, std=0.3, seed=0, dtype=np.float64)
    W = fit_linear_classifier(X, y)
    assert W.shape == (3, 3)
    assert np.mean(linear_predict(W, X) == y) == 1.0


def test_alignment_without_labels_recovers_low_contrast_digits():
    X, y = load_digits()
    split = make_domain_split(X, y, "contrast", 0.3, n_target_train=50, seed=0, image_shape=(8, 8))
    records = data_space_baseline(split.source_train, split.target_train, split.target_test, d=20)
    acc = {r["method"]: r["test_accuracy"] for r in records}
    assert all(r["target_labels"] == 0 for r in records)
    # Measured: 0.12 for the source-trained classifier, 0.90 after SA, 0.93 after CORAL.
    assert acc["linear + subspace alignment (d=20)"] > acc["linear, source only"] + 0.5
    assert acc["linear + CORAL"] > acc["linear, source only"] + 0.5


def test_baseline_with_the_mlp_adds_lora_with_labels(source_model, rotated_digits):
    records = data_space_baseline(rotated_digits.source_train, rotated_digits.target_train,
                                  rotated_digits.target_test, base_model=source_model, n_labels=100,
                                  epochs=20)
    acc = {r["method"]: (r["target_labels"], r["test_accuracy"]) for r in records}
    assert acc["MLP + LoRA r=4"][0] == 100
    # On a rotation, aligning the data does not help; a few labels and LoRA do.
    assert acc["MLP + LoRA r=4"][1] > max(a for n, a in acc.values() if n == 0) + 0.3


def test_baseline_rejects_mismatched_features(rotated_digits):
    X, y = rotated_digits.target_test
    with pytest.raises(ValueError, match="same number of features, got 64, 64 and 10"):
        data_space_baseline(rotated_digits.source_train, rotated_digits.target_train, (X[:, :10], y))
