"""Tensor's operators and methods: each is one Function from ops.py.

    a + b  -> ops.Add.apply(a, b)        a @ b    -> ops.MatMul.apply(a, b)
    a.sum() -> ops.Sum.apply(a)          a.exp()  -> ops.Exp.apply(a)

They are bound onto the Tensor class here, in one place (as DeZero's
`setup_variable` does), because tensor.py and ops.py would otherwise need
each other: a Function makes Tensors, and a Tensor's `+` calls a Function.
Numbers and arrays mixed with tensors become constants of the tensor's
dtype, so `x * 2` stays float32.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import ops
from .tensor import ArrayLike, Tensor, _as_array


def _constant(like: Tensor, other: ArrayLike) -> Tensor:
    """`other` as a Tensor: itself if it is one, else a constant (numbers take like's dtype)."""
    if isinstance(other, Tensor):
        return other
    if isinstance(other, numbers.Number):
        return Tensor._wrap(np.asarray(other, dtype=like.data.dtype), False)
    return Tensor._wrap(_as_array(other, None), False)


def _binary(function):
    """a <op> b and b <op> a (the reflected form) for a two-input Function."""
    def forward(self: Tensor, other: ArrayLike) -> Tensor:
        return function.apply(self, _constant(self, other))

    def reflected(self: Tensor, other: ArrayLike) -> Tensor:
        return function.apply(_constant(self, other), self)

    return forward, reflected


Tensor.__add__, Tensor.__radd__ = _binary(ops.Add)
Tensor.__sub__, Tensor.__rsub__ = _binary(ops.Sub)
Tensor.__mul__, Tensor.__rmul__ = _binary(ops.Mul)
Tensor.__truediv__, Tensor.__rtruediv__ = _binary(ops.Div)
Tensor.__matmul__, Tensor.__rmatmul__ = _binary(ops.MatMul)


def _pow(self: Tensor, exponent: ArrayLike) -> Tensor:
    if isinstance(exponent, numbers.Number):
        return ops.PowScalar.apply(self, exponent=exponent)
    return ops.Pow.apply(self, _constant(self, exponent))


Tensor.__pow__ = _pow
Tensor.__rpow__ = lambda self, base: ops.Pow.apply(_constant(self, base), self)
Tensor.__neg__ = lambda self: ops.Neg.apply(self)


# ----- reductions: a.sum(axis=None, keepdims=False) and the like --------------------------
def _reduction(function):
    def reduce(self: Tensor, axis=None, keepdims: bool = False) -> Tensor:
        return function.apply(self, axis=axis, keepdims=keepdims)

    reduce.__doc__ = function.__doc__
    return reduce


Tensor.sum = _reduction(ops.Sum)
Tensor.mean = _reduction(ops.Mean)
Tensor.max = _reduction(ops.Max)


# ----- elementwise functions: a.exp() and the like ------------------------------------------
def _elementwise(function):
    def apply(self: Tensor) -> Tensor:
        return function.apply(self)

    apply.__doc__ = function.__doc__
    return apply


for _name, _function in [("exp", ops.Exp), ("log", ops.Log), ("sqrt", ops.Sqrt), ("tanh", ops.Tanh),
                         ("sigmoid", ops.Sigmoid), ("relu", ops.ReLU), ("gelu", ops.GELU)]:
    setattr(Tensor, _name, _elementwise(_function))

Tensor.softmax = lambda self, axis=-1: ops.Softmax.apply(self, axis=axis)
Tensor.log_softmax = lambda self, axis=-1: ops.LogSoftmax.apply(self, axis=axis)


# ----- dtype and shape -------------------------------------------------------------------------
def _astype(self: Tensor, dtype) -> Tensor:
    """A copy with another dtype, gradient flowing back in the original dtype."""
    return ops.AsType.apply(self, dtype=np.dtype(dtype))


def _reshape(self: Tensor, *shape) -> Tensor:
    """a.reshape(2, 3) or a.reshape((2, 3)), as NumPy and PyTorch accept both."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return ops.Reshape.apply(self, shape=shape)


def _transpose(self: Tensor, *axes) -> Tensor:
    """All axes reversed, or permuted as given: a.transpose(1, 0) or a.transpose((1, 0))."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return ops.Transpose.apply(self, axes=axes or None)


Tensor.astype = _astype
Tensor.float = lambda self: _astype(self, np.float32)
Tensor.double = lambda self: _astype(self, np.float64)
Tensor.reshape = _reshape
Tensor.transpose = _transpose
Tensor.T = property(lambda self: ops.Transpose.apply(self, axes=None))
Tensor.__getitem__ = lambda self, index: ops.GetItem.apply(self, index=index)
