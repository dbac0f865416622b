"""lorabook: learn Low-Rank Adaptation from a NumPy autograd up."""
from .autograd import (
    Function, Tensor, concatenate, gradcheck, no_grad, stack, tensor, to_dot,
)

__version__ = "0.1.0"
