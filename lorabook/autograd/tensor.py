"""`Tensor`: a NumPy array that remembers how it was computed.

    x = lorabook.tensor([[1.0, 2.0]], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad            # array([[2., 4.]], dtype=float32)

A tensor made by an operation keeps a `Context` (`_ctx`) pointing to the
Function that made it and to its inputs; `backward()` walks those links in
reverse. Leaves (tensors you create) get `.grad` filled in; intermediate
tensors do not, unless you call `retain_grad()` on them, as in PyTorch.
"""
from __future__ import annotations

import numbers

import numpy as np

from .errors import ShapeError

DEFAULT_DTYPE = np.float32


def _as_array(data, dtype):
    """`data` as an ndarray: a float NumPy array keeps its dtype, anything else becomes float32."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, (np.ndarray, np.floating)) and data.dtype.kind == "f":
        return np.asarray(data)
    return np.asarray(data, dtype=DEFAULT_DTYPE)


class Tensor:
    """An n-dimensional array with an optional gradient.

    data: the np.ndarray of values.  grad: an np.ndarray of the same shape
    as data, or None until a gradient arrives.  requires_grad: whether
    operations on it are recorded so that backward() can reach it.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_retains_grad", "name", "__weakref__")
    # Make `ndarray + Tensor` call Tensor.__radd__ instead of NumPy's own loop.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        self.data = _as_array(data, dtype)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        if self.requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.data.dtype}")
        self._ctx = None
        self._retains_grad = False
        self.name = name

    @classmethod
    def _wrap(cls, array, requires_grad):
        """Fast constructor for operation outputs (no conversion, no checks)."""
        tensor = object.__new__(Tensor)
        tensor.data = array
        tensor.grad = None
        tensor.requires_grad = requires_grad
        tensor._ctx = None
        tensor._retains_grad = False
        tensor.name = None
        return tensor

    # ----- array-like facts -------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def __bool__(self):
        # As in PyTorch: only a one-element tensor has a truth value.
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements (shape {self.shape}) "
                             "is ambiguous; use t.data.any() or t.data.all(), or t.item() for one element")
        return bool(self.data.item())

    def numpy(self):
        """The values as an ndarray (shared, not copied, as in PyTorch)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def item(self):
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.item()

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        """Name of the Function that made this tensor, or None for a leaf."""
        return None if self._ctx is None else self._ctx.function.__name__

    # ----- graph control ----------------------------------------------------
    def detach(self):
        """Same values (shared memory), cut off from the graph."""
        return Tensor._wrap(self.data, False)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        """Keep `.grad` on this intermediate tensor after backward()."""
        self._retains_grad = True
        return self

    def backward(self, grad=None, retain_graph=False):
        """Fill `.grad` of every leaf this tensor depends on; see engine.backward."""
        from .engine import backward

        backward(self, grad, retain_graph)

    def astype(self, dtype):
        """A copy with another dtype, gradient flowing back in the original dtype."""
        return ops.AsType.apply(self, dtype=np.dtype(dtype))

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    # ----- arithmetic (broadcasting as in NumPy) -----------------------------
    def _operand(self, other):
        """Wrap a number or array as a constant tensor of this tensor's dtype."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, numbers.Number):
            return Tensor._wrap(np.asarray(other, dtype=self.data.dtype), False)
        return Tensor._wrap(_as_array(other, None), False)

    def __add__(self, other):
        return ops.Add.apply(self, self._operand(other))

    def __radd__(self, other):
        return ops.Add.apply(self._operand(other), self)

    def __sub__(self, other):
        return ops.Sub.apply(self, self._operand(other))

    def __rsub__(self, other):
        return ops.Sub.apply(self._operand(other), self)

    def __mul__(self, other):
        return ops.Mul.apply(self, self._operand(other))

    def __rmul__(self, other):
        return ops.Mul.apply(self._operand(other), self)

    def __truediv__(self, other):
        return ops.Div.apply(self, self._operand(other))

    def __rtruediv__(self, other):
        return ops.Div.apply(self._operand(other), self)

    def __pow__(self, exponent):
        if isinstance(exponent, numbers.Number):
            return ops.PowScalar.apply(self, exponent=exponent)
        return ops.Pow.apply(self, self._operand(exponent))

    def __rpow__(self, base):
        return ops.Pow.apply(self._operand(base), self)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __matmul__(self, other):
        return ops.MatMul.apply(self, self._operand(other))

    def __rmatmul__(self, other):
        return ops.MatMul.apply(self._operand(other), self)

    # ----- in place: `p -= lr * p.grad` ---------------------------------------
    # Without these, Python would turn `p -= x` into `p = p - x`: a new tensor
    # bound to the loop variable, and the parameter itself never changes.
    def _in_place(self, symbol, ufunc, other):
        from .function import is_grad_enabled

        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(
                f"`t {symbol}= ...` on a tensor that requires grad would not be recorded in the graph; "
                f"update parameters inside `with lorabook.no_grad():`, or write `t = t {symbol} ...` "
                f"for a new tensor"
            )
        value = other.data if isinstance(other, Tensor) else other
        try:
            result = ufunc(self.data, value)
        except ValueError:
            result = None  # shapes that do not broadcast at all
        if result is None or result.shape != self.shape:
            raise ShapeError(f"`t {symbol}= other`: t has shape {self.shape}, other has shape "
                             f"{np.shape(value)}; the result must keep t's shape")
        if not np.can_cast(result.dtype, self.dtype, casting="same_kind"):
            raise TypeError(f"`t {symbol}= other` would turn t's {self.dtype} into {result.dtype}")
        # A new array, not an overwrite of the old one: a Function may hold the old
        # array for its backward, which must still see the values it was given.
        self.data = result.astype(self.dtype, copy=False)
        return self

    def __iadd__(self, other):
        return self._in_place("+", np.add, other)

    def __isub__(self, other):
        return self._in_place("-", np.subtract, other)

    def __imul__(self, other):
        return self._in_place("*", np.multiply, other)

    def __itruediv__(self, other):
        return self._in_place("/", np.true_divide, other)

    # ----- reductions -------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    # ----- elementwise functions ----------------------------------------------
    def exp(self):
        return ops.Exp.apply(self)

    def log(self):
        return ops.Log.apply(self)

    def sqrt(self):
        return ops.Sqrt.apply(self)

    def tanh(self):
        return ops.Tanh.apply(self)

    def sigmoid(self):
        return ops.Sigmoid.apply(self)

    def relu(self):
        return ops.ReLU.apply(self)

    def gelu(self):
        return ops.GELU.apply(self)

    def softmax(self, axis=-1):
        return ops.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis=-1):
        return ops.LogSoftmax.apply(self, axis=axis)

    # ----- shape ------------------------------------------------------------
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.Reshape.apply(self, shape=shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.Transpose.apply(self, axes=axes or None)

    @property
    def T(self):
        return ops.Transpose.apply(self, axes=None)

    def __getitem__(self, index):
        return ops.GetItem.apply(self, index=index)

    # ----- printing -----------------------------------------------------------
    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extras = []
        if self.data.dtype != DEFAULT_DTYPE:
            extras.append(f"dtype={self.data.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self.grad_fn}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"


def tensor(data, requires_grad=False, dtype=None):
    """Make a Tensor, as torch.tensor does.

    data: a number, nested list or ndarray, always copied. dtype: None keeps
    a float NumPy array's dtype and turns anything else into float32.
    """
    return Tensor(np.array(_as_array(data, dtype)), requires_grad=requires_grad, dtype=dtype)


from . import ops  # noqa: E402  (ops needs the Tensor class defined above)
