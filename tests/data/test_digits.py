"""The shipped 8x8 digits: shapes, value range, class counts, the cache."""
import importlib.resources

import numpy as np
import pytest

from lorabook.data import DIGITS_IMAGE_SHAPE, load_digits

# Images per digit 0..9 in the UCI test set (1,797 in all).
CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_the_file_and_its_license_ship_inside_the_package():
    folder = importlib.resources.files("lorabook.data")
    assert folder.joinpath("digits.csv.gz").is_file()
    assert "CC BY 4.0" in folder.joinpath("LICENSE-digits.txt").read_text()


def test_shapes_range_and_class_counts():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y).tolist() == CLASS_COUNTS
    assert DIGITS_IMAGE_SHAPE == (8, 8)


def test_raw_intensities_are_integers_0_to_16():
    X_raw, _ = load_digits(normalize=False)
    X, _ = load_digits()
    assert X_raw.max() == 16 and np.array_equal(X_raw, np.round(X_raw))
    np.testing.assert_array_equal(X_raw / 16, X)
    assert load_digits(dtype=np.float64)[0].dtype == np.float64


def test_changing_the_returned_arrays_does_not_change_the_next_load():
    X, y = load_digits()
    X[:] = -1.0
    y[:] = 99
    X_again, y_again = load_digits()
    assert X_again.min() == 0.0 and np.bincount(y_again).tolist() == CLASS_COUNTS


def test_bad_arguments():
    with pytest.raises(TypeError, match="normalize"):
        load_digits(normalize="yes")
    with pytest.raises(TypeError, match="dtype"):
        load_digits(dtype=np.int32)
