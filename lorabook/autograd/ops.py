"""Arithmetic, the matrix product and reductions (and, re-exported, every other operation).

Each class is one operation: `forward` computes the value from NumPy
arrays, `backward` turns the gradient of the output (g) into gradients of
the inputs by the chain rule. Gradients may come back in the broadcast
shape; the engine's `unbroadcast` sums them to each input's shape.
"""
from __future__ import annotations

import numpy as np

# The elementwise and shape operations live in their own modules; they are
# re-exported here so that every operation is reachable as ops.Name.
from .elementwise import GELU, Exp, Log, LogSoftmax, ReLU, Sigmoid, Softmax, Sqrt, Tanh  # noqa: F401
from .errors import ShapeError
from .function import Function
from .shape_ops import Concatenate, GetItem, Reshape, Stack, Transpose  # noqa: F401


def _broadcast_error(op, a, b):
    return ShapeError(
        f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together "
        f"(sizes must match or be 1, aligned from the right)"
    )


# ----- arithmetic ---------------------------------------------------------------
class Add(Function):
    """a + b;  da = g, db = g."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    """a - b;  da = g, db = -g."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            return a - b
        except ValueError:
            raise _broadcast_error("subtract", a, b) from None

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """a * b;  da = g * b, db = g * a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a * b
        except ValueError:
            raise _broadcast_error("multiply", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Function):
    """a / b;  da = g / b, db = -g * a / b**2."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a / b
        except ValueError:
            raise _broadcast_error("divide", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_a = g / b if need_a else None
        grad_b = -g * a / (b * b) if need_b else None
        return grad_a, grad_b


class Neg(Function):
    """-a;  da = -g."""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class PowScalar(Function):
    """a ** p for a constant number p;  da = g * p * a**(p-1)."""

    @staticmethod
    def forward(ctx, a, exponent):
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        return a**exponent

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        p = ctx.exponent
        if p == 0:  # a**0 is constant; p * a**(p-1) would be 0 * inf = nan at a = 0
            return np.zeros_like(a)
        return g * (p * a ** (p - 1))


class Pow(Function):
    """a ** b for two tensors;  da = g * b * a**(b-1), db = g * a**b * log(a)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = a**b
        except ValueError:
            raise _broadcast_error("power", a, b) from None
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_a = g * b * a ** (b - 1) if need_a else None
        grad_b = g * out * np.log(a) if need_b else None
        return grad_a, grad_b


class AsType(Function):
    """Change of dtype; the gradient is cast back by the engine."""

    @staticmethod
    def forward(ctx, a, dtype):
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g


# ----- matrix product -----------------------------------------------------------
def _matmul_error(a, b):
    """A ShapeError saying which rule of np.matmul the two shapes break."""
    if a.ndim == 0 or b.ndim == 0:
        reason = "both operands need at least one axis (use * to multiply by a scalar)"
    elif a.shape[-1] != b.shape[-1 if b.ndim == 1 else -2]:
        which = "only" if b.ndim == 1 else "second-to-last"
        reason = (f"the last axis of the first ({a.shape[-1]}) must equal the {which} axis "
                  f"of the second ({b.shape[-1 if b.ndim == 1 else -2]})")
    else:
        reason = f"their batch axes {a.shape[:-2]} and {b.shape[:-2]} cannot be broadcast together"
    return ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not fit: {reason}")


class MatMul(Function):
    """a @ b, as np.matmul: 2-D, batched (..., n, k) @ (..., k, m), or with 1-D operands.

    da = g @ b^T,  db = a^T @ g  (transposing the last two axes; a 1-D operand is
    treated as a row or column vector, and batch axes are summed by unbroadcast).
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a @ b
        except ValueError:
            raise _matmul_error(a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        # Promote 1-D operands to matrices so one formula serves every case.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # b first: for 1-D @ 1-D the output gradient is 0-d, (1,) after this, (1, 1) after a's.
        g2 = g
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        grad_a = grad_b = None
        if need_a:
            grad_a = g2 @ np.swapaxes(b2, -1, -2)
            if a.ndim == 1:
                grad_a = grad_a.reshape(grad_a.shape[:-2] + grad_a.shape[-1:])
        if need_b:
            grad_b = np.swapaxes(a2, -1, -2) @ g2
            if b.ndim == 1:
                grad_b = grad_b[..., 0]
        return grad_a, grad_b


# ----- reductions ---------------------------------------------------------------
def _expand_to(g, axis, keepdims, shape):
    """g copied to every position that was reduced over, giving an array of `shape`."""
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    # Filling a fresh array is several times faster than np.broadcast_to on
    # small arrays, and gives an array of our own that .grad can keep.
    out = np.empty(shape, dtype=g.dtype)
    out[...] = g
    return out


class Sum(Function):
    """a.sum(axis);  every input element gets the gradient of its sum."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return np.asarray(a.sum(axis=axis, keepdims=keepdims))

    @staticmethod
    def backward(ctx, g):
        return _expand_to(g, ctx.axis, ctx.keepdims, ctx.shape)


class Mean(Function):
    """a.mean(axis);  every input element gets g / (number of elements averaged)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        out = np.asarray(a.mean(axis=axis, keepdims=keepdims))
        ctx.count = a.size // max(out.size, 1) if a.size else 0
        return out

    @staticmethod
    def backward(ctx, g):
        return _expand_to(g / ctx.count, ctx.axis, ctx.keepdims, ctx.shape)


class Max(Function):
    """a.max(axis);  the gradient goes to the maximal elements (split evenly between ties)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        out = a.max(axis=axis, keepdims=True)
        is_max = a == out
        # In a's dtype: bool / int would make a float64 array for a float32 input.
        ctx.save_for_backward(is_max / is_max.sum(axis=axis, keepdims=True, dtype=a.dtype))
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return out if keepdims else np.asarray(np.squeeze(out, axis=axis))

    @staticmethod
    def backward(ctx, g):
        (share,) = ctx.saved_tensors
        return _expand_to(g, ctx.axis, ctx.keepdims, ctx.shape) * share

