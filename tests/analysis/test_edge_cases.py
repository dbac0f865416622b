"""Edge cases of the analysis functions: empty and zero matrices, rank-deficient A's, and scale.

Every rank measure depends only on ratios of singular values, so multiplying
a matrix by any number must leave it unchanged, also at the ends of float64's
range; quantities with units (singular values, NMF factors) scale with it,
and are refused where they would leave that range.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorabook import analysis as an
from lorabook.analysis.gavish_donoho import hard_threshold, rank_tolerance

RNG = np.random.default_rng(0)
W = RNG.standard_normal((6, 9)) * np.array([3.0, 2.0, 1.0, 0.1, 0.01, 1e-3, 1, 1, 1])  # varied spectrum
A = RNG.standard_normal((3, 9))
V = RNG.uniform(0.0, 1.0, (8, 6))

RANK_MEASURES = {
    "effective_rank": an.effective_rank,
    "stable_rank": an.stable_rank,
    "energy_rank": an.energy_rank,
    "energy_rank_tau_1": lambda M: an.energy_rank(M, tau=1.0),
    "suggest_rank": an.suggest_rank,
    "energy_curve": lambda M: tuple(an.energy_curve(M)),
}


# ----- empty and zero matrices -------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(0, 3), (0, 0), (3, 0)])
@pytest.mark.parametrize("function", [an.suggest_rank, an.singular_values, an.effective_rank, an.stable_rank,
                                      an.energy_curve, lambda M: an.nmf(M, 1), lambda M: an.low_rank_approx(M, 1)])
def test_empty_matrices_get_a_clear_value_error(function, shape):
    with pytest.raises(ValueError, match=r"must have at least one row and one column, got shape \(\d, \d\)"):
        function(np.zeros(shape))


@pytest.mark.parametrize("call", [
    lambda Z: an.subspace_similarity(Z, A, 1, 1),
    lambda Z: an.subspace_similarity(A, Z, 1, 1),
    lambda Z: an.subspace_similarity_grid(Z, A),
])
def test_a_zero_matrix_spans_no_subspace_and_is_refused(call):
    with pytest.raises(ValueError, match=r"^A[12] is all zeros; a zero matrix spans no subspace"):
        call(np.zeros((3, 9)))


def test_subspace_similarity_refuses_directions_beyond_the_rank():
    rank_one = np.outer([1.0, 2.0, 3.0], A[0])
    assert an.subspace_similarity(rank_one, A, 1, 3) == pytest.approx(1.0)  # A[0] lies in A's row space
    with pytest.raises(ValueError, match=r"^i must be at most the rank of A1, 1, got 2"):
        an.subspace_similarity(rank_one, A, 2, 2)
    with pytest.raises(ValueError, match=r"^j must be at most the rank of A2, 1, got 3"):
        an.subspace_similarity(A, rank_one, 1, 3)


# ----- scale: rank measures are invariant -----------------------------------------------------------
@pytest.mark.parametrize("function", [an.effective_rank, an.stable_rank, an.energy_rank])
@pytest.mark.parametrize("scale", [1e308, 1e-300, 5e-324 * 2**20])
def test_rank_measures_of_a_scaled_identity_are_its_size(function, scale):
    assert function(scale * np.eye(2)) == pytest.approx(2.0, rel=1e-12)


@pytest.mark.parametrize("name", sorted(RANK_MEASURES))
@settings(max_examples=25, deadline=None)
@given(exponent=st.integers(min_value=-1000, max_value=1000))
def test_rank_measures_do_not_change_when_the_matrix_is_scaled_by_a_power_of_two(name, exponent):
    measure = RANK_MEASURES[name]
    assert measure(np.ldexp(W, exponent)) == measure(W)  # exactly: the scaling is undone exactly


@pytest.mark.parametrize("name", sorted(RANK_MEASURES))
@pytest.mark.parametrize("scale", [1e300, 3e-300, 7.0])
def test_rank_measures_do_not_change_when_the_matrix_is_scaled_by_any_number(name, scale):
    np.testing.assert_allclose(RANK_MEASURES[name](scale * W), RANK_MEASURES[name](W), rtol=1e-10)


def test_thresholds_and_tolerances_carry_the_scale():
    for scale in (2.0**1000, 2.0**-1000):
        assert rank_tolerance(scale * W) == scale * rank_tolerance(W)
        assert hard_threshold(scale * W) == scale * hard_threshold(W)
        assert hard_threshold(scale * W, sigma=scale * 0.1) == scale * hard_threshold(W, sigma=0.1)
        assert an.suggest_rank(scale * W, sigma=scale * 0.1) == an.suggest_rank(W, sigma=0.1)


# ----- scale: quantities with units ------------------------------------------------------------
def test_singular_values_scale_with_the_matrix_and_are_refused_beyond_float64():
    np.testing.assert_array_equal(an.singular_values(2.0**1000 * W), 2.0**1000 * an.singular_values(W))
    np.testing.assert_allclose(an.singular_values(1e308 * np.eye(3)), [1e308] * 3, rtol=1e-15)
    with pytest.raises(ValueError, match=r"^the singular values of W exceed float64's range"):
        an.singular_values(1e308 * np.ones((3, 3)))  # s_1 = 3e308
    with pytest.raises(ValueError, match=r"^the singular values of W exceed float64's range"):
        an.low_rank_approx(1e308 * np.ones((3, 3)), 1)


def test_low_rank_tools_work_on_huge_and_tiny_matrices():
    for scale in (2.0**1000, 2.0**-1000):
        np.testing.assert_array_equal(an.low_rank_approx(scale * W, 2), scale * an.low_rank_approx(W, 2))
        assert an.amplification_factor(scale * (W - 1), scale * W, 2) == pytest.approx(
            an.amplification_factor(W - 1, W, 2), rel=1e-12)
        result, reference = an.intruder_dimensions(scale * W, scale * (W + 0.5), k=4), an.intruder_dimensions(W, W + 0.5, k=4)
        np.testing.assert_array_equal(result.top_k_best_cosines, reference.top_k_best_cosines)
        np.testing.assert_array_equal(result.singular_values, scale * reference.singular_values)
        np.testing.assert_allclose(an.principal_angles(scale * W.T, W.T[:, :3]), an.principal_angles(W.T, W.T[:, :3]),
                                   atol=1e-12)
        assert an.subspace_similarity(scale * A, A[:2], 3, 2) == pytest.approx(an.subspace_similarity(A, A[:2], 3, 2))


@settings(max_examples=20, deadline=None)
@given(exponent=st.integers(min_value=-1000, max_value=1000))
def test_nmf_factors_scale_with_the_data_exactly(exponent):
    W0, H0, errors0 = an.nmf(V, 3, iters=30, return_errors=True)
    W1, H1, errors1 = an.nmf(np.ldexp(V, exponent), 3, iters=30, return_errors=True)
    assert np.all(np.isfinite(W1)) and np.all(np.isfinite(H1))
    np.testing.assert_array_equal(W1 @ H1, np.ldexp(W0 @ H0, exponent))
    np.testing.assert_array_equal(errors1, np.ldexp(errors0, exponent))


def test_nmf_on_huge_entries_gives_finite_factors_or_a_clear_error():
    W1, H1 = an.nmf(1e300 * V, 3, iters=30)
    assert np.all(np.isfinite(W1)) and np.all(np.isfinite(H1))
    assert np.linalg.norm(V - (W1 / 1e150) @ (H1 / 1e150)) < 0.5 * np.linalg.norm(V)  # a fit, in V's units
    with pytest.raises(ValueError, match=r"^the errors \|\|V - W H\|\|_F exceed float64's range"):
        an.nmf(np.full((8, 6), 1e308), 3, iters=5, return_errors=True)  # ||V||_F alone is 7e308


# ----- found by fuzzing ----------------------------------------------------------------------
def test_complex_matrices_are_refused_not_silently_made_real():
    for function in (an.singular_values, an.effective_rank, an.suggest_rank, lambda M: an.low_rank_approx(M, 1)):
        with pytest.raises(TypeError, match=r"must hold real numbers, got dtype complex128"):
            function(W + 1j)


def test_a_threshold_beyond_float64_is_refused_not_returned_as_inf():
    with pytest.raises(ValueError, match=r"^the threshold tau exceeds float64's range"):
        hard_threshold(1e308 * np.sign(W))
    assert an.suggest_rank(1e308 * np.sign(W)) == an.suggest_rank(np.sign(W))  # the rank itself is fine


def test_amplification_of_a_zero_update_is_refused():
    with pytest.raises(ValueError, match=r"^delta_W is all zeros; a zero update uses no directions"):
        an.amplification_factor(np.zeros_like(W), W, 1)
