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
scaling is the one it was trained with.

A save is atomic as a whole (lorabook.io.write_folder: a crash leaves the
old adapter or the new one). A load reads the config with the size and
JSON checks of lorabook.io.load_json and the tensor file's header with
lorabook.safetensors_file.read_safetensors; it refuses a config without a
key the adapter depends on, and checks every key, shape and dtype before it
changes the model, so a refused load leaves the model as it was.
"""
from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np

from ..._checks import check_bool
from ...io import CheckpointError, PathLike, json_bytes, load_json, restore_interrupted_save, write_folder
from ...safetensors_file import read_safetensors, safetensors_bytes
from ..peft_format import ALSO_NEUTRAL, ANY_VALUE, CONFIG_NAME, PEFT_ONLY, PREFIX, WEIGHTS_NAME
from ..saving import METADATA, check_fits
from ..wrapper import PeftWrapper
from .allocator import RankAllocator
from .config import AdaLoraConfig
from .model import AdaLoraModel, find_targets

# Every key PEFT has written for AdaLoRA since it came (PEFT 0.3): without one, a default would
# silently stand in for the value the adapter was trained with.
REQUIRED = ("init_r", "target_r", "tinit", "tfinal", "deltaT", "beta1", "beta2", "orth_reg_weight", "total_step",
            "rank_pattern", "lora_alpha", "lora_dropout", "target_modules")
# LoraConfig fields that PEFT's AdaLoraConfig inherits; lorabook computes AdaLoRA only at these values.
LORA_FIELDS_AT = {"bias": "none", "use_rslora": False, "use_dora": False, "alpha_pattern": {}}


class AdaLoraPeftModel(PeftWrapper):
    """A model with an AdaLoRA adapter; made by get_peft_model(model, AdaLoraConfig(...))."""

    tuner = AdaLoraModel

    def update_and_allocate(self, global_step):
        """The tuner's update_and_allocate (PEFT reaches it through the PeftModel as well)."""
        self.base_model.update_and_allocate(global_step)

    def merge_and_unload(self, safe_merge=False):
        """Merge and return the plain model (no AdaLoRA layers); this wrapper is spent afterwards."""
        return self.base_model.merge_and_unload(safe_merge)

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

    def save_pretrained(self, save_directory: PathLike) -> str:
        """Write adapter_config.json and adapter_model.safetensors into `save_directory`, as one step."""
        name = self.active_adapter
        config = self.peft_config[name]
        values = config.to_dict()
        values["inference_mode"] = True  # as PEFT writes it
        if config.rank_pattern is not None:
            values["rank_pattern"] = {key.replace(f".{name}", ""): kept for key, kept in config.rank_pattern.items()}
        files = {CONFIG_NAME: json_bytes(values), WEIGHTS_NAME: safetensors_bytes(self.adapter_arrays(), METADATA)}
        return write_folder(save_directory, files)

    @classmethod
    def from_pretrained(cls, model, path: PathLike, adapter_name="default", is_trainable=False):
        """An AdaLoraPeftModel of `model` with the adapter in the folder `path` (written here or by PEFT).

        is_trainable=False (PEFT's default) loads it frozen and in eval mode.
        Nothing in `model` changes unless the config is complete and every
        key, shape and dtype of the file fits (CheckpointError or ValueError).
        """
        is_trainable = check_bool("is_trainable", is_trainable)
        config, weights = read_adapter(path)
        config = dataclasses.replace(config, inference_mode=not is_trainable)
        try:
            expected = _expected(model, config)
            _check_size(model, config, weights)
            check_fits(expected, weights.entries)
        except CheckpointError:
            raise
        except (ValueError, TypeError) as err:  # say which adapter did not fit
            raise type(err)(f"adapter in {os.fspath(path)!r}: {err}") from None
        arrays = weights.read(list(expected))

        # Only now is the model changed; nothing below can fail on what was checked above.
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


# ----- reading the folder ------------------------------------------------------------------------
def read_adapter(path: PathLike):
    """(AdaLoraConfig, SafetensorsFile) of an AdaLoRA adapter folder, both checked, no tensor read yet.

    A folder that a killed save left only as its ".old" copy is put back first.
    """
    path = os.fspath(path)
    restore_interrupted_save(path)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not os.path.isfile(os.path.join(path, name)):
            raise FileNotFoundError(f"path {path!r} is not an adapter folder: it has no {name}")
    config_path = os.path.join(path, CONFIG_NAME)
    return config_from_json(load_json(config_path), config_path), read_safetensors(os.path.join(path, WEIGHTS_NAME))


def config_from_json(values, path: str) -> AdaLoraConfig:
    """The AdaLoraConfig in `values` (PEFT's adapter_config.json, read from `path`).

    Every key of REQUIRED must be there. PEFT's LoRA keys that AdaLoRA
    inherits are accepted at the values that leave the math unchanged, keys
    that only say where the adapter came from at any value; any other key is
    refused by name. CheckpointError naming the file otherwise.
    """
    if not isinstance(values, dict):
        raise CheckpointError(f"{path!r} must hold a JSON object (a config), got {type(values).__name__}")
    if values.get("peft_type") != "ADALORA":
        raise CheckpointError(f"{path!r}: peft_type is {values.get('peft_type')!r}; AdaLoraPeftModel reads 'ADALORA' "
                              "adapters (a LoRA adapter loads with PeftModel.from_pretrained)")
    missing = [key for key in REQUIRED if key not in values]
    if missing:
        raise CheckpointError(f"{path!r} lacks the key(s) {missing}: the adapter depends on them, and lorabook does "
                              "not fill in defaults for a saved adapter")
    own = {field.name for field in dataclasses.fields(AdaLoraConfig)}
    neutral = {**PEFT_ONLY, **LORA_FIELDS_AT}
    unknown = sorted(key for key in values if key not in own and key not in neutral and key not in ANY_VALUE
                     and key != "peft_type")
    changed = sorted(key for key in values if key in neutral and key not in own
                     and values[key] not in (neutral[key], ALSO_NEUTRAL.get(key, neutral[key])))
    if unknown or changed:
        raise CheckpointError(f"{path!r}: key(s) {unknown + changed} would change the adapter in a way lorabook does "
                              f"not implement (values: {[values[key] for key in unknown + changed]}); refused rather "
                              "than ignored")
    fields = {key: value for key, value in values.items() if key in own}
    if isinstance(fields["target_modules"], list):
        fields["target_modules"] = sorted(fields["target_modules"])  # PEFT saves a set, in any order
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PEFT writes r=8 always; no warning on load
            config = AdaLoraConfig(**fields)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path!r} does not hold a valid AdaLoRA config: {err}") from None
    for key, kept in (config.rank_pattern or {}).items():
        if len(kept) != config.init_r:  # one flag per triplet of the layer as it started
            raise CheckpointError(f"{path!r}: rank_pattern[{key!r}] has {len(kept)} entries, init_r is {config.init_r}")
    return config


def _kept(rank_pattern, layer_name, adapter_name):
    if rank_pattern is None:
        return None
    kept = rank_pattern.get(f"{layer_name}.lora_E.{adapter_name}", rank_pattern.get(f"{layer_name}.lora_E"))
    return None if kept is None else np.asarray(kept, dtype=bool)


def _expected(model, config):
    """PEFT key -> (shape, dtype), from the model's target layers and the config's init_r and rank_pattern."""
    expected = {}
    for layer_name, module in find_targets(model, config):
        kept = _kept(config.rank_pattern, layer_name, "")
        rank = config.init_r if kept is None else int(kept.sum())
        out_f, in_f = module.weight.shape
        dtype = module.weight.dtype
        expected[f"{PREFIX}{layer_name}.lora_A"] = ((rank, in_f), dtype)
        expected[f"{PREFIX}{layer_name}.lora_E"] = ((rank, 1), dtype)
        expected[f"{PREFIX}{layer_name}.lora_B"] = ((out_f, rank), dtype)
    return expected


def _check_size(model, config, weights):
    """Refuse a config whose init_r asks for far more numbers than the file and the model hold
    before anything is allocated: the layers are built at init_r, then cut to the file's ranks."""
    needed = sum(config.init_r * (sum(module.weight.shape) + 1) for _, module in find_targets(model, config))
    available = weights.numel() + sum(param.size for param in model.parameters())
    if needed > available:
        raise CheckpointError(f"{weights.path!r}: its config's init_r={config.init_r} needs at least {needed} numbers, "
                              f"more than the file ({weights.numel()}) and the model hold together: the config and "
                              "the tensors do not belong together")
