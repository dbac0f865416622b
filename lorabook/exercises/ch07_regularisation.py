"""Checkers for sheet 07: the nuclear norm, singular value thresholding, a proximal step, LoRA+, AdaLoRA's budget.

The references are written out here in NumPy (a few lines each), so the
checks stand on the mathematics: nuclear norm = sum of singular values;
SVT(W, tau) = U max(s - tau, 0) V^T, the proximal operator of tau ||.||_*;
LoRA+ (Hayou et al. 2024) gives lora_B a learning rate ratio times lora_A's
(and, as PEFT's create_loraplus_optimizer does, every 1-D parameter too);
AdaLoRA (Zhang et al. 2023) keeps the triplets with the largest importance
scores across all layers.
"""
from __future__ import annotations

import numpy as np

from lorabook.exercises.feedback import Incorrect, call, check_int, compare, shapes, task


def reference_svt(W, tau):
    """U max(s - tau, 0) V^T."""
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    return (U * np.maximum(s - tau, 0.0)) @ Vt


def _hard_threshold(W, tau):
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    return (U * np.where(s > tau, s, 0.0)) @ Vt


def _unclipped(W, tau):
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    return (U * (s - tau)) @ Vt


MATRICES = [((5, 4), 0), ((3, 7), 1), ((6, 6), 2)]


@task("7.1 (nuclear norm)")
def nuclear_norm(student_norm):
    """nuclear_norm(W (m, n)) -> ||W||_* = sum of the singular values."""
    for shape, seed in MATRICES:
        W = np.random.default_rng(seed).standard_normal(shape)
        case = f"case {seed + 1} ({shapes(W=W)}, seed {seed})"
        s = np.linalg.svd(W, compute_uv=False)
        compare(case, "||W||_*", call(case, student_norm, W.copy()), np.sum(s), mistakes=[
            (np.linalg.norm(W), "that is the Frobenius norm sqrt(sum s_i^2); the nuclear norm is sum s_i"),
            (np.sum(s**2), "sum the singular values themselves, not their squares"),
            (s[0], "that is the spectral norm (the largest singular value); add them all"),
            (np.sum(np.abs(W)), "sum the SINGULAR VALUES, not the absolute entries"),
        ])
    return "3 cases passed."


@task("7.2 (singular value thresholding)")
def singular_value_threshold(student_svt):
    """svt(W (m, n), tau >= 0) -> U max(s - tau, 0) V^T."""
    for shape, seed in MATRICES:
        W = np.random.default_rng(seed).standard_normal(shape)
        s = np.linalg.svd(W, compute_uv=False)
        tau = float(np.median(s))  # some singular values survive, some are zeroed
        case = f"case {seed + 1} ({shapes(W=W)}, tau = {tau:.4g}, seed {seed})"
        compare(case, "SVT(W, tau)", call(case, student_svt, W.copy(), tau), reference_svt(W, tau), mistakes=[
            (_hard_threshold(W, tau), "that is HARD thresholding (keep or drop); SVT also shrinks the survivors "
                                      "by tau: max(s - tau, 0)"),
            (_unclipped(W, tau), "clip at zero: singular values below tau become 0, not negative"),
            (np.sign(W) * np.maximum(np.abs(W) - tau, 0), "that soft-thresholds the ENTRIES; threshold the "
                                                           "singular values"),
        ])
    return "3 cases passed."


@task("7.3 (a proximal gradient step)")
def proximal_step(student_step):
    """step(W, grad, lr, lam) -> SVT(W - lr * grad, lr * lam), one step on L(W) + lam ||W||_*."""
    for shape, seed in MATRICES:
        rng = np.random.default_rng(seed)
        W, grad = rng.standard_normal(shape), rng.standard_normal(shape)
        lr, lam = 0.1, 5.0
        case = f"case {seed + 1} ({shapes(W=W)}, lr {lr}, lam {lam}, seed {seed})"
        answer = call(case, student_step, W.copy(), grad.copy(), lr, lam)
        compare(case, "the new W", answer, reference_svt(W - lr * grad, lr * lam), mistakes=[
            (reference_svt(W - lr * grad, lam), "the threshold is lr * lam: the step size scales the penalty too"),
            (reference_svt(W, lr * lam) - lr * grad, "take the gradient step first, then threshold the result"),
            (W - lr * grad, "after the gradient step, apply SVT with threshold lr * lam"),
        ])
    return "3 cases passed."


@task("7.4 (predict the effect of SVT)")
def predicted_svt(predict):
    """predict() -> (rank, nuclear norm) of SVT(W, 2) for W with singular values 5, 3, 1, 0.5."""
    rng = np.random.default_rng(0)
    U = np.linalg.qr(rng.standard_normal((6, 4)))[0]
    V = np.linalg.qr(rng.standard_normal((5, 4)))[0]
    W = (U * np.array([5.0, 3.0, 1.0, 0.5])) @ V.T
    s = np.linalg.svd(reference_svt(W, 2.0), compute_uv=False)
    rank, norm = int(np.sum(s > 1e-9)), float(np.sum(s))
    answer = call("your prediction", predict)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Incorrect("predict() should return (rank: int, nuclear norm: float)")
    check_int("your prediction", "the rank", answer[0], rank,
              mistakes=[(4, "SVT sets every singular value below tau to exactly zero")])
    compare("your prediction", "the nuclear norm", answer[1], norm, rtol=1e-6, mistakes=[
        (8.0, "the survivors shrink by tau too: 5 - 2 and 3 - 2")])
    return f"SVT(W, 2) has singular values {np.round(s, 6).tolist()}: rank {rank}, nuclear norm {norm:g}."


@task("7.5 (LoRA+ learning rates)")
def loraplus_learning_rates(student_rates):
    """rates(shapes {name: shape}, lr, ratio) -> {name: rate}: lr * ratio for lora_B and 1-D parameters, else lr."""
    shapes_by_name = {"base_model.model.0.lora_A.default.weight": (4, 64),
                      "base_model.model.0.lora_B.default.weight": (128, 4),
                      "base_model.model.2.lora_A.default.weight": (4, 128),
                      "base_model.model.2.lora_B.default.weight": (10, 4),
                      "base_model.model.2.bias": (10,)}
    for index, (lr, ratio) in enumerate([(1e-3, 16.0), (2e-4, 4.0)]):
        case = f"case {index + 1} (lr {lr:g}, ratio {ratio:g}, {len(shapes_by_name)} parameters)"
        answer = call(case, student_rates, dict(shapes_by_name), lr, ratio)
        if not isinstance(answer, dict) or set(answer) != set(shapes_by_name):
            raise Incorrect(f"{case}: return a dict with one entry per parameter name")
        for name, shape in shapes_by_name.items():
            fast = "lora_B" in name or len(shape) == 1
            compare(case, f"the rate of {name}", answer[name], lr * ratio if fast else lr, mistakes=[
                (lr * ratio if "lora_A" in name else np.nan, "the larger rate goes to lora_B, not lora_A"),
                (lr / ratio if fast else np.nan, "multiply by the ratio: B learns FASTER than A"),
                (lr if len(shape) == 1 else np.nan, "PEFT's create_loraplus_optimizer puts every 1-D parameter "
                                                    "(a bias) in lora_B's group: lr * ratio"),
            ])
    return "2 cases passed: the same groups as PEFT's create_loraplus_optimizer."


@task("7.6 (AdaLoRA's rank budget)")
def adalora_budget(student_keep):
    """keep(scores {layer: (r,) importances}, budget) -> {layer: (r,) bool}, True for the budget largest overall."""
    rng = np.random.default_rng(0)
    scores = {"0": rng.random(6) * 3.0, "2": rng.random(6), "4": rng.random(4) * 0.5}
    for index, budget in enumerate([5, 9, 1]):
        case = f"case {index + 1} (3 layers with 6, 6 and 4 triplets, budget {budget})"
        answer = call(case, student_keep, {k: v.copy() for k, v in scores.items()}, budget)
        if not isinstance(answer, dict) or set(answer) != set(scores):
            raise Incorrect(f"{case}: return a dict with the same layer names as scores")
        cutoff = np.sort(np.concatenate(list(scores.values())))[::-1][budget - 1]
        for layer, values in scores.items():
            expected = values >= cutoff
            got = np.asarray(answer[layer])
            per_layer = values >= np.sort(values)[::-1][min(budget, len(values)) - 1]
            if got.shape == expected.shape and np.array_equal(got.astype(bool), per_layer) and not np.array_equal(
                    per_layer, expected):
                raise Incorrect(f"{case}: layer {layer} keeps {int(per_layer.sum())} triplets. Hint: the budget is "
                                f"shared by ALL layers: rank every score together, keep the top {budget} overall")
            compare(case, f"the mask of layer {layer}", got, expected)
    return "3 budgets passed: the kept triplets are the largest scores over all layers."
