"""Shifts do what they say, keep shapes and dtypes, never mutate, and reject bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorabook.data import shifts
from lorabook.data import (
    SHIFTS,
    affine,
    apply_shift,
    brightness,
    contrast,
    gaussian_noise,
    invert,
    load_digits,
    random_affine,
    rotate,
)

rng = np.random.default_rng(0)
POINTS = rng.standard_normal((20, 2))
IMAGES = rng.uniform(0.0, 1.0, size=(5, 8, 8)).astype(np.float32)
FLAT = IMAGES.reshape(5, 64)


# ---- rotate -------------------------------------------------------------

def test_rotating_points_by_90_degrees_turns_counter_clockwise():
    np.testing.assert_allclose(rotate(np.array([[1.0, 0.0], [0.0, 2.0]]), 90.0), [[0.0, 1.0], [-2.0, 0.0]], atol=1e-15)


def test_rotating_points_by_360_degrees_returns_them():
    np.testing.assert_allclose(rotate(POINTS, 360.0), POINTS, atol=1e-12)
    points32 = POINTS.astype(np.float32)
    np.testing.assert_allclose(rotate(points32, -720.0), points32, atol=1e-6)


def test_two_quarter_turns_make_a_half_turn():
    np.testing.assert_allclose(rotate(rotate(POINTS, 90.0), 90.0), rotate(POINTS, 180.0), atol=1e-12)
    np.testing.assert_allclose(rotate(POINTS, 180.0), -POINTS, atol=1e-12)


def test_rotation_about_a_centre_keeps_the_centre_fixed():
    centre = np.array([[0.5, 0.25]])
    np.testing.assert_allclose(rotate(centre, 73.0, center=(0.5, 0.25)), centre, atol=1e-15)
    shifted = rotate(POINTS + 3.0, 40.0, center=(3.0, 3.0)) - 3.0
    np.testing.assert_allclose(shifted, rotate(POINTS, 40.0), atol=1e-12)


def test_rotating_images_by_0_or_360_degrees_is_the_identity():
    np.testing.assert_array_equal(rotate(IMAGES, 0.0), IMAGES)
    np.testing.assert_array_equal(rotate(FLAT, 360.0, image_shape=(8, 8)), FLAT)


def test_rotating_images_by_90_degrees_matches_rot90():
    np.testing.assert_allclose(rotate(IMAGES, 90.0), np.rot90(IMAGES, axes=(1, 2)), atol=1e-6)


def test_flattened_and_stacked_images_rotate_alike():
    X, _ = load_digits()
    flat = rotate(X[:10], 45.0, image_shape=(8, 8))
    stacked = rotate(X[:10].reshape(10, 8, 8), 45.0)
    np.testing.assert_array_equal(flat, stacked.reshape(10, 64))
    assert not np.allclose(flat, X[:10])


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((FLAT, 30.0), {}, "image_shape"),  # 64 columns: points or images? never guessed
        ((FLAT, 30.0), dict(image_shape=(4, 4)), "needs 16 columns"),
        ((IMAGES, 30.0), dict(image_shape=(4, 16)), "does not match"),
        ((IMAGES, 30.0), dict(center=(1.0, 1.0)), "center"),
        ((POINTS, 30.0), dict(center=(1.0, 2.0, 3.0)), "center"),
        ((POINTS, float("inf")), {}, "degrees"),
        ((POINTS[0], 30.0), {}, "X must be"),
    ],
)
def test_rotate_bad_input(args, kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        rotate(*args, **kwargs)


# ---- pixel shifts -------------------------------------------------------

def test_inverting_twice_is_the_identity_and_once_is_the_negative():
    np.testing.assert_array_equal(invert(IMAGES), 1.0 - IMAGES)
    np.testing.assert_allclose(invert(invert(IMAGES)), IMAGES, atol=1e-7)
    np.testing.assert_array_equal(invert(IMAGES, max_value=16.0), 16.0 - IMAGES)


def test_half_strength_inversion_is_flat_grey_and_zero_strength_changes_nothing():
    np.testing.assert_allclose(invert(IMAGES, strength=0.5), 0.5, atol=1e-7)
    np.testing.assert_array_equal(invert(IMAGES, strength=0.0), IMAGES)


def test_contrast_1_is_the_identity_and_scales_deviation_from_each_image_mean():
    np.testing.assert_allclose(contrast(IMAGES, 1.0), IMAGES, atol=1e-7)
    low = contrast(IMAGES, 0.5)
    means = IMAGES.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(low - means, 0.5 * (IMAGES - means), atol=1e-6)
    np.testing.assert_allclose(contrast(FLAT, 0.5), low.reshape(5, 64), atol=1e-7)  # same per-image mean


def test_brightness_0_is_the_identity_and_large_deltas_saturate():
    np.testing.assert_array_equal(brightness(IMAGES, 0.0), IMAGES)
    np.testing.assert_array_equal(brightness(IMAGES, 2.0), np.ones_like(IMAGES))
    np.testing.assert_array_equal(brightness(IMAGES, -2.0), np.zeros_like(IMAGES))
    np.testing.assert_allclose(brightness(IMAGES, 0.1, value_range=None), IMAGES + 0.1, atol=1e-7)


def test_noise_is_reproducible_from_its_seed_and_has_the_asked_spread():
    a, b, c = gaussian_noise(FLAT, 0.3, seed=4), gaussian_noise(FLAT, 0.3, seed=4), gaussian_noise(FLAT, 0.3, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(gaussian_noise(FLAT, 0.0), FLAT)
    big = gaussian_noise(np.zeros((200, 50)), 0.3, seed=0)
    assert abs(big.std() - 0.3) < 0.01


# ---- affine -------------------------------------------------------------

def test_affine_applies_the_given_map():
    A = np.array([[2.0, 1.0], [0.0, 1.0]])
    b = np.array([1.0, -1.0])
    np.testing.assert_allclose(affine(POINTS, matrix=A, shift=b), POINTS @ A.T + b, atol=1e-14)
    np.testing.assert_array_equal(affine(POINTS), POINTS)


def test_random_affine_is_seeded_and_zero_strength_is_the_identity():
    np.testing.assert_array_equal(affine(POINTS, strength=0.0), POINTS)
    np.testing.assert_array_equal(affine(POINTS, strength=0.5, seed=1), affine(POINTS, strength=0.5, seed=1))
    assert not np.allclose(affine(POINTS, strength=0.5, seed=1), affine(POINTS, strength=0.5, seed=2))
    A, b = random_affine(2, 0.5, seed=1, scale=float(np.std(POINTS)))
    np.testing.assert_allclose(affine(POINTS, strength=0.5, seed=1), POINTS @ A.T + b, atol=1e-14)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(matrix=np.eye(3)), r"matrix must have shape \(2, 2\)"),
        (dict(shift=np.ones(3)), r"shift must be a finite vector of 2 numbers, shape \(2,\), got array of shape \(3,\)"),
        (dict(shift="abc"), r"shift must be a finite vector of 2 numbers, shape \(2,\), got 'abc'"),
        (dict(shift=[1.0, "x"]), r"shift must be a finite vector of 2 numbers.*got \[1.0, 'x'\]"),
        (dict(shift=[1.0, np.nan]), r"shift must be a finite vector of 2 numbers"),
        (dict(shift=2.0), r"shift must be a finite vector of 2 numbers.*got 2.0 \(shape \(\)\)"),
        (dict(matrix=np.eye(2), strength=0.5), "not both"),
        (dict(strength=-0.5), "strength"),
    ],
)
def test_affine_bad_input(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        affine(POINTS, **kwargs)


# ---- apply_shift and the common contract -----------------------------------

def test_apply_shift_dispatches_by_name():
    np.testing.assert_array_equal(apply_shift(IMAGES, "invert", 1.0), invert(IMAGES))
    np.testing.assert_array_equal(apply_shift(FLAT, "rotate", 30.0, image_shape=(8, 8)),
                                  rotate(FLAT, 30.0, image_shape=(8, 8)))
    np.testing.assert_array_equal(apply_shift(FLAT, "gaussian_noise", 0.2, seed=3), gaussian_noise(FLAT, 0.2, seed=3))
    np.testing.assert_array_equal(apply_shift(POINTS, "affine", 0.3, seed=3), affine(POINTS, strength=0.3, seed=3))
    assert set(SHIFTS) == {"rotate", "invert", "contrast", "brightness", "gaussian_noise", "affine"}


def test_unknown_shift_name_lists_the_known_ones():
    # the error names apply_shift's own argument, `name`
    with pytest.raises(ValueError, match="^name must be one of 'rotate', 'invert', .*'affine'; got 'blur'"):
        apply_shift(IMAGES, "blur", 1.0)


@pytest.mark.parametrize(
    "name, strength",
    [("contrast", 0.0), ("contrast", -1.0), ("gaussian_noise", -0.1), ("invert", 1.5), ("affine", -1.0),
     ("rotate", float("nan"))],
)
def test_strength_out_of_range_names_the_shift(name, strength):
    with pytest.raises(ValueError, match=f"strength of the '{name}' shift must"):
        apply_shift(FLAT, name, strength, image_shape=(8, 8))


@pytest.mark.parametrize(
    "name, strength", [("rotate", 30.0), ("invert", 1.0), ("contrast", 0.5), ("brightness", 0.2),
                       ("gaussian_noise", 0.3), ("affine", 0.5)],
)
def test_no_shift_changes_its_input(name, strength):
    X = FLAT.copy()
    apply_shift(X, name, strength, image_shape=(8, 8))
    np.testing.assert_array_equal(X, FLAT)


pixel_shifts = st.sampled_from([("invert", 1.0), ("contrast", 0.3), ("brightness", -0.2),
                                ("gaussian_noise", 0.1), ("rotate", 15.0)])


@settings(deadline=None, max_examples=30)
@given(
    shift=pixel_shifts,
    n=st.integers(1, 4),
    height=st.integers(1, 6),
    width=st.integers(1, 6),
    flat=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_image_shifts_keep_shape_and_dtype(shift, n, height, width, flat, dtype):
    name, strength = shift
    images = np.random.default_rng(0).uniform(size=(n, height, width)).astype(dtype)
    X = images.reshape(n, height * width) if flat else images
    out = apply_shift(X, name, strength, image_shape=(height, width) if flat else None)
    assert out.shape == X.shape and out.dtype == X.dtype


@settings(deadline=None, max_examples=20)
@given(n=st.integers(1, 10), dim=st.integers(1, 6), strength=st.floats(0.0, 2.0),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_affine_keeps_shape_and_dtype(n, dim, strength, dtype):
    X = np.random.default_rng(1).standard_normal((n, dim)).astype(dtype)
    out = affine(X, strength=strength, seed=0)
    assert out.shape == X.shape and out.dtype == X.dtype


# ----- results beyond the dtype's range are refused, never inf ------------------------------------
BIG32 = np.full((2, 4), 3e38, dtype=np.float32)  # finite, near float32's largest (3.4e38)


@pytest.mark.parametrize(
    "shift, call",
    [
        ("invert", lambda: shifts.invert(np.ones((2, 3), np.float32), max_value=1e39)),
        ("contrast", lambda: shifts.contrast(np.array([[0.0, 1e308]]), 10.0, value_range=None)),
        ("brightness", lambda: shifts.brightness(BIG32, 1e38, value_range=None)),
        ("gaussian_noise", lambda: shifts.gaussian_noise(BIG32, 1e39)),
        ("affine", lambda: shifts.affine(np.ones((2, 3)), matrix=np.full((3, 3), 1e308))),
        ("rotate", lambda: shifts.rotate(np.full((1, 2), 1.7e308), 45.0)),
    ],
)
def test_a_shift_whose_result_overflows_is_refused_naming_it(shift, call):
    with pytest.raises(ValueError, match=rf"^{shift}: the result overflows float(32|64) \(first at \["):
        call()


def test_rotating_images_of_huge_values_stays_finite():
    # Bilinear interpolation only mixes pixels (weights summing to 1), so nothing can overflow.
    assert np.all(np.isfinite(shifts.apply_shift(BIG32 * 1.1, "rotate", 30.0, image_shape=(2, 2))))


def test_saturating_shifts_clip_an_overflow_to_the_range():
    # With a value_range, an overflow is just a very bright pixel: clipped to the top, as a camera would.
    np.testing.assert_array_equal(shifts.brightness(BIG32, 1e38), np.ones_like(BIG32))
    np.testing.assert_array_equal(shifts.contrast(np.array([[0.0, 1.0]]), 1e308), [[0.0, 1.0]])
