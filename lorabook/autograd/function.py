"""The Function / Context split: how one operation computes forward and backward.

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

from operator import attrgetter

from . import grad_mode
from .tensor import Tensor

# t.requires_grad, t.data and t._version of every input, read with map() in Function.apply: it runs for
# every operation, and a comprehension costs a function call of its own (before Python 3.12).
_requires_grad, _data, _version = attrgetter("requires_grad"), attrgetter("data"), attrgetter("_version")


class Context:
    """What one Function call remembers between forward and backward.

    Set by Function.apply: `function` (the Function class), `inputs` (the
    input Tensors), `needs_input_grad` (a bool per input), `versions` (each
    input's version at forward, compared again at backward if anything was
    changed in place since) and `in_place_changes` (grad_mode's count then).
    """

    # Class-level defaults: most contexts never change them, and a context is
    # made for every operation, so each attribute set per call costs time.
    function = None
    inputs = ()
    versions = ()
    in_place_changes = 0
    _saved = ()
    _freed = False

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad

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
        """Let go of what only backward needed (after backward, unless retain_graph=True).

        The saved arrays and the links to the inputs are dropped, as PyTorch
        frees its graph: a loop that keeps last step's `loss` then keeps none
        of that step's activations alive. (The graph is gone with them: draw
        it before backward, or call backward(retain_graph=True).)
        """
        self._saved = ()
        self._freed = True
        self.inputs = ()


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
        needs_input_grad = tuple(map(_requires_grad, inputs))
        ctx = Context(needs_input_grad)
        output = cls.forward(ctx, *map(_data, inputs), **options)
        if not (grad_mode._enabled and True in needs_input_grad):
            return Tensor._wrap(output, False)
        ctx.function = cls
        ctx.inputs = inputs
        ctx.versions = tuple(map(_version, inputs))
        ctx.in_place_changes = grad_mode.in_place_changes
        return Tensor._wrap(output, True, ctx)
