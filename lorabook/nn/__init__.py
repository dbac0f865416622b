"""Modules in PyTorch's dialect: Module, Parameter, Linear, MLP, losses, init, functional."""
from . import functional, init
from .layers import (
    ACTIVATIONS, GELU, MLP, CrossEntropyLoss, Dropout, Identity, Linear, ModuleDict, ModuleList,
    MSELoss, ReLU, Sequential, Sigmoid, Tanh,
)
from .module import IncompatibleKeys, Module, Parameter
from .serialization import load, save

__all__ = [
    "functional", "init", "Module", "Parameter", "Linear", "ReLU", "Tanh", "GELU", "Sigmoid",
    "Identity", "Dropout", "Sequential", "MLP", "CrossEntropyLoss", "MSELoss", "save", "load",
    "ACTIVATIONS", "IncompatibleKeys", "ModuleDict", "ModuleList",
]
