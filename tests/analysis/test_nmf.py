import numpy as np
import pytest

from lorabook.analysis import nmf


def nonnegative_rank3(seed=0, shape=(30, 20)):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (shape[0], 3)) @ rng.uniform(0, 1, (3, shape[1]))


def test_error_never_increases():
    V = nonnegative_rank3() + np.random.default_rng(1).uniform(0, 0.1, (30, 20))
    W, H, errors = nmf(V, 3, iters=200, seed=0, return_errors=True)
    assert errors.shape == (201,)
    assert np.all(np.diff(errors) <= 1e-12 * errors[:-1])
    assert errors[-1] < 0.2 * errors[0]  # and it actually learns something
    assert errors[-1] == pytest.approx(np.linalg.norm(V - W @ H), rel=1e-12)


def test_factors_are_nonnegative_with_the_right_shapes():
    W, H = nmf(nonnegative_rank3(), 4, iters=50)
    assert W.shape == (30, 4) and H.shape == (4, 20)
    assert W.min() >= 0 and H.min() >= 0


def test_an_exactly_nonnegative_rank_k_matrix_is_fitted_closely():
    V = nonnegative_rank3(seed=2)
    W, H = nmf(V, 3, iters=2000, seed=1)
    assert np.linalg.norm(V - W @ H) / np.linalg.norm(V) < 0.02


def test_same_seed_same_factors_bit_for_bit():
    V = nonnegative_rank3()
    W1, H1 = nmf(V, 2, iters=30, seed=7)
    W2, H2 = nmf(V, 2, iters=30, seed=7)
    W3, _ = nmf(V, 2, iters=30, seed=8)
    np.testing.assert_array_equal(W1, W2)
    np.testing.assert_array_equal(H1, H2)
    assert not np.array_equal(W1, W3)


def test_zero_rows_and_columns_stay_safe():
    V = nonnegative_rank3()
    V[3] = 0.0
    V[:, 5] = 0.0
    W, H, errors = nmf(V, 3, iters=100, return_errors=True)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))
    assert np.all(np.diff(errors) <= 1e-12 * errors[:-1])


def test_negative_input_is_rejected_with_a_clear_message():
    V = nonnegative_rank3()
    V[0, 0] = -0.5
    with pytest.raises(ValueError, match="V must be non-negative.*1 entries are negative"):
        nmf(V, 2)
