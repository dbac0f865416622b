"""DoRA (Liu et al. 2024): weight-decomposed low-rank adaptation, with PEFT's names and numbers.

DoRA writes the adapted weight of each output row as a length times a direction:

    W' = m ⊙ (W + s B A) / ‖W + s B A‖_row

W (out, in) is the frozen weight, s B A the LoRA update, ‖V‖_row the
Euclidean norm of each row of V (an (out,) vector) and m (out,) a trainable
magnitude, PEFT's `lora_magnitude_vector`. m starts at ‖W + s B A‖_row
(that is ‖W‖_row for the usual start B = 0), so a fresh adapter changes
nothing. As the paper suggests and PEFT does, the norm is recomputed at
every forward pass but treated as a constant in backward: no gradient flows
through it.

With n = ‖W + s B A‖_row and x_d = dropout(x), the layer adds to its base
output base_layer(x) = x W^T + b the term

    (m/n - 1) ⊙ (x_d W^T)  +  (m/n) ⊙ s (x_d A^T) B^T          (batch, out)

Without dropout the sum is x W'^T + b. This is PEFT's formula (its
DoraLinearLayer.forward), and `dora_term` is the reference. Like PEFT, it
takes x_d W^T from the base output when there is no dropout (x_d is x)
instead of computing it again, which makes a training step about 0.7 times
as long (benchmarks/bench_dora.py). There is no fused DoRA Function: what
remains, the row norms and a few element-wise products, PEFT pays too.

How a variant of LoRA is laid out (AdaLoRA follows the same pattern):
  1. the reference formula as a function of the layer's Tensors (dora_term);
  2. the variant's own parameters as a small Module held in a ModuleDict of
     the layer under PEFT's name, so that parameter and state names are
     PEFT's (`lora_magnitude_vector.<adapter>.weight`);
  3. merging and unmerging as functions of plain arrays (merge_weight,
     unmerge_weight), which the layer calls.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..autograd import Tensor
from ..nn import functional as F
from ..nn.module import Module, Parameter


class DoraMagnitude(Module):
    """DoRA's magnitude m (out,) of one adapter, as its `weight` (PEFT's lora.dora.DoraLinearLayer)."""

    def __init__(self, magnitude: np.ndarray):
        super().__init__()
        self.weight = Parameter(np.array(magnitude))

    def extra_repr(self) -> str:
        return f"out_features={self.weight.shape[0]}"


def weight_norm(weight: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """‖W + delta‖_row: the Euclidean norm of each row, (out,), in W's dtype; a plain array (no gradient)."""
    return np.linalg.norm(weight + delta, axis=1).astype(weight.dtype, copy=False)


def dora_term(x_lora: Tensor, weight: Tensor, lora_A: Tensor, lora_B: Tensor, magnitude: Tensor,
              scaling: float, x_lora_W: Optional[Tensor] = None) -> Tensor:
    """(m/n - 1) ⊙ (x_lora W^T) + (m/n) ⊙ s (x_lora A^T) B^T with n = ‖W + s B A‖_row (detached).

    x_lora (batch, in) is dropout(x); W (out, in), A (r, in), B (out, r),
    m (out,). Add the result to base_layer(x). x_lora_W: x_lora W^T
    (batch, out) if already at hand (the base output less its bias, when
    there is no dropout); None computes it. Gradients flow to x_lora, A, B
    and m (and W if it trains), never through n.
    """
    norm = weight_norm(weight.data, lora_B.data @ (scaling * lora_A.data))   # scale the thin (r, in) array
    ratio = magnitude / Tensor(norm)                                    # (out,): m/n
    lora = F.linear(F.linear(x_lora, lora_A), lora_B) * scaling         # (batch, out)
    if x_lora_W is None:
        x_lora_W = F.linear(x_lora, weight)
    return (ratio - 1.0) * x_lora_W + ratio * lora


def merge_weight(weight: np.ndarray, delta: np.ndarray, magnitude: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """W' = (m/n)[:, None] * (W + delta): the DoRA adapter folded into the weight (out, in).

    n = weight_norm(W_unmerged, delta), computed before merging and kept: unmerge_weight needs the same n.
    """
    return (magnitude / norm)[:, None] * (weight + delta)


def unmerge_weight(merged: np.ndarray, delta: np.ndarray, magnitude: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """W = W' / (m/n)[:, None] - delta: merge_weight undone (to float rounding)."""
    return merged / (magnitude / norm)[:, None] - delta
