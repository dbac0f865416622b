"""A small reverse-mode autograd over NumPy arrays, in PyTorch's dialect.

    Tensor, tensor           arrays that record how they were computed
    Function, Context        how one operation computes forward and backward
    no_grad                  switch graph recording off
    gradcheck                compare backward with finite differences
    to_dot                   the computation graph as Graphviz text
"""
from .tensor import Tensor, tensor  # noqa: I001  (tensor first: it pulls in ops)
from .function import Context, Function, is_grad_enabled, no_grad, set_grad_enabled, unbroadcast
from .engine import backward, topological_order
from .ops import ShapeError
from . import ops, nn_ops
from .gradcheck import GradcheckResult, gradcheck
from .dot import render_dot, to_dot


def _check_tensors(name, tensors):
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{name} needs at least one tensor, got an empty sequence")
    return [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis (np.concatenate / torch.cat)."""
    return ops.Concatenate.apply(*_check_tensors("concatenate", tensors), axis=axis)


def stack(tensors, axis=0):
    """Join same-shaped tensors along a new axis (np.stack / torch.stack)."""
    return ops.Stack.apply(*_check_tensors("stack", tensors), axis=axis)


__all__ = [
    "Tensor", "tensor", "Function", "Context", "no_grad", "set_grad_enabled", "is_grad_enabled",
    "unbroadcast", "backward", "topological_order", "ShapeError", "gradcheck", "GradcheckResult",
    "to_dot", "render_dot", "concatenate", "stack",
]
