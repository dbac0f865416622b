"""lorabook: learn Low-Rank Adaptation from a NumPy autograd up.

    import lorabook as lb
    from lorabook import nn, optim

The autograd (`Tensor`, `tensor`, `no_grad`, `gradcheck`, `to_dot`) is
available at the top level, as in PyTorch.
"""
from .autograd import (
    Context, Function, Tensor, concatenate, gradcheck, no_grad, render_dot, stack, tensor, to_dot,
)
from .random import manual_seed
from . import nn, optim

__version__ = "0.1.0"
