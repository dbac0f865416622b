"""Sheet 02's checkers accept correct answers and reject typical mistakes with their hint."""
import numpy as np

from lorabook.exercises import ch02_training as check


def cross_entropy(logits, y, divide=True, stable=True):
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True) if stable else logits
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    grad = np.exp(log_p)
    grad[np.arange(n), y] -= 1.0
    return -log_p[np.arange(n), y].mean(), grad / n if divide else grad


def step(params, X, y, lr, mask=True):
    pre = X @ params["W1"].T + params["b1"]
    h = np.maximum(pre, 0.0)
    _, d_logits = cross_entropy(h @ params["W2"].T + params["b2"], y)
    d_pre = (d_logits @ params["W2"]) * ((pre > 0) if mask else 1.0)
    grads = {"W2": d_logits.T @ h, "b2": d_logits.sum(axis=0), "W1": d_pre.T @ X, "b1": d_pre.sum(axis=0)}
    return {name: params[name] - lr * grads[name] for name in params}


def adam(param, grad, m, v, t, lr, beta1, beta2, eps, correct=True):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat, v_hat = (m / (1 - beta1**t), v / (1 - beta2**t)) if correct else (m, v)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def test_correct_answers_pass():
    assert check.cross_entropy(cross_entropy) and check.training_step(step) and check.adam(adam)
    assert check.sgd_momentum(lambda p, g, b, lr, mu: (p - lr * (g if b is None else mu * b + g),
                                                        g if b is None else mu * b + g))
    assert check.predicted_mlp_parameters(lambda: 26122)
    assert check.predicted_adam_first_step(lambda: (0.01, 0.0099999))


def test_cross_entropy_mistakes(rejected):
    assert rejected(check.cross_entropy(lambda z, y: cross_entropy(z, y, divide=False)), "case 1", "1/n")
    assert rejected(check.cross_entropy(lambda z, y: cross_entropy(z, y, stable=False)), "case 3", "log-sum-exp")


def test_training_step_without_the_relu_mask(rejected):
    assert rejected(check.training_step(lambda *a: step(*a, mask=False)), "the new W1", "(h_pre > 0)")


def test_sgd_momentum_as_an_average(rejected):
    def ema(param, grad, buffer, lr, momentum):
        buffer = (1 - momentum) * grad if buffer is None else momentum * buffer + (1 - momentum) * grad
        return param - lr * buffer, buffer

    assert rejected(check.sgd_momentum(ema), "step 1", "no 1 - momentum factor")


def test_adam_without_bias_correction(rejected):
    assert rejected(check.adam(lambda *a: adam(*a, correct=False)), "step t=1", "bias correction missing")


def test_predictions_that_forget_biases_or_use_sgd(rejected):
    assert rejected(check.predicted_mlp_parameters(lambda: 64 * 128 + 128 * 128 + 128 * 10), "bias")
    assert rejected(check.predicted_adam_first_step(lambda: (10.0, 1e-5)), "SGD's step")
