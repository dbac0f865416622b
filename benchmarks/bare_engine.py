"""The leanest engine of lorabook's design, with none of its checks: a floor for bench_overhead.

It keeps what the design itself needs: one Context and one Tensor per
operation, lorabook's own Functions for the arithmetic, lorabook's graph
walk (which checks nothing) and a backward that hands each Function its output's gradient and adds up
its inputs'. It drops everything lorabook's engine adds on top:

  - no version counters, so a value changed in place after forward goes unnoticed;
  - no check of what a Function's backward returned (count, shape, dtype), no unbroadcasting;
  - no copy of a gradient array that two leaves (or a leaf and a view) would share;
  - no no_grad(), retain_graph, retain_grad() or second-backward error;
  - no argument checks, no Modules, no optimizer.

A step on this engine costs what the design costs; lorabook's step minus
this one is what its guarantees and its conveniences cost. It is written
for measuring and must never be used to train anything else.
"""
from __future__ import annotations

import numpy as np

from lorabook.autograd.function import Context
from lorabook.autograd.graph import walk


class BareTensor:
    __slots__ = ("data", "grad", "_ctx", "requires_grad")  # `_ctx`, as Tensor's: walk follows it

    def __init__(self, data, requires_grad=False, ctx=None):
        self.data, self.grad, self._ctx, self.requires_grad = data, None, ctx, requires_grad


def apply(function, *inputs, **options):
    """Run function.forward on the inputs' arrays and record the node (always: every input here is trained)."""
    ctx = Context(tuple([tensor.requires_grad for tensor in inputs]))
    output = function.forward(ctx, *[tensor.data for tensor in inputs], **options)
    ctx.function, ctx.inputs = function, inputs
    return BareTensor(output, True, ctx)


def backward(root):
    """d(root)/d(leaf) into every leaf's .grad: walk the graph in reverse topological order."""
    grads = {root: np.ones((), root.data.dtype)}
    for node in reversed(walk(root, needs_grad_only=True, leaves=False)):
        ctx = node._ctx
        input_grads = ctx.function.backward(ctx, grads.pop(node))
        if type(input_grads) is not tuple:
            input_grads = (input_grads,)
        for parent, grad in zip(ctx.inputs, input_grads):
            if grad is None:
                continue
            if parent._ctx is None:  # a leaf
                parent.grad = grad if parent.grad is None else parent.grad + grad
            else:
                grads[parent] = grads[parent] + grad if parent in grads else grad
        ctx.inputs = ()
