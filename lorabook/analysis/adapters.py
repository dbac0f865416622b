"""Read any PEFT LoRA adapter folder for analysis: per-layer (A, B, scaling), no model needed.

    layers = read_lora_factors("adapters/run-r8")          # written by PEFT or by lorabook
    layer = layers["model.layers.0.self_attn.q_proj"]      # the module's name in the model
    layer.A.shape, layer.B.shape, layer.scaling            # (r, in), (out, r), lora_alpha / r
    singular_values(layer.delta_weight())                  # delta W = scaling * B @ A, (out, in)

An adapter trained with PyTorch + PEFT on a GPU can be studied with
everything in lorabook.analysis: spectra, effective and stable rank,
suggest_rank, and subspace_similarity between two runs (the LoRA paper's
question: do r=8 and r=64 learn the same top directions?).

Only the folder's two files are read: adapter_config.json for the scaling
of each layer (lora_alpha, r, use_rslora, rank_pattern, alpha_pattern) and
adapter_model.safetensors for the tensors, read and checked as every
lorabook load is (lorabook.safetensors_file). Arrays come back as float64 (bfloat16 and
float16 adapters are widened exactly). A DoRA adapter's factors are read
too, with a warning: its weight change is not scaling * B @ A alone.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Dict, Union

import numpy as np

from lorabook.io import CheckpointError
from lorabook.lora.peft_format import PREFIX, read_adapter

A_SUFFIX, B_SUFFIX = ".lora_A.weight", ".lora_B.weight"


@dataclass(frozen=True)
class LoraFactors:
    """One layer's adapter: delta W = scaling * B @ A.

    A (r, in), B (out, r), float64; scaling = lora_alpha / r (lora_alpha / sqrt(r) with rsLoRA).
    """

    A: np.ndarray
    B: np.ndarray
    scaling: float

    @property
    def r(self) -> int:
        return self.A.shape[0]

    def delta_weight(self) -> np.ndarray:
        """delta W = scaling * B @ A, shape (out, in): what the adapter adds to the layer's weight."""
        return self.scaling * (self.B @ self.A)


def read_lora_factors(path: Union[str, "os.PathLike[str]"]) -> Dict[str, LoraFactors]:
    """{layer name: LoraFactors} for every LoRA layer of the adapter saved in the folder `path`.

    Layer names are the modules' names in the model ("0", "encoder.fc",
    "model.layers.3.mlp.up_proj"), in the order the file lists them.
    CheckpointError if a file is damaged, or if the config's rank for a
    layer disagrees with its tensors.
    """
    config, weights = read_adapter(path)
    weights_path = weights.path
    if config.use_dora:
        warnings.warn(f"{os.fspath(path)!r} holds a DoRA adapter: delta_weight() gives its low-rank update "
                      "scaling * B @ A only; the layer's weight also has each row rescaled by m / ||W + scaling * "
                      "B @ A||, which needs the base weight W (and the file's lora_magnitude_vector m)", stacklevel=2)
    layers = [key[len(PREFIX):-len(A_SUFFIX)] for key in weights.entries
              if key.startswith(PREFIX) and key.endswith(A_SUFFIX)]
    if not layers:
        raise CheckpointError(f"{weights_path!r} holds no LoRA layers (no '{PREFIX}<layer>{A_SUFFIX}' keys)")
    arrays = weights.read([PREFIX + name + suffix for name in layers for suffix in (A_SUFFIX, B_SUFFIX)
                           if PREFIX + name + suffix in weights.entries])
    factors = {}
    for name in layers:
        A = arrays[PREFIX + name + A_SUFFIX].astype(np.float64)
        B_key = PREFIX + name + B_SUFFIX
        if B_key not in arrays:
            raise CheckpointError(f"{weights_path!r} has {PREFIX + name + A_SUFFIX} but no {B_key}")
        B = arrays[B_key].astype(np.float64)
        if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[1]:
            raise CheckpointError(f"{weights_path!r}: layer {name!r} has lora_A {A.shape} and lora_B {B.shape}; "
                                  "expected (r, in) and (out, r)")
        if A.shape[0] != config.rank_for(name):
            raise CheckpointError(f"{weights_path!r}: layer {name!r} has rank {A.shape[0]}, its config says "
                                  f"{config.rank_for(name)} (r, rank_pattern): the files do not belong together")
        factors[name] = LoraFactors(A, B, config.scaling_for(name))
    return factors
