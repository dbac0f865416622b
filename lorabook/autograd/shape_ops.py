"""Shape operations: reshape, transpose, indexing, concatenate and stack.

None of them changes a value, they only move values around, so each
backward moves the gradient back to where the values came from; where an
index picks an element twice, its gradients are summed.
"""
from __future__ import annotations

import numpy as np

from .errors import ShapeError
from .function import Function


class Reshape(Function):
    """a.reshape(shape);  da = g.reshape(a.shape)."""

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape a tensor of shape {a.shape} ({a.size} elements) into {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Transpose(Function):
    """a.transpose(axes) (all axes reversed when axes is None);  da = g transposed back."""

    @staticmethod
    def forward(ctx, a, axes=None):
        ctx.axes = axes
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        if ctx.axes is None:
            return g.transpose()
        # Axes may be negative (as in NumPy); invert the permutation of their positive forms.
        return g.transpose(np.argsort([axis % g.ndim for axis in ctx.axes]))


def _plain_index(index):
    """Replace Tensors inside an index by their integer arrays."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    data = getattr(index, "data", None)
    if isinstance(data, np.ndarray):
        if data.dtype.kind == "f":
            # A float tensor may have been a bool mask or integer positions; guessing
            # which would silently pick the wrong elements, so ask for a plain array.
            raise TypeError(
                f"index: got a float Tensor of shape {data.shape}; index with an integer or boolean "
                f"NumPy array instead (e.g. np.array([0, 2]) or a mask like x.numpy() > 0)"
            )
        return data
    return index


def _is_basic(index):
    """True for ints, slices, None and Ellipsis only: then no element is picked twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


class GetItem(Function):
    """a[index];  the gradient is scattered back to the picked positions, summed
    where an index picks the same element more than once."""

    @staticmethod
    def forward(ctx, a, index):
        index = _plain_index(index)
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        return np.asarray(a[index])

    @staticmethod
    def backward(ctx, g):
        grad = np.zeros(ctx.shape, dtype=ctx.dtype)
        if _is_basic(ctx.index):
            grad[ctx.index] = g
        else:
            np.add.at(grad, ctx.index, g)
        return grad


def _check_axis(operation, axis, ndim):
    """axis as a non-negative int, or a clear error if it is not one of -ndim .. ndim - 1."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{operation}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{operation}: axis {axis} is out of range; expected {-ndim} <= axis < {ndim} here")
    return int(axis) % ndim


class Concatenate(Function):
    """concatenate(arrays, axis);  each input gets its slice of g."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ndims = {x.ndim for x in arrays}
        if len(ndims) > 1 or 0 in ndims:
            shapes = ", ".join(str(x.shape) for x in arrays)
            raise ShapeError(f"concatenate: tensors must have the same number of axes (at least 1), "
                             f"got shapes {shapes}")
        ctx.axis = axis = _check_axis("concatenate", axis, arrays[0].ndim)
        ctx.splits = np.cumsum([x.shape[axis] for x in arrays])[:-1]
        try:
            return np.concatenate(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(x.shape) for x in arrays)
            raise ShapeError(f"concatenate along axis {axis}: shapes {shapes} must match except on that axis") from None

    @staticmethod
    def backward(ctx, g):
        return tuple(np.split(g, ctx.splits, axis=ctx.axis))


class Stack(Function):
    """stack(arrays, axis) along a new axis;  each input gets its slice of g."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis = _check_axis("stack", axis, arrays[0].ndim + 1)  # the new axis may go last
        try:
            return np.stack(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(x.shape) for x in arrays)
            raise ShapeError(f"stack: all shapes must be equal, got {shapes}") from None

    @staticmethod
    def backward(ctx, g):
        return tuple(np.moveaxis(g, ctx.axis, 0))
