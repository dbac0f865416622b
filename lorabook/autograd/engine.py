"""Reverse-mode differentiation: walk the graph backwards, applying the chain rule.

    dL/d(input) = sum over the uses of input of  backward(dL/d(output))

`backward(root)` orders the graph's nodes so that every node comes after
all the nodes that use it (a topological order, found with an explicit
stack rather than recursion, so a graph 100,000 operations deep is fine),
then visits them in that order, handing each Function the gradient of its
output and collecting the gradients of its inputs. A tensor used twice
(`a + a`) receives the sum of both contributions.
"""
from __future__ import annotations

import numpy as np

from .errors import ShapeError
from .function import unbroadcast


def topological_order(root):
    """Tensors that need a gradient, each listed after every tensor computed from it.

    The root comes first and the leaves (parameters, inputs) come last.
    """
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        if node._ctx is not None:
            for parent in node._ctx.inputs:
                if parent.requires_grad and parent not in visited:
                    stack.append((parent, False))
    order.reverse()
    return order


def backward(root, grad=None, retain_graph=False):
    """Accumulate d(root)/d(leaf) into `.grad` of every leaf that requires grad.

    grad: the gradient of some scalar with respect to `root`, same shape as
    root; may be omitted only when root holds a single element (then 1).
    retain_graph: keep the arrays saved for backward, so that backward can be
    called through the same graph again.
    """
    if not root.requires_grad:
        raise RuntimeError(
            "backward() called on a tensor that does not require grad: no input of the "
            "computation had requires_grad=True (or it ran inside no_grad())"
        )
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a scalar output, but the output has shape "
                f"{root.shape}; reduce it first (e.g. .sum() or .mean()) or pass "
                f"grad= of shape {root.shape}"
            )
        grad = np.ones_like(root.data)
    else:
        grad = np.array(getattr(grad, "data", grad), dtype=root.data.dtype)  # a copy: ours to keep
        if grad.shape != root.shape:
            raise ValueError(
                f"grad has shape {grad.shape} but the tensor it is the gradient of has shape "
                f"{root.shape}; they must match"
            )

    pending = {root: grad}  # tensors hash by identity
    handed_to_a_leaf = set()  # ids of arrays stored as some .grad in this pass
    for node in topological_order(root):
        node_grad = pending.pop(node, None)
        if node_grad is None:
            continue
        ctx = node._ctx
        if ctx is None or node._retains_grad:
            _accumulate(node, node_grad, handed_to_a_leaf)
        if ctx is None:
            continue
        input_grads = ctx.function.backward(ctx, node_grad)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(ctx.inputs):
            raise RuntimeError(
                f"{ctx.function.__name__}.backward returned {len(input_grads)} gradient(s) for "
                f"{len(ctx.inputs)} input(s); return one per input of forward, None where none is needed"
            )
        for position, (parent, parent_grad) in enumerate(zip(ctx.inputs, input_grads)):
            if parent_grad is None or not parent.requires_grad:
                continue
            data = parent.data
            if parent_grad.shape != data.shape:
                try:
                    parent_grad = unbroadcast(parent_grad, data.shape)
                except ShapeError:
                    raise ShapeError(
                        f"{ctx.function.__name__}.backward returned a gradient of shape {parent_grad.shape} "
                        f"for input {position}, which has shape {data.shape}; a gradient must have its "
                        f"input's shape (or a shape it broadcasts to)"
                    ) from None
            if parent_grad.dtype != data.dtype:
                parent_grad = parent_grad.astype(data.dtype)
            if parent in pending:
                pending[parent] = pending[parent] + parent_grad
            else:
                pending[parent] = parent_grad
        if not retain_graph:
            ctx.free()


def _accumulate(tensor, grad, handed_to_a_leaf):
    """tensor.grad += grad, never aliasing an array another .grad also holds."""
    if tensor.grad is not None:
        tensor.grad = tensor.grad + grad
        return
    # A pass-through gradient (from + or reshape) may be the very array another
    # leaf receives, or a read-only broadcast view; each .grad gets its own.
    if id(grad) in handed_to_a_leaf or not grad.flags.writeable or not grad.flags.owndata:
        grad = np.array(grad)
    handed_to_a_leaf.add(id(grad))
    tensor.grad = grad
