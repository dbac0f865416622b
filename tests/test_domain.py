"""Subspace Alignment and CORAL: known answers, errors, and gains on a shifted blob task."""
import numpy as np
import pytest

from lorabook.data import affine, make_blobs
from lorabook.domain import coral, pca_basis, subspace_alignment

SEEDS = range(5)


def fit_linear_classifier(X, y, ridge=1e-3):
    """One-vs-rest least squares with a bias: W minimises ||[X 1] W - onehot(y)||^2 + ridge ||W||^2."""
    features = np.column_stack([X, np.ones(len(X))])
    targets = np.eye(y.max() + 1)[y]
    return np.linalg.solve(features.T @ features + ridge * np.eye(features.shape[1]), features.T @ targets)


def accuracy(W, X, y):
    return float(np.mean((np.column_stack([X, np.ones(len(X))]) @ W).argmax(axis=1) == y))


def shifted_blobs(seed, translation):
    """Four blobs in 4-D; the target is a fresh sample seen through a random stretch and a shift of origin.

    The stretch A = V diag(exp(1.5 z)) V^T (V a random rotation, z ~ N(0, I)) scales
    each of four random directions by a factor between about 1/5 and 5; the shift
    of origin is translation * N(0, I). Like a sensor recalibrated between domains.
    """
    X, y = make_blobs(800, centers=4, dim=4, std=1.0, seed=seed, center_box=(-5.0, 5.0), dtype=np.float64)
    X = X - X.mean(axis=0)
    rng = np.random.default_rng(1000 + seed)
    V, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    stretch = (V * np.exp(1.5 * rng.standard_normal(4))) @ V.T
    shift = translation * rng.standard_normal(4)
    return X[:400], y[:400], affine(X[400:], matrix=stretch, shift=shift), y[400:]


def mean_accuracies(translation, adapt):
    """Mean over SEEDS of (source-only accuracy on the target, accuracy after `adapt`)."""
    before, after = [], []
    for seed in SEEDS:
        Xs, ys, Xt, yt = shifted_blobs(seed, translation)
        before.append(accuracy(fit_linear_classifier(Xs, ys), Xt, yt))
        Xs_new, Xt_new = adapt(Xs, Xt)
        after.append(accuracy(fit_linear_classifier(Xs_new, ys), Xt_new, yt))
    return np.mean(before), np.mean(after)


def centre_only(Xs, Xt):
    return Xs - Xs.mean(axis=0), Xt - Xt.mean(axis=0)


def test_subspace_alignment_at_full_dimension_is_centring_and_removes_the_shift_of_origin():
    # At d = features M cancels (module doc): SA is exactly centring, which undoes the shift of origin.
    before, after = mean_accuracies(3.0, lambda Xs, Xt: subspace_alignment(Xs, Xt, d=4))
    assert after > before + 0.15, (before, after)
    assert mean_accuracies(3.0, centre_only)[1] == pytest.approx(after, abs=1e-12)


QUADRANT_CENTRES = np.array([[-4.0, -1.5], [-4.0, 1.5], [4.0, -1.5], [4.0, 1.5]])


def planar_task(seed, features=10, n=400):
    """Four classes in a 2-D plane of a 10-D space; the target is another sensor.

    Source: class centres QUADRANT_CENTRES (plus N(0, 0.6^2)) in the plane,
    noise of std 0.1 in the eight other directions. Target: the plane's two
    axes rescaled by 0.5 and 2 (their variance order swaps, so the first
    principal axis of one domain is the second of the other), noise of std
    1.0 in the eight other directions, and a shift of origin. The classes
    are the quadrants of the plane, so no rescaling moves a boundary.
    """
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((features, features)))
    plane, rest = basis[:, :2], basis[:, 2:]

    def sample(scale, noise):
        y = rng.integers(0, 4, n)
        inside = (QUADRANT_CENTRES[y] + 0.6 * rng.standard_normal((n, 2))) * scale
        return inside @ plane.T + noise * rng.standard_normal((n, features - 2)) @ rest.T, y

    Xs, ys = sample(np.array([1.0, 1.0]), 0.1)
    Xt, yt = sample(np.array([0.5, 2.0]), 1.0)
    return Xs, ys, Xt + 3.0 * rng.standard_normal(features), yt


def planar_accuracy(adapt):
    scores = []
    for seed in SEEDS:
        Xs, ys, Xt, yt = planar_task(seed)
        Xs_new, Xt_new = adapt(Xs, Xt)
        scores.append(accuracy(fit_linear_classifier(Xs_new, ys), Xt_new, yt))
    return np.mean(scores)


def test_subspace_alignment_below_full_dimension_beats_centring_and_needs_its_M():
    aligned = planar_accuracy(lambda Xs, Xt: subspace_alignment(Xs, Xt, d=2))
    # Centring alone keeps the eight directions the source barely varied in; the classifier's
    # weights there, fitted to noise of std 0.1, meet noise of std 1.0 on the target.
    centred = planar_accuracy(centre_only)
    # M = I would pair the source's first principal axis with the target's first, which is the
    # other axis of the plane (and ignores the arbitrary signs of the two SVDs).
    identity_M = planar_accuracy(lambda Xs, Xt: ((Xs - Xs.mean(axis=0)) @ pca_basis(Xs, 2),
                                                 (Xt - Xt.mean(axis=0)) @ pca_basis(Xt, 2)))
    assert aligned > 0.95, aligned
    assert aligned > centred + 0.25, (aligned, centred)
    assert aligned > identity_M + 0.4, (aligned, identity_M)


def test_coral_improves_target_accuracy_under_a_stretch():
    # The paper's CORAL matches covariances only, which undoes a stretch about the origin.
    before, after = mean_accuracies(0.0, lambda Xs, Xt: (coral(Xs, Xt), Xt))
    assert after > before + 0.1 and after > 0.9, (before, after)


def test_coral_with_matched_means_also_undoes_the_shift_of_origin():
    before, after = mean_accuracies(3.0, lambda Xs, Xt: (coral(Xs, Xt, match_means=True), Xt))
    assert after > before + 0.3 and after > 0.9, (before, after)


def test_aligning_a_domain_with_itself_gives_its_own_pca_coordinates():
    X, _ = make_blobs(50, centers=3, dim=5, seed=0, dtype=np.float64)
    Xs_aligned, Xt_projected = subspace_alignment(X, X, d=3)
    np.testing.assert_allclose(Xs_aligned, Xt_projected, atol=1e-10)
    np.testing.assert_allclose(Xt_projected, (X - X.mean(axis=0)) @ pca_basis(X, 3), atol=1e-10)


def test_subspace_alignment_shapes_and_dtype():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.standard_normal((30, 6)).astype(np.float32), rng.standard_normal((20, 6)).astype(np.float32)
    Xs_aligned, Xt_projected = subspace_alignment(Xs, Xt, d=2)
    assert Xs_aligned.shape == (30, 2) and Xt_projected.shape == (20, 2)
    assert Xs_aligned.dtype == np.float32
    basis = pca_basis(Xs, 4)
    np.testing.assert_allclose(basis.T @ basis, np.eye(4), atol=1e-12)


def test_coral_gives_the_source_the_target_covariance():
    rng = np.random.default_rng(1)
    Xs = rng.standard_normal((500, 3)) @ np.diag([3.0, 1.0, 0.2])
    Xt = rng.standard_normal((400, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 2.0, 0.3], [0.0, 0.0, 0.7]])
    recoloured = coral(Xs, Xt, eps=1e-9)  # with eps -> 0 the covariances match exactly
    np.testing.assert_allclose(np.cov(recoloured, rowvar=False), np.cov(Xt, rowvar=False), atol=1e-6)
    matched = coral(Xs, Xt, eps=1e-9, match_means=True)
    np.testing.assert_allclose(matched.mean(axis=0), Xt.mean(axis=0), atol=1e-10)
    assert coral(Xs.astype(np.float32), Xt.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize(
    "Xs, Xt, d, match",
    [
        (np.zeros((10, 4)), np.zeros((10, 4)), 5, r"d must be between 1 and 4 \(features 4"),
        (np.zeros((10, 4)), np.zeros((3, 4)), 3, r"d must be between 1 and 2 .*target rows 3"),
        (np.zeros((10, 4)), np.zeros((10, 4)), 0, "d must be between 1 and 4"),
        (np.zeros((10, 4)), np.zeros((10, 4)), 2.0, "d must be an integer"),
        (np.zeros((10, 4)), np.zeros((10, 3)), 2, r"Xs and Xt must have the same number of features.*\(10, 3\)"),
        (np.zeros(10), np.zeros((10, 4)), 2, r"Xs must be a 2-D array.*\(10,\)"),
        (np.zeros((10, 4)), np.zeros((10, 4, 1)), 2, "Xt must be a 2-D array"),
        (np.zeros((1, 4)), np.zeros((10, 4)), 1, "Xs needs at least 2 rows"),
    ],
)
def test_subspace_alignment_bad_input(Xs, Xt, d, match):
    with pytest.raises((TypeError, ValueError), match=match):
        subspace_alignment(Xs, Xt, d)


@pytest.mark.parametrize(
    "Xs, Xt, kwargs, match",
    [
        (np.zeros((10, 4)), np.zeros((10, 3)), {}, "Xs and Xt must have the same number of features"),
        (np.zeros((10, 4)), np.zeros((10, 4)), dict(eps=0.0), "eps must be in"),
        (np.zeros((10, 4, 2)), np.zeros((10, 4)), {}, "Xs must be a 2-D array"),
        (np.full((10, 4), np.nan), np.zeros((10, 4)), {}, "Xs must be finite"),
    ],
)
def test_coral_bad_input(Xs, Xt, kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        coral(Xs, Xt, **kwargs)


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda Xs, Xt: coral(1e200 * Xs, Xt), r"^coral: covariance_of_Xs overflows float64"),
        (lambda Xs, Xt: subspace_alignment(1e308 * np.sign(Xs), Xt, 2), r"^pca_basis: centred_data overflows"),
        (lambda Xs, Xt: pca_basis(np.full((5, 3), 1.7e308) * np.array([1, -1, 1]), 1), r"^pca_basis: centred_data"),
    ],
)
def test_data_too_large_for_float64_statistics_is_refused_naming_the_quantity(call, pattern):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=pattern):
        call(rng.standard_normal((20, 3)), rng.standard_normal((30, 3)))
