"""Splits are disjoint, complete, stratified and seeded; domain splits shift only the target."""
import numpy as np
import pytest

from lorabook.data import load_digits, make_domain_split, rotate, split_indices, train_test_split


def rows_with_ids(n, n_classes=3, seed=0):
    """Features whose first column is the row id, so rows can be traced after a split."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.arange(n, dtype=np.float64), rng.standard_normal((n, 2))])
    y = np.arange(n) % n_classes
    return X, y


def test_train_test_split_is_disjoint_complete_and_sized():
    X, y = rows_with_ids(100)
    X_train, y_train, X_test, y_test = train_test_split(X, y, test_fraction=0.25, seed=1)
    train_ids, test_ids = X_train[:, 0].astype(int), X_test[:, 0].astype(int)
    assert len(test_ids) == 25 and len(train_ids) == 75
    assert set(train_ids).isdisjoint(test_ids)
    assert sorted(np.concatenate([train_ids, test_ids])) == list(range(100))
    np.testing.assert_array_equal(y_train, y[train_ids])  # labels travel with their rows
    np.testing.assert_array_equal(y_test, y[test_ids])


def test_train_test_split_is_stratified():
    X, y = rows_with_ids(90)  # 30 per class
    split = train_test_split(X, y, test_fraction=1 / 3, seed=0)
    assert np.bincount(split.y_test).tolist() == [10, 10, 10]
    assert np.bincount(split.y_train).tolist() == [20, 20, 20]


def test_train_test_split_is_seeded():
    X, y = rows_with_ids(60)
    a, b, c = (train_test_split(X, y, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.X_test, c.X_test)


def test_split_indices_counts_add_up_even_with_uneven_classes():
    y = np.array([0] * 7 + [1] * 2 + [2] * 1)
    for n_first in range(11):
        first, second = split_indices(y, n_first, seed=n_first)
        assert len(first) == n_first and len(second) == 10 - n_first
        assert sorted(np.concatenate([first, second]).tolist()) == list(range(10))
    unstratified, _ = split_indices(y, 4, seed=0, stratify=False)
    assert len(unstratified) == 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(test_fraction=0.0), "test_fraction"),
        (dict(test_fraction=1.0), "test_fraction"),
        (dict(test_fraction=0.001), "both parts need at least one row"),
        (dict(y=np.zeros(5, dtype=int)), r"y must have shape \(100,\)"),
        (dict(y=np.full(100, 0.5)), "y must hold integer class labels"),
    ],
)
def test_train_test_split_bad_input(kwargs, match):
    X, y = rows_with_ids(100)
    arguments = dict(X=X, y=y) | kwargs
    with pytest.raises((TypeError, ValueError), match=match):
        train_test_split(**arguments)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_domain_split_parts_are_disjoint_and_cover_the_pool(digits):
    X, y = digits
    split = make_domain_split(X, y, "rotate", 45.0, n_target_train=50, seed=0, image_shape=(8, 8))
    parts = split.indices
    every_row = np.concatenate(list(parts.values()))
    assert len(every_row) == len(set(every_row.tolist())) == len(X)
    assert len(parts["target_train"]) == 50
    assert len(parts["source_train"]) + len(parts["source_test"]) == round(0.5 * len(X))
    for name in parts:
        np.testing.assert_array_equal(getattr(split, name)[1], y[parts[name]])


def test_only_the_target_is_shifted(digits):
    X, y = digits
    split = make_domain_split(X, y, "rotate", 45.0, n_target_train=50, seed=0, image_shape=(8, 8))
    np.testing.assert_array_equal(split.source_train[0], X[split.indices["source_train"]])
    np.testing.assert_array_equal(split.source_test[0], X[split.indices["source_test"]])
    for name in ("target_train", "target_test"):
        expected = rotate(X[split.indices[name]], 45.0, image_shape=(8, 8))
        np.testing.assert_array_equal(getattr(split, name)[0], expected)
    assert split.shift == "rotate" and split.strength == 45.0


def test_label_budget_is_stratified(digits):
    X, y = digits
    split = make_domain_split(X, y, "invert", 1.0, n_target_train=100, seed=2)
    assert np.bincount(split.target_train[1], minlength=10).tolist() == [10] * 10


def test_domain_split_is_seeded_and_the_budget_leaves_the_domains_alone(digits):
    X, y = digits
    a = make_domain_split(X, y, "gaussian_noise", 0.2, n_target_train=30, seed=1)
    b = make_domain_split(X, y, "gaussian_noise", 0.2, n_target_train=30, seed=1)
    c = make_domain_split(X, y, "gaussian_noise", 0.2, n_target_train=30, seed=2)
    for name in a.indices:
        np.testing.assert_array_equal(a.indices[name], b.indices[name])
        np.testing.assert_array_equal(getattr(a, name)[0], getattr(b, name)[0])
    assert not np.array_equal(a.indices["target_train"], c.indices["target_train"])
    bigger = make_domain_split(X, y, "gaussian_noise", 0.2, n_target_train=300, seed=1)
    np.testing.assert_array_equal(bigger.indices["source_train"], a.indices["source_train"])
    pool_a = dict(zip(np.concatenate([a.indices["target_train"], a.indices["target_test"]]).tolist(),
                      np.concatenate([a.target_train[0], a.target_test[0]])))
    pool_bigger = dict(zip(np.concatenate([bigger.indices["target_train"], bigger.indices["target_test"]]).tolist(),
                           np.concatenate([bigger.target_train[0], bigger.target_test[0]])))
    assert pool_a.keys() == pool_bigger.keys()
    assert all(np.array_equal(pool_a[row], pool_bigger[row]) for row in pool_a)  # same noise on each row


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_target_train=0), "n_target_train must be between 1 and 898"),
        (dict(n_target_train=899), "n_target_train must be between 1 and 898"),
        (dict(n_target_train=2.5), "n_target_train must be an integer"),
        (dict(shift="blur"), "shift must be one of 'rotate'"),
        (dict(shift="contrast", strength=0.0), "strength of the 'contrast' shift"),
        (dict(source_fraction=1.0), "source_fraction"),
    ],
)
def test_domain_split_bad_input(digits, kwargs, match):
    X, y = digits
    arguments = dict(X=X, y=y, shift="invert", strength=1.0, n_target_train=10) | kwargs
    with pytest.raises((TypeError, ValueError), match=match):
        make_domain_split(**arguments)
