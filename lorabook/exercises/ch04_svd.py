"""Checkers for sheet 04: truncated SVD, the Eckart-Young errors, energy rank, phi, Gavish-Donoho.

References: lorabook.analysis (low_rank_approx, energy_rank,
subspace_similarity, random_subspace_baseline, suggest_rank) and, for the
Gavish-Donoho threshold itself, its formula written out here.
"""
from __future__ import annotations

import numpy as np

from lorabook import analysis
from lorabook.exercises.feedback import Incorrect, call, check_int, compare, shapes, task

MATRICES = [((6, 4), 2), ((5, 9), 3), ((8, 8), 1)]


def _matrix(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape)


@task("4.1 (best rank-k approximation)")
def best_rank_k(student_best):
    """best(W (m, n), k) -> the rank-k matrix closest to W: U_k diag(s_k) V_k^T, shape (m, n)."""
    for seed, (shape, k) in enumerate(MATRICES):
        W = _matrix(seed, shape)
        case = f"case {seed + 1} ({shapes(W=W)}, k={k}, seed {seed})"
        answer = call(case, student_best, W.copy(), k)
        U, s, Vt = np.linalg.svd(W, full_matrices=False)
        compare(case, "the approximation", answer, analysis.low_rank_approx(W, k), mistakes=[
            ((U[:, -k:] * s[-k:]) @ Vt[-k:], "those are the SMALLEST singular values; np.linalg.svd sorts them "
                                              "largest first, so keep the first k"),
            (U[:, :k] @ Vt[:k], "multiply by the singular values: U_k diag(s_k) V_k^T"),
            (lambda: (U[:, :k] * s[:k]) @ Vt[:, :k].T, "the rows of Vt are the right singular vectors: use Vt[:k]"),
        ])
    return f"{len(MATRICES)} cases agree with lorabook.analysis.low_rank_approx."


@task("4.2 (Eckart-Young errors)")
def eckart_young_errors(student_errors):
    """errors(s, k) -> (||W - W_k||_F, ||W - W_k||_2) from the singular values s (largest first) alone."""
    cases = [(np.array([5.0, 3.0, 2.0, 1.0]), 2), (np.array([4.0, 2.0, 1.0, 0.5, 0.25]), 1),
             (np.array([3.0, 1.0]), 2)]
    for index, (s, k) in enumerate(cases):
        case = f"case {index + 1} (s = {s.tolist()}, k={k})"
        answer = call(case, student_errors, s.copy(), k)
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            raise Incorrect(f"{case}: return (Frobenius error, spectral error)")
        tail = s[k:]
        compare(case, "the Frobenius error", answer[0], np.sqrt(np.sum(tail**2)), mistakes=[
            (np.sum(tail**2), "that is the squared error; take the square root"),
            (np.sum(tail), "square the singular values before summing: sqrt(s_{k+1}^2 + ... )"),
        ], nonfinite_hint="")
        compare(case, "the spectral error", answer[1], tail[0] if tail.size else 0.0, mistakes=[
            (s[k - 1], "off by one: the error is the FIRST singular value left out, s[k] (0-based)")])
    return "3 cases passed."


@task("4.3 (energy rank)")
def energy_rank(student_energy_rank):
    """energy_rank(W, tau) -> smallest k with (s_1^2 + ... + s_k^2) / sum s^2 >= tau."""
    cases = [((20, 12), 0.9, 0), ((10, 30), 0.5, 1), ((15, 15), 0.99, 2), ((8, 6), 0.75, 3)]
    for shape, tau, seed in cases:
        rng = np.random.default_rng(seed)
        W = rng.standard_normal(shape) * np.exp(-0.3 * np.arange(shape[1]))  # a decaying spectrum
        case = f"case {seed + 1} ({shapes(W=W)}, tau={tau}, seed {seed})"
        expected = analysis.energy_rank(W, tau)
        s = np.linalg.svd(W, compute_uv=False)
        plain = int(np.searchsorted(np.cumsum(s) / np.sum(s), tau - 1e-12)) + 1
        check_int(case, "the rank", call(case, student_energy_rank, W.copy(), tau), expected, mistakes=[
            (expected - 1, "off by one: return the NUMBER of singular values kept (an index + 1)"),
            (plain, "energy is the sum of SQUARED singular values (||W||_F^2 = sum s_i^2)"),
        ])
    return f"{len(cases)} cases agree with lorabook.analysis.energy_rank."


@task("4.4 (subspace similarity phi)")
def subspace_similarity(student_phi):
    """phi(A1 (r1, d), A2 (r2, d), i, j) = ||V1[:, :i]^T V2[:, :j]||_F^2 / min(i, j), V the right singular vectors."""
    cases = [((4, 16), (8, 16), 2, 5), ((3, 10), (3, 10), 3, 1), ((6, 12), (2, 12), 4, 2)]
    for seed, (shape1, shape2, i, j) in enumerate(cases):
        rng = np.random.default_rng(seed)
        shared = rng.standard_normal((1, shape1[1]))
        A1 = rng.standard_normal(shape1) + 2 * shared  # one shared direction, so phi is not tiny
        A2 = rng.standard_normal(shape2) + 2 * shared
        case = f"case {seed + 1} ({shapes(A1=A1, A2=A2)}, i={i}, j={j}, seed {seed})"
        answer = call(case, student_phi, A1.copy(), A2.copy(), i, j,
                      hint="the right singular vectors of A (r, d) live in R^d: the rows of Vt")
        V1 = np.linalg.svd(A1, full_matrices=False)[2][:i].T
        V2 = np.linalg.svd(A2, full_matrices=False)[2][:j].T
        overlap = V1.T @ V2
        compare(case, "phi", answer, analysis.subspace_similarity(A1, A2, i, j), mistakes=[
            (np.linalg.norm(overlap) / min(i, j), "square the Frobenius norm: ||V1^T V2||_F^2"),
            (np.linalg.norm(overlap), "square the Frobenius norm: ||V1^T V2||_F^2"),
            (np.sum(overlap**2) / max(i, j), "divide by min(i, j), so that phi = 1 when one subspace contains the other"),
            (np.sum(overlap**2), "normalise: divide by min(i, j)"),
        ])
    return f"{len(cases)} cases agree with lorabook.analysis.subspace_similarity."


@task("4.5 (predict three numbers)")
def predicted_numbers(predict):
    """predict() -> (rank of B @ A, Frobenius error of the best rank-2 approximation, expected phi at random)."""
    rng = np.random.default_rng(0)
    B, A = rng.standard_normal((10, 3)), rng.standard_normal((3, 20))
    rank = int(np.linalg.matrix_rank(B @ A))
    W = np.linalg.qr(rng.standard_normal((6, 6)))[0][:, :4] @ np.diag([5.0, 3.0, 2.0, 1.0]) @ \
        np.linalg.qr(rng.standard_normal((8, 8)))[0][:4]
    error = float(np.linalg.norm(W - analysis.low_rank_approx(W, 2)))
    baseline = analysis.random_subspace_baseline(4, 16, 64)
    answer = call("your prediction", predict)
    if not isinstance(answer, (tuple, list)) or len(answer) != 3:
        raise Incorrect("predict() should return three numbers")
    check_int("your prediction", "the rank of B @ A", answer[0], rank,
              mistakes=[(10, "B @ A is (10, 20) but passes through r = 3 dimensions: rank <= 3")])
    compare("your prediction", "the rank-2 error", answer[1], error, rtol=1e-3,
            mistakes=[(3.0, "sqrt(2^2 + 1^2): the error adds the SQUARES of the singular values left out"),
                      (2.0, "that is the spectral-norm error; the Frobenius error is sqrt(2^2 + 1^2)")])
    compare("your prediction", "phi for random subspaces", answer[2], baseline, rtol=1e-3,
            mistakes=[(4 * 16 / 64**2, "phi divides by min(i, j): E[phi] = i j / (d min(i, j)) = max(i, j) / d")])
    return f"lorabook: rank {rank}, error {error:.4f}, random phi(4, 16) in R^64 = {baseline}."


def _lambda(beta):
    """lambda*(beta) of Gavish and Donoho (2014), the coefficient for known noise."""
    return np.sqrt(2 * (beta + 1) + 8 * beta / ((beta + 1) + np.sqrt(beta**2 + 14 * beta + 1)))


def _gavish_donoho_tau(m, n, sigma):
    return _lambda(min(m, n) / max(m, n)) * np.sqrt(max(m, n)) * sigma


@task("4.6 (Gavish-Donoho threshold)")
def gavish_donoho(student_threshold, student_rank):
    """threshold(m, n, sigma) = lambda*(beta) sqrt(max(m, n)) sigma; rank(Y, sigma) counts s > threshold."""
    cases = [(30, 50, 0.5, 3), (60, 20, 1.0, 2), (40, 40, 0.2, 5)]
    for seed, (m, n, sigma, k) in enumerate(cases):
        case = f"case {seed + 1} (Y ({m}, {n}), sigma {sigma}, planted rank {k}, seed {seed})"
        tau = call(case, student_threshold, m, n, sigma)
        expected = _gavish_donoho_tau(m, n, sigma)
        beta_wrong = max(m, n) / min(m, n)
        compare(case, "the threshold", tau, expected, mistakes=[
            (lambda: _lambda(beta_wrong) * np.sqrt(max(m, n)) * sigma,
             "beta = min(m, n) / max(m, n), at most 1"),
            (_gavish_donoho_tau(m, n, sigma) * np.sqrt(min(m, n) / max(m, n)),
             "the square root is of the LONGER side, max(m, n)"),
            (_gavish_donoho_tau(m, n, sigma) / sigma, "multiply by the noise level sigma"),
        ])
        rng = np.random.default_rng(seed)
        signal = rng.standard_normal((m, k)) @ rng.standard_normal((k, n)) * 2.0
        Y = signal + sigma * rng.standard_normal((m, n))
        check_int(case, "the rank", call(case, student_rank, Y.copy(), sigma), analysis.suggest_rank(Y, sigma))
    return f"{len(cases)} cases: the threshold matches the formula and the rank lorabook.analysis.suggest_rank."

