"""Two moons and Gaussian blobs: shapes, balance, known geometry, seeding, errors."""
import numpy as np
import pytest

from lorabook.data import MOONS_CENTRE, make_blobs, make_moons, rotate


def test_moons_shapes_dtypes_and_balance():
    X, y = make_moons(101, seed=3)
    assert X.shape == (101, 2) and X.dtype == np.float32
    assert y.shape == (101,) and y.dtype == np.int64
    assert sorted(np.bincount(y)) == [50, 51]
    X64, _ = make_moons(10, dtype=np.float64)
    assert X64.dtype == np.float64


def test_noise_free_moons_lie_on_their_half_circles():
    X, y = make_moons(200, noise=0.0, seed=1, dtype=np.float64)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-12)
    assert np.all(upper[:, 1] >= 0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, atol=1e-12)
    assert np.all(lower[:, 1] <= 0.5)


def test_rotated_moons_are_the_same_points_turned_about_the_centre():
    X, y = make_moons(50, noise=0.1, seed=7, dtype=np.float64)
    X_rot, y_rot = make_moons(50, noise=0.1, rotation_deg=30.0, seed=7, dtype=np.float64)
    np.testing.assert_array_equal(y, y_rot)
    np.testing.assert_allclose(X_rot, rotate(X, 30.0, center=MOONS_CENTRE), atol=1e-12)


def test_moons_are_seeded():
    a, b, c = make_moons(30, seed=0), make_moons(30, seed=0), make_moons(30, seed=1)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_blobs_shapes_balance_and_seeding():
    X, y = make_blobs(100, centers=3, dim=5, seed=2)
    assert X.shape == (100, 5) and X.dtype == np.float32 and y.dtype == np.int64
    assert sorted(np.bincount(y)) == [33, 33, 34]
    np.testing.assert_array_equal(X, make_blobs(100, centers=3, dim=5, seed=2)[0])
    assert not np.array_equal(X, make_blobs(100, centers=3, dim=5, seed=3)[0])
    assert np.all(np.abs(make_blobs(50, std=0.0, seed=0)[0]) <= 10.0)  # centres come from center_box


def test_blobs_with_given_centres_and_no_spread_sit_on_the_centres():
    centres = np.array([[0.0, 1.0], [5.0, -2.0]])
    X, y = make_blobs(10, centers=centres, dim=2, std=0.0, dtype=np.float64)
    np.testing.assert_array_equal(X, centres[y])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=1), "n must be"),
        (dict(n=10, noise=-0.1), "noise"),
        (dict(n=10, rotation_deg=float("nan")), "rotation_deg must be finite"),
        (dict(n=10, dtype=np.int64), "dtype"),
        (dict(n=10, seed=1.5), "seed"),
    ],
)
def test_moons_bad_input(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make_moons(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=2, centers=3), "n must be at least the number of classes"),
        (dict(n=10, centers=np.zeros((3, 2)), dim=4), "centers has 2 columns but dim is 4"),
        (dict(n=10, std=-1.0), "std"),
        (dict(n=10, center_box=(5, 1)), "center_box"),
        (dict(n=10, dim=0), "dim"),
    ],
)
def test_blobs_bad_input(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make_blobs(**kwargs)
