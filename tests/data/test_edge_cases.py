"""Data generators and shifts at the edges: results beyond float range are refused, odd dtypes and sizes work."""
import numpy as np
import pytest

from lorabook.data import (
    affine, apply_shift, make_blobs, make_moons, make_planted_rank_task, planted_test_error, random_affine,
)


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: make_moons(10, noise=1e308), r"^make_moons: the result overflows float32 .*use a smaller noise"),
        (lambda: make_blobs(10, std=1e308), r"^make_blobs: the result overflows float32 .*use a smaller std"),
        (lambda: make_planted_rank_task(4, 4, 1, 10, noise=1e308), r"^make_planted_rank_task: the result overflows"),
        (lambda: random_affine(3, 1e308, scale=10.0), r"^random_affine: the result overflows float64 .*strength or scale"),
        (lambda: affine(np.arange(6.0).reshape(2, 3), strength=1e308), r"^(random_)?affine: the result overflows float64"),
    ],
)
def test_generated_values_beyond_the_dtype_are_refused(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_a_center_box_of_infinite_width_is_refused():
    with pytest.raises(ValueError, match=r"^center_box must be a finite pair with low < high and a finite width"):
        make_blobs(5, center_box=(-1e308, 1e308))


def test_planted_test_error_of_an_update_too_large_to_score_is_refused():
    task = make_planted_rank_task(4, 4, 1, 10, noise=0.1)
    with pytest.raises(ValueError, match=r"^the test error of delta_W overflows float64"):
        planted_test_error(task, np.full((4, 4), 1e308))


@pytest.mark.parametrize("dim, error", [(0, ValueError), (-1, ValueError), (2.5, TypeError)])
def test_random_affine_names_a_bad_dim(dim, error):
    with pytest.raises(error, match=r"^dim must be"):
        random_affine(dim, 1.0)


def test_float16_images_rotate_and_stay_float16():
    images = np.random.default_rng(0).uniform(0, 1, (3, 8, 8)).astype(np.float16)
    turned = apply_shift(images, "rotate", 30.0)
    assert turned.dtype == np.float16 and turned.shape == images.shape
    np.testing.assert_allclose(turned, apply_shift(images.astype(np.float32), "rotate", 30.0), atol=1e-3)


def test_an_empty_batch_goes_through_a_random_affine_shift():
    assert apply_shift(np.zeros((0, 5)), "affine", 0.5).shape == (0, 5)
