"""PEFT's adapter folder: adapter_config.json read and written as PEFT 0.21 does, and `read_adapter`.

PEFT's LoraConfig has about 40 fields; lorabook's has the dozen that make
up plain LoRA, rsLoRA, PiSSA, patterns and modules_to_save. A config
written by PEFT is read here as follows:

- lorabook's own fields must all be present (`REQUIRED`): a config without
  lora_alpha would otherwise load with the default 8, and every output
  would silently change.
- PEFT's other fields are accepted at the value that leaves the math as
  lorabook computes it (`PEFT_ONLY`: fan_in_fan_out false, lora_bias false,
  layers_to_transform null, ...). Any other value is refused by name: an
  adapter that lorabook would compute differently must not load.
- Fields that only describe where the adapter came from (task_type,
  peft_version, base_model_name_or_path, ...) are accepted at any value.
- A field lorabook does not know at all is refused by name.

Writing gives what PEFT writes: lorabook's fields, PEFT's other fields at
those neutral values, "all-linear" expanded to the list of layers it
picked, and lora_alpha 8 rather than 8.0.
"""
from __future__ import annotations

import dataclasses
import os

from ..io import CheckpointError, PathLike, SafetensorsFile, load_json, read_safetensors, restore_interrupted_save
from .config import ALL_LINEAR, LoraConfig

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
PREFIX = "base_model.model."  # every tensor key starts so: PeftModel -> base_model -> model

REQUIRED = ("r", "lora_alpha", "lora_dropout", "target_modules", "modules_to_save", "bias", "init_lora_weights",
            "use_rslora", "rank_pattern", "alpha_pattern")

# PEFT's fields that lorabook has no field for, at the value where they change nothing
# (PEFT 0.21.2's defaults). Written with these values, so that PEFT reads the same config.
PEFT_ONLY = {
    "alora_invocation_tokens": None, "arrow_config": None, "corda_config": None, "ensure_weight_tying": False,
    "eva_config": None, "exclude_modules": None, "fan_in_fan_out": False, "kasa_config": None,
    "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
    "lora_bias": False, "lora_ga_config": None, "megatron_config": None, "monteclora_config": None,
    "target_parameters": None, "trainable_token_indices": None, "use_bdlora": None, "use_dora": False,
    "use_qalora": False, "velora_config": None,
}
# Describe the adapter's origin, or only matter together with a field above that is refused
# unless neutral (megatron_core with megatron_config, qalora_group_size with use_qalora).
ANY_VALUE = {"task_type": None, "peft_version": None, "auto_mapping": None, "base_model_name_or_path": None,
             "revision": None, "megatron_core": "megatron.core", "qalora_group_size": 16, "runtime_config": None}
NOT_WRITTEN = ("peft_version", "runtime_config", "auto_mapping")  # PEFT fills these itself


def config_from_json(values, path: str) -> LoraConfig:
    """The LoraConfig in the dict `values`, read from `path`; CheckpointError naming the file and key."""
    if not isinstance(values, dict):
        raise CheckpointError(f"{path!r} must hold a JSON object (a config), got {type(values).__name__}")
    peft_type = values.get("peft_type")
    if peft_type != "LORA":
        hint = (" (an AdaLoRA adapter: load it with AdaLoraPeftModel.from_pretrained)" if peft_type == "ADALORA"
                else "")
        raise CheckpointError(f"{path!r}: peft_type is {peft_type!r}; this loader reads 'LORA' adapters{hint}")
    own = {f.name for f in dataclasses.fields(LoraConfig)}
    missing = [key for key in REQUIRED if key not in values]
    if missing:
        raise CheckpointError(f"{path!r} lacks the key(s) {missing}: the adapter's outputs depend on them, "
                              "and lorabook does not fill in defaults for a saved adapter")
    for key, value in values.items():
        if key in own or key in ANY_VALUE or key == "peft_type":
            continue
        if key not in PEFT_ONLY:
            raise CheckpointError(f"{path!r}: key {key!r} is not a LoRA setting lorabook knows (from a newer PEFT?); "
                                  "refused rather than ignored, since it might change the outputs")
        if value != PEFT_ONLY[key]:
            raise CheckpointError(f"{path!r}: {key}={value!r} changes how PEFT computes this adapter, and lorabook "
                                  f"does not implement it (it reads only {key}={PEFT_ONLY[key]!r})")
    try:
        return LoraConfig(**{key: value for key, value in values.items() if key in own})
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path!r} does not hold a valid LoRA config: {err}") from None


def config_to_json(config: LoraConfig, target_names) -> dict:
    """The dict PEFT would write for `config`; `target_names`: the layers "all-linear" picked."""
    values = dataclasses.asdict(config)
    values["inference_mode"] = True  # PEFT writes True: a saved adapter is by default for inference
    if values["target_modules"] == ALL_LINEAR:
        values["target_modules"] = list(target_names)
    values["lora_alpha"] = _as_written(values["lora_alpha"])
    values["alpha_pattern"] = {key: _as_written(alpha) for key, alpha in values["alpha_pattern"].items()}
    extra = {**PEFT_ONLY, **{k: v for k, v in ANY_VALUE.items() if k not in NOT_WRITTEN}}
    return {"peft_type": "LORA", **{k: v for k, v in extra.items() if k not in values}, **values}


def _as_written(alpha):
    """8.0 -> 8, as PEFT writes the int a user usually gives; 0.5 stays 0.5."""
    return int(alpha) if float(alpha).is_integer() else alpha


def adapter_folder(save_directory: str, adapter_name: str) -> str:
    """PEFT's layout: "default" at the top of save_directory, any other adapter in a subfolder of its name."""
    return save_directory if adapter_name == "default" else os.path.join(save_directory, adapter_name)


def read_adapter(path: PathLike) -> "tuple[LoraConfig, SafetensorsFile]":
    """(LoraConfig, SafetensorsFile) of an adapter folder: the config complete and checked, the
    tensor file's header checked, no tensor read yet. CheckpointError if anything is damaged."""
    path = os.fspath(path)
    restore_interrupted_save(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"path {path!r} is not a folder holding an adapter ({CONFIG_NAME}, {WEIGHTS_NAME})")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not os.path.exists(os.path.join(path, name)):
            raise FileNotFoundError(f"adapter folder {path!r} has no {name}")
    config_path = os.path.join(path, CONFIG_NAME)
    config = config_from_json(load_json(config_path), config_path)
    return config, read_safetensors(os.path.join(path, WEIGHTS_NAME))
