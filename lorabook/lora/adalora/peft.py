"""`AdaLoraPeftModel`: what get_peft_model returns for an AdaLoraConfig, and AdaLoRA's adapter files.

The nesting and the names are PEFT's: AdaLoraPeftModel -> base_model (an
AdaLoraModel) -> model (yours), so parameters read

    base_model.model.0.lora_A.default     (r, in)
    base_model.model.0.lora_E.default     (r, 1)
    base_model.model.0.lora_B.default     (out, r)
    base_model.model.0.ranknum.default    (1,)      frozen

Files, as PEFT 0.21 writes them (a folder PEFT's from_pretrained reads):

    adapter_config.json          the AdaLoraConfig, "peft_type": "ADALORA", rank_pattern with the
                                 adapter name left out ("0.lora_E": [true, false, ...])
    adapter_model.safetensors    base_model.model.<layer>.lora_A / lora_E / lora_B, cut down to the
                                 triplets rank_pattern keeps; ranknum is not saved (it is init_r)

Loading builds each layer at its kept rank with ranknum = init_r, so the
scaling is the one it was trained with. The folder is written beside and
swapped in as a whole; a load checks every key and shape before it changes
the model.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from ..._checks import check_bool
from ...nn.module import Module
from ..utils import format_trainable_parameters, get_nb_trainable_parameters
from .allocator import RankAllocator
from .config import AdaLoraConfig
from .model import AdaLoraModel, find_targets

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
PREFIX = "base_model.model."


class AdaLoraPeftModel(Module):
    """A model with an AdaLoRA adapter; made by get_peft_model(model, AdaLoraConfig(...))."""

    def __init__(self, model, peft_config, adapter_name="default", generator=None):
        super().__init__()
        self.base_model = AdaLoraModel(model, peft_config, adapter_name, generator)

    def forward(self, *args, **kwargs):
        return self.base_model(*args, **kwargs)

    @property
    def peft_config(self):
        return self.base_model.peft_config

    @property
    def active_adapter(self):
        return self.base_model.active_adapter

    def get_base_model(self):
        return self.base_model.model

    def update_and_allocate(self, global_step):
        """The tuner's update_and_allocate (PEFT reaches it through the PeftModel as well)."""
        self.base_model.update_and_allocate(global_step)

    def get_nb_trainable_parameters(self):
        return get_nb_trainable_parameters(self)

    def print_trainable_parameters(self):
        print(format_trainable_parameters(*self.get_nb_trainable_parameters()))

    def disable_adapter(self):
        return self.base_model.disable_adapter()

    def merge_and_unload(self, safe_merge=False):
        return self.base_model.merge_and_unload(safe_merge)

    def unload(self):
        return self.base_model.unload()

    # ----- files -------------------------------------------------------------------------
    def adapter_arrays(self):
        """PEFT key -> array of everything the adapter file holds (rows cut to rank_pattern)."""
        name = self.active_adapter
        config = self.peft_config[name]
        arrays = {}
        for layer_name, layer in self.base_model.svd_layers():
            A, E, B = (layer.lora_A[name].data, layer.lora_E[name].data, layer.lora_B[name].data)
            kept = _kept(config.rank_pattern, layer_name, name)
            if kept is not None and kept.sum() != A.shape[0]:
                A, E, B = A[kept], E[kept], B[:, kept]
            for key, value in (("lora_A", A), ("lora_B", B), ("lora_E", E)):
                arrays[f"{PREFIX}{layer_name}.{key}"] = np.ascontiguousarray(value)
        return arrays

    def save_pretrained(self, save_directory):
        """Write adapter_config.json and adapter_model.safetensors into `save_directory`, as one step."""
        name = self.active_adapter
        config = self.peft_config[name]
        values = config.to_dict()
        values["inference_mode"] = True  # as PEFT writes it
        if config.rank_pattern is not None:
            values["rank_pattern"] = {key.replace(f".{name}", ""): kept for key, kept in config.rank_pattern.items()}
        config_text = json.dumps(values, indent=2, sort_keys=True).encode()
        _write_folder(os.fspath(save_directory), config_text, self.adapter_arrays())
        return os.fspath(save_directory)

    @classmethod
    def from_pretrained(cls, model, path, adapter_name="default", is_trainable=False):
        """An AdaLoraPeftModel of `model` with the adapter in the folder `path` (written here or by PEFT).

        is_trainable=False (PEFT's default) loads it frozen and in eval mode.
        Nothing in `model` changes unless every key and shape fits.
        """
        is_trainable = check_bool("is_trainable", is_trainable)
        path = os.fspath(path)
        with open(os.path.join(path, CONFIG_NAME), encoding="utf-8") as file:
            config = AdaLoraConfig.from_dict(json.load(file))
        config = dataclasses.replace(config, inference_mode=not is_trainable)
        arrays = _read_checked(os.path.join(path, WEIGHTS_NAME), _expected_shapes(model, config))
        peft_model = cls(model, config, adapter_name, generator=np.random.default_rng(0))
        for layer_name, layer in peft_model.base_model.svd_layers():
            rank = arrays[f"{PREFIX}{layer_name}.lora_A"].shape[0]
            if rank != layer.r[adapter_name]:
                ranknum = layer.ranknum[adapter_name].data.copy()
                layer.update_layer(adapter_name, rank, config.lora_alpha, config.lora_dropout, True, 0)
                layer.ranknum[adapter_name].data = ranknum  # the scaling stays the one it was trained with
            for key in ("lora_A", "lora_E", "lora_B"):
                param = getattr(layer, key)[adapter_name]
                param.data = arrays[f"{PREFIX}{layer_name}.{key}"].astype(param.dtype)
        peft_model.base_model._mark_trainable()
        if is_trainable:  # scores restart from the loaded (already cut) layers
            peft_model.base_model.rankallocator = RankAllocator(
                peft_model.base_model.model, peft_model.peft_config[adapter_name], adapter_name)
        else:
            peft_model.eval()
        return peft_model


def _kept(rank_pattern, layer_name, adapter_name):
    if rank_pattern is None:
        return None
    kept = rank_pattern.get(f"{layer_name}.lora_E.{adapter_name}", rank_pattern.get(f"{layer_name}.lora_E"))
    return None if kept is None else np.asarray(kept, dtype=bool)


def _expected_shapes(model, config):
    """PEFT key -> shape, from the model's target layers and the config's init_r and rank_pattern."""
    shapes = {}
    for layer_name, module in find_targets(model, config):
        kept = _kept(config.rank_pattern, layer_name, "")
        rank = config.init_r if kept is None else int(kept.sum())
        out_f, in_f = module.weight.shape
        shapes[f"{PREFIX}{layer_name}.lora_A"] = (rank, in_f)
        shapes[f"{PREFIX}{layer_name}.lora_E"] = (rank, 1)
        shapes[f"{PREFIX}{layer_name}.lora_B"] = (out_f, rank)
    return shapes


def _read_checked(file_path, expected):
    """The arrays of a safetensors file, read only after its header's keys and shapes match `expected`."""
    with safe_open(file_path, framework="numpy") as file:
        found = {key: tuple(file.get_slice(key).get_shape()) for key in file.keys()}
        problems = sorted(set(expected) ^ set(found)) + [
            f"{key}: file {found[key]}, model {shape}" for key, shape in expected.items()
            if key in found and found[key] != shape]
        if problems:
            raise ValueError(f"adapter in {os.path.dirname(file_path)!r} does not fit the model: {problems}")
        return {key: file.get_tensor(key) for key in expected}


def _write_folder(folder, config_text, arrays):
    """Write the config and the safetensors file into a new folder beside `folder`, then swap it in."""
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=".tmp-adalora-")
    try:
        with open(os.path.join(staging, CONFIG_NAME), "wb") as file:
            file.write(config_text)
        save_file(arrays, os.path.join(staging, WEIGHTS_NAME))
        old = None
        if os.path.exists(folder):
            others = sorted(set(os.listdir(folder)) - {CONFIG_NAME, WEIGHTS_NAME, "README.md"})
            if others:
                raise ValueError(f"save_directory {folder!r} holds other files too ({others[:5]}); the adapter "
                                 f"folder is replaced as a whole, so give it a folder of its own")
            old = tempfile.mkdtemp(dir=parent, prefix=".old-adalora-")
            os.rmdir(old)
            os.replace(folder, old)
        os.replace(staging, folder)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
