"""Seeded, stratified splits: train/test, and source/target domains.

Every split is done on row indices first and the arrays are indexed once at
the end, so the bookkeeping is explicit: the index arrays say exactly which
original row went where, and disjointness is a property of integers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from lorabook._checks import check_choice, check_float, check_int
from lorabook.data._arrays import as_data, as_labels
from lorabook.data.shifts import SHIFTS, apply_shift
from lorabook.random import Seed, get_generator


class TrainTestSplit(NamedTuple):
    """The four arrays of a split; unpacks like a tuple: ``Xtr, ytr, Xte, yte = split``."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _largest_remainder(class_sizes, total, rng):
    """How many of `total` picks each class gets, proportional to its size.

    Each class gets the floor of its exact share; the picks left over go to
    the largest fractional parts (ties broken at random with `rng`, so no
    class is favoured because of its label). The counts add up to `total`
    exactly and never exceed a class's size.
    """
    sizes = np.asarray(class_sizes, dtype=np.float64)
    exact = total * sizes / sizes.sum()
    counts = np.floor(exact).astype(np.int64)
    left_over = total - int(counts.sum())
    tie_break = rng.permutation(len(sizes))
    order = np.lexsort((tie_break, -(exact - counts)))
    counts[order[:left_over]] += 1
    return counts


def split_indices(y: ArrayLike, n_first: int, seed: Seed = 0, stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Split the rows 0..len(y)-1 into two disjoint shuffled index arrays.

    The first array has exactly `n_first` rows, the second the rest. With
    ``stratify=True`` each class contributes to the first part in proportion
    to its size (rounded by the largest-remainder rule), so class frequencies
    match in both parts as nearly as whole numbers allow; with a small
    `n_first` some classes may get none ("stratified where possible").
    Returns (first, second), int64, each in random order.
    """
    y = np.asarray(y)
    n = y.shape[0]
    n_first = check_int("n_first", n_first, low=0, high=n)
    rng = get_generator(seed, "seed")
    if not stratify:
        order = rng.permutation(n)
        return order[:n_first].astype(np.int64), order[n_first:].astype(np.int64)
    classes, class_sizes = np.unique(y, return_counts=True)
    counts = _largest_remainder(class_sizes, n_first, rng)
    first, second = [], []
    for label, count in zip(classes, counts):
        rows = rng.permutation(np.flatnonzero(y == label))
        first.append(rows[:count])
        second.append(rows[count:])
    first = rng.permutation(np.concatenate(first)).astype(np.int64)
    second = rng.permutation(np.concatenate(second)).astype(np.int64)
    return first, second


def train_test_split(X: ArrayLike, y: ArrayLike, test_fraction: float = 0.25, seed: Seed = 0,
                     stratify: bool = True) -> TrainTestSplit:
    """Split (X, y) into a training and a test part, seeded and stratified.

    round(test_fraction * n) rows go to the test part (at least one row must
    remain on each side). X has shape (n, ...) and y shape (n,).
    Returns a ``TrainTestSplit(X_train, y_train, X_test, y_test)``.
    """
    X = as_data("X", X)
    y = as_labels("y", y, X.shape[0])
    test_fraction = check_float("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    n = X.shape[0]
    n_test = int(round(test_fraction * n))
    if not 1 <= n_test <= n - 1:
        raise ValueError(
            f"test_fraction={test_fraction} of {n} rows leaves {n_test} test rows and {n - n_test} training rows; "
            f"both parts need at least one row"
        )
    test, train = split_indices(y, n_test, seed=seed, stratify=stratify)
    return TrainTestSplit(X[train], y[train], X[test], y[test])


@dataclass
class DomainSplit:
    """A source domain and a shifted target domain made from one pool of data.

    source_train, source_test, target_train, target_test are (X, y) pairs;
    only the target arrays are shifted (by `shift` at `strength`).
    `indices` maps each of the four names to the rows of the original pool it
    holds (int64), so you can look up the unshifted original of any example.
    """

    source_train: tuple
    source_test: tuple
    target_train: tuple
    target_test: tuple
    shift: str
    strength: float
    indices: dict = field(repr=False)

    def __repr__(self):
        sizes = ", ".join(
            f"{name}={len(part[1])}"
            for name, part in (
                ("source_train", self.source_train),
                ("source_test", self.source_test),
                ("target_train", self.target_train),
                ("target_test", self.target_test),
            )
        )
        return f"DomainSplit(shift={self.shift!r}, strength={self.strength}, rows: {sizes})"


def make_domain_split(
    X: ArrayLike, y: ArrayLike, shift: str, strength: float, n_target_train: int, seed: Seed = 0,
    source_fraction: float = 0.5, test_fraction: float = 0.25, image_shape: tuple[int, int] | None = None,
) -> DomainSplit:
    """Build a domain-adaptation problem from one labelled pool.

    1. The pool is split (stratified) into disjoint source and target parts,
       a `source_fraction` of the rows going to the source.
    2. The source part is split into source_train and source_test, a
       `test_fraction` of it going to the test side. It is not shifted.
    3. The whole target part is shifted with ``apply_shift(shift, strength)``.
    4. The label budget: `n_target_train` labelled target examples are drawn
       (stratified where possible) for target_train; the rest of the target
       part is target_test.

    The pool split and the shift depend only on `seed`, not on the budget, so
    runs with different `n_target_train` and the same seed share the same
    domains and the same target images.
    `image_shape` is passed to rotate for flattened images (e.g. (8, 8)).
    Returns a ``DomainSplit``.
    """
    X = as_data("X", X)
    y = as_labels("y", y, X.shape[0])
    source_fraction = check_float(
        "source_fraction", source_fraction, low=0.0, high=1.0, low_open=True, high_open=True
    )
    test_fraction = check_float("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    if isinstance(n_target_train, bool) or not isinstance(n_target_train, (int, np.integer)):
        raise TypeError(f"n_target_train must be an integer, got {n_target_train!r}")
    check_choice("shift", shift, tuple(SHIFTS))
    # One seed, four independent streams, so that changing the label budget
    # leaves the domains and the shifted images exactly as they were.
    rng = get_generator(seed, "seed")
    pool_seed, source_seed, shift_seed, budget_seed = (int(s) for s in rng.integers(0, 2**63 - 1, size=4))

    n = X.shape[0]
    n_source = int(round(source_fraction * n))
    source, target = split_indices(y, n_source, seed=pool_seed)
    n_source_test = int(round(test_fraction * len(source)))
    if len(target) < 2 or not 1 <= n_source_test <= len(source) - 1:
        raise ValueError(
            f"a pool of {n} rows with source_fraction={source_fraction} and test_fraction={test_fraction} "
            f"is too small: the source needs a train and a test row and the target at least two rows"
        )
    n_target_train = int(n_target_train)
    if not 1 <= n_target_train <= len(target) - 1:
        raise ValueError(
            f"n_target_train must be between 1 and {len(target) - 1} (the target pool has {len(target)} rows "
            f"and keeps at least one for testing), got {n_target_train}"
        )

    X_target = apply_shift(X[target], shift, strength, seed=shift_seed, image_shape=image_shape)

    local_source_test, local_source_train = split_indices(y[source], n_source_test, seed=source_seed)
    local_target_train, local_target_test = split_indices(y[target], n_target_train, seed=budget_seed)
    indices = {
        "source_train": source[local_source_train],
        "source_test": source[local_source_test],
        "target_train": target[local_target_train],
        "target_test": target[local_target_test],
    }
    return DomainSplit(
        source_train=(X[indices["source_train"]], y[indices["source_train"]]),
        source_test=(X[indices["source_test"]], y[indices["source_test"]]),
        target_train=(X_target[local_target_train], y[indices["target_train"]]),
        target_test=(X_target[local_target_test], y[indices["target_test"]]),
        shift=shift,
        strength=float(strength),
        indices=indices,
    )
