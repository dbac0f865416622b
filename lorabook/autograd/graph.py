"""The one walk over a computation graph, shared by backward, `to_dot` and `plot_graph`.

A tensor made by an operation points to that operation's context (`_ctx`),
which points to the operation's input tensors: following these links from
a result reaches everything it was computed from. The walk uses an explicit
stack instead of recursion, so a graph 100,000 operations deep is fine.
"""
from __future__ import annotations


def inputs_of(tensor):
    """The input tensors of the operation that made `tensor`; () for a leaf
    (and after a backward without retain_graph, which frees the graph)."""
    ctx = tensor._ctx
    return () if ctx is None else ctx.inputs


def walk(root, needs_grad_only=False):
    """Every tensor `root` was computed from, each listed after all of its inputs.

    Leaves come first, `root` comes last; inputs are visited in the order the
    operation takes them, so the same computation always gives the same list.
    needs_grad_only: skip tensors that do not require grad (and what they
    were computed from): backward has nothing to do there.
    """
    order, seen = [], set()
    stack = [(root, False)]  # (tensor, are its inputs listed already?)
    while stack:
        node, inputs_listed = stack.pop()
        if inputs_listed:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            if node._ctx is None:  # a leaf: no inputs to list first
                order.append(node)
                continue
            stack.append((node, True))
            for parent in reversed(node._ctx.inputs):
                if parent not in seen and (parent.requires_grad or not needs_grad_only):
                    stack.append((parent, False))
    return order
