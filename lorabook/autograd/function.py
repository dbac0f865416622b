"""The Function / Context split, gradient mode, and the one shared unbroadcast.

Every differentiable operation is a `Function` subclass with two static
methods that work on plain NumPy arrays:

    forward(ctx, *arrays, **options)  -> output array
    backward(ctx, grad_output)        -> one gradient (or None) per input

`ctx` is a `Context`: forward stores in it what backward will need
(`ctx.save_for_backward(...)`, or plain attributes for small things like an
axis), and `ctx.needs_input_grad` tells backward which gradients to skip.
Skipping matters: a frozen weight (requires_grad=False) must cost nothing
in backward, and that is exactly where LoRA's saving comes from.

Backward functions never modify `grad_output` in place (it may be shared
with other branches of the graph) and may return gradients with the
broadcast shape: the engine sums them back to each input's shape with
`unbroadcast`, in one place, for every operation.
"""
from __future__ import annotations

from .errors import ShapeError

_grad_enabled = True


def is_grad_enabled():
    """True unless inside a `no_grad()` block."""
    return _grad_enabled


class set_grad_enabled:
    """Context manager (and decorator) turning graph building on or off."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self.previous = None

    def __enter__(self):
        global _grad_enabled
        self.previous = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc_info):
        global _grad_enabled
        _grad_enabled = self.previous
        return False

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):
                return func(*args, **kwargs)

        wrapper.__name__ = getattr(func, "__name__", "wrapper")
        wrapper.__doc__ = getattr(func, "__doc__", None)
        return wrapper


class no_grad(set_grad_enabled):
    """`with no_grad():` runs operations without recording a graph.

    Use it for evaluation and for optimizer updates, as in PyTorch. As a
    decorator it works with or without parentheses: `@no_grad()` or `@no_grad`.
    """

    def __new__(cls, func=None):
        instance = super().__new__(cls)
        if func is None:
            return instance
        instance.__init__()
        return instance(func)  # `@no_grad` without parentheses: decorate right away

    def __init__(self, func=None):
        super().__init__(False)


class Context:
    """What one Function call remembers between forward and backward.

    Attributes set by the engine: `function` (the Function class),
    `inputs` (the input Tensors) and `needs_input_grad` (a bool per input).
    """

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.function = None
        self.inputs = ()
        self._saved = ()
        self._freed = False

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time: its saved arrays were freed "
                "after the first backward. Call backward(retain_graph=True) the first time if you "
                "need to go through the same graph twice."
            )
        return self._saved

    def free(self):
        """Drop the saved arrays (called after backward unless retain_graph=True)."""
        self._saved = ()
        self._freed = True


def unbroadcast(grad, shape):
    """Sum `grad` back to `shape`, undoing NumPy broadcasting.

    If forward broadcast an input of shape (3, 1, 4) against one of shape
    (2, 4) to (3, 2, 4), each input element was used several times, so its
    gradient is the sum over the copies: over the leading axes that
    broadcasting added, and over every axis where the input had size 1.
    A grad that is no broadcast of `shape` (a wrong backward) is a ShapeError,
    never silently reshaped.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0 or any(size not in (1, wide) for size, wide in zip(shape, grad.shape[extra:])):
        raise ShapeError(f"a gradient of shape {grad.shape} cannot be summed back to shape {shape}: "
                         f"it is not a broadcast of that shape")
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


class Function:
    """Base class of every differentiable operation; see the module docstring."""

    @staticmethod
    def forward(ctx, *arrays, **options):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **options):
        """Run forward on the inputs' arrays and, if needed, record the graph node.

        All positional inputs must be Tensors; options are passed through.
        """
        needs_input_grad = tuple([t.requires_grad for t in inputs])
        ctx = Context(needs_input_grad)
        output = cls.forward(ctx, *[t.data for t in inputs], **options)
        requires_grad = _grad_enabled and any(needs_input_grad)
        result = Tensor._wrap(output, requires_grad)
        if requires_grad:
            ctx.function = cls
            ctx.inputs = inputs
            result._ctx = ctx
        return result


from .tensor import Tensor  # noqa: E402  (Tensor imports this module first)
