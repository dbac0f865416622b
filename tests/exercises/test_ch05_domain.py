"""Sheet 05's checkers accept correct answers and reject typical mistakes with their hint."""
import numpy as np

from lorabook.exercises import ch05_domain as check


def power(C, p):
    w, V = np.linalg.eigh(C)
    return (V * w**p) @ V.T


def coral(Xs, Xt, eps, inverse=-0.5):
    identity = np.eye(Xs.shape[1])
    Cs, Ct = np.cov(Xs, rowvar=False) + eps * identity, np.cov(Xt, rowvar=False) + eps * identity
    return Xs @ power(Cs, inverse) @ power(Ct, 0.5)


def alignment(Xs, Xt, d, rotate=True):
    Xs_c, Xt_c = Xs - Xs.mean(axis=0), Xt - Xt.mean(axis=0)
    # eigh of the covariance: the same subspaces as the SVD, possibly other signs
    Ps = np.linalg.eigh(Xs_c.T @ Xs_c)[1][:, ::-1][:, :d]
    Pt = np.linalg.eigh(Xt_c.T @ Xt_c)[1][:, ::-1][:, :d]
    return (Xs_c @ Ps @ (Ps.T @ Pt) if rotate else Xs_c @ Ps), Xt_c @ Pt


def test_correct_answers_pass_whatever_the_signs_of_the_bases():
    assert check.spd_power(power) and check.coral(coral) and check.subspace_alignment(alignment)
    assert check.first_layer_correction(lambda W, M: W @ np.linalg.inv(M) - W)
    assert check.predicted_correction_ranks(lambda: (2, 1))


def test_elementwise_power_and_coral_with_the_wrong_square_root(rejected):
    assert rejected(check.spd_power(lambda C, p: np.abs(C) ** p), "case 1", "eigenvalues")
    assert rejected(check.coral(lambda *a: coral(*a, inverse=0.5)), "case 1", "INVERSE square root")


def test_alignment_without_the_rotation(rejected):
    assert rejected(check.subspace_alignment(lambda *a: alignment(*a, rotate=False)), "M = Ps^T Pt")


def test_correction_without_inverse_and_rank_predictions(rejected):
    assert rejected(check.first_layer_correction(lambda W, M: W @ M - W), "INVERSE of M")
    assert rejected(check.predicted_correction_ranks(lambda: (1, 1)), "two directions")
