"""Checkers for sheet 01: Functions with forward and backward, unbroadcast, a predicted gradient.

Each Function task is run twice: forward and backward called directly on
NumPy arrays with a minimal context (so a wrong gradient can be named
precisely), then the operation is applied to float64 tensors through the
engine and passed through lorabook.gradcheck (central differences). A gradient may come back with the broadcast shape:
the engine sums it back to the input's shape, and so do these checks.
"""
from __future__ import annotations

import numpy as np

from lorabook import gradcheck, tensor
from lorabook.exercises.feedback import Incorrect, NotAttempted, as_array, call, compare, shapes, task

FORGOT_GRAD_OUTPUT = "forgot to multiply by grad_output (the chain rule: upstream gradient times local derivative)"


def sum_to_shape(grad, shape):
    """The reference unbroadcast: sum grad over the axes broadcasting added or stretched."""
    grad = np.asarray(grad, dtype=np.float64)
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


class _Context:
    """What a Function's forward and backward may use of ctx: save_for_backward, saved_tensors,
    needs_input_grad and plain attributes (the engine's own Context does more, not needed here)."""

    def __init__(self, n_inputs):
        self.needs_input_grad = (True,) * n_inputs
        self.saved_tensors = ()

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays


def _forward_backward(case, function, arrays, seed, error_hint=""):
    """Call function.forward and .backward on copies of arrays; returns (output, grad_output, grads)."""
    ctx = _Context(len(arrays))
    output = call(case, function.forward, ctx, *[a.copy() for a in arrays], hint=error_hint)
    if output is None:
        raise Incorrect(f"{case}: forward returned None; did you forget to return the output?")
    output = as_array("forward's output", case, output)
    grad_output = np.random.default_rng(seed).standard_normal(output.shape)
    try:
        grads = call(case, function.backward, ctx, grad_output.copy(), hint=error_hint)
    except NotImplementedError:
        raise NotAttempted("forward runs; backward is still the stub.") from None
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(arrays):
        raise Incorrect(f"{case}: backward returned {len(grads)} gradient(s) for {len(arrays)} input(s); "
                        f"return one per input, in the order of forward's arguments")
    return output, grad_output, grads


def _gradcheck(case, function, arrays):
    result = call(case, gradcheck, lambda *ts: function.apply(*ts), [a.copy() for a in arrays])
    if not result:
        raise Incorrect(f"{case}: gradcheck against finite differences failed: {result}")


def _check_grad(case, name, grad, expected, shape, mistakes=(), shape_hints=()):
    if grad is None:
        raise Incorrect(f"{case}: the gradient of {name} is None; return an array for every input")
    grad = as_array(f"the gradient of {name}", case, grad)
    try:
        np.broadcast_to(np.zeros(shape), grad.shape)
        summed = sum_to_shape(grad, shape)
    except ValueError:
        summed = grad  # not a broadcast of the input's shape: let compare name the shapes
    compare(case, f"the gradient of {name}", summed, expected,
            [(lambda w=w: sum_to_shape(w() if callable(w) else w, shape), h) for w, h in mistakes], shape_hints)


@task("1.1 (Mul)")
def mul(Mul):
    """Mul.forward(ctx, a, b) -> a * b; Mul.backward(ctx, g) -> (g * b, g * a), shapes may broadcast."""
    cases = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,))]
    for seed, (shape_a, shape_b) in enumerate(cases):
        rng = np.random.default_rng(seed)
        a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
        case = f"case {seed + 1} ({shapes(a=a, b=b)}, seed {seed})"
        out, g, (grad_a, grad_b) = _forward_backward(case, Mul, [a, b], seed)
        compare(case, "forward's output", out, a * b)
        swapped = "swapped: the gradient with respect to a is grad_output * b (and for b it is grad_output * a)"
        _check_grad(case, "a", grad_a, sum_to_shape(g * b, a.shape), a.shape,
                    [(g * a, swapped), (np.broadcast_to(b, g.shape), FORGOT_GRAD_OUTPUT)])
        _check_grad(case, "b", grad_b, sum_to_shape(g * a, b.shape), b.shape,
                    [(g * b, swapped), (np.broadcast_to(a, g.shape), FORGOT_GRAD_OUTPUT)])
        _gradcheck(case, Mul, [a, b])
    return f"{len(cases)} cases (with broadcasting) and gradcheck passed."


@task("1.2 (Exp)")
def exp(Exp):
    """Exp.forward(ctx, x) -> exp(x); Exp.backward(ctx, g) -> g * exp(x)."""
    for seed, shape in enumerate([(5,), (3, 4), (2, 2, 3)]):
        x = np.random.default_rng(seed).standard_normal(shape)
        case = f"case {seed + 1} ({shapes(x=x)}, seed {seed})"
        out, g, (grad_x,) = _forward_backward(case, Exp, [x], seed)
        compare(case, "forward's output", out, np.exp(x))
        _check_grad(case, "x", grad_x, g * np.exp(x), x.shape, [
            (g * x, "the derivative of exp(x) is exp(x) itself, not x"),
            (np.exp(x), FORGOT_GRAD_OUTPUT),
            (g, "multiply grad_output by the local derivative exp(x)"),
        ])
        _gradcheck(case, Exp, [x])
    return "3 cases and gradcheck passed."


@task("1.3 (unbroadcast)")
def unbroadcast(student_unbroadcast):
    """unbroadcast(grad, shape): sum grad over leading axes and over axes where shape has size 1."""
    cases = [((3, 4), (3, 4)), ((3, 4), (1, 4)), ((3, 4), (3, 1)), ((2, 3, 4), (4,)), ((2, 3, 4), (3, 1)),
             ((5, 2), ())]
    for seed, (grad_shape, shape) in enumerate(cases):
        grad = np.random.default_rng(seed).standard_normal(grad_shape)
        case = f"case {seed + 1} (grad {grad_shape} back to shape {shape})"
        actual = call(case, student_unbroadcast, grad.copy(), shape)
        not_summed = "gradient not summed over the broadcast axis: every copy of an input element adds its gradient"
        kept = [i for i, size in enumerate(shape) if size == 1]
        squeezed = tuple(size for size in shape if size != 1)
        compare(case, "the result", actual, sum_to_shape(grad, shape), shape_hints=[
            (grad_shape, not_summed),
            (squeezed, "the axes of size 1 must stay: sum them with keepdims=True"),
            (grad_shape[len(grad_shape) - len(shape):],
             "also sum over the axes where `shape` has size 1" if kept else not_summed),
        ])
    return f"{len(cases)} cases passed."


@task("1.4 (MatMul)")
def matmul(MatMul):
    """MatMul.forward(ctx, a, b) -> a @ b for (..., n, k) @ (..., k, m); backward -> (g @ b^T, a^T @ g)."""
    transpose_hint = ("on arrays with more than 2 axes, transpose only the last two: np.swapaxes(b, -1, -2) "
                      "(b.T reverses every axis)")
    cases = [((4, 3), (3, 5)), ((2, 4, 3), (3, 5)), ((2, 4, 3), (2, 3, 5)), ((3, 3), (3, 3))]
    for seed, (shape_a, shape_b) in enumerate(cases):
        rng = np.random.default_rng(seed)
        a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
        case = f"case {seed + 1} ({shapes(a=a, b=b)}, seed {seed})"
        out, g, grads = _forward_backward(case, MatMul, [a, b], seed, error_hint=transpose_hint)
        compare(case, "forward's output", out, a @ b)
        bT, aT = np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2)
        _check_grad(case, "a", grads[0], sum_to_shape(g @ bT, a.shape), a.shape,
                    [(lambda: g @ b, "the gradient of a is grad_output @ b^T: transpose b")],
                    [(a.shape[::-1], transpose_hint)])
        _check_grad(case, "b", grads[1], sum_to_shape(aT @ g, b.shape), b.shape,
                    [(lambda: a @ g, "the gradient of b is a^T @ grad_output: transpose a")],
                    [(b.shape[::-1], transpose_hint)])
        _gradcheck(case, MatMul, [a, b])
    return f"{len(cases)} cases (2-D, batched, broadcast batch) and gradcheck passed."


def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@task("1.5 (LogSoftmax)")
def log_softmax(LogSoftmax):
    """LogSoftmax over the last axis: y = x - logsumexp(x); dx = g - softmax(x) * sum(g)."""
    cases = [((3, 5), 1.0), ((2, 3, 4), 1.0), ((2, 6), 1000.0)]
    for seed, (shape, scale) in enumerate(cases):
        x = np.random.default_rng(seed).standard_normal(shape) * scale
        case = f"case {seed + 1} ({shapes(x=x)}, values of size about {scale:g}, seed {seed})"
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out, g, (grad_x,) = _forward_backward(case, LogSoftmax, [x], seed)
        expected = _log_softmax(x)
        compare(case, "forward's output", out, expected, nonfinite_hint=(
            "exp overflowed: subtract the maximum of each row before exp (the log-sum-exp trick)"),
            mistakes=[(x - np.log(np.exp(x).sum()) if scale == 1.0 else np.nan,
                      "normalise each row separately: sum over axis=-1 with keepdims=True")])
        softmax = np.exp(expected)
        _check_grad(case, "x", grad_x, g - softmax * g.sum(axis=-1, keepdims=True), x.shape, [
            (g - softmax, "the softmax term is multiplied by the row sum of grad_output: "
                          "g - softmax * g.sum(axis=-1, keepdims=True)"),
            (g * (1 - softmax), "that is only the diagonal of the Jacobian; every output depends on every input "
                                "of its row: g - softmax * g.sum(axis=-1, keepdims=True)"),
        ])
        if scale == 1.0:
            _gradcheck(case, LogSoftmax, [x])
    return f"{len(cases)} cases (one with values near 1000) and gradcheck passed."


@task("1.6 (predict the gradients)")
def predicted_grads(predict):
    """predict() -> (a.grad, b.grad) for a = [[1], [2], [3]], b = [1, 2, 3, 4], (a * b).sum().backward()."""
    a = tensor([[1.0], [2.0], [3.0]], requires_grad=True)
    b = tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    (a * b).sum().backward()
    answer = call("your prediction", predict)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Incorrect("predict() should return two arrays: (gradient of a, gradient of b)")
    case = "your prediction"
    full = np.ones((3, 4))
    compare(case, "the gradient of a", answer[0], a.grad, mistakes=[
        (full * b.data, "gradient not summed over the broadcast axis: a's column was copied 4 times")],
        shape_hints=[((3, 4), "gradient not summed over the broadcast axis: a has shape (3, 1)"),
                     ((3,), "a has shape (3, 1), and so does its gradient")])
    compare(case, "the gradient of b", answer[1], b.grad, mistakes=[
        (full * a.data, "gradient not summed over the broadcast axis: b's row was copied 3 times")],
        shape_hints=[((3, 4), "gradient not summed over the broadcast axis: b has shape (4,)")])
    return f"lorabook agrees: a.grad = {a.grad.ravel().tolist()} (shape (3, 1)), b.grad = {b.grad.tolist()}."
