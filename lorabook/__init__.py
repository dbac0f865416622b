"""lorabook: learn Low-Rank Adaptation from a NumPy autograd up.

    import lorabook as lb
    from lorabook import nn, optim

The autograd (`Tensor`, `tensor`, `no_grad`, `gradcheck`, `to_dot`) is
available at the top level, as in PyTorch; so are the subpackages nn, optim,
lora, analysis, data and train. `lorabook.plots` (matplotlib) and
`lorabook.experiments` load on their own import.
"""
from . import analysis, data, lora, nn, optim, train  # plots and experiments: import them when needed
from .autograd import (
    Context, Function, Tensor, concatenate, gradcheck, no_grad, render_dot, stack, tensor, to_dot,
)
from .random import manual_seed

__version__ = "0.1.0"
