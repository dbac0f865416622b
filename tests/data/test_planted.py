"""The planted-rank task: exact rank, the stated formula, and the rank U-curve."""
import numpy as np
import pytest

from lorabook.analysis import reduced_rank_regression
from lorabook.data import PlantedRankTask, make_planted_rank_task, planted_test_error


def reduced_rank_fit(X, Y, r, W0):
    """Best rank-r update D minimising ||Y - X (W0 + D)^T||_F, in closed form.

    Least squares for the residual Y - X W0^T gives C (d_in, d_out); the
    fitted values X C are then projected on their top-r right singular
    vectors V_r: D = (C V_r V_r^T)^T.
    """
    C, *_ = np.linalg.lstsq(X, Y - X @ W0.T, rcond=None)
    V_r = np.linalg.svd(X @ C, full_matrices=False)[2][:r].T
    return (C @ V_r @ V_r.T).T


def rank_sweep(task, ranks):
    X, Y, W0 = (np.asarray(a, dtype=np.float64) for a in (task.X_train, task.Y_train, task.base_weight))
    return {r: planted_test_error(task, reduced_rank_fit(X, Y, r, W0)) for r in ranks}


@pytest.mark.parametrize("d_in, d_out, k", [(32, 32, 3), (20, 12, 1), (8, 16, 8), (5, 7, 4)])
def test_planted_update_has_rank_exactly_k(d_in, d_out, k):
    task = make_planted_rank_task(d_in, d_out, k, n=10, noise=0.1, seed=k)
    assert task.true_update.shape == task.base_weight.shape == (d_out, d_in)
    assert task.true_update.dtype == np.float64  # float32 rounding would make it full rank
    assert np.linalg.matrix_rank(task.true_update) == k
    assert task.X_train.shape == (10, d_in) and task.Y_train.shape == (10, d_out)
    assert task.X_test.shape == (1000, d_in) and task.Y_test.shape == (1000, d_out)
    assert task.X_train.dtype == np.float32 and task.k == k


def test_targets_follow_the_teacher_and_the_noise_level():
    clean = make_planted_rank_task(6, 4, 2, n=50, noise=0.0, seed=0, dtype=np.float64)
    teacher = clean.base_weight + clean.true_update
    np.testing.assert_allclose(clean.Y_train, clean.X_train @ teacher.T, atol=1e-12)
    np.testing.assert_allclose(clean.Y_test, clean.Y_test_clean, atol=1e-12)
    noisy = make_planted_rank_task(6, 4, 2, n=50, noise=0.5, seed=0, n_test=20000, dtype=np.float64)
    assert abs(np.std(noisy.Y_test - noisy.Y_test_clean) - 0.5) < 0.01


def test_the_update_carries_about_unit_variance_per_output_per_direction():
    task = make_planted_rank_task(64, 64, 4, n=10, noise=0.0, seed=0, n_test=4000, dtype=np.float64)
    signal = task.X_test @ task.true_update.T
    assert 2.0 < signal.var(axis=0).mean() < 6.0  # expectation k = 4


def test_task_is_seeded_and_float32_matches_float64():
    a = make_planted_rank_task(8, 8, 2, n=20, noise=0.3, seed=4)
    b = make_planted_rank_task(8, 8, 2, n=20, noise=0.3, seed=4)
    c = make_planted_rank_task(8, 8, 2, n=20, noise=0.3, seed=5)
    wide = make_planted_rank_task(8, 8, 2, n=20, noise=0.3, seed=4, dtype=np.float64)
    np.testing.assert_array_equal(a.Y_train, b.Y_train)
    assert not np.array_equal(a.Y_train, c.Y_train)
    np.testing.assert_allclose(a.Y_train, wide.Y_train, rtol=1e-6, atol=1e-6)


def test_test_error_is_zero_for_the_truth_and_the_update_signal_for_nothing():
    task = make_planted_rank_task(10, 6, 2, n=20, noise=0.5, seed=1, dtype=np.float64)
    assert planted_test_error(task, task.true_update) == 0.0
    missed = np.mean((task.X_test @ task.true_update.T) ** 2)
    assert planted_test_error(task, np.zeros((6, 10))) == pytest.approx(missed, rel=1e-12)


def test_rank_sweep_is_lowest_at_the_planted_rank_with_few_examples():
    task = make_planted_rank_task(32, 32, 3, n=40, noise=0.5, seed=0)
    errors = rank_sweep(task, range(1, 33))
    assert min(errors, key=errors.get) == 3
    # the U-curve the notebooks show (see lorabook/data/planted.py for the calibration)
    assert errors[3] < 0.2
    assert errors[1] > 1.0  # underfits: misses two of the three planted directions
    assert 0.6 < errors[32] < 1.6  # overfits: plain least squares fits the noise


def test_rank_sweep_agrees_with_lorabook_analysis():
    task = make_planted_rank_task(12, 10, 2, n=30, noise=0.3, seed=3, dtype=np.float64)
    for r in (1, 2, 5):
        ours = reduced_rank_fit(task.X_train, task.Y_train, r, task.base_weight)
        theirs = reduced_rank_regression(task.X_train, task.Y_train, r, W0=task.base_weight)
        np.testing.assert_allclose(theirs, ours, atol=1e-10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(k=0), "k must be >= 1"),
        (dict(k=9), "k must be <= 8"),
        (dict(noise=-1.0), "noise"),
        (dict(n=0), "n must be >= 1"),
        (dict(n_test=0), "n_test"),
        (dict(dtype=np.int32), "dtype"),
    ],
)
def test_planted_task_bad_input(kwargs, match):
    arguments = dict(d_in=8, d_out=10, k=2, n=20, noise=0.1) | kwargs
    with pytest.raises((TypeError, ValueError), match=match):
        make_planted_rank_task(**arguments)


def test_planted_test_error_bad_input():
    task = make_planted_rank_task(8, 10, 2, n=20, noise=0.1)
    with pytest.raises(ValueError, match=r"delta_W must have the shape of the true update .* \(10, 8\)"):
        planted_test_error(task, np.zeros((8, 10)))
    with pytest.raises(TypeError, match="task must be a PlantedRankTask"):
        planted_test_error("task", np.zeros((10, 8)))
    assert isinstance(task, PlantedRankTask)
