import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorabook.analysis import (
    principal_angles,
    random_subspace_baseline,
    subspace_similarity,
    subspace_similarity_grid,
)


def lora_A_with_row_space(basis_rows, seed):
    """An A (r, d) whose row space is spanned by the given orthonormal rows, mixed up randomly."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((basis_rows.shape[0], basis_rows.shape[0]))
    return mix @ basis_rows


def test_orthogonal_row_spaces_give_zero(orthonormal):
    Q = orthonormal(np.random.default_rng(0), 20, 10).T  # 10 orthonormal rows in R^20
    A1 = lora_A_with_row_space(Q[:4], seed=1)
    A2 = lora_A_with_row_space(Q[4:], seed=2)
    grid = subspace_similarity_grid(A1, A2)
    assert grid.shape == (4, 6)
    np.testing.assert_allclose(grid, 0.0, atol=1e-12)
    assert subspace_similarity(A1, A2, 4, 6) == pytest.approx(0.0, abs=1e-12)


def test_identical_row_spaces_give_one_at_full_size(orthonormal):
    Q = orthonormal(np.random.default_rng(0), 16, 5).T
    A1 = lora_A_with_row_space(Q, seed=1)
    A2 = lora_A_with_row_space(Q, seed=2)  # same row space, different matrix
    assert subspace_similarity(A1, A2, 5, 5) == pytest.approx(1.0, abs=1e-12)
    # the smaller top-i space of A1 lies inside the whole row space of A2
    for i in range(1, 6):
        assert subspace_similarity(A1, A2, i, 5) == pytest.approx(1.0, abs=1e-12)
    assert subspace_similarity(A1, A1, 3, 3) == pytest.approx(1.0, abs=1e-12)


def test_a_shared_direction_is_seen_by_the_top_vectors():
    # Both runs' strongest direction is e_0; the rest differ: phi(1, 1) = 1, phi(2, 2) = 1/2.
    d = 8
    A1 = np.zeros((2, d))
    A2 = np.zeros((2, d))
    A1[0, 0], A1[1, 1] = 3.0, 1.0
    A2[0, 0], A2[1, 2] = 5.0, 2.0
    grid = subspace_similarity_grid(A1, A2)
    np.testing.assert_allclose(grid, [[1.0, 1.0], [1.0, 0.5]], atol=1e-12)


def test_grid_entries_match_the_single_similarity():
    rng = np.random.default_rng(4)
    A1, A2 = rng.standard_normal((3, 12)), rng.standard_normal((5, 12))
    grid = subspace_similarity_grid(A1, A2)
    for i in range(1, 4):
        for j in range(1, 6):
            assert grid[i - 1, j - 1] == pytest.approx(subspace_similarity(A1, A2, i, j), abs=1e-12)
    assert np.all((grid >= 0) & (grid <= 1 + 1e-12))


def test_random_subspaces_average_near_the_baseline():
    rng = np.random.default_rng(5)
    d, r1, r2 = 40, 4, 8
    grids = [subspace_similarity_grid(rng.standard_normal((r1, d)), rng.standard_normal((r2, d))) for _ in range(300)]
    mean = np.mean(grids, axis=0)
    expected = np.array([[random_subspace_baseline(i, j, d) for j in range(1, r2 + 1)] for i in range(1, r1 + 1)])
    np.testing.assert_allclose(mean, expected, rtol=0.15)


def test_random_baseline_formula():
    assert random_subspace_baseline(2, 16, 64) == 16 / 64
    assert random_subspace_baseline(8, 8, 8) == 1.0


def test_full_size_phi_is_mean_cos_squared_of_principal_angles():
    rng = np.random.default_rng(6)
    A1, A2 = rng.standard_normal((3, 10)), rng.standard_normal((4, 10))
    angles = principal_angles(A1.T, A2.T)
    assert angles.shape == (3,)
    assert np.all(np.diff(angles) >= 0)  # smallest first
    assert subspace_similarity(A1, A2, 3, 4) == pytest.approx(np.mean(np.cos(angles) ** 2), abs=1e-12)


def test_principal_angles_known_answer():
    e = np.eye(3)
    U = e[:, :2]  # the x-y plane
    V = np.stack([np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 1.0])], axis=1)  # x axis and a 45 degree tilt
    np.testing.assert_allclose(principal_angles(U, V), [0.0, np.pi / 4], atol=1e-12)


@settings(deadline=None, max_examples=40)
@given(r1=st.integers(1, 6), r2=st.integers(1, 6), d=st.integers(6, 12), seed=st.integers(0, 2**16))
def test_grid_shape_range_and_symmetry(r1, r2, d, seed):
    rng = np.random.default_rng(seed)
    A1, A2 = rng.standard_normal((r1, d)), rng.standard_normal((r2, d))
    grid = subspace_similarity_grid(A1, A2)
    assert grid.shape == (r1, r2)
    assert np.all(grid >= -1e-12) and np.all(grid <= 1 + 1e-12)
    np.testing.assert_allclose(subspace_similarity_grid(A2, A1), grid.T, atol=1e-12)
