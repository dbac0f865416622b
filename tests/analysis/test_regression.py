import numpy as np
import pytest

from lorabook.analysis import low_rank_approx, reduced_rank_regression, svd_factors


def data(seed, n=60, d_in=10, d_out=8, noise=0.3):
    rng = np.random.default_rng(seed)
    W_true = rng.standard_normal((d_out, 2)) @ rng.standard_normal((2, d_in))
    X = rng.standard_normal((n, d_in))
    return X, X @ W_true.T + noise * rng.standard_normal((n, d_out)), W_true


@pytest.mark.parametrize("r", [1, 2, 3, 5])
def test_update_has_rank_at_most_r(r):
    X, Y, _ = data(0)
    D = reduced_rank_regression(X, Y, r)
    assert D.shape == (8, 10)
    assert np.linalg.matrix_rank(D, tol=1e-9) <= r


def test_full_rank_is_ordinary_least_squares():
    X, Y, _ = data(1)
    W0 = np.random.default_rng(2).standard_normal((8, 10))
    D = reduced_rank_regression(X, Y, 8, W0=W0)
    ols = np.linalg.lstsq(X, Y, rcond=None)[0].T
    np.testing.assert_allclose(W0 + D, ols, atol=1e-10)


def test_beats_every_other_rank_r_update_we_try():
    X, Y, _ = data(3)
    W0 = 0.1 * np.ones((8, 10))
    D = reduced_rank_regression(X, Y, 2, W0=W0)
    best = np.linalg.norm(Y - X @ (W0 + D).T)
    ols_update = np.linalg.lstsq(X, Y - X @ W0.T, rcond=None)[0].T
    rivals = [low_rank_approx(ols_update, 2)]  # truncating the OLS update itself is worse
    B, A = svd_factors(D, 2)
    rng = np.random.default_rng(4)
    for _ in range(20):  # nudged factors: still rank 2
        rivals.append((B + 0.01 * rng.standard_normal(B.shape)) @ (A + 0.01 * rng.standard_normal(A.shape)))
    for rival in rivals:
        assert np.linalg.norm(Y - X @ (W0 + rival).T) >= best - 1e-12


def test_equals_truncating_the_fitted_values_when_x_is_orthonormal():
    # With orthonormal columns in X, the OLS fit is Q Q^T Y and the rank-3 fit is its truncated SVD.
    X, Y, _ = data(5, n=40)
    Q, _ = np.linalg.qr(X)
    D = reduced_rank_regression(Q, Y, 3)
    np.testing.assert_allclose(Q @ D.T, low_rank_approx(Q @ Q.T @ Y, 3), atol=1e-10)


def test_works_with_fewer_examples_than_inputs():
    X, Y, _ = data(6, n=6, d_in=10)
    D = reduced_rank_regression(X, Y, 8)
    np.testing.assert_allclose(X @ D.T, Y, atol=1e-9)  # interpolates: 6 equations, 10 unknowns per output


def test_planted_rank_gives_a_u_shaped_test_error():
    # The later planted-rank experiment: d = 32, k = 3, n = 40, noise 0.5.
    errors = np.zeros(32)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        W_true = rng.standard_normal((32, 3)) @ rng.standard_normal((3, 32)) / np.sqrt(32)
        X, X_test = rng.standard_normal((40, 32)), rng.standard_normal((500, 32))
        Y = X @ W_true.T + 0.5 * rng.standard_normal((40, 32))
        for r in range(1, 33):
            D = reduced_rank_regression(X, Y, r)
            errors[r - 1] += np.mean((X_test @ (D - W_true).T) ** 2)
    assert np.argmin(errors) == 2  # r = 3, the planted rank
    assert errors[0] > 2 * errors[2] and errors[-1] > 2 * errors[2]
