"""The nuclear norm, singular value thresholding and the variational identity, against known answers."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorabook.analysis import (
    balanced_factors,
    nuclear_norm,
    proximal_nuclear_step,
    singular_value_threshold,
    variational_bound,
)

S = np.array([5.0, 3.0, 1.0, 0.5])


def test_nuclear_norm_is_the_sum_of_the_singular_values(known_matrix):
    assert nuclear_norm(known_matrix(S, (7, 5))) == pytest.approx(S.sum(), abs=1e-12)
    assert nuclear_norm(np.diag([3.0, -2.0])) == pytest.approx(5.0, abs=1e-15)  # signs do not count
    assert nuclear_norm(np.zeros((3, 2))) == 0.0


def test_svt_of_a_diagonal_matrix_by_hand():
    M = np.diag([3.0, 1.0, 0.5])
    np.testing.assert_allclose(singular_value_threshold(M, 0.7), np.diag([2.3, 0.3, 0.0]), atol=1e-15)


def test_svt_shrinks_every_singular_value_and_keeps_the_vectors(known_matrix):
    M = known_matrix(S, (8, 6), seed=1)
    X = singular_value_threshold(M, 1.2)
    np.testing.assert_allclose(np.linalg.svd(X, compute_uv=False)[:4], [3.8, 1.8, 0.0, 0.0], atol=1e-12)
    assert np.linalg.matrix_rank(X, tol=1e-9) == 2
    # same singular vectors: X is the top-2 part of M with shrunken values
    U, s, Vt = np.linalg.svd(M)
    np.testing.assert_allclose(X, (U[:, :2] * (s[:2] - 1.2)) @ Vt[:2], atol=1e-12)
    np.testing.assert_allclose(singular_value_threshold(M, 0.0), M, atol=1e-12)
    assert not np.any(singular_value_threshold(M, 5.0))


def test_svt_is_the_proximal_map(known_matrix):
    """SVT(M, tau) minimises tau ||X||_* + ||X - M||_F^2 / 2: every perturbation does worse."""
    M = known_matrix(S, (6, 5), seed=2)
    tau = 0.8
    X = singular_value_threshold(M, tau)

    def objective(Z):
        return tau * nuclear_norm(Z) + 0.5 * np.sum((Z - M) ** 2)

    best = objective(X)
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert objective(X + 1e-3 * rng.standard_normal(M.shape)) > best


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 7), n=st.integers(1, 7), r=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_random_factorisations_exceed_the_bound_and_balanced_ones_attain_it(m, n, r, seed):
    rng = np.random.default_rng(seed)
    B, A = rng.standard_normal((m, r)), rng.standard_normal((r, n))
    M = B @ A
    assert variational_bound(A, B) >= nuclear_norm(M) - 1e-12
    B_bal, A_bal = balanced_factors(M)
    np.testing.assert_allclose(B_bal @ A_bal, M, atol=1e-10)
    assert variational_bound(A_bal, B_bal) == pytest.approx(nuclear_norm(M), rel=1e-10, abs=1e-12)
    # an unbalanced rescaling (B G, G^-1 A) of the balanced pair leaves the product and raises the bound
    k = A_bal.shape[0]
    G = np.diag(np.full(k, 2.0))
    assert variational_bound(np.linalg.inv(G) @ A_bal, B_bal @ G) > nuclear_norm(M) * 1.2 - 1e-12


def test_a_random_factorisation_exceeds_the_bound_strictly():
    rng = np.random.default_rng(0)
    B, A = rng.standard_normal((6, 3)), rng.standard_normal((3, 5))
    assert variational_bound(A, B) > 1.05 * nuclear_norm(B @ A)


def test_balanced_factors_of_the_zero_matrix_are_zero():
    B, A = balanced_factors(np.zeros((3, 4)))
    assert B.shape == (3, 1) and A.shape == (1, 4) and not np.any(B) and not np.any(A)


def test_proximal_step_moves_the_update_not_the_reference(known_matrix):
    rng = np.random.default_rng(4)
    W0 = rng.standard_normal((8, 6))
    delta = known_matrix(S, (8, 6), seed=5)
    W = (W0 + delta).astype(np.float64)
    new_W, kept = proximal_nuclear_step(W, W0, 0.75)
    np.testing.assert_allclose(kept[:4], [4.25, 2.25, 0.25, 0.0], atol=1e-12)
    np.testing.assert_allclose(new_W - W0, singular_value_threshold(delta, 0.75), atol=1e-12)
    np.testing.assert_array_equal(W, W0 + delta)  # the input is left alone
    assert proximal_nuclear_step(W.astype(np.float32), W0, 0.75)[0].dtype == np.float32


@pytest.mark.parametrize("call, pattern", [
    (lambda: singular_value_threshold(np.eye(2), -0.1), r"^tau must be"),
    (lambda: proximal_nuclear_step(np.eye(2), np.eye(2), -1.0), r"^tau must be"),
    (lambda: proximal_nuclear_step(np.eye(2), np.eye(3), 1.0), r"weight and reference must have the same shape"),
    (lambda: variational_bound(np.ones((2, 3)), np.ones((4, 3))), r"must share r"),
    (lambda: nuclear_norm(np.ones(3)), r"^M must be a 2-D array"),
])
def test_bad_input_names_the_argument(call, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        call()
