import numpy as np
import pytest

from lorabook.analysis import energy_rank, suggest_rank
from lorabook.analysis.gavish_donoho import (
    hard_threshold, lambda_star, marchenko_pastur_median, omega, omega_approx, rank_tolerance,
)

SEEDS = range(40)


def planted(shape, seed, sigma=0.5, strengths=(4.0, 3.0, 2.5)):
    """Rank-3 signal with singular values strengths * sqrt(max(m, n)) * sigma, plus noise sigma."""
    rng = np.random.default_rng(seed)
    m, n = shape
    U, _ = np.linalg.qr(rng.standard_normal((m, len(strengths))))
    V, _ = np.linalg.qr(rng.standard_normal((n, len(strengths))))
    signal = (U * (np.array(strengths) * np.sqrt(max(m, n)) * sigma)) @ V.T
    return signal + sigma * rng.standard_normal((m, n))


def test_square_constants_from_the_paper():
    assert lambda_star(1.0) == pytest.approx(4 / np.sqrt(3), rel=1e-14)
    assert omega(1.0) == pytest.approx(2.858, abs=5e-4)


def test_marchenko_pastur_median_is_a_median():
    # Eigenvalues of Z Z^T / n for noise matrices: about half lie below mu_beta.
    rng = np.random.default_rng(0)
    medians = [np.median(np.linalg.svd(rng.standard_normal((60, 120)), compute_uv=False) ** 2 / 120) for _ in range(30)]
    assert np.mean(medians) == pytest.approx(marchenko_pastur_median(0.5), rel=0.02)
    assert not np.mean(medians) == pytest.approx(marchenko_pastur_median(1.0), rel=0.02)


@pytest.mark.parametrize("beta", [0.05, 0.1, 0.25, 0.5, 0.75, 1.0])
def test_exact_omega_agrees_with_the_papers_cubic_fit(beta):
    assert omega(beta) == pytest.approx(omega_approx(beta), abs=0.02)


@pytest.mark.parametrize("shape", [(40, 80), (80, 40), (60, 60)])
@pytest.mark.parametrize("known_sigma", [True, False])
def test_recovers_the_planted_rank_over_many_seeds(shape, known_sigma):
    found = [suggest_rank(planted(shape, seed), sigma=0.5 if known_sigma else None) for seed in SEEDS]
    assert found == [3] * len(SEEDS)


def test_pure_noise_gets_rank_zero_when_sigma_is_known():
    rng = np.random.default_rng(1)
    assert [suggest_rank(0.3 * rng.standard_normal((50, 70)), sigma=0.3) for _ in range(10)] == [0] * 10


def test_the_energy_rule_overshoots_where_the_threshold_does_not():
    M = planted((60, 60), seed=0)
    assert suggest_rank(M) == 3
    assert energy_rank(M, tau=0.9) > 3


def test_orientation_and_scale_do_not_matter():
    M = planted((30, 70), seed=2)
    assert hard_threshold(M, 0.5) == pytest.approx(hard_threshold(M.T, 0.5), rel=1e-14)
    assert hard_threshold(M) == pytest.approx(hard_threshold(M.T), rel=1e-12)
    assert suggest_rank(10 * M, sigma=5.0) == suggest_rank(M, sigma=0.5) == 3


def test_known_sigma_threshold_formula():
    M = np.ones((20, 45))
    beta = 20 / 45
    expected = np.sqrt(2 * (beta + 1) + 8 * beta / (beta + 1 + np.sqrt(beta**2 + 14 * beta + 1))) * np.sqrt(45) * 0.7
    assert hard_threshold(M, 0.7) == pytest.approx(expected, rel=1e-14)


def exact_low_rank(shape, rank, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((shape[0], rank)) @ rng.standard_normal((rank, shape[1]))


@pytest.mark.parametrize("shape", [(40, 60), (60, 40), (30, 30)])
@pytest.mark.parametrize("rank", [1, 2, 3, 5, 10])
def test_noise_free_low_rank_matrices_get_their_exact_rank(shape, rank):
    # Without the rounding floor the median singular value is ~1e-16 and rounding directions were counted.
    found = [suggest_rank(exact_low_rank(shape, rank, seed)) for seed in range(5)]
    assert found == [rank] * 5


def test_noise_free_integer_outer_product_has_rank_one():
    M = np.outer(np.arange(1, 11.0), np.arange(1, 8.0))
    assert suggest_rank(M) == 1 == np.linalg.matrix_rank(M)
    assert suggest_rank(M.T) == 1


def test_float32_data_get_float32s_rounding_floor():
    M = exact_low_rank((40, 60), 3, seed=7).astype(np.float32)  # rounding error now ~1e-7 of s_1
    assert suggest_rank(M) == 3 == np.linalg.matrix_rank(M)


def test_the_threshold_never_falls_below_matrix_ranks_tolerance():
    M = exact_low_rank((40, 60), 3, seed=0)
    s = np.linalg.svd(M, compute_uv=False)
    tolerance = s[0] * 60 * np.finfo(np.float64).eps  # numpy.linalg.matrix_rank's default
    # abs=0: pytest.approx's default absolute slack of 1e-12 would swallow numbers this small
    assert rank_tolerance(M) == pytest.approx(tolerance, rel=1e-14, abs=0)
    assert hard_threshold(M) == pytest.approx(tolerance, rel=1e-14, abs=0)
    assert hard_threshold(M, sigma=1e-30) == pytest.approx(tolerance, rel=1e-14, abs=0)
    # with real noise the floor is far below tau and changes nothing
    noisy = planted((40, 60), seed=0)
    assert hard_threshold(noisy) > 1e10 * rank_tolerance(noisy)


@pytest.mark.parametrize("sigma", [None, 0.5])
def test_the_zero_matrix_has_rank_zero(sigma):
    assert suggest_rank(np.zeros((20, 30)), sigma=sigma) == 0
    assert suggest_rank(np.zeros((1, 1)), sigma=sigma) == 0
