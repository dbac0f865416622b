"""Shared, session-wide: the rotated-digits problem, its source model, and one comparison run.

Training these once keeps tests/experiments fast; tests must not change them
(adapt never changes its base model, and a test checks that).
"""
import warnings

import pytest

from lorabook.data import load_digits, make_domain_split
from lorabook.experiments import compare_adaptation, train_source_model


@pytest.fixture(scope="session")
def rotated_digits():
    """Digits rotated by 45 degrees: 674 source training images, 400 target labels, 499 target tests."""
    X, y = load_digits()
    return make_domain_split(X, y, "rotate", 45, n_target_train=400, seed=0, image_shape=(8, 8))


@pytest.fixture(scope="session")
def source_model(rotated_digits):
    return train_source_model(rotated_digits.source_train, seed=0)


@pytest.fixture(scope="session")
def adaptation_records(source_model, rotated_digits):
    """compare_adaptation with every method, LoRA at r=4 only, default training."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # r=4 fits every layer: no warning expected
        return compare_adaptation(source_model, rotated_digits.target_train, rotated_digits.target_test,
                                  ranks=(4,), source_data=rotated_digits.source_test, seed=0)
