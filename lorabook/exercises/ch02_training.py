"""Checkers for sheet 02: cross-entropy and its gradient, a training step by hand, SGD momentum, Adam.

References: lorabook's autograd (nn.functional) for the gradients of the
training step, lorabook.optim.SGD and Adam for the update rules (several
steps in a row, so that the state carried between steps is checked too).
"""
from __future__ import annotations

import numpy as np

from lorabook import nn, optim, tensor
from lorabook.exercises.feedback import Incorrect, call, check_int, compare, shapes, task
from lorabook.nn import functional as F


def _cross_entropy_reference(logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    one_hot = np.eye(logits.shape[1])[y]
    return -log_p[np.arange(n), y].mean(), (np.exp(log_p) - one_hot) / n


@task("2.1 (cross-entropy and its gradient)")
def cross_entropy(student_cross_entropy):
    """cross_entropy(logits (n, c), y (n,)) -> (mean loss, d loss / d logits (n, c))."""
    for seed, (n, c, scale) in enumerate([(4, 3, 1.0), (7, 10, 3.0), (5, 4, 1000.0)]):
        rng = np.random.default_rng(seed)
        logits, y = rng.standard_normal((n, c)) * scale, rng.integers(0, c, size=n)
        case = f"case {seed + 1} ({shapes(logits=logits)}, logits of size about {scale:g}, seed {seed})"
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            answer = call(case, student_cross_entropy, logits.copy(), y.copy())
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            raise Incorrect(f"{case}: return two things, (loss, gradient of the loss with respect to logits)")
        loss, grad = answer
        expected_loss, expected_grad = _cross_entropy_reference(logits, y)
        reference = F.cross_entropy(tensor(logits), y).item()
        softmax = expected_grad * n + np.eye(c)[y]
        stable = "exp overflowed: subtract each row's maximum before exp (log-sum-exp trick)"
        compare(case, "the loss", loss, reference, nonfinite_hint=stable,
                mistakes=[(expected_loss * n, "the loss is the MEAN over the n examples, not the sum")])
        compare(case, "the gradient", grad, expected_grad, nonfinite_hint=stable, mistakes=[
            (expected_grad * n, "the gradient of a mean carries the factor 1/n"),
            (softmax / n, "subtract the one-hot targets: d loss / d logits = (softmax - onehot(y)) / n"),
            (-expected_grad, "sign: the gradient is softmax - onehot(y), not onehot(y) - softmax"),
        ])
    return "3 cases (one with logits near 1000) passed; the loss agrees with lorabook.nn.functional.cross_entropy."


def _mlp_problem(seed, n, d_in, hidden, classes):
    rng = np.random.default_rng(seed)
    params = {"W1": rng.standard_normal((hidden, d_in)) / np.sqrt(d_in), "b1": rng.standard_normal(hidden) * 0.1,
              "W2": rng.standard_normal((classes, hidden)) / np.sqrt(hidden), "b2": rng.standard_normal(classes) * 0.1}
    return params, rng.standard_normal((n, d_in)), rng.integers(0, classes, size=n)


def _reference_step(params, X, y, lr):
    """One SGD step, the gradients computed by lorabook's autograd; returns (new params, gradients)."""
    leaves = {name: tensor(value, requires_grad=True) for name, value in params.items()}
    hidden = F.relu(F.linear(tensor(X), leaves["W1"], leaves["b1"]))
    F.cross_entropy(F.linear(hidden, leaves["W2"], leaves["b2"]), y).backward()
    return {name: params[name] - lr * leaves[name].grad for name in params}, {n: t.grad for n, t in leaves.items()}


@task("2.2 (one training step by hand)")
def training_step(student_step):
    """step(params, X (n, in), y (n,), lr) -> new params after one SGD step on the mean cross-entropy."""
    for seed, sizes in enumerate([(8, 5, 6, 3), (16, 4, 10, 4)]):
        params, X, y = _mlp_problem(seed, *sizes)
        case = f"case {seed + 1} ({shapes(X=X, W1=params['W1'], W2=params['W2'])}, seed {seed})"
        lr = 0.5
        new = call(case, student_step, {k: v.copy() for k, v in params.items()}, X.copy(), y.copy(), lr)
        if not isinstance(new, dict) or set(new) != set(params):
            raise Incorrect(f"{case}: return a dict with the keys {sorted(params)}, got {new!r:.80}")
        expected, grads = _reference_step(params, X, y, lr)
        for name in ["W2", "b2", "W1", "b1"]:
            compare(case, f"the new {name}", new[name], expected[name], mistakes=[
                (params[name] + lr * grads[name], "sign: a step goes AGAINST the gradient, p - lr * grad"),
                (params[name] - grads[name], "multiply the gradient by the learning rate"),
                (lambda name=name: _no_relu_mask(params, X, y, lr)[name],
                 "the ReLU passes the gradient only where its input was positive: multiply by (h_pre > 0)"),
            ], shape_hints=[(params[name].shape[::-1], "transposed: weights are (out, in) and y = x W^T + b")])
    return "2 cases passed; every parameter matches lorabook's autograd."


def _no_relu_mask(params, X, y, lr):
    """The step with the ReLU's gradient taken as 1 everywhere (a typical mistake)."""
    pre = X @ params["W1"].T + params["b1"]
    hidden = np.maximum(pre, 0)
    logits = hidden @ params["W2"].T + params["b2"]
    _, d_logits = _cross_entropy_reference(logits, y)
    d_pre = d_logits @ params["W2"]  # no mask
    grads = {"W2": d_logits.T @ hidden, "b2": d_logits.sum(0), "W1": d_pre.T @ X, "b1": d_pre.sum(0)}
    return {name: params[name] - lr * grads[name] for name in params}


def _optimizer_trajectory(make_optimizer, gradients, start):
    param = nn.Parameter(start.copy())
    optimizer = make_optimizer([param])
    values = []
    for grad in gradients:
        param.grad = grad.copy()
        optimizer.step()
        values.append(param.data.copy())
    return values


@task("2.3 (SGD with momentum)")
def sgd_momentum(student_step):
    """step(param, grad, buffer, lr, momentum) -> (param, buffer); buffer is None before the first step."""
    lr, momentum = 0.1, 0.9
    rng = np.random.default_rng(0)
    start, gradients = rng.standard_normal((3, 2)), [rng.standard_normal((3, 2)) for _ in range(3)]
    expected = _optimizer_trajectory(lambda ps: optim.SGD(ps, lr=lr, momentum=momentum), gradients, start)
    param, buffer, ema, plain = start.copy(), None, np.zeros_like(start), start.copy()
    ema_param = start.copy()
    for step, grad in enumerate(gradients):
        case = f"step {step + 1} of 3 (lr {lr}, momentum {momentum}, param (3, 2), seed 0)"
        answer = call(case, student_step, param.copy(), grad.copy(), None if buffer is None else buffer.copy(),
                      lr, momentum)
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            raise Incorrect(f"{case}: return (new param, new buffer)")
        ema = momentum * ema + (1 - momentum) * grad
        ema_param = ema_param - lr * ema
        plain = plain - lr * grad
        compare(case, "the new parameter", answer[0], expected[step], mistakes=[
            (ema_param, "PyTorch's buffer is momentum * buffer + grad (no 1 - momentum factor; that is Adam's m)"),
            (plain, "the step must use the buffer, not the raw gradient"),
        ])
        param, buffer = np.asarray(answer[0], dtype=np.float64), np.asarray(answer[1], dtype=np.float64)
    return "3 steps agree with lorabook.optim.SGD(momentum=0.9)."


@task("2.4 (Adam)")
def adam(student_step):
    """step(param, grad, m, v, t, lr, beta1, beta2, eps) -> (param, m, v); t counts from 1."""
    lr, beta1, beta2, eps = 0.01, 0.9, 0.999, 1e-8
    rng = np.random.default_rng(1)
    start, gradients = rng.standard_normal(4), [rng.standard_normal(4) for _ in range(3)]
    expected = _optimizer_trajectory(lambda ps: optim.Adam(ps, lr=lr, betas=(beta1, beta2), eps=eps), gradients,
                                     start)
    param, m, v = start.copy(), np.zeros(4), np.zeros(4)
    uncorrected, m_u, v_u = start.copy(), np.zeros(4), np.zeros(4)
    for t, grad in enumerate(gradients, start=1):
        case = f"step t={t} of 3 (lr {lr}, betas ({beta1}, {beta2}), seed 1)"
        with np.errstate(divide="ignore", invalid="ignore"):
            answer = call(case, student_step, param.copy(), grad.copy(), m.copy(), v.copy(), t, lr, beta1, beta2, eps)
        if not isinstance(answer, (tuple, list)) or len(answer) != 3:
            raise Incorrect(f"{case}: return (new param, new m, new v)")
        m_u, v_u = beta1 * m_u + (1 - beta1) * grad, beta2 * v_u + (1 - beta2) * grad**2
        uncorrected = uncorrected - lr * m_u / (np.sqrt(v_u) + eps)
        compare(case, "the new parameter", answer[0], expected[t - 1], nonfinite_hint=(
            "t counts from 1: with t = 0 the bias corrections 1 - beta**t are 0"), mistakes=[
            (uncorrected, "bias correction missing: divide m by 1 - beta1**t and v by 1 - beta2**t"),
        ])
        param, m, v = (np.asarray(a, dtype=np.float64) for a in answer)
    return "3 steps agree with lorabook.optim.Adam."


@task("2.5 (predict the parameter count)")
def predicted_mlp_parameters(predict):
    """predict() -> the number of parameters of nn.MLP([64, 128, 128, 10])."""
    model = nn.MLP([64, 128, 128, 10], generator=np.random.default_rng(0))
    actual = sum(p.size for p in model.parameters())
    sizes = [(64, 128), (128, 128), (128, 10)]
    check_int("your prediction", "the parameter count", call("your prediction", predict), actual, mistakes=[
        (sum(a * b for a, b in sizes), "each Linear layer also has a bias of size out"),
        (sum(a * b + a for a, b in sizes), "a Linear layer's bias has one entry per OUTPUT"),
    ])
    return f"lorabook counts {actual:,} parameters."


@task("2.6 (predict Adam's first step)")
def predicted_adam_first_step(predict):
    """predict() -> (|first Adam step| for gradient 1000, for gradient 0.001), lr 0.01, default betas and eps."""
    steps = []
    for grad in (1000.0, 0.001):
        [after] = _optimizer_trajectory(lambda ps: optim.Adam(ps, lr=0.01), [np.array([grad])], np.array([0.0]))
        steps.append(abs(float(after[0])))
    answer = call("your prediction", predict)
    compare("your prediction", "the two step sizes", answer, steps, rtol=1e-3, mistakes=[
        ([10.0, 1e-5], "that is SGD's step lr * grad; Adam divides by sqrt(v), the gradient's own size"),
        ([0.001, 1e-4], "at t = 1 the bias corrections make m_hat = g and v_hat = g**2 exactly"),
    ])
    return f"lorabook's Adam moves by {steps[0]:.6g} and {steps[1]:.6g}: about lr, whatever the gradient's size."
