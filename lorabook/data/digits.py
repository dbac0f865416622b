"""The 8x8 handwritten digits, shipped inside the package.

Data: 1,797 grey-scale images of the digits 0-9, 8x8 pixels with integer
intensities 0..16, from the test set of the UCI "Optical Recognition of
Handwritten Digits" data set by E. Alpaydin and C. Kaynak (1998), in the copy
that scikit-learn ships. License: Creative Commons Attribution 4.0 (CC BY 4.0).
Cite as: Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of
Handwritten Digits. UCI Machine Learning Repository. doi:10.24432/C50P49.
The file and its attribution live next to this module: digits.csv.gz and
LICENSE-digits.txt.
"""
from __future__ import annotations

import functools
import gzip
import importlib.resources

import numpy as np
from numpy.typing import DTypeLike

from lorabook._checks import check_bool
from lorabook.data._arrays import float_dtype

DIGITS_IMAGE_SHAPE = (8, 8)
DIGITS_MAX_PIXEL = 16
_FILE_NAME = "digits.csv.gz"


@functools.lru_cache(maxsize=1)
def _read_digits():
    """Parse the shipped file once: (pixels uint8 (1797, 64), labels int64 (1797,))."""
    # importlib.resources finds the file both in a source checkout and in an
    # installed wheel, wherever site-packages happens to be.
    resource = importlib.resources.files("lorabook.data").joinpath(_FILE_NAME)
    with resource.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64)
    pixels = table[:, :-1].astype(np.uint8)
    labels = table[:, -1].astype(np.int64)
    # The cache hands out these arrays to nobody but load_digits, which copies;
    # read-only makes an accidental in-place change fail loudly.
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


def load_digits(normalize: bool = True, dtype: DTypeLike = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 8x8 digit images as (X, y).

    X has shape (1797, 64): each row is an 8x8 image read row by row, so
    ``X.reshape(-1, 8, 8)`` gives the images (see ``DIGITS_IMAGE_SHAPE``).
    With ``normalize=True`` the pixels are ``intensity / 16`` in [0, 1];
    otherwise the raw intensities 0..16. y has shape (1797,), int64 labels 0..9
    (about 180 images per digit).

    The file is parsed once per process; every call returns fresh copies, so
    changing the arrays you get never changes what the next caller sees.

    Data: E. Alpaydin and C. Kaynak (1998), UCI "Optical Recognition of
    Handwritten Digits" (test set), CC BY 4.0, doi:10.24432/C50P49.
    """
    normalize = check_bool("normalize", normalize)
    dtype = float_dtype(dtype)
    pixels, labels = _read_digits()
    X = pixels.astype(dtype)
    if normalize:
        X /= DIGITS_MAX_PIXEL
    return X, labels.copy()
