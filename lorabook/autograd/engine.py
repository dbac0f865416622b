"""Reverse-mode differentiation: walk the graph backwards, applying the chain rule.

    dL/d(input) = sum over the uses of input of  backward(dL/d(output))

`backward(root)` lists the tensors made by operations so that each comes
after everything computed from it (root first), then visits them in that
order: it hands each Function the gradient of its output and adds up the
gradients of its inputs. A tensor used twice (`a + a`) receives the sum of
both contributions. A leaf's gradients go straight into its `.grad` as they
arrive (adding up there, as PyTorch's AccumulateGrad does): a leaf has no
Function to run, so the walk need not list it. Everything else here is a
small helper with one rule each: checking the arguments, checking what a
backward returned, refusing arrays changed in place, and never letting two
`.grad` arrays share memory.
"""
from __future__ import annotations

import numpy as np

from . import grad_mode
from .errors import ShapeError
from .graph import walk


def backward(root, grad=None, retain_graph=False):
    """Accumulate d(root)/d(leaf) into `.grad` of every leaf that requires grad.

    grad: the gradient of some scalar with respect to `root`, same shape as
    root; may be omitted only when root holds a single element (then 1).
    retain_graph: keep the graph (the arrays saved for backward and the links
    to each operation's inputs), so that backward can go through it again.
    """
    grads = {root: _first_gradient(root, grad)}  # tensor -> dL/d(tensor), summed so far
    stored = set()  # ids of the arrays handed out as some .grad in this pass
    for node in reversed(walk(root, needs_grad_only=True, leaves=False)):  # root first, each node after its uses
        grad = grads.pop(node, None)
        if grad is None:  # its operation returned no gradient for it
            continue
        ctx = node._ctx
        if ctx is None or node._retains_grad:  # (the walk lists a leaf only when it is the root itself)
            _store_grad(node, grad, stored)
        if ctx is None:
            continue
        if ctx.in_place_changes != grad_mode.in_place_changes:  # something changed in place since forward
            _refuse_if_saved_arrays_changed(node, ctx)
        for parent, parent_grad in zip(ctx.inputs, _input_gradients(ctx, grad)):
            if parent_grad is None or not parent.requires_grad:  # the input needs no gradient
                continue
            # (`is not`: NumPy shares its dtype objects, so this cheap test nearly always settles it)
            if parent_grad.shape != parent.data.shape or parent_grad.dtype is not parent.data.dtype:
                parent_grad = _fit_to_input(parent_grad, parent, ctx)
            if parent._ctx is None:  # a leaf: nothing flows on from it, so .grad takes it now
                _store_grad(parent, parent_grad, stored)
            elif parent in grads:
                grads[parent] = grads[parent] + parent_grad
            else:
                grads[parent] = parent_grad
        if not retain_graph:
            ctx.free()


def topological_order(root):
    """Tensors that need a gradient, each listed before every tensor it was computed from.

    The root comes first and the leaves (parameters, inputs) come last.
    backward visits the tensors made by operations in this order; a leaf
    takes its gradient as it arrives, with no visit of its own.
    """
    return walk(root, needs_grad_only=True)[::-1]


def _first_gradient(root, grad):
    """dL/d(root) to start from: 1 for a one-element root, else `grad` (copied: ours to keep)."""
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
        return np.ones(root.data.shape, root.data.dtype)
    grad = np.array(getattr(grad, "data", grad), dtype=root.data.dtype)
    if grad.shape != root.shape:
        raise ValueError(
            f"grad has shape {grad.shape} but the tensor it is the gradient of has shape "
            f"{root.shape}; they must match"
        )
    return grad


def _input_gradients(ctx, grad):
    """dL/d(input) for each input of ctx's operation (None where the Function computed none).

    Runs the Function's backward and checks that it returned one gradient
    (or None) per input: a learner's own Function that forgets one should be
    told so, not have the rest silently matched to the wrong inputs.
    """
    if ctx._freed:  # also for Functions that saved nothing, whose backward would not notice
        ctx.saved_tensors  # raises the "second time" error
    input_grads = ctx.function.backward(ctx, grad)
    if type(input_grads) is not tuple:
        input_grads = (input_grads,)
    if len(input_grads) != len(ctx.inputs):
        raise RuntimeError(
            f"{ctx.function.__name__}.backward returned {len(input_grads)} gradient(s) for "
            f"{len(ctx.inputs)} input(s); return one per input of forward, None where none is needed"
        )
    return input_grads


def _fit_to_input(grad, tensor, ctx):
    """grad summed back to the input's shape (undoing broadcasting) and cast to its dtype.

    Operations may return gradients in the broadcast shape: doing the sum
    here, once, spares every backward its own. The cast keeps a float32
    parameter's gradient float32 when it met float64 values on the way.
    """
    data = tensor.data
    if grad.shape != data.shape:
        try:
            grad = unbroadcast(grad, data.shape)
        except ShapeError:
            position = next(i for i, t in enumerate(ctx.inputs) if t is tensor)
            raise ShapeError(
                f"{ctx.function.__name__}.backward returned a gradient of shape {grad.shape} "
                f"for input {position}, which has shape {data.shape}; a gradient must have its "
                f"input's shape (or a shape it broadcasts to)"
            ) from None
    if grad.dtype != data.dtype:
        grad = grad.astype(data.dtype)
    return grad


def _store_grad(tensor, grad, stored):
    """tensor.grad += grad, never letting two .grad arrays (or .grad and data) share memory.

    A pass-through gradient (from + or reshape) may be the very array another
    leaf receives, or a read-only broadcast view, or a view of someone's
    data; such a one is copied, so each .grad is an array of its own that the
    user (or an optimizer) may change in place. `stored`: ids of the arrays
    already handed out in this backward.
    """
    if tensor.grad is not None:
        tensor.grad = tensor.grad + grad
        return
    if id(grad) in stored or grad.base is not None or not grad.flags.writeable:  # base: a view
        grad = np.array(grad)
    stored.add(id(grad))
    tensor.grad = grad
    tensor._spent_grad = None  # the array clear_grad() let go of: freed now (see Tensor.clear_grad)


def _refuse_if_saved_arrays_changed(node, ctx):
    """Refuse to differentiate with values that were changed in place after forward.

    A Function may save its inputs' arrays (or its output) for backward. If
    one of them was changed in place since (an optimizer step between
    forward and backward, `t += 1`), backward would compute the gradient of
    a computation that never happened, silently. Each change bumps the
    tensor's version and forward recorded the versions it saw; backward
    calls this when anything at all was changed in place since, and a
    changed tensor whose memory the operation saved is an error, as in
    PyTorch.
    """
    changed = [(t, seen) for t, seen in zip(ctx.inputs, ctx.versions) if t._version != seen]
    if node._version != 0:
        changed.append((node, 0))
    saved = [a for a in ctx._saved if isinstance(a, np.ndarray)]
    for tensor, seen in changed:
        if any(np.may_share_memory(tensor.data, array) for array in saved):
            role = "the output" if tensor is node else "an input"
            name = f"{tensor.name!r} " if tensor.name else ""
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"in-place operation: tensor {name}of shape {tensor.shape} ({role} of "
                f"{ctx.function.__name__}) is at version {tensor._version}; expected version {seen}. "
                f"Change values in place only after backward (e.g. optimizer.step() after "
                f"loss.backward()), or compute the graph again after the change."
            )


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
