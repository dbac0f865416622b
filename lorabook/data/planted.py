"""A teacher-student regression with a planted low-rank update.

The teacher is a frozen base map W0 plus an update dW of rank exactly k:

    Y = X (W0 + dW)^T + noise * E,        E with N(0, 1) entries.

A student that keeps W0 frozen and learns only the update (what LoRA does)
should find dW. Because the truth is known, we can ask how well a rank-r
estimate recovers it: too low a rank misses part of dW (underfitting), too
high a rank with few examples fits the noise (overfitting), and with few
examples the best rank is k.

Scales (the calibration): inputs x ~ N(0, I); W0 = G0 / sqrt(d_in); and, in
LoRA's own shape, dW = B A with B (d_out, k) ~ N(0, 1) and A (k, d_in) ~
N(0, 1/d_in). Then each output of the base map has variance 1 and each of the
k rank-one pieces of the update adds, in expectation, variance 1 to each
output: the update is as strong as the base map is, per direction, and the
noise (0.5 -> variance 0.25) is a quarter of that.

Test error (``planted_test_error``): the mean squared error of the learned
update on noise-free held-out targets, averaged over test examples and
outputs,

    mean over test rows and outputs of (X_test (D - dW)^T)^2,

which for x ~ N(0, I) is about ||D - dW||_F^2 / d_out. It leaves out the
irreducible noise (a noisy test set adds noise**2 on average), so 0 means
perfect recovery.

What to expect, d_in = d_out = 32, k = 3, n = 40, noise = 0.5, closed-form
reduced-rank least squares (mean over seeds 0..29, seed 0 in brackets):
about 1.6 at r = 1 (1.58), 0.13 at r = 3 (0.11) and 1.15 at r = 32 (0.88),
lowest at r = 3 for every one of those seeds. The numbers move from seed to
seed (standard deviations about 0.4, 0.07 and 0.3): at r = 1 the miss depends
on how the planted strength falls across its k directions, and at r = 32 the
plain least-squares error depends strongly on the sample when n is barely
above d_in (its expectation is noise**2 * d_in / (n - d_in - 1) = 1.14).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from lorabook._checks import check_float, check_int, check_matrix
from lorabook.data._arrays import finite_result, float_dtype
from lorabook.random import Seed, get_generator


@dataclass
class PlantedRankTask:
    """Plain arrays of a planted-rank regression (see the module docstring).

    X_train (n, d_in), Y_train (n, d_out): noisy training pairs.
    X_test (n_test, d_in), Y_test (n_test, d_out): held-out pairs, noisy in
    the same way; ``Y_test_clean`` gives their noise-free targets.
    base_weight W0 (d_out, d_in): the frozen base map.
    true_update dW (d_out, d_in): the planted update, rank exactly k.

    The data arrays have the dtype asked for (float32 by default); the truth,
    W0 and dW, is always float64: rounding a rank-k matrix to float32 adds
    errors of about 1e-7 in every direction, which makes it full rank at
    float64 precision, and "rank exactly k" should stay true whatever you
    compare it with.
    """

    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    base_weight: np.ndarray
    true_update: np.ndarray
    noise: float
    k: int

    def __repr__(self):
        d_out, d_in = self.true_update.shape
        return (
            f"PlantedRankTask(d_in={d_in}, d_out={d_out}, k={self.k}, n={len(self.X_train)}, "
            f"n_test={len(self.X_test)}, noise={self.noise}, dtype={self.X_train.dtype})"
        )

    @property
    def Y_test_clean(self):
        """Noise-free test targets X_test (W0 + dW)^T, shape (n_test, d_out)."""
        return self.X_test @ (self.base_weight + self.true_update).T


def _update_of_rank_exactly(d_out, d_in, k, rng):
    """dW = B A with B ~ N(0, 1) (d_out, k), A ~ N(0, 1/d_in) (k, d_in).

    Gaussian factors have full rank k with probability one; the check turns
    "with probability one" into "always" (a failure would mean a broken
    random generator, not bad luck).
    """
    B = rng.standard_normal((d_out, k))
    A = rng.standard_normal((k, d_in)) / np.sqrt(d_in)
    update = B @ A
    rank = np.linalg.matrix_rank(update)
    if rank != k:
        raise RuntimeError(f"planted update came out with rank {rank} instead of {k}")
    return update


def make_planted_rank_task(d_in: int, d_out: int, k: int, n: int, noise: float, seed: Seed = 0, n_test: int = 1000,
                           dtype: DTypeLike = np.float32) -> PlantedRankTask:
    """Draw a planted-rank regression task (see the module docstring).

    d_in, d_out: input and output sizes; k: rank of the planted update,
    1 <= k <= min(d_in, d_out); n: training examples; noise: standard
    deviation of the target noise (>= 0); n_test: held-out examples.
    Everything is drawn in float64; X and Y are then stored as `dtype`, so
    float32 and float64 tasks from one seed hold the same numbers up to
    rounding (W0 and dW stay float64, see ``PlantedRankTask``).
    Returns a ``PlantedRankTask``.
    """
    d_in = check_int("d_in", d_in, low=1)
    d_out = check_int("d_out", d_out, low=1)
    k = check_int("k", k, low=1, high=min(d_in, d_out))
    n = check_int("n", n, low=1)
    noise = check_float("noise", noise, low=0.0)
    n_test = check_int("n_test", n_test, low=1)
    dtype = float_dtype(dtype)
    rng = get_generator(seed, "seed")

    base_weight = rng.standard_normal((d_out, d_in)) / np.sqrt(d_in)
    true_update = _update_of_rank_exactly(d_out, d_in, k, rng)
    teacher = base_weight + true_update
    X_train = rng.standard_normal((n, d_in))
    X_test = rng.standard_normal((n_test, d_in))
    with np.errstate(over="ignore", invalid="ignore"):  # a noise near 1e308 overflows: refused by finite_result
        Y_train = X_train @ teacher.T + noise * rng.standard_normal((n, d_out))
        Y_test = X_test @ teacher.T + noise * rng.standard_normal((n_test, d_out))
    return PlantedRankTask(
        X_train=X_train.astype(dtype),
        Y_train=finite_result("make_planted_rank_task", Y_train, dtype, hint="use a smaller noise"),
        X_test=X_test.astype(dtype),
        Y_test=finite_result("make_planted_rank_task", Y_test, dtype, hint="use a smaller noise"),
        base_weight=base_weight,
        true_update=true_update,
        noise=noise,
        k=k,
    )


def planted_test_error(task: PlantedRankTask, delta_W: ArrayLike) -> float:
    """Test error of a learned update `delta_W` (d_out, d_in) on `task`.

    mean over the n_test rows and d_out outputs of
    (X_test (delta_W - dW)^T)^2: the squared error on noise-free held-out
    targets of the model W0 + delta_W. Computed in float64.
    """
    if not isinstance(task, PlantedRankTask):
        raise TypeError(f"task must be a PlantedRankTask, got {type(task).__name__}")
    delta_W = check_matrix("delta_W", delta_W)
    if delta_W.shape != task.true_update.shape:
        raise ValueError(
            f"delta_W must have the shape of the true update (d_out, d_in) = {task.true_update.shape}, "
            f"got {delta_W.shape}"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below
        error = delta_W.astype(np.float64) - task.true_update.astype(np.float64)
        residual = task.X_test.astype(np.float64) @ error.T
        value = float(np.mean(residual**2))
    if not np.isfinite(value):
        raise ValueError(f"the test error of delta_W overflows float64 (its largest entry is "
                         f"{np.max(np.abs(delta_W)):.4g}); an update this large cannot be scored")
    return value
