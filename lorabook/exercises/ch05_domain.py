"""Checkers for sheet 05: powers of a covariance, CORAL, Subspace Alignment, the exact first-layer fix.

References: lorabook.domain.coral and subspace_alignment, and the
algebra of a linear input shift x -> M x (the first layer W becomes W M^-1).
"""
from __future__ import annotations

import numpy as np

from lorabook import domain
from lorabook.exercises.feedback import Incorrect, as_array, call, check_int, compare, shapes, task


def _spd(seed, d):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((d, d))
    return G @ G.T + 0.5 * np.eye(d)


def _reference_power(C, p):
    w, V = np.linalg.eigh(C)
    return (V * w**p) @ V.T


@task("5.1 (powers of a covariance matrix)")
def spd_power(student_power):
    """power(C (d, d) symmetric positive definite, p) -> C^p = V diag(w^p) V^T from C = V diag(w) V^T."""
    for seed, (d, p) in enumerate([(3, 0.5), (4, -0.5), (5, 2.0)]):
        C = _spd(seed, d)
        case = f"case {seed + 1} ({shapes(C=C)}, p={p}, seed {seed})"
        with np.errstate(invalid="ignore"):
            answer = call(case, student_power, C.copy(), p)
        compare(case, "C ** p", answer, _reference_power(C, p), mistakes=[
            (lambda: np.abs(C) ** p, "that is an elementwise power; a matrix power goes through the eigenvalues: "
                                     "V diag(w ** p) V^T"),
            (lambda: _elementwise_power(C, p), "that is an elementwise power; a matrix power goes through the "
                                               "eigenvalues: V diag(w ** p) V^T"),
            (lambda: _eigenvectors_untransposed(C, p), "V diag(w ** p) V^T: the second V is transposed"),
        ], nonfinite_hint="an elementwise power of negative entries gives nan; use the eigenvalues, which are > 0")
    return "3 cases passed."


def _elementwise_power(C, p):
    with np.errstate(invalid="ignore"):  # negative entries to a fractional power: nan, never a match
        return C**p


def _eigenvectors_untransposed(C, p):
    w, V = np.linalg.eigh(C)
    return (V * w**p) @ V


def _domains(seed, n_source, n_target, d):
    rng = np.random.default_rng(seed)
    Xs = rng.standard_normal((n_source, d)) @ rng.standard_normal((d, d))
    Xt = rng.standard_normal((n_target, d)) @ rng.standard_normal((d, d)) + 1.0
    return Xs, Xt


@task("5.2 (CORAL)")
def coral(student_coral):
    """coral(Xs (ns, d), Xt (nt, d), eps) -> Xs Cs^(-1/2) Ct^(1/2), with C = cov(X) + eps I."""
    for seed, (ns, nt, d, eps) in enumerate([(50, 40, 3, 1.0), (80, 60, 5, 0.5), (30, 70, 2, 2.0)]):
        Xs, Xt = _domains(seed, ns, nt, d)
        case = f"case {seed + 1} ({shapes(Xs=Xs, Xt=Xt)}, eps={eps}, seed {seed})"
        answer = call(case, student_coral, Xs.copy(), Xt.copy(), eps,
                      hint="np.cov treats ROWS as variables unless rowvar=False")
        identity = np.eye(d)
        Cs = np.cov(Xs, rowvar=False) + eps * identity
        Ct = np.cov(Xt, rowvar=False) + eps * identity
        P = _reference_power
        compare(case, "the aligned source", answer, domain.coral(Xs, Xt, eps=eps), mistakes=[
            (Xs @ P(Cs, 0.5) @ P(Ct, 0.5), "whiten with the INVERSE square root Cs^(-1/2)"),
            (Xs @ P(Ct, -0.5) @ P(Cs, 0.5), "swapped: whiten with the source's covariance, recolour with the target's"),
            (lambda: Xs @ P(Cs - eps * identity, -0.5) @ P(Ct - eps * identity, 0.5), "add eps * I to both covariances"),
            (Xs @ P(Ct, 0.5) @ P(Cs, -0.5), "order: first whiten (Cs^(-1/2)), then recolour (Ct^(1/2))"),
        ], shape_hints=[((ns, ns), "np.cov treats ROWS as variables unless rowvar=False")])
    return "3 cases agree with lorabook.domain.coral."


@task("5.3 (Subspace Alignment)")
def subspace_alignment(student_alignment):
    """alignment(Xs, Xt, d) -> (Xs_c Ps Ps^T Pt (ns, d), Xt_c Pt (nt, d)), P the top-d PCA bases."""
    for seed, (ns, nt, features, d) in enumerate([(60, 50, 6, 2), (40, 45, 5, 3)]):
        Xs, Xt = _domains(seed, ns, nt, features)
        case = f"case {seed + 1} ({shapes(Xs=Xs, Xt=Xt)}, d={d}, seed {seed})"
        answer = call(case, student_alignment, Xs.copy(), Xt.copy(), d)
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            raise Incorrect(f"{case}: return (Xs_aligned, Xt_projected)")
        aligned = as_array("Xs_aligned", case, answer[0])
        projected = as_array("Xt_projected", case, answer[1])
        ref_aligned, ref_projected = domain.subspace_alignment(Xs, Xt, d)
        for what, got, expected in [("Xs_aligned", aligned, ref_aligned), ("Xt_projected", projected, ref_projected)]:
            if got.shape != expected.shape:
                raise Incorrect(f"{case}: {what} has shape {got.shape}, expected {expected.shape} (rows, d)")
        Ps = _pca(Xs, d)
        unrotated = _centre(Xs) @ Ps
        if np.allclose(aligned @ aligned.T, unrotated @ unrotated.T) and not np.allclose(
                aligned @ projected.T, ref_aligned @ ref_projected.T):
            raise Incorrect(f"{case}: Xs_aligned holds the source's own PCA coordinates. Hint: rotate them with "
                            f"M = Ps^T Pt, so that they are comparable with the target's")
        # A basis vector's sign is arbitrary (SVD or eigh may flip it), so compare what does not depend on it:
        # inner products between aligned source rows and projected target rows.
        compare(case, "Xs_aligned @ Xt_projected.T (sign-free)", aligned @ projected.T,
                ref_aligned @ ref_projected.T, mistakes=[
                    (lambda: Xs @ Ps @ (Ps.T @ _pca(Xt, d)) @ (_centre(Xt) @ _pca(Xt, d)).T,
                     "centre each domain on its own mean before projecting")])
        compare(case, "Xt_projected @ Xt_projected.T (sign-free)", projected @ projected.T,
                ref_projected @ ref_projected.T)
    return "2 cases agree with lorabook.domain.subspace_alignment (up to the sign of each basis vector)."


def _centre(X):
    return X - X.mean(axis=0)


def _pca(X, d):
    return np.linalg.svd(_centre(X), full_matrices=False)[2][:d].T


@task("5.4 (the exact fix of the first layer)")
def first_layer_correction(student_correction):
    """correction(W (out, d), M (d, d) invertible) -> Delta W with (W + Delta W) M x = W x for every x."""
    for seed, (out, d) in enumerate([(4, 3), (6, 6), (2, 5)]):
        rng = np.random.default_rng(seed)
        W, M = rng.standard_normal((out, d)), rng.standard_normal((d, d)) + 2 * np.eye(d)
        case = f"case {seed + 1} ({shapes(W=W, M=M)}, seed {seed})"
        hint = "the new layer acts on the SHIFTED input M x: (W + Delta W) M = W, so Delta W = W M^-1 - W"
        answer = call(case, student_correction, W.copy(), M.copy(), hint=hint)
        inverse = np.linalg.inv(M)
        compare(case, "Delta W", answer, W @ inverse - W, mistakes=[
            (W @ M - W, "undo the shift: multiply by the INVERSE of M"),
            (lambda: inverse @ W - W, hint),
            (W @ inverse, "that is the new weight W M^-1; the correction is W M^-1 - W"),
        ])
    return "3 cases passed: (W + Delta W) M = W."


def _plane_rotation(d, degrees):
    M = np.eye(d)
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    M[:2, :2] = [[c, -s], [s, c]]
    return M


@task("5.5 (predict the rank of the fix)")
def predicted_correction_ranks(predict):
    """predict() -> (rank of W M^-1 - W for a rotation in one plane of R^10, for M = I + u v^T)."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal((8, 10))
    rotation = _plane_rotation(10, 45)
    rank_one = np.eye(10) + np.outer(rng.standard_normal(10), rng.standard_normal(10)) / 10
    ranks = [int(np.linalg.matrix_rank(W @ np.linalg.inv(M) - W)) for M in (rotation, rank_one)]
    answer = call("your prediction", predict)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Incorrect("predict() should return two ints")
    check_int("your prediction", "the rank for the plane rotation", answer[0], ranks[0], mistakes=[
        (1, "M^-1 - I is nonzero on the whole plane of the rotation: two directions"),
        (10, "M^-1 - I is zero outside the rotated plane, so W (M^-1 - I) has rank at most 2")])
    check_int("your prediction", "the rank for I + u v^T", answer[1], ranks[1], mistakes=[
        (10, "M^-1 = I - u v^T / (1 + v^T u) (Sherman-Morrison): M^-1 - I has rank one")])
    return f"numpy's matrix_rank: {ranks[0]} and {ranks[1]}. A rank-r LoRA can undo such shifts exactly when r >= that."
