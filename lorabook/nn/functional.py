"""Stateless neural-network functions, as `torch.nn.functional` (import as F).

Each checks its arguments, then calls one autograd Function.
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from .._checks import check_choice, check_float
from ..autograd import nn_ops, ops
from ..autograd.tensor import ArrayLike, Tensor
from ..random import get_generator

Generator = Union[np.random.Generator, int, None]

REDUCTIONS = ("mean", "sum", "none")


def _as_tensor(x: ArrayLike) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def linear(x: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None) -> Tensor:
    """y = x W^T + b, x (..., in), W (out, in), b (out,) -> y (..., out).

    x, weight and bias may be Tensors or arrays (an array is a constant).
    """
    # isinstance first: a layer calls this with Tensors every step, and a call less per argument counts
    x = x if isinstance(x, Tensor) else Tensor(x)
    weight = weight if isinstance(weight, Tensor) else Tensor(weight)
    if bias is None:
        return nn_ops.Linear.apply(x, weight)
    return nn_ops.Linear.apply(x, weight, bias if isinstance(bias, Tensor) else Tensor(bias))


def relu(x: ArrayLike) -> Tensor:
    return ops.ReLU.apply(_as_tensor(x))


def gelu(x: ArrayLike) -> Tensor:
    return ops.GELU.apply(_as_tensor(x))


def tanh(x: ArrayLike) -> Tensor:
    return ops.Tanh.apply(_as_tensor(x))


def sigmoid(x: ArrayLike) -> Tensor:
    return ops.Sigmoid.apply(_as_tensor(x))


def softmax(x: ArrayLike, axis: int = -1) -> Tensor:
    return ops.Softmax.apply(_as_tensor(x), axis=axis)


def log_softmax(x: ArrayLike, axis: int = -1) -> Tensor:
    return ops.LogSoftmax.apply(_as_tensor(x), axis=axis)


def dropout(x: ArrayLike, p: float = 0.5, training: bool = True, generator: Generator = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p).

    The scaling keeps the expected value unchanged, so nothing needs to
    change at evaluation time (training=False returns x itself).
    """
    p = check_float("p", p, low=0.0, high=1.0, high_open=True)
    x = _as_tensor(x)
    if not training or p == 0.0:
        return x
    keep = get_generator(generator).random(x.shape) >= p
    mask = keep.astype(x.dtype) / x.dtype.type(1 - p)
    return nn_ops.Dropout.apply(x, mask=mask)


# The unsigned integer type of each signed one's size: a view as it turns negatives into huge values.
_UNSIGNED = {np.dtype(f"i{size}"): np.dtype(f"u{size}") for size in (1, 2, 4, 8)}


def _class_targets(targets, logits):
    """Integer class indices (N,) checked against logits (N, C)."""
    if type(targets) is not np.ndarray:  # the common case (an integer array) skips the conversion
        targets = np.asarray(getattr(targets, "data", targets))
    shape = logits.data.shape  # (not logits.shape: a property, and this runs every step)
    if len(shape) != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {shape}")
    if targets.dtype.kind not in "iu":
        hint = ""
        if targets.dtype.kind == "f":
            hint = " (lorabook.tensor makes float32 by default: pass the integer array itself)"
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype {targets.dtype}{hint}")
    if targets.shape != shape[:1]:
        raise ValueError(f"cross_entropy: targets must have shape ({shape[0]},) to match logits {shape}, got {targets.shape}")
    if targets.size == 0:
        raise ValueError(f"cross_entropy: the batch is empty (logits {shape}); "
                         "the mean of no losses is undefined")
    num_classes = shape[1]
    # One pass instead of min() and max(): seen as unsigned, a negative index is huge. (np.maximum.reduce
    # is targets.max() without its Python wrapper.)
    unsigned = targets.view(_UNSIGNED.get(targets.dtype) or targets.dtype.str.replace("i", "u"))
    if np.maximum.reduce(unsigned) >= num_classes:
        bad = targets[(targets < 0) | (targets >= num_classes)]
        raise ValueError(f"cross_entropy: targets must be in [0, {num_classes}), got values such as {bad[:5].tolist()}")
    return targets


def cross_entropy(logits: ArrayLike, targets: ArrayLike, reduction: str = "mean") -> Tensor:
    """-log softmax(logits)[i, targets_i], averaged ("mean"), summed ("sum") or per row ("none").

    logits (N, C) Tensor; targets (N,) integers in [0, C).
    """
    if reduction not in REDUCTIONS:
        check_choice("reduction", reduction, REDUCTIONS)  # raises, naming the choices
    logits = logits if isinstance(logits, Tensor) else Tensor(logits)
    targets = _class_targets(targets, logits)
    return nn_ops.CrossEntropy.apply(logits, targets=targets, reduction=reduction)


def mse_loss(prediction: ArrayLike, target: ArrayLike, reduction: str = "mean") -> Tensor:
    """(prediction - target)**2, averaged over all elements (or summed, or kept)."""
    check_choice("reduction", reduction, REDUCTIONS)
    prediction = _as_tensor(prediction)
    target = target if isinstance(target, Tensor) else Tensor._wrap(np.asarray(target, dtype=prediction.dtype), False)
    if prediction.shape != target.shape:
        raise ValueError(f"mse_loss: prediction shape {prediction.shape} and target shape {target.shape} must match")
    return nn_ops.MSELoss.apply(prediction, target, reduction=reduction)
