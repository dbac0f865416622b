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


def walk(root, needs_grad_only=False, leaves=True):
    """Every tensor `root` was computed from, each listed after all of its inputs.

    Leaves come first, `root` comes last; inputs are visited in the order the
    operation takes them, so the same computation always gives the same list.
    needs_grad_only: skip tensors that do not require grad (and what they
    were computed from): backward has nothing to do there.
    leaves=False: list only tensors made by an operation (and `root`, always):
    backward hands a leaf its gradient the moment it arrives, so it never
    needs to visit one, and half the tensors of an MLP's graph are leaves.
    """
    order, seen = [], {root}
    # The path from root down to the tensor being listed, each with an iterator over its inputs not yet
    # looked at: a tensor leaves the path (and is listed) only when all of its inputs are listed.
    path = [(root, iter(inputs_of(root)))]
    while path:
        for parent in path[-1][1]:
            if parent in seen or (needs_grad_only and not parent.requires_grad):
                continue
            if parent._ctx is None:  # a leaf: nothing to list before it
                if leaves:
                    seen.add(parent)
                    order.append(parent)
            else:
                seen.add(parent)
                path.append((parent, iter(parent._ctx.inputs)))
                break  # list that input's own inputs first
        else:  # every input is listed: now the tensor itself
            order.append(path.pop()[0])
    return order
