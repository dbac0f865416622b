"""Sheet 06's checkers accept correct answers and reject typical mistakes with their hint."""
import numpy as np

from lorabook.analysis import reduced_rank_regression
from lorabook.data import planted_test_error
from lorabook.exercises import ch06_rank_selection as check


def choose(X, Y, W0, ranks, n_val, score_on_training=False):
    X_fit, Y_fit = X[:-n_val], Y[:-n_val]
    X_val, Y_val = (X_fit, Y_fit) if score_on_training else (X[-n_val:], Y[-n_val:])
    errors = [np.mean((Y_val - X_val @ (W0 + reduced_rank_regression(X_fit, Y_fit, r, W0=W0)).T) ** 2) for r in ranks]
    return ranks[int(np.argmin(errors))]


def truncated_least_squares(X, Y, r):
    U, s, Vt = np.linalg.svd(np.linalg.lstsq(X, Y, rcond=None)[0].T, full_matrices=False)
    return (U[:, :r] * s[:r]) @ Vt[:r]


def test_correct_answers_pass():
    assert check.reduced_rank_fit(reduced_rank_regression) and check.test_error(planted_test_error)
    assert check.choose_rank(choose) and check.predicted_best_ranks(lambda: (3, 32))
    assert check.whitened_update(lambda X, D: np.linalg.qr(X)[1] @ D.T)


def test_rrr_that_truncates_the_coefficients(rejected):
    assert rejected(check.reduced_rank_fit(truncated_least_squares), "case 1", "fitted values")


def test_error_against_noisy_targets(rejected):
    noisy = lambda t, D: np.mean((t.Y_test - t.X_test @ (t.base_weight + D).T) ** 2)  # noqa: E731
    assert rejected(check.test_error(noisy), "NOISE-FREE")


def test_choosing_by_training_error(rejected):
    assert rejected(check.choose_rank(lambda *a: choose(*a, score_on_training=True)), "case 1", "largest r")


def test_predicting_the_largest_rank_and_an_unwhitened_update(rejected):
    assert rejected(check.predicted_best_ranks(lambda: (32, 32)), "fits their noise")
    assert rejected(check.whitened_update(lambda X, D: D.T), "multiply by R")
