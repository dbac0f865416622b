"""Weight initialisation, in place, as `torch.nn.init` (with an explicit generator).

Each function writes into `tensor.data` and bumps the tensor's version
(see Tensor.bump_version).

PyTorch's Linear draws W and b from U(-1/sqrt(in), 1/sqrt(in)): that is
`kaiming_uniform_(W, a=sqrt(5))`, whose bound works out to
gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + a^2)) = sqrt(1/3).
LoRA's A matrix starts the same way; its B matrix starts at zero.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.tensor import Tensor
from ..random import get_generator


def _fan_in(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"fan_in needs a tensor with at least 2 axes, got shape {tensor.shape}")
    return int(np.prod(tensor.shape[1:]))


def uniform_(tensor: Tensor, low: float = 0.0, high: float = 1.0, generator=None) -> Tensor:
    tensor.data[...] = get_generator(generator).uniform(low, high, tensor.shape)
    return tensor.bump_version()


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    tensor.data[...] = get_generator(generator).normal(mean, std, tensor.shape)
    return tensor.bump_version()


def zeros_(tensor: Tensor) -> Tensor:
    tensor.data[...] = 0
    return tensor.bump_version()


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, generator=None) -> Tensor:
    """U(-bound, bound), bound = sqrt(2 / (1 + a^2)) * sqrt(3 / fan_in)."""
    bound = math.sqrt(2.0 / (1 + a * a)) * math.sqrt(3.0 / _fan_in(tensor))
    return uniform_(tensor, -bound, bound, generator)
