"""The package's one-of-each helpers: check_data, check_bool's users, get_generator, progress_bar."""
import numpy as np
import pytest

import lorabook
from lorabook import Tensor
from lorabook._checks import check_data, first_non_finite, make_rng
from lorabook.data import load_digits
from lorabook.random import get_generator
from lorabook.train import progress_bar


# ----- check_data -------------------------------------------------------------------------
def test_check_data_returns_the_arrays_uncopied_and_accepts_tensors():
    X, y = np.zeros((3, 2), np.float32), np.array([0, 1, 0])
    X2, y2 = check_data("data", (X, y))
    assert X2 is X and y2 is y
    X3, _ = check_data("data", [Tensor(X), y], labels=True, x_ndim=2)
    np.testing.assert_array_equal(X3, X)


@pytest.mark.parametrize(
    "data, options, error, pattern",
    [
        (np.zeros((3, 2)), {}, TypeError, r"^d must be an \(X, y\) pair"),
        ((np.zeros((3, 2)), np.zeros(2)), {}, ValueError, r"^d: X has 3 rows but y has 2"),
        ((np.zeros((0, 2)), np.zeros(0)), {}, ValueError, r"^d is empty"),
        ((np.float32(1.0), np.zeros(1)), {}, ValueError, r"one row per example"),
        ((np.array([["a"]]), np.zeros(1)), {}, TypeError, r"^d: X must hold real numbers, got dtype <U1"),
        ((np.zeros((2, 2)), np.array([1j, 2j])), {}, TypeError, r"^d: y must hold real numbers"),
        ((np.zeros((2, 2)), np.zeros(2)), dict(labels=True), TypeError, r"^d: y must be integer class labels"),
        ((np.zeros((2, 2, 2)), np.zeros(2, int)), dict(x_ndim=2), ValueError, r"^d: X must have 2 axes"),
        ((np.array([[0.0, 1.0], [np.inf, np.nan]]), np.zeros(2)), {}, ValueError,
         r"^d: X\[1, 0\] is inf; the data must be finite \(2 of its 4 entries"),
        ((np.zeros((2, 2)), np.array([0.0, np.nan])), {}, ValueError, r"^d: y\[1\] is nan"),
    ],
)
def test_check_data_refuses_bad_data_naming_it(data, options, error, pattern):
    with pytest.raises(error, match=pattern):
        check_data("d", data, **options)


def test_first_non_finite_is_the_first_in_reading_order():
    a = np.zeros((3, 4))
    assert first_non_finite(a) is None
    a[2, 0], a[1, 3] = np.nan, -np.inf
    assert first_non_finite(a) == (1, 3)


# ----- check_bool everywhere ------------------------------------------------------------------
def test_load_digits_normalize_takes_a_bool_not_a_number():
    X, _ = load_digits(normalize=np.True_)
    assert X.max() <= 1.0
    with pytest.raises(TypeError, match=r"^normalize must be True or False, got 1$"):
        load_digits(normalize=1)


# ----- get_generator, the one seed helper ------------------------------------------------------
def test_get_generator_seeds_passes_generators_through_and_defaults_to_manual_seed():
    assert get_generator(3).random() == np.random.default_rng(3).random()
    rng = np.random.default_rng(0)
    assert get_generator(rng) is rng
    lorabook.manual_seed(11)
    assert get_generator(None).random() == np.random.default_rng(11).random()
    assert make_rng(5).random() == get_generator(5).random()


@pytest.mark.parametrize("value, error", [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("0", TypeError)])
def test_get_generator_names_the_argument(value, error):
    with pytest.raises(error, match=r"^seed must be an integer seed >= 0 or a numpy.random.Generator"):
        get_generator(value, "seed")
    with pytest.raises(error, match=r"^seed must be an integer seed >= 0"):
        lorabook.manual_seed(value)


# ----- progress_bar -----------------------------------------------------------------------------
def test_progress_bar_is_silent_when_disabled_and_counts_when_enabled(capsys):
    with progress_bar(False, 3, "runs", unit="run") as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""
    with progress_bar(True, 3, "runs", unit="run") as bar:
        bar.update(3)
    assert "runs" in capsys.readouterr().err and bar.n == 3


def test_progress_bar_refuses_a_non_bool():
    with pytest.raises(TypeError, match=r"^progress must be True or False, got 'yes'"):
        progress_bar("yes", 3, "runs")
