"""Check analytic gradients against finite differences.

For inputs x_1..x_k and an output y = f(x_1..x_k), pick a fixed random
cotangent v of y's shape and compare, for every input element x_ij,

    analytic:  d(v . y)/d x_ij      from one call of backward(v)
    numeric:   (v . f(x + eps e_ij) - v . f(x - eps e_ij)) / (2 eps)

in float64, where central differences are accurate to about eps**2.
Checking v . y instead of every entry of y costs one backward pass and
still catches any wrong entry of the Jacobian (for almost every v).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .grad_mode import no_grad
from .tensor import Tensor


@dataclass
class GradcheckResult:
    """Outcome of gradcheck; truthy when every gradient matched.

    max_abs_error: the largest |analytic - numeric| over all inputs.
    worst: (input position, element index, analytic, numeric) of the entry
    with the largest error relative to its tolerance.
    """

    passed: bool
    max_abs_error: float
    worst: tuple

    def __bool__(self):
        return self.passed

    def __str__(self):
        position, index, analytic, numeric = self.worst
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"gradcheck {verdict}: max |analytic - numeric| = {self.max_abs_error:.3g}; "
            f"worst at input {position}, element {index}: analytic {analytic:.6g}, numeric {numeric:.6g}"
        )


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Compare fn's backward with central differences, in float64.

    fn: takes Tensors, returns a Tensor. inputs: a list of Tensors or arrays;
    each is copied to float64 and (unless it is an integer array, passed as
    is) made to require grad. An entry passes if |a - n| <= atol + rtol |n|.
    Returns a GradcheckResult (use it as a bool, or print it).
    """
    leaves = []
    for x in inputs:
        array = np.asarray(getattr(x, "data", x))
        if array.dtype.kind in "iub":
            leaves.append(array)
        else:
            leaves.append(Tensor(np.array(array, dtype=np.float64), requires_grad=True))
    tensors = [x for x in leaves if isinstance(x, Tensor)]
    if not tensors:
        raise ValueError("inputs must contain at least one floating-point tensor or array to check")

    output = fn(*leaves)
    if not isinstance(output, Tensor):
        raise TypeError(f"fn must return a Tensor, got {type(output).__name__}")
    cotangent = np.random.default_rng(seed).standard_normal(output.shape)
    output.backward(cotangent)

    def projected_output():
        with no_grad():
            return float(np.sum(fn(*leaves).data * cotangent))

    worst, worst_ratio, max_abs = (0, (), 0.0, 0.0), -1.0, 0.0
    for position, x in enumerate(tensors):
        analytic = x.grad if x.grad is not None else np.zeros_like(x.data)
        for index in np.ndindex(x.shape):
            original = x.data[index]
            x.data[index] = original + eps
            plus = projected_output()
            x.data[index] = original - eps
            minus = projected_output()
            x.data[index] = original
            numeric = (plus - minus) / (2 * eps)
            error = abs(analytic[index] - numeric)
            ratio = error / (atol + rtol * abs(numeric))
            max_abs = max(max_abs, error)
            if ratio > worst_ratio:
                worst_ratio, worst = ratio, (position, index, float(analytic[index]), numeric)
    # Plain Python bool and float: __bool__ must return a bool, not a numpy.bool_.
    return GradcheckResult(passed=bool(worst_ratio <= 1.0), max_abs_error=float(max_abs), worst=worst)
