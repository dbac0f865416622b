"""Sheet 04's checkers accept correct answers and reject typical mistakes with their hint."""
import numpy as np

from lorabook.exercises import ch04_svd as check


def best(W, k, smallest=False):
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    keep = slice(-k, None) if smallest else slice(None, k)
    return (U[:, keep] * s[keep]) @ Vt[keep]


def energy_rank(W, tau, squared=True):
    s = np.linalg.svd(W, compute_uv=False)
    s = s**2 if squared else s
    return int(np.argmax(np.cumsum(s) / np.sum(s) >= tau - 1e-12)) + 1


def phi(A1, A2, i, j, power=2):
    V1 = np.linalg.svd(A1)[2][:i].T
    V2 = np.linalg.svd(A2)[2][:j].T
    return float(np.sum((V1.T @ V2) ** 2) ** (power / 2) / min(i, j))


def threshold(m, n, sigma, beta_flipped=False):
    beta = max(m, n) / min(m, n) if beta_flipped else min(m, n) / max(m, n)
    return np.sqrt(2 * (beta + 1) + 8 * beta / ((beta + 1) + np.sqrt(beta**2 + 14 * beta + 1))) * np.sqrt(max(m, n)) * sigma


def rank(Y, sigma):
    return int(np.sum(np.linalg.svd(Y, compute_uv=False) > threshold(*Y.shape, sigma)))


def test_correct_answers_pass():
    assert check.best_rank_k(best) and check.energy_rank(energy_rank) and check.subspace_similarity(phi)
    assert check.eckart_young_errors(lambda s, k: (np.sqrt(np.sum(s[k:] ** 2)), s[k] if k < len(s) else 0.0))
    assert check.predicted_numbers(lambda: (3, np.sqrt(5), 0.25)) and check.gavish_donoho(threshold, rank)


def test_best_rank_k_keeping_the_smallest_singular_values(rejected):
    assert rejected(check.best_rank_k(lambda W, k: best(W, k, smallest=True)), "case 1", "SMALLEST")


def test_errors_without_square_root_or_off_by_one(rejected):
    assert rejected(check.eckart_young_errors(lambda s, k: (np.sum(s[k:] ** 2), s[k])), "case 1", "square root")
    assert rejected(check.eckart_young_errors(lambda s, k: (np.sqrt(np.sum(s[k:] ** 2)), s[k - 1])), "off by one")


def test_energy_rank_of_unsquared_singular_values_and_off_by_one(rejected):
    assert rejected(check.energy_rank(lambda W, tau: energy_rank(W, tau, squared=False)), "SQUARED")
    assert rejected(check.energy_rank(lambda W, tau: energy_rank(W, tau) - 1), "off by one")


def test_phi_without_the_square(rejected):
    assert rejected(check.subspace_similarity(lambda *a: phi(*a, power=1)), "square the Frobenius norm")


def test_gavish_donoho_with_beta_above_one(rejected):
    flipped = lambda m, n, sigma: threshold(m, n, sigma, beta_flipped=True)  # noqa: E731
    assert rejected(check.gavish_donoho(flipped, rank), "case 1", "beta = min(m, n) / max(m, n)")


def test_predicted_error_without_squares(rejected):
    assert rejected(check.predicted_numbers(lambda: (3, 3.0, 0.25)), "SQUARES")
