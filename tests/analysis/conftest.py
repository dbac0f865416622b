"""Shared helpers for the analysis tests: matrices whose SVD we choose."""
import numpy as np
import pytest


def orthonormal_columns(rng, rows, cols):
    """A (rows, cols) matrix with orthonormal columns, from the QR of a Gaussian."""
    q, _ = np.linalg.qr(rng.standard_normal((rows, cols)))
    return q


def matrix_with_singular_values(s, shape, seed=0):
    """Q1 diag(s) Q2^T of the given shape: its singular values are exactly s (plus zeros)."""
    rng = np.random.default_rng(seed)
    s = np.asarray(s, dtype=float)
    m, n = shape
    return orthonormal_columns(rng, m, len(s)) * s @ orthonormal_columns(rng, n, len(s)).T


@pytest.fixture
def known_matrix():
    return matrix_with_singular_values


@pytest.fixture
def orthonormal():
    return orthonormal_columns
