import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lorabook.analysis import effective_rank, energy_curve, energy_rank, singular_values, stable_rank

S = np.array([5.0, 4.0, 2.0, 1.0, 0.5])


def test_singular_values_are_the_planted_ones(known_matrix):
    W = known_matrix(S, (9, 7))
    values = singular_values(W)
    assert values.shape == (7,)
    np.testing.assert_allclose(values[:5], S, rtol=1e-12)
    np.testing.assert_allclose(values[5:], 0.0, atol=1e-12)


def test_singular_values_accept_lists_and_float32_and_compute_in_float64():
    values = singular_values(np.array([[3, 0], [0, 4]], dtype=np.float32))
    assert values.dtype == np.float64
    np.testing.assert_array_equal(singular_values([[3, 0], [0, 4]]), [4.0, 3.0])


def test_energy_curve_is_the_cumulative_share_of_squares(known_matrix):
    curve = energy_curve(known_matrix(S, (7, 9)))
    expected = np.cumsum(S**2) / np.sum(S**2)
    np.testing.assert_allclose(curve[:5], expected, rtol=1e-12)
    np.testing.assert_allclose(curve[5:], 1.0, rtol=1e-12)
    assert curve[-1] == 1.0


@pytest.mark.parametrize("tau, expected", [(0.5, 1), (0.6, 2), (0.88, 2), (0.9, 3), (0.97, 3), (0.99, 4), (1.0, 5)])
def test_energy_rank_matches_the_hand_computed_curve(known_matrix, tau, expected):
    # cumulative squares 25, 41, 45, 46, 46.25 of 46.25 -> 0.541, 0.886, 0.973, 0.995, 1
    assert energy_rank(known_matrix(S, (8, 8)), tau=tau) == expected


def test_energy_rank_counts_an_exact_share_as_reached():
    # s = (3, 1): the first direction holds exactly 9/10 of the energy.
    assert energy_rank(np.diag([3.0, 1.0]), tau=0.9) == 1


def test_all_three_ranks_equal_k_for_k_equal_singular_values(known_matrix):
    W = known_matrix([2.0, 2.0, 2.0], (10, 6))
    assert energy_rank(W, tau=1.0) == 3
    assert effective_rank(W) == pytest.approx(3.0, rel=1e-12)
    assert stable_rank(W) == pytest.approx(3.0, rel=1e-12)


def test_effective_and_stable_rank_known_values(known_matrix):
    W = known_matrix(S, (6, 8))
    q = S / S.sum()
    assert effective_rank(W) == pytest.approx(np.exp(-np.sum(q * np.log(q))), rel=1e-10)
    assert stable_rank(W) == pytest.approx(np.sum(S**2) / 25.0, rel=1e-12)


def test_rank_one_matrix_has_every_rank_equal_to_one():
    W = np.outer([1.0, 2.0, 3.0], [1.0, -1.0])
    assert energy_rank(W, tau=1.0) == 1
    assert effective_rank(W) == pytest.approx(1.0, abs=1e-7)
    assert stable_rank(W) == pytest.approx(1.0, rel=1e-12)


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
matrices = st.tuples(st.integers(1, 6), st.integers(1, 6)).flatmap(lambda shape: arrays(np.float64, shape, elements=finite))


@settings(deadline=None, max_examples=60)
@given(matrices)
def test_energy_curve_rises_to_one_and_ranks_stay_in_bounds(W):
    if not np.any(W):
        with pytest.raises(ValueError, match="W"):
            energy_curve(W)
        return
    curve = energy_curve(W)
    assert curve.shape == (min(W.shape),)
    assert np.all(np.diff(curve) >= 0)
    assert curve[-1] == 1.0
    assert 1 <= energy_rank(W, 0.9) <= min(W.shape)
    assert 1 - 1e-9 <= effective_rank(W) <= min(W.shape) + 1e-9
    assert 1 - 1e-9 <= stable_rank(W) <= min(W.shape) + 1e-9
