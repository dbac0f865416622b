"""`Tensor`: a NumPy array that remembers how it was computed.

    x = lorabook.tensor([[1.0, 2.0]], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad            # array([[2., 4.]], dtype=float32)

A tensor made by an operation keeps a `Context` (`_ctx`) pointing to the
Function that made it and to its inputs; `backward()` walks those links in
reverse. Leaves (tensors you create) get `.grad` filled in; intermediate
tensors do not, unless you call `retain_grad()` on them, as in PyTorch.

This module defines what a tensor *is*. Its arithmetic (`+`, `*`, `@`,
`.sum()`, `.exp()`, ...) maps each operator to one Function of ops.py; that
mapping is bound onto the class in operators.py, so that this module and
the operations do not import each other.
"""
from __future__ import annotations

import numbers
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from . import grad_mode
from .engine import backward as _backward
from .errors import ShapeError

DEFAULT_DTYPE = np.float32

ArrayLike = Union["Tensor", np.ndarray, numbers.Real, Sequence]


class Tensor:
    """An n-dimensional array with an optional gradient.

    data: the np.ndarray of values.  grad: an np.ndarray of the same shape
    as data, or None until a gradient arrives.  requires_grad: whether
    operations on it are recorded so that backward() can reach it.
    _version: how many times data was changed in place (see bump_version).
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_retains_grad", "_version", "name", "_spent_grad",
                 "__weakref__")
    # Make `ndarray + Tensor` call Tensor.__radd__ instead of NumPy's own loop.
    __array_ufunc__ = None

    def __init__(self, data: ArrayLike, requires_grad: bool = False, dtype=None, name: Optional[str] = None):
        self.data = _as_array(data, dtype)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        if self.requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.data.dtype}")
        self._ctx = None
        self._retains_grad = False
        self._version = 0
        self.name = name

    @staticmethod
    def _wrap(array, requires_grad, ctx=None):
        """Fast constructor for operation outputs (no conversion, no checks)."""
        tensor = object.__new__(Tensor)
        tensor.data = array
        tensor.grad = None
        tensor.requires_grad = requires_grad
        tensor._ctx = ctx
        tensor._retains_grad = False
        tensor._version = 0
        tensor.name = None
        return tensor

    # ----- array-like facts -------------------------------------------------
    @property
    def shape(self) -> Tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        # As in PyTorch: only a one-element tensor has a truth value.
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements (shape {self.shape}) "
                             "is ambiguous; use t.data.any() or t.data.all(), or t.item() for one element")
        return bool(self.data.item())

    def numpy(self) -> np.ndarray:
        """The values as an ndarray (shared, not copied, as in PyTorch)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def item(self) -> float:
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.item()

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> Optional[str]:
        """Name of the Function that made this tensor, or None for a leaf."""
        return None if self._ctx is None else self._ctx.function.__name__

    # ----- graph control ----------------------------------------------------
    def detach(self) -> "Tensor":
        """Same values (shared memory), cut off from the graph.

        Unlike PyTorch, the two tensors do not share a version counter: change
        the values in place through the tensor that the graph recorded.
        """
        return Tensor._wrap(self.data, False)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def clear_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradient: `.grad = None`, or with set_to_none=False zeros (in place, as PyTorch).

        The old array is let go only when the next backward stores a new
        gradient here (`_spent_grad` holds it until then). Freed right away,
        before the next forward, a large model's gradients (11 MB for a
        784-1024-1024-1024-10 MLP) leave a free block at the top of the heap
        that glibc hands back to the system, and the next forward and backward
        page-fault all of it in again, every step (1.2x the step time there).
        Freed during backward, its memory is reused as in any other step.
        """
        grad = self.grad
        if set_to_none or grad is None:
            self._spent_grad, self.grad = grad, None
        elif grad.flags.writeable and grad.base is None:
            grad.fill(0)
        else:  # a view or a read-only array the user put there: not ours to overwrite
            self.grad = np.zeros_like(grad)

    def retain_grad(self) -> "Tensor":
        """Keep `.grad` on this intermediate tensor after backward()."""
        self._retains_grad = True
        return self

    def backward(self, grad: Optional[ArrayLike] = None, retain_graph: bool = False) -> None:
        """Fill `.grad` of every leaf this tensor depends on; see engine.backward."""
        _backward(self, grad, retain_graph)

    # ----- changes in place: `p -= lr * p.grad` -------------------------------
    def bump_version(self) -> "Tensor":
        """Record that `data` was changed in place; returns the tensor.

        A Function that saved this tensor's array for backward compares the
        version it saw in forward with the version at backward, and refuses
        to compute gradients from changed values (as PyTorch does). The
        in-place operators below and the optimizers call this themselves;
        code that writes into `t.data` directly (`t.data[...] = v`) must call
        it after the write. Rebinding (`t.data = new_array`) needs no call:
        the graph keeps the old array.
        """
        self._version += 1
        grad_mode.in_place_changes += 1  # backward checks versions only when this moved (see grad_mode)
        return self

    # Without these, Python would turn `p -= x` into `p = p - x`: a new tensor
    # bound to the loop variable, and the parameter itself never changes.
    def _in_place(self, symbol, ufunc, other):
        if self.requires_grad and grad_mode._enabled:
            raise RuntimeError(
                f"`t {symbol}= ...` on a tensor that requires grad would not be recorded in the graph; "
                f"update parameters inside `with lorabook.no_grad():`, or write `t = t {symbol} ...` "
                f"for a new tensor"
            )
        value = other.data if isinstance(other, Tensor) else other
        if not isinstance(value, (np.ndarray, numbers.Number)):
            value = np.asarray(value)
        try:
            fits = np.broadcast_shapes(self.shape, np.shape(value)) == self.shape
        except ValueError:
            fits = False  # shapes that do not broadcast at all
        if not fits:
            raise ShapeError(f"`t {symbol}= other`: t has shape {self.shape}, other has shape "
                             f"{np.shape(value)}; the result must keep t's shape")
        if not self.data.flags.writeable:
            raise ValueError(f"`t {symbol}= other`: t's array is read-only (a broadcast view, or marked so); "
                             f"write `t = t {symbol} other` for a new tensor")
        result_dtype = np.result_type(self.data, value)
        if not np.can_cast(result_dtype, self.dtype, casting="same_kind"):
            raise TypeError(f"`t {symbol}= other` would turn t's {self.dtype} into {result_dtype}")
        ufunc(self.data, value, out=self.data, casting="same_kind")  # the same array: no new memory
        return self.bump_version()

    def __iadd__(self, other):
        return self._in_place("+", np.add, other)

    def __isub__(self, other):
        return self._in_place("-", np.subtract, other)

    def __imul__(self, other):
        return self._in_place("*", np.multiply, other)

    def __itruediv__(self, other):
        return self._in_place("/", np.true_divide, other)

    # ----- printing -----------------------------------------------------------
    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extras = []
        if self.data.dtype != DEFAULT_DTYPE:
            extras.append(f"dtype={self.data.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self.grad_fn}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"


def tensor(data: ArrayLike, requires_grad: bool = False, dtype=None) -> Tensor:
    """Make a Tensor, as torch.tensor does.

    data: a number, nested list or ndarray, always copied. dtype: None keeps
    a float NumPy array's dtype and turns anything else into float32.
    """
    return Tensor(np.array(_as_array(data, dtype)), requires_grad=requires_grad, dtype=dtype)


def _as_array(data, dtype):
    """`data` as an ndarray: a float NumPy array keeps its dtype, anything else becomes float32.

    Only real numbers (and bools) are accepted: NumPy would turn None into
    nan, and drop the imaginary part of a complex number, without a word.
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is None and isinstance(data, np.ndarray) and data.dtype.kind == "f":
        return data  # the common case, first and fast
    keeps_dtype = isinstance(data, (np.ndarray, np.floating)) and data.dtype.kind == "f"
    given = data
    if not isinstance(data, (np.ndarray, np.generic)):
        try:
            data = np.asarray(data)
        except ValueError as error:  # ragged nested lists
            raise ValueError(f"tensor data must be a number or a rectangular nested list, got "
                             f"{_show(data)}: {error}") from None
    if data.dtype.kind not in "fiub":
        # As objects, a list's entries keep their own types: [1.0, "x"] names "x", not "1.0".
        raise TypeError(_not_real_message(data if data is given else np.array(given, dtype=object)))
    return np.asarray(data, dtype=dtype if dtype is not None else (None if keeps_dtype else DEFAULT_DTYPE))


def _not_real_message(array):
    if array.dtype.kind == "c":
        return f"tensor data must be real numbers, got complex values (dtype {array.dtype})"
    for index in np.ndindex(array.shape):
        value = array[index]
        if not isinstance(value, numbers.Real):
            position = f" at index {index}" if index else ""
            return (f"tensor data must be real numbers, got {_show(value)} "
                    f"(a {type(value).__name__}){position}")
    return f"tensor data must be real numbers, got an array of dtype {array.dtype}"


def _show(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
