"""Domain shifts: the same data seen under other conditions.

Each shift is a pure function of the data and one strength: it returns a new
array of the same shape and dtype and never changes its input. Rows are
examples. Images are either flattened, shape (n, h*w), or stacked, shape
(n, h, w); pixel values are assumed to live in [0, 1] (``load_digits()``).

    name              strength (argument)      allowed range        identity at
    rotate            degrees                  any finite number    0
    invert            strength (blend)         [0, 1]               0
    contrast          factor                   > 0                  1
    brightness        delta                    any finite number    0
    gaussian_noise    std                      >= 0                 0
    affine            strength                 >= 0                 0

``apply_shift(X, name, strength)`` picks one by name; ``SHIFTS`` maps the names
to the functions.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from lorabook._checks import _show, check_choice, check_float, check_int, check_matrix
from lorabook.data._arrays import as_data, finite_result
from lorabook.data.tasks import rotation_matrix
from lorabook.random import Seed, get_generator

PIXEL_RANGE = (0.0, 1.0)


def rotate(X: ArrayLike, degrees: float, image_shape: tuple[int, int] | None = None,
           center: ArrayLike | None = None) -> np.ndarray:
    """Turn every example counter-clockwise by `degrees`.

    Two kinds of data, chosen explicitly and never guessed:

    * 2-D points, X of shape (n, 2) with ``image_shape=None``: each row x
      becomes ``R (x - c) + c`` with R the 2x2 rotation matrix
      (``rotation_matrix(degrees)``) and c = `center`, **the origin by
      default**, so the shift is linear: x -> R x. Pass ``center`` to turn
      about another point (``make_moons(rotation_deg=...)`` turns about the
      middle of the moons).
    * Images, X of shape (n, h, w), or (n, h*w) together with
      ``image_shape=(h, w)``: each image is turned about its own centre with
      ``scipy.ndimage.rotate(reshape=False, order=1)`` (bilinear
      interpolation, pixels that come from outside the frame are 0), so the
      picture turns counter-clockwise as displayed with row 0 at the top.
      A multiple of 360 degrees returns an exact copy.

    Any other call (say 64 columns without image_shape) is an error, because
    rotating a 64-dimensional point has no single meaning.
    """
    degrees = check_float("degrees", degrees)
    X = as_data("X", X)
    as_images = X.ndim == 3 or image_shape is not None
    if not as_images:
        if X.shape[1] != 2:
            raise ValueError(
                f"rotate: X of shape {X.shape} is neither 2-D points (n, 2) nor stacked images (n, h, w); "
                f"for flattened images pass image_shape, e.g. image_shape=(8, 8) for the digits"
            )
        return _rotate_points(X, degrees, center)
    if center is not None:
        raise ValueError("rotate: center applies to 2-D points only; images always turn about their own centre")
    images = _as_images(X, image_shape)
    if degrees % 360.0 == 0.0:
        return X.copy()
    from scipy import ndimage  # imported here: SciPy takes a while to load, and only image rotation needs it

    # Bilinear interpolation mixes pixels with weights summing to 1: no new value can overflow.
    # SciPy does not interpolate float16, so such images turn in float32 and come back as float16.
    work = images if images.dtype.itemsize >= 4 else images.astype(np.float32)
    turned = ndimage.rotate(work, degrees, axes=(1, 2), reshape=False, order=1, mode="constant", cval=0.0)
    return turned.reshape(X.shape).astype(X.dtype, copy=False)


def _rotate_points(X, degrees, center):
    centre = np.zeros(2) if center is None else np.asarray(center, dtype=np.float64)
    if centre.shape != (2,) or not np.all(np.isfinite(centre)):
        raise ValueError(f"center must be a finite point (x, y) of shape (2,), got {center!r}")
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused by finite_result
        turned = (X - centre) @ rotation_matrix(degrees).T + centre
    return finite_result("rotate", turned, X.dtype)


def _as_images(X, image_shape):
    """X viewed as a stack (n, h, w), checking `image_shape` against it."""
    if image_shape is None:
        return X
    try:
        height, width = (int(v) for v in image_shape)
    except (TypeError, ValueError) as err:
        raise TypeError(f"image_shape must be a pair (height, width), got {image_shape!r}") from err
    if height < 1 or width < 1:
        raise ValueError(f"image_shape must hold positive sizes, got {image_shape!r}")
    if X.ndim == 3:
        if X.shape[1:] != (height, width):
            raise ValueError(f"image_shape {image_shape!r} does not match the images of X, shape {X.shape}")
        return X
    if X.shape[1] != height * width:
        raise ValueError(
            f"image_shape {image_shape!r} needs {height * width} columns, but X has shape {X.shape}"
        )
    return X.reshape(X.shape[0], height, width)


def invert(X: ArrayLike, max_value: float = 1.0, strength: float = 1.0) -> np.ndarray:
    """Photographic negative: ``max_value - X`` (at the default strength 1).

    `strength` in [0, 1] blends original and negative,
    ``(1 - strength) * X + strength * (max_value - X)``; at 0.5 every pixel
    becomes max_value / 2 and all information is gone, so the useful settings
    are near 0 (a faint shift) and near 1 (a full inversion). Inverting twice
    at strength 1 gives X back.
    """
    max_value = check_float("max_value", max_value)
    strength = check_float("strength", strength, low=0.0, high=1.0)
    X = as_data("X", X)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused by finite_result
        inverted = (1.0 - strength) * X + strength * (max_value - X)
    return finite_result("invert", inverted, X.dtype)


def contrast(X: ArrayLike, factor: float, value_range: tuple[float, float] | None = PIXEL_RANGE) -> np.ndarray:
    """Scale each image's deviation from its own mean: ``m + factor * (x - m)``.

    m is the mean of one example (a row of (n, features), an image of
    (n, h, w)). factor must be > 0: below 1 the image fades towards flat grey
    (low contrast), above 1 it sharpens; factor 1 is the identity. Values are
    then clipped to `value_range` (None for no clipping); a factor below 1
    never needs the clip, since each new value lies between an old one and the mean.
    """
    factor = check_float("factor", factor, low=0.0, low_open=True)
    X = as_data("X", X)
    per_example_axes = tuple(range(1, X.ndim))
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused by finite_result
        mean = X.mean(axis=per_example_axes, keepdims=True)
        stretched = mean + factor * (X - mean)
    # An overflow beyond value_range clips to its bound, the right answer; without a range it is refused.
    return finite_result("contrast", _clip(stretched, value_range), X.dtype)


def brightness(X: ArrayLike, delta: float, value_range: tuple[float, float] | None = PIXEL_RANGE) -> np.ndarray:
    """Add `delta` to every value, then clip to `value_range` (None: no clip).

    delta may be any finite number; 0 is the identity (for data inside the
    range). Clipping is what a camera does: an over-exposed pixel saturates.
    """
    delta = check_float("delta", delta)
    X = as_data("X", X)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused by finite_result
        moved = X + delta
    # An overflow beyond value_range clips to its bound, the right answer; without a range it is refused.
    return finite_result("brightness", _clip(moved, value_range), X.dtype)


def _clip(X, value_range):
    if value_range is None:
        return X
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError) as err:
        raise TypeError(f"value_range must be a pair (low, high) or None, got {value_range!r}") from err
    if not low < high:
        raise ValueError(f"value_range must have low < high, got {value_range!r}")
    return np.clip(X, low, high)


def gaussian_noise(X: ArrayLike, std: float, seed: Seed = 0) -> np.ndarray:
    """Sensor noise: ``X + std * N(0, 1)``, drawn independently for every value.

    std must be >= 0 (0 returns a copy). Not clipped, so the noise stays
    zero-mean. The same seed gives the same noise, bit for bit.
    """
    std = check_float("std", std, low=0.0)
    X = as_data("X", X)
    rng = get_generator(seed, "seed")
    noise = rng.standard_normal(X.shape)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused by finite_result
        noisy = X + std * noise
    return finite_result("gaussian_noise", noisy, X.dtype)


def random_affine(dim: int, strength: float, seed: Seed = 0, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Draw the random affine map x -> A x + b that ``affine(strength=...)`` uses.

    A = I + strength * G / sqrt(dim) and b = strength * scale * g, with G (dim,
    dim) and g (dim,) standard normal. G / sqrt(dim) has spectral norm about 2,
    so strength 0.1 is a mild shear/stretch and strength 1 mixes the features
    thoroughly; `scale` puts the translation in the data's units.
    Returns (A of shape (dim, dim), b of shape (dim,)), float64.
    """
    dim = check_int("dim", dim, low=1)
    strength = check_float("strength", strength, low=0.0)
    scale = check_float("scale", scale, low=0.0)
    rng = get_generator(seed, "seed")
    G = rng.standard_normal((dim, dim))
    g = rng.standard_normal(dim)
    with np.errstate(over="ignore", invalid="ignore"):  # a strength near 1e308 overflows: refused by finite_result
        A, b = np.eye(dim) + strength * G / np.sqrt(dim), strength * scale * g
    return (finite_result("random_affine", A, np.float64, hint="use a smaller strength"),
            finite_result("random_affine", b, np.float64, hint="use a smaller strength or scale"))


def affine(X: ArrayLike, matrix: ArrayLike | None = None, shift: ArrayLike | None = None,
           strength: float | None = None, seed: Seed = 0) -> np.ndarray:
    """Affine covariate shift of feature vectors: each row x becomes A x + b.

    Either give the map, ``matrix`` A of shape (features, features) and/or
    ``shift`` b of shape (features,) (a missing part is I or 0), or give
    ``strength`` >= 0 and ``seed`` to draw one with ``random_affine``, whose
    translation is then measured in units of X's overall standard deviation.
    X must be 2-D, (n, features). In matrix form: X @ A.T + b.
    """
    X = as_data("X", X, ndims=(2,))
    dim = X.shape[1]
    if strength is not None:
        if matrix is not None or shift is not None:
            raise ValueError("affine: give either strength (a random map) or matrix/shift (your own map), not both")
        # the translation is in units of X's spread (none for an empty X)
        matrix, shift = random_affine(dim, strength, seed=seed, scale=float(np.std(X)) if X.size else 0.0)
    A = np.eye(dim) if matrix is None else check_matrix("matrix", matrix)
    if A.shape != (dim, dim):
        raise ValueError(f"matrix must have shape ({dim}, {dim}) to act on X of shape {X.shape}, got {A.shape}")
    b = np.zeros(dim) if shift is None else _shift_vector(shift, dim)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused by finite_result
        moved = X @ A.T + b
    return finite_result("affine", moved, X.dtype)


def _shift_vector(shift, dim):
    """`shift` as a finite float64 vector of shape (dim,); errors name it and show what came."""
    expected = f"a finite vector of {dim} numbers, shape ({dim},)"
    try:
        b = np.asarray(shift, dtype=np.float64)
    except (TypeError, ValueError) as err:  # "abc", [1, "x"], None inside a list...
        raise TypeError(f"shift must be {expected}, got {_show(shift)}") from err
    if b.shape != (dim,) or not np.all(np.isfinite(b)):
        raise ValueError(f"shift must be {expected}, got {_show(shift)} (shape {b.shape})")
    return b


SHIFTS = {
    "rotate": rotate,
    "invert": invert,
    "contrast": contrast,
    "brightness": brightness,
    "gaussian_noise": gaussian_noise,
    "affine": affine,
}

# (low, high, low_open) of each shift's strength, checked by apply_shift.
SHIFT_STRENGTH_RANGES = {
    "rotate": (None, None, False),
    "invert": (0.0, 1.0, False),
    "contrast": (0.0, None, True),
    "brightness": (None, None, False),
    "gaussian_noise": (0.0, None, False),
    "affine": (0.0, None, False),
}


def apply_shift(X: ArrayLike, name: str, strength: float, seed: Seed = 0,
                image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Apply the shift called `name` (a key of ``SHIFTS``) at `strength`.

    strength means: degrees for rotate, the blend for invert, the factor for
    contrast, delta for brightness, std for gaussian_noise, the random-map
    strength for affine (see the table at the top of this module). `seed`
    feeds the random shifts (gaussian_noise, affine); `image_shape` tells
    rotate that the rows are flattened images.
    """
    check_choice("name", name, tuple(SHIFTS))
    low, high, low_open = SHIFT_STRENGTH_RANGES[name]
    strength = check_float(f"strength of the {name!r} shift", strength, low=low, high=high, low_open=low_open)
    if name == "rotate":
        return rotate(X, strength, image_shape=image_shape)
    if name == "invert":
        return invert(X, strength=strength)
    if name == "contrast":
        return contrast(X, strength)
    if name == "brightness":
        return brightness(X, strength)
    if name == "gaussian_noise":
        return gaussian_noise(X, strength, seed=seed)
    return affine(X, strength=strength, seed=seed)
