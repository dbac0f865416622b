"""A small reverse-mode autograd over NumPy arrays, in PyTorch's dialect.

    Tensor, tensor           arrays that record how they were computed
    Function, Context        how one operation computes forward and backward
    backward                 the engine: the chain rule over the recorded graph
    no_grad                  switch graph recording off
    gradcheck                compare backward with finite differences
    to_dot                   the computation graph as Graphviz text

Reading order: tensor.py, function.py, ops.py (one operation per class),
operators.py (which operator calls which operation), engine.py.
"""
from . import nn_ops, operators, ops  # noqa: F401  (operators: binds +, *, @, .sum() ... onto Tensor)
from .dot import render_dot, to_dot
from .engine import backward, topological_order, unbroadcast
from .errors import ShapeError
from .function import Context, Function
from .grad_mode import is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckResult, gradcheck
from .graph import inputs_of, walk
from .tensor import Tensor, tensor


def _check_tensors(name, tensors):
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{name} needs at least one tensor, got an empty sequence")
    return [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (np.concatenate / torch.cat)."""
    return ops.Concatenate.apply(*_check_tensors("concatenate", tensors), axis=axis)


def stack(tensors, axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis (np.stack / torch.stack)."""
    return ops.Stack.apply(*_check_tensors("stack", tensors), axis=axis)


__all__ = [
    "Tensor", "tensor", "Function", "Context", "no_grad", "set_grad_enabled", "is_grad_enabled",
    "unbroadcast", "backward", "topological_order", "walk", "inputs_of", "ShapeError", "gradcheck",
    "GradcheckResult", "to_dot", "render_dot", "concatenate", "stack",
]
