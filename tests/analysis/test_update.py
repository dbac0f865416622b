import numpy as np
import pytest

from lorabook.analysis import IntruderDimensions, amplification_factor, intruder_dimensions


def weight_with_known_svd(orthonormal, s, size=8, seed=0):
    rng = np.random.default_rng(seed)
    U, V = orthonormal(rng, size, size), orthonormal(rng, size, size)
    s = np.concatenate([s, np.zeros(size - len(s))])
    return U, s, V, (U * s) @ V.T


def test_update_aligned_with_w_has_a_small_factor(orthonormal):
    U, s, V, W = weight_with_known_svd(orthonormal, [10.0, 5.0, 1.0, 0.1])
    delta = 2.0 * np.outer(U[:, 0], V[:, 0])
    assert amplification_factor(delta, W, 1) == pytest.approx(2.0 / 10.0, rel=1e-10)


def test_update_on_a_direction_w_barely_uses_has_a_large_factor(orthonormal):
    U, s, V, W = weight_with_known_svd(orthonormal, [10.0, 5.0, 1.0, 0.1])
    delta = 2.0 * np.outer(U[:, 3], V[:, 3])
    assert amplification_factor(delta, W, 1) == pytest.approx(2.0 / 0.1, rel=1e-8)


def test_update_orthogonal_to_w_has_an_infinite_factor(orthonormal):
    U, s, V, W = weight_with_known_svd(orthonormal, [10.0, 5.0, 1.0, 0.1])
    delta = np.outer(U[:, 6], V[:, 6])  # W has singular value 0 there
    assert amplification_factor(delta, W, 1) > 1e10  # inf, or huge after rounding


def test_rank_two_factor_uses_both_directions(orthonormal):
    U, s, V, W = weight_with_known_svd(orthonormal, [10.0, 5.0, 1.0, 0.1])
    delta = 3.0 * np.outer(U[:, 0], V[:, 0]) + 4.0 * np.outer(U[:, 1], V[:, 1])
    # ||delta||_F = 5; U_2^T W V_2 = diag(10, 5) whose norm is sqrt(125)
    assert amplification_factor(delta, W, 2) == pytest.approx(5.0 / np.sqrt(125.0), rel=1e-10)


def test_zero_weight_gives_inf():
    assert amplification_factor(np.eye(3), np.zeros((3, 3)), 2) == float("inf")


def strong_and_weak(seed, shape=(80, 60)):
    rng = np.random.default_rng(seed)
    W0 = rng.standard_normal(shape) / np.sqrt(shape[0])  # singular values about 0.1 .. 1.9
    x = rng.standard_normal(shape[0])
    y = rng.standard_normal(shape[1])
    new_direction = np.outer(x / np.linalg.norm(x), y / np.linalg.norm(y))
    return W0, W0 + 5.0 * new_direction, W0 + 0.05 * new_direction


@pytest.mark.parametrize("seed", range(5))
def test_a_strong_new_direction_is_exactly_one_intruder(seed):
    W0, W_strong, _ = strong_and_weak(seed)
    found = intruder_dimensions(W0, W_strong, k=10, eps=0.5)
    assert isinstance(found, IntruderDimensions)
    assert len(found) == 1
    assert found.indices.tolist() == [0]  # it is the top singular vector of W
    assert found.singular_values[0] > 4.0
    assert np.all(found.best_cosines < 0.5)
    assert found.top_k_best_cosines.shape == (10,)
    assert "1 intruder" in str(found) and "index 0" in str(found)


@pytest.mark.parametrize("seed", range(5))
def test_a_weak_new_direction_is_no_intruder(seed):
    W0, _, W_weak = strong_and_weak(seed)
    found = intruder_dimensions(W0, W_weak, k=10, eps=0.5)
    assert len(found) == 0
    assert np.all(found.top_k_best_cosines > 0.99)


def test_right_side_finds_the_intruder_in_the_input_space():
    W0, W_strong, _ = strong_and_weak(0, shape=(60, 80))
    assert intruder_dimensions(W0, W_strong, side="right").indices.tolist() == [0]


def test_no_change_means_no_intruders_and_perfect_matches():
    W0 = np.random.default_rng(1).standard_normal((12, 9))
    found = intruder_dimensions(W0, W0.copy(), k=9)
    assert len(found) == 0
    np.testing.assert_allclose(found.top_k_best_cosines, 1.0, atol=1e-12)
