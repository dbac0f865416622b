"""Small synthetic classification tasks: two moons and Gaussian blobs.

Both return ``(X, y)`` with ``X`` of shape (n, features) (float32 unless
``dtype`` says otherwise) and ``y`` of shape (n,) holding int64 class labels.
The classes are balanced (sizes differ by at most one) and the rows come in a
random order, so that the first few rows already contain every class.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from lorabook._checks import check_float, check_int, check_matrix
from lorabook.data._arrays import finite_result, float_dtype
from lorabook.random import Seed, get_generator

# The noise-free moons fill the box x in [-1, 2], y in [-0.5, 1]; its middle is
# the fixed point that `rotation_deg` turns the picture about. A fixed point
# (rather than the sample mean) means that two samples drawn with different
# seeds are rotated by exactly the same map.
MOONS_CENTRE = (0.5, 0.25)


def _balanced_sizes(n, n_classes):
    """Class sizes that add up to n and differ by at most one."""
    sizes = np.full(n_classes, n // n_classes, dtype=np.int64)
    sizes[: n % n_classes] += 1
    return sizes


def rotation_matrix(degrees: float) -> np.ndarray:
    """The 2x2 matrix that turns column vectors counter-clockwise by `degrees`.

    [[cos t, -sin t],
     [sin t,  cos t]]  with t = degrees in radians.
    """
    theta = np.deg2rad(check_float("degrees", degrees))
    cos, sin = np.cos(theta), np.sin(theta)
    return np.array([[cos, -sin], [sin, cos]])


def make_moons(n: int, noise: float = 0.1, rotation_deg: float = 0.0, seed: Seed = 0,
               dtype: DTypeLike = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: the classic non-linear 2-D toy problem.

    Class 0 is the upper moon (cos t, sin t), class 1 the lower moon
    (1 - cos t, 0.5 - sin t), with t drawn uniformly from [0, pi]. Gaussian
    noise of standard deviation `noise` is added to each coordinate. With
    `rotation_deg` != 0 every point is then turned counter-clockwise about the
    centre of the picture, ``MOONS_CENTRE`` = (0.5, 0.25), so a rotated copy is
    the same task seen from another angle (a covariate shift).

    Returns X of shape (n, 2) and y of shape (n,) (int64, classes 0 and 1).
    """
    n = check_int("n", n, low=2)
    noise = check_float("noise", noise, low=0.0)
    rotation = rotation_matrix(check_float("rotation_deg", rotation_deg))
    dtype = float_dtype(dtype)
    rng = get_generator(seed, "seed")

    n_upper, n_lower = _balanced_sizes(n, 2)
    t_upper = rng.uniform(0.0, np.pi, size=n_upper)
    t_lower = rng.uniform(0.0, np.pi, size=n_lower)
    upper = np.column_stack([np.cos(t_upper), np.sin(t_upper)])
    lower = np.column_stack([1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)])
    centre = np.asarray(MOONS_CENTRE)
    with np.errstate(over="ignore", invalid="ignore"):  # a noise near 1e308 overflows: refused by finite_result
        X = np.concatenate([upper, lower]) + noise * rng.standard_normal((n, 2))
        X = (X - centre) @ rotation.T + centre
    y = np.concatenate([np.zeros(n_upper, dtype=np.int64), np.ones(n_lower, dtype=np.int64)])
    order = rng.permutation(n)
    return finite_result("make_moons", X[order], dtype, hint="use a smaller noise"), y[order]


def make_blobs(n: int, centers: int | ArrayLike = 3, dim: int = 2, std: float = 1.0, seed: Seed = 0,
               center_box: tuple[float, float] = (-10.0, 10.0), dtype: DTypeLike = np.float32,
               ) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian clusters, one class per cluster.

    `centers` is either the number of clusters (their centres are then drawn
    uniformly from the cube ``center_box`` ** dim) or an array of shape
    (n_classes, dim) giving the centres; in that case `dim` must agree with it.
    Each point is its class centre plus N(0, std**2 I) noise.

    Returns X of shape (n, dim) and y of shape (n,) (int64, classes 0..n_classes-1).
    """
    n = check_int("n", n, low=1)
    dim = check_int("dim", dim, low=1)
    std = check_float("std", std, low=0.0)
    dtype = float_dtype(dtype)
    rng = get_generator(seed, "seed")

    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        n_classes = check_int("centers", centers, low=1)
        low, high = _check_box(center_box)
        centre_points = rng.uniform(low, high, size=(n_classes, dim))
    else:
        centre_points = check_matrix("centers", centers).astype(np.float64)
        if centre_points.shape[1] != dim:
            raise ValueError(
                f"centers has {centre_points.shape[1]} columns but dim is {dim}; "
                f"pass dim={centre_points.shape[1]} or centres with {dim} columns"
            )
        n_classes = centre_points.shape[0]
    if n < n_classes:
        raise ValueError(f"n must be at least the number of classes ({n_classes}) so every class appears, got {n}")

    y = np.repeat(np.arange(n_classes, dtype=np.int64), _balanced_sizes(n, n_classes))
    with np.errstate(over="ignore", invalid="ignore"):  # a std near 1e308 overflows: refused by finite_result
        X = centre_points[y] + std * rng.standard_normal((n, dim))
    order = rng.permutation(n)
    return finite_result("make_blobs", X[order], dtype, hint="use a smaller std or center_box"), y[order]


def _check_box(center_box):
    try:
        low, high = (float(v) for v in center_box)
    except (TypeError, ValueError) as err:
        raise TypeError(f"center_box must be a pair (low, high) of numbers, got {center_box!r}") from err
    if not (np.isfinite(low) and np.isfinite(high) and low < high and np.isfinite(high - low)):
        raise ValueError(f"center_box must be a finite pair with low < high and a finite width high - low, "
                         f"got {center_box!r}")
    return low, high
