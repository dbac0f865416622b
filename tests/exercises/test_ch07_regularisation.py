"""Sheet 07's checkers accept correct answers and reject typical mistakes with their hint."""
import numpy as np

from lorabook.exercises import ch07_regularisation as check


def svt(W, tau, clip=True, shrink=True):
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    kept = (np.maximum(s - tau, 0.0) if clip else s - tau) if shrink else np.where(s > tau, s, 0.0)
    return (U * kept) @ Vt


def keep(scores, budget, shared=True):
    if not shared:
        return {name: values >= np.sort(values)[::-1][min(budget, len(values)) - 1] for name, values in scores.items()}
    cutoff = np.sort(np.concatenate(list(scores.values())))[::-1][budget - 1]
    return {name: values >= cutoff for name, values in scores.items()}


def rates(shapes, lr, ratio, biases_fast=True):
    return {name: lr * ratio if "lora_B" in name or (biases_fast and len(shape) == 1) else lr
            for name, shape in shapes.items()}


def test_correct_answers_pass():
    assert check.nuclear_norm(lambda W: np.sum(np.linalg.svd(W, compute_uv=False)))
    assert check.singular_value_threshold(svt) and check.predicted_svt(lambda: (2, 4.0))
    assert check.proximal_step(lambda W, g, lr, lam: svt(W - lr * g, lr * lam))
    assert check.loraplus_learning_rates(rates) and check.adalora_budget(keep)


def test_frobenius_instead_of_nuclear_and_hard_instead_of_soft_threshold(rejected):
    assert rejected(check.nuclear_norm(np.linalg.norm), "case 1", "Frobenius")
    assert rejected(check.singular_value_threshold(lambda W, tau: svt(W, tau, shrink=False)), "HARD thresholding")
    assert rejected(check.singular_value_threshold(lambda W, tau: svt(W, tau, clip=False)), "clip at zero")


def test_proximal_step_with_the_unscaled_threshold(rejected):
    assert rejected(check.proximal_step(lambda W, g, lr, lam: svt(W - lr * g, lam)), "lr * lam")


def test_predictions_loraplus_and_budget_mistakes(rejected):
    assert rejected(check.predicted_svt(lambda: (2, 8.0)), "shrink by tau")
    assert rejected(check.loraplus_learning_rates(lambda *a: rates(*a, biases_fast=False)), "1-D parameter")
    assert rejected(check.adalora_budget(lambda s, b: keep(s, b, shared=False)), "shared by ALL layers")
