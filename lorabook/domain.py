"""Data-space low-rank adaptation: move the data, not the weights.

Before LoRA adapted a model's weights with a low-rank update, "low-rank
adaptation" meant aligning the data of two domains through low-dimensional
subspaces and second-order statistics. Both methods here use *unlabelled*
target data only (the transductive case): they help when target labels are
scarce or absent, where LoRA needs a few labels.

    subspace_alignment(Xs, Xt, d)   Fernando et al. (2013), ICCV
    coral(Xs, Xt, eps=1.0)          Sun, Feng and Saenko (2016), AAAI

Xs has shape (n_source, features), Xt (n_target, features). A classifier is
trained on the transformed source and then applied to the target.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from lorabook._checks import check_float, check_int, check_matrix


def _source_and_target(Xs, Xt):
    """Both as float64 matrices with the same number of features."""
    Xs = check_matrix("Xs", Xs).astype(np.float64, copy=False)
    Xt = check_matrix("Xt", Xt).astype(np.float64, copy=False)
    if Xs.shape[1] != Xt.shape[1]:
        raise ValueError(
            f"Xs and Xt must have the same number of features (columns), got Xs of shape {Xs.shape} "
            f"and Xt of shape {Xt.shape}"
        )
    for name, X in (("Xs", Xs), ("Xt", Xt)):
        if X.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 rows to estimate its spread, got shape {X.shape}")
    return Xs, Xt


def _result_dtype(Xs, Xt):
    return np.result_type(np.asarray(Xs).dtype, np.asarray(Xt).dtype, np.float32)


def _check_finite(method, **arrays):
    """Refuse NaN or infinite intermediate results: data near float64's limit overflow in a mean or covariance.

    Each method computes under np.errstate(over="ignore", invalid="ignore") and calls this, so the
    overflow is reported once, naming the method and the quantity, instead of returned as inf or NaN.
    """
    for what, array in arrays.items():
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{method}: {what} overflows float64 (the data's entries are too large); "
                             f"rescale the data, e.g. standardise each feature")


def pca_basis(X: ArrayLike, d: int) -> np.ndarray:
    """The top-d principal directions of X as columns: shape (features, d).

    They are the first d right singular vectors of the centred data
    X - mean(X), orthonormal, ordered by the variance they explain.
    """
    X = check_matrix("X", X).astype(np.float64, copy=False)
    d = check_int("d", d, low=1, high=min(X.shape[1], X.shape[0] - 1))
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        centred = X - X.mean(axis=0)
    _check_finite("pca_basis", centred_data=centred)
    _, _, Vt = np.linalg.svd(centred, full_matrices=False)
    return Vt[:d].T


def subspace_alignment(Xs: ArrayLike, Xt: ArrayLike, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Subspace Alignment (Fernando et al. 2013).

    Ps, Pt (features, d) are the PCA bases of the centred source and target.
    M = Ps^T Pt (d, d) rotates the source subspace onto the target one:

        Xs_aligned   = Xs_c Ps M     (n_source, d)
        Xt_projected = Xt_c Pt       (n_target, d)

    with Xs_c, Xt_c each centred on its own mean. Train on Xs_aligned, predict
    on Xt_projected. Worth knowing: at d = features, Ps Ps^T = I, so
    Xs_aligned = Xs_c Pt and the method reduces to centring each domain (the
    common rotation Pt changes nothing for a linear classifier); the subspace
    part acts only when d is below the feature count. d must be at most the number of features and at most
    (rows - 1) of either set (centred data has no more directions than that).
    Returns (Xs_aligned, Xt_projected), float32 unless an input is float64.
    """
    dtype = _result_dtype(Xs, Xt)
    Xs, Xt = _source_and_target(Xs, Xt)
    n_features = Xs.shape[1]
    limit = min(n_features, Xs.shape[0] - 1, Xt.shape[0] - 1)
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"d must be an integer, got {d!r}")
    if not 1 <= d <= limit:
        raise ValueError(
            f"d must be between 1 and {limit} (features {n_features}, source rows {Xs.shape[0]}, "
            f"target rows {Xt.shape[0]}; centred data spans at most rows - 1 directions), got {d}"
        )
    Ps = pca_basis(Xs, d)
    Pt = pca_basis(Xt, d)
    # M accounts for the sign and order ambiguity of the two SVDs as well as
    # for the real rotation between the subspaces.
    M = Ps.T @ Pt
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        Xs_aligned = (Xs - Xs.mean(axis=0)) @ Ps @ M
        Xt_projected = (Xt - Xt.mean(axis=0)) @ Pt
    _check_finite("subspace_alignment", Xs_aligned=Xs_aligned, Xt_projected=Xt_projected)
    return Xs_aligned.astype(dtype), Xt_projected.astype(dtype)


def _spd_power(C, power):
    """C ** power for a symmetric positive definite C, through its eigenvalues.

    C = V diag(w) V^T  gives  C ** p = V diag(w ** p) V^T: real and symmetric
    by construction (scipy.linalg.sqrtm on a general matrix can return tiny
    imaginary parts and a slightly asymmetric result).
    """
    import scipy.linalg  # imported here: SciPy takes a while to load, and only CORAL needs it

    eigenvalues, eigenvectors = scipy.linalg.eigh(C)
    return (eigenvectors * eigenvalues**power) @ eigenvectors.T


def coral(Xs: ArrayLike, Xt: ArrayLike, eps: float = 1.0, match_means: bool = False) -> np.ndarray:
    """CORAL, CORrelation ALignment (Sun, Feng and Saenko 2016).

    Whiten the source with its own covariance, recolour it with the target's:

        Cs = cov(Xs) + eps I,   Ct = cov(Xt) + eps I       (features, features)
        Xs_coral = Xs Cs^(-1/2) Ct^(1/2)                   (n_source, features)

    The +eps I keeps Cs invertible and shrinks both towards the identity;
    eps = 1 is the paper's choice (for standardised features). As in the
    paper, only second-order statistics are matched; ``match_means=True``
    also moves the source mean onto the target's:
    (Xs - mean_s) Cs^(-1/2) Ct^(1/2) + mean_t.
    Train on Xs_coral, predict on the untouched Xt.
    Returns Xs_coral, float32 unless an input is float64.
    """
    dtype = _result_dtype(Xs, Xt)
    Xs, Xt = _source_and_target(Xs, Xt)
    eps = check_float("eps", eps, low=0.0, low_open=True)
    identity = np.eye(Xs.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        Cs = np.atleast_2d(np.cov(Xs, rowvar=False)) + eps * identity
        Ct = np.atleast_2d(np.cov(Xt, rowvar=False)) + eps * identity
    _check_finite("coral", covariance_of_Xs=Cs, covariance_of_Xt=Ct)
    recolour = _spd_power(Cs, -0.5) @ _spd_power(Ct, 0.5)
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        if match_means:
            Xs_coral = (Xs - Xs.mean(axis=0)) @ recolour + Xt.mean(axis=0)
        else:
            Xs_coral = Xs @ recolour
    _check_finite("coral", Xs_coral=Xs_coral)
    return Xs_coral.astype(dtype)
