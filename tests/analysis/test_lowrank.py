import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorabook.analysis import extract_lora, low_rank_approx, svd_factors

S = np.array([6.0, 3.0, 2.0, 1.5, 1.0, 0.25])


@pytest.mark.parametrize("r", [1, 2, 3, 5, 6])
def test_eckart_young_errors(known_matrix, r):
    W = known_matrix(S, (10, 8), seed=r)
    residual = W - low_rank_approx(W, r)
    tail = S[r:]
    expected_spectral = tail[0] if len(tail) else 0.0
    assert np.linalg.norm(residual, 2) == pytest.approx(expected_spectral, abs=1e-12)
    assert np.linalg.norm(residual, "fro") == pytest.approx(np.sqrt(np.sum(tail**2)), abs=1e-12)
    assert np.linalg.matrix_rank(low_rank_approx(W, r), tol=1e-9) == r


def test_full_rank_approximation_is_the_matrix_itself():
    W = np.arange(12.0).reshape(3, 4) ** 1.5
    np.testing.assert_allclose(low_rank_approx(W, 3), W, atol=1e-12)


def test_svd_factors_multiply_to_the_best_approximation_and_are_balanced(known_matrix):
    W = known_matrix(S, (9, 11))
    B, A = svd_factors(W, 3)
    assert B.shape == (9, 3) and A.shape == (3, 11)
    np.testing.assert_allclose(B @ A, low_rank_approx(W, 3), atol=1e-12)
    # balanced: B^T B = A A^T = diag(s_1..s_3)
    np.testing.assert_allclose(B.T @ B, np.diag(S[:3]), atol=1e-12)
    np.testing.assert_allclose(A @ A.T, np.diag(S[:3]), atol=1e-12)


def test_extract_lora_gives_the_eckart_young_error_of_the_update(known_matrix):
    rng = np.random.default_rng(3)
    W_base = rng.standard_normal((12, 7))
    update = known_matrix(S, (12, 7), seed=4)
    lora_B, lora_A = extract_lora(W_base + update, W_base, 2)
    assert lora_B.shape == (12, 2) and lora_A.shape == (2, 7)  # (out, r), (r, in)
    error = W_base + update - (W_base + lora_B @ lora_A)
    assert np.linalg.norm(error, "fro") == pytest.approx(np.sqrt(np.sum(S[2:] ** 2)), abs=1e-10)
    assert np.linalg.norm(error, 2) == pytest.approx(S[2], abs=1e-10)


def test_extract_lora_of_a_rank_r_update_is_exact():
    rng = np.random.default_rng(5)
    W_base = rng.standard_normal((6, 5))
    B, A = rng.standard_normal((6, 2)), rng.standard_normal((2, 5))
    lora_B, lora_A = extract_lora(W_base + B @ A, W_base, 2)
    np.testing.assert_allclose(lora_B @ lora_A, B @ A, atol=1e-12)


@settings(deadline=None, max_examples=40)
@given(m=st.integers(1, 7), n=st.integers(1, 7), data=st.data())
def test_svd_factors_shapes_and_rank(m, n, data):
    r = data.draw(st.integers(1, min(m, n)))
    W = np.random.default_rng(m * 10 + n).standard_normal((m, n))
    B, A = svd_factors(W, r)
    assert B.shape == (m, r) and A.shape == (r, n)
    assert B.dtype == A.dtype == np.float64
    assert np.linalg.matrix_rank(B @ A) == r
    np.testing.assert_allclose(np.linalg.norm(B), np.linalg.norm(A), rtol=1e-12)
