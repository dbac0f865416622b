"""Shared, session-wide: seed 0's rotated digits and source model, from lorabook.studies.headline's cache.

The tour's experiments and these tests use the same in-memory cache, so the
source model trains once per test session. Tests must not change it.
"""
import pytest

from lorabook.studies.headline import source_domain


@pytest.fixture(scope="session")
def rotated_digits():
    """Digits rotated by 45 degrees: 674 source training images, 400 target labels, 499 target tests."""
    return source_domain(0)[0]


@pytest.fixture(scope="session")
def source_model():
    return source_domain(0)[1]
