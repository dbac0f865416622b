"""Data for lorabook: synthetic tasks, the shipped digits, domain shifts, splits.

Arrays are NumPy: inputs float32 by default (most functions take ``dtype``),
labels int64. All randomness comes from a ``seed`` argument.

Tasks        make_moons, make_blobs, load_digits, make_planted_rank_task
Shifts       rotate, invert, contrast, brightness, gaussian_noise, affine,
             apply_shift(X, name, strength), SHIFTS
Splits       train_test_split, split_indices, make_domain_split

The digits are the UCI "Optical Recognition of Handwritten Digits" test set
by E. Alpaydin and C. Kaynak (1998), CC BY 4.0 (see ``load_digits``).
"""
from lorabook.data.digits import DIGITS_IMAGE_SHAPE, load_digits
from lorabook.data.planted import PlantedRankTask, make_planted_rank_task, planted_test_error
from lorabook.data.shifts import (
    SHIFT_STRENGTH_RANGES,
    SHIFTS,
    affine,
    apply_shift,
    brightness,
    contrast,
    gaussian_noise,
    invert,
    random_affine,
    rotate,
)
from lorabook.data.splits import DomainSplit, TrainTestSplit, make_domain_split, split_indices, train_test_split
from lorabook.data.tasks import MOONS_CENTRE, make_blobs, make_moons, rotation_matrix

__all__ = [
    "DIGITS_IMAGE_SHAPE",
    "MOONS_CENTRE",
    "SHIFTS",
    "SHIFT_STRENGTH_RANGES",
    "DomainSplit",
    "PlantedRankTask",
    "TrainTestSplit",
    "affine",
    "apply_shift",
    "brightness",
    "contrast",
    "gaussian_noise",
    "invert",
    "load_digits",
    "make_blobs",
    "make_domain_split",
    "make_moons",
    "make_planted_rank_task",
    "planted_test_error",
    "random_affine",
    "rotate",
    "rotation_matrix",
    "split_indices",
    "train_test_split",
]
