"""Checkers for sheet 06: reduced-rank regression, the planted task's test error, choosing r by validation.

The planted-rank task (lorabook.data.make_planted_rank_task): targets
Y = X (W0 + dW)^T + noise with a true update dW of rank k. References:
lorabook.analysis.reduced_rank_regression, lorabook.data.planted_test_error,
lorabook.analysis.suggest_rank.
"""
from __future__ import annotations

import numpy as np

from lorabook.analysis import reduced_rank_regression, suggest_rank
from lorabook.data import make_planted_rank_task, planted_test_error
from lorabook.exercises.feedback import Incorrect, as_array, call, check_int, compare, shapes, task

RANKS = [1, 2, 3, 4, 6, 8, 16, 32]


def _task(seed, n=40, d=32, k=3, noise=0.5):
    return make_planted_rank_task(d, d, k, n, noise, seed=seed, dtype=np.float64)


def _truncated_least_squares(X, Y, r):
    C = np.linalg.lstsq(X, Y, rcond=None)[0]
    U, s, Vt = np.linalg.svd(C.T, full_matrices=False)
    return (U[:, :r] * s[:r]) @ Vt[:r]


@task("6.1 (reduced-rank regression)")
def reduced_rank_fit(student_fit):
    """fit(X (n, d_in), Y (n, d_out), r) -> D (d_out, d_in) of rank <= r minimising ||Y - X D^T||_F."""
    for seed, (n, d_in, d_out, r) in enumerate([(50, 8, 6, 2), (30, 5, 9, 3), (40, 10, 10, 1)]):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, d_in)) * np.linspace(0.2, 3.0, d_in)  # unequal input scales matter here
        Y = X @ rng.standard_normal((d_in, d_out)) + 0.5 * rng.standard_normal((n, d_out))
        case = f"case {seed + 1} ({shapes(X=X, Y=Y)}, r={r}, seed {seed})"
        answer = call(case, student_fit, X.copy(), Y.copy(), r)
        compare(case, "D", answer, reduced_rank_regression(X, Y, r), mistakes=[
            (_truncated_least_squares(X, Y, r), "truncate the SVD of the fitted values X C, not of C itself: "
                                                "which directions matter depends on X"),
        ], shape_hints=[((d_in, d_out), "D is (d_out, d_in), like a Linear weight: return C^T's truncation")])
    return "3 cases agree with lorabook.analysis.reduced_rank_regression."


@task("6.2 (the planted task's test error)")
def test_error(student_error):
    """error(task, delta_W) -> mean over test rows and outputs of (X_test (delta_W - dW)^T)^2."""
    for seed in range(3):
        planted = _task(seed, d=12)
        delta_W = reduced_rank_regression(planted.X_train, planted.Y_train, 2 + seed, W0=planted.base_weight)
        case = f"case {seed + 1} (d 12, k 3, delta_W of rank {2 + seed}, seed {seed})"
        answer = call(case, student_error, planted, delta_W.copy())
        residual = planted.X_test @ (delta_W - planted.true_update).T
        noisy = planted.Y_test - planted.X_test @ (planted.base_weight + delta_W).T
        compare(case, "the test error", answer, planted_test_error(planted, delta_W), mistakes=[
            (np.mean(noisy**2), "compare with the NOISE-FREE targets: the error is X_test (delta_W - dW)^T, "
                                "not the residual against the noisy Y_test"),
            (np.sum(residual**2), "take the mean over rows and outputs, not the sum"),
            (np.mean((planted.X_test @ delta_W.T) ** 2), "subtract the true update dW"),
        ])
    return "3 cases agree with lorabook.data.planted_test_error."


def _validation_choice(X, Y, W0, ranks, n_val, fit_on_all=False, by_training=False):
    X_fit, Y_fit = (X, Y) if fit_on_all else (X[:-n_val], Y[:-n_val])
    X_val, Y_val = (X_fit, Y_fit) if by_training else (X[-n_val:], Y[-n_val:])
    errors = [np.mean((Y_val - X_val @ (W0 + reduced_rank_regression(X_fit, Y_fit, r, W0=W0)).T) ** 2)
              for r in ranks]
    return ranks[int(np.argmin(errors))]


@task("6.3 (choose r by validation)")
def choose_rank(student_choose):
    """choose(X, Y, W0, ranks, n_val) -> the r in ranks with the lowest validation MSE (last n_val rows held out)."""
    for seed, (n, n_val, noise) in enumerate([(80, 20, 0.5), (120, 30, 1.0), (60, 20, 0.3)]):
        planted = _task(seed, n=n, d=16, noise=noise)
        ranks = [1, 2, 3, 4, 6, 8, 16]
        X, Y, W0 = planted.X_train, planted.Y_train, planted.base_weight
        case = f"case {seed + 1} (X {X.shape}, n_val {n_val}, noise {noise}, true rank 3, seed {seed})"
        answer = call(case, student_choose, X.copy(), Y.copy(), W0.copy(), list(ranks), n_val)
        check_int(case, "the chosen rank", answer, _validation_choice(X, Y, W0, ranks, n_val), mistakes=[
            (_validation_choice(X, Y, W0, ranks, n_val, by_training=True),
             "you picked the rank with the lowest error on rows the fit has seen; that always favours the largest "
             "r. Fit on all rows but the last n_val, score on those"),
            (_validation_choice(X, Y, W0, ranks, n_val, fit_on_all=True),
             "fit on the training rows only (all but the last n_val); the validation rows must stay unseen"),
        ])
    return "3 planted tasks: the same choice as a held-out validation split."


@task("6.4 (predict the best rank)")
def predicted_best_ranks(predict):
    """predict() -> (r with the lowest TEST error, r with the lowest TRAINING error) on the planted task."""
    planted = _task(0)
    W0 = planted.base_weight
    fits = {r: reduced_rank_regression(planted.X_train, planted.Y_train, r, W0=W0) for r in RANKS}
    test = {r: planted_test_error(planted, fit) for r, fit in fits.items()}
    train = {r: float(np.mean((planted.Y_train - planted.X_train @ (W0 + fit).T) ** 2)) for r, fit in fits.items()}
    best_test, best_train = min(test, key=test.get), min(train, key=train.get)
    answer = call("your prediction", predict)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Incorrect("predict() should return two ints: (best r on test, best r on training)")
    check_int("your prediction", "the best r on test", answer[0], best_test, mistakes=[
        (32, "more rank fits the 40 examples better, but beyond the true rank it fits their noise")])
    check_int("your prediction", "the best r on training", answer[1], best_train, mistakes=[
        (3, "training error can only fall as r grows: a rank-r fit is also allowed at every higher rank")])
    return (f"test error is lowest at r={best_test} ({test[best_test]:.3f}), training error at r={best_train}.")


@task("6.5 (whiten the update for Gavish-Donoho)")
def whitened_update(student_whiten):
    """whiten(X (n, d_in), delta_W (d_out, d_in)) -> R delta_W^T (d_in, d_out), where X = Q R (reduced QR)."""
    for seed, (n, d_in, d_out) in enumerate([(40, 8, 5), (60, 6, 10), (30, 12, 12)]):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, d_in)) * np.linspace(0.5, 2.0, d_in)
        delta_W = rng.standard_normal((d_out, d_in))
        case = f"case {seed + 1} ({shapes(X=X, delta_W=delta_W)}, seed {seed})"
        answer = call(case, student_whiten, X.copy(), delta_W.copy())
        Q, R = np.linalg.qr(X)
        expected = R @ delta_W.T
        # QR is unique up to the signs of R's rows; suggest_rank only sees singular values, so compare those.
        got = as_array("the whitened update", case, answer)
        if got.shape != expected.shape:
            raise Incorrect(f"{case}: the whitened update has shape {got.shape}, expected {expected.shape}. "
                            f"Hint: R is (d_in, d_in) and delta_W^T is (d_in, d_out)")
        compare(case, "the singular values of the whitened update", np.linalg.svd(got, compute_uv=False),
                np.linalg.svd(expected, compute_uv=False), mistakes=[
                    (np.linalg.svd(delta_W.T, compute_uv=False), "multiply by R: the raw update is not whitened"),
                    (np.linalg.svd(np.linalg.inv(R) @ delta_W.T, compute_uv=False),
                     "multiply by R itself, not its inverse: the fit's noise in delta_W^T is shaped by R^-1"),
                ])
    planted = _task(0)
    full = reduced_rank_regression(planted.X_train, planted.Y_train, 32, W0=planted.base_weight)
    rank = suggest_rank(call("the planted task", student_whiten, planted.X_train, full))
    return f"3 cases passed; on the planted task (true rank 3) Gavish-Donoho on your whitened update says {rank}."
