"""Layers: Linear, activations, Dropout, Sequential, MLP and the two losses."""
from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from .._checks import check_choice, check_float, check_int
from ..autograd.tensor import ArrayLike, Tensor
from ..random import get_generator
from . import functional as F
from . import init
from .module import Module, Parameter

Generator = Union[np.random.Generator, int, None]


class Linear(Module):
    """y = x W^T + b with weight (out_features, in_features), bias (out_features,).

    Initialised as PyTorch does: W and b ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, generator: Generator = None,
                 dtype=np.float32):
        super().__init__()
        self.in_features = check_int("in_features", in_features, low=1)
        self.out_features = check_int("out_features", out_features, low=1)
        rng = get_generator(generator)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=rng)
        if bias:
            bound = 1 / math.sqrt(in_features)
            self.bias = Parameter(np.empty(out_features, dtype=dtype))
            init.uniform_(self.bias, -bound, bound, generator=rng)
        else:
            self.bias = None

    def forward(self, x: ArrayLike) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    def forward(self, x: ArrayLike) -> Tensor:
        return F.relu(x)


class Tanh(Module):
    def forward(self, x: ArrayLike) -> Tensor:
        return F.tanh(x)


class GELU(Module):
    def forward(self, x: ArrayLike) -> Tensor:
        return F.gelu(x)


class Sigmoid(Module):
    def forward(self, x: ArrayLike) -> Tensor:
        return F.sigmoid(x)


class Identity(Module):
    def forward(self, x):
        return x


class Dropout(Module):
    """Drops each input with probability p while training; the identity in eval()."""

    def __init__(self, p: float = 0.5, generator: Generator = None):
        super().__init__()
        self.p = check_float("p", p, low=0.0, high=1.0, high_open=True)
        # An int seed becomes one Generator now: re-seeding at every call would drop the same units each step.
        self.generator = None if generator is None else get_generator(generator)

    def forward(self, x: ArrayLike) -> Tensor:
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self):
        return f"p={self.p}"


class _NumberedChildren(Module):
    """Children registered as "0", "1", ... and reached by position: what
    Sequential and ModuleList share (indexing, len, iteration)."""

    def _append_child(self, module, owner):
        if not isinstance(module, Module):
            raise TypeError(f"{owner}: item {len(self._modules)} must be a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Sequential(_NumberedChildren):
    """Runs its children in order; they are named "0", "1", ... as in PyTorch."""

    def __init__(self, *modules: Module):
        super().__init__()
        for module in modules:
            self._append_child(module, "Sequential")

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        """One child, or for a slice a new Sequential of those children, keeping their names
        (as in PyTorch: MLP([64, 128, 10])[:2] holds "0" and "1", sharing their parameters)."""
        if isinstance(index, slice):
            part = Sequential()
            for name, module in list(self._modules.items())[index]:
                setattr(part, name, module)
            return part
        return super().__getitem__(index)


class ModuleList(_NumberedChildren):
    """A list of modules, registered as children "0", "1", ... (no forward of its own)."""

    def __init__(self, modules: Iterable[Module] = ()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        self._append_child(module, "ModuleList")
        return self

    def __getitem__(self, index):
        """One module, or for a slice a new ModuleList of those modules (renumbered, as in PyTorch)."""
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return super().__getitem__(index)


class ModuleDict(Module):
    """A dict of named modules, registered as children under their keys.

    LoRA keeps one A and one B per adapter this way, so parameter names read
    "lora_A.default.weight" exactly as in PEFT.
    """

    def __init__(self, modules: Optional[dict] = None):
        super().__init__()
        for name, module in dict(modules or {}).items():
            self[name] = module

    def __setitem__(self, name, module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict values must be Modules, got {type(module).__name__} for key {name!r}")
        setattr(self, name, module)

    def __getitem__(self, name):
        if name not in self._modules:
            raise KeyError(f"no module named {name!r}; keys are {list(self._modules)}")
        return self._modules[name]

    def __delitem__(self, name):
        self[name]  # a clear KeyError for an unknown name
        delattr(self, name)

    def __contains__(self, name):
        return name in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "gelu": GELU, "sigmoid": Sigmoid}


class MLP(Sequential):
    """Linear, activation[, Dropout], ..., Linear: a Sequential, so layer names match PyTorch.

    sizes: [in, hidden..., out], e.g. [64, 128, 128, 10] gives Linear layers
    "0", "2", "4" (or "0", "3", "6" with dropout > 0).
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", dropout: float = 0.0,
                 generator: Generator = None, dtype=np.float32):
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least an input and an output size, got {sizes}")
        for size in sizes:
            check_int("each entry of sizes", size, low=1)
        check_choice("activation", activation, tuple(ACTIVATIONS))
        dropout = check_float("dropout", dropout, low=0.0, high=1.0, high_open=True)
        rng = get_generator(generator)
        layers = []
        for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(n_in, n_out, generator=rng, dtype=dtype))
            if index < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
                if dropout > 0:
                    layers.append(Dropout(dropout, generator=rng))
        super().__init__(*layers)
        self.sizes = sizes


class CrossEntropyLoss(Module):
    """Module form of F.cross_entropy(logits (N, C), targets (N,))."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_choice("reduction", reduction, F.REDUCTIONS)

    def forward(self, logits: ArrayLike, targets: ArrayLike) -> Tensor:
        return F.cross_entropy(logits, targets, self.reduction)


class MSELoss(Module):
    """Module form of F.mse_loss(prediction, target)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_choice("reduction", reduction, F.REDUCTIONS)

    def forward(self, prediction: ArrayLike, target: ArrayLike) -> Tensor:
        return F.mse_loss(prediction, target, self.reduction)
