"""PEFT's adapter folder: adapter_config.json read and written as PEFT 0.21 does, and `read_adapter`.

PEFT's LoraConfig has about 40 fields; lorabook's has the dozen that make
up plain LoRA, rsLoRA, PiSSA, patterns and modules_to_save. A config
written by PEFT is read here as follows:

- lorabook's own fields must all be present (`REQUIRED`): a config without
  lora_alpha would otherwise load with the default 8, and every output
  would silently change. The one exception is a file from an older PEFT
  that did not write the field yet (use_rslora came in PEFT 0.8, say): a
  file is dated by the newest key it holds (`FIRST_WRITTEN`), and a field
  younger than that takes the value that older PEFT computed with.
- PEFT's other fields are accepted at the value that leaves the math as
  lorabook computes it (`PEFT_ONLY`: fan_in_fan_out false, lora_bias false,
  layers_to_transform null, ...). Any other value is refused by name: an
  adapter that lorabook would compute differently must not load.
- Fields that only describe where the adapter came from (task_type,
  peft_version, base_model_name_or_path, ...) are accepted at any value.
- PEFT 0.2's keys that later releases dropped: merge_weights (merging in
  eval mode changes no output) at any value, enable_lora only at null.
- A field lorabook does not know at all is refused by name.

Writing gives what PEFT writes: lorabook's fields, PEFT's other fields at
those neutral values, "all-linear" expanded to the list of layers it
picked, and lora_alpha 8 rather than 8.0.
"""
from __future__ import annotations

import dataclasses
import os

from ..io import CheckpointError, PathLike, load_json, restore_interrupted_save
from ..safetensors_file import SafetensorsFile, read_safetensors
from .config import ALL_LINEAR, LoraConfig

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
PREFIX = "base_model.model."  # every tensor key starts so: PeftModel -> base_model -> model

REQUIRED = ("r", "lora_alpha", "lora_dropout", "target_modules", "modules_to_save", "bias", "init_lora_weights",
            "use_rslora", "use_dora", "rank_pattern", "alpha_pattern")

# The PEFT release that first wrote each key (PEFT 0.0.1 wrote r, lora_alpha, lora_dropout,
# target_modules, bias and the keys of RETIRED), read off PEFT's history; and the value of each of
# lorabook's younger fields in the releases before it existed.
FIRST_WRITTEN = {
    (0, 1): ("modules_to_save", "base_model_name_or_path"),
    (0, 3): ("init_lora_weights",),
    (0, 4): ("layers_to_transform", "layers_pattern", "revision", "auto_mapping"),
    (0, 6): ("rank_pattern", "alpha_pattern"),
    (0, 7): ("loftq_config", "megatron_config", "megatron_core"),
    (0, 8): ("use_rslora",),
    (0, 9): ("use_dora",),
    (0, 10): ("layer_replication",),
    (0, 14): ("eva_config", "exclude_modules", "lora_bias"),
    (0, 15): ("corda_config", "trainable_token_indices"),
    (0, 16): ("use_qalora", "qalora_group_size"),
    (0, 17): ("target_parameters",),
    (0, 18): ("alora_invocation_tokens", "arrow_config", "ensure_weight_tying", "peft_version"),
    (0, 19): ("lora_ga_config", "use_bdlora"),
    (0, 20): ("monteclora_config", "velora_config"),
    (0, 21): ("kasa_config",),
}
BEFORE_IT_EXISTED = {"modules_to_save": None, "init_lora_weights": True, "rank_pattern": {}, "alpha_pattern": {},
                     "use_rslora": False, "use_dora": False}

# PEFT's fields that lorabook has no field for, at the value where they change nothing
# (PEFT 0.21.2's defaults). Written with these values, so that PEFT reads the same config.
PEFT_ONLY = {
    "alora_invocation_tokens": None, "arrow_config": None, "corda_config": None, "ensure_weight_tying": False,
    "eva_config": None, "exclude_modules": None, "fan_in_fan_out": False, "kasa_config": None,
    "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
    "lora_bias": False, "lora_ga_config": None, "megatron_config": None, "monteclora_config": None,
    "target_parameters": None, "trainable_token_indices": None, "use_bdlora": None, "use_qalora": False,
    "velora_config": None,
    "enable_lora": None,  # PEFT 0.2's; not null meant a merged qkv layer
}
ALSO_NEUTRAL = {"exclude_modules": [], "target_parameters": []}  # PEFT treats an empty list as None
# Describe the adapter's origin, or only matter together with a field above that is refused
# unless neutral (megatron_core with megatron_config, qalora_group_size with use_qalora).
ANY_VALUE = {"task_type": None, "peft_version": None, "auto_mapping": None, "base_model_name_or_path": None,
             "revision": None, "megatron_core": "megatron.core", "qalora_group_size": 16, "runtime_config": None,
             "merge_weights": False}  # PEFT 0.2's: merge in eval mode, which changes no output
NOT_WRITTEN = ("peft_version", "runtime_config", "auto_mapping",  # PEFT fills these itself
               "enable_lora", "merge_weights")                     # PEFT 0.3 stopped writing them


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
    written_by = max((release for release, keys in FIRST_WRITTEN.items() if any(key in values for key in keys)),
                     default=(0, 0))
    younger = {key for release, keys in FIRST_WRITTEN.items() if release > written_by for key in keys}
    missing = [key for key in REQUIRED if key not in values and key not in younger]
    if missing:
        raise CheckpointError(f"{path!r} lacks the key(s) {missing}: the adapter's outputs depend on them, "
                              "and lorabook does not fill in defaults for a saved adapter")
    for key, value in values.items():
        if key in own or key in ANY_VALUE or key == "peft_type":
            continue
        if key not in PEFT_ONLY:
            raise CheckpointError(f"{path!r}: key {key!r} is not a LoRA setting lorabook knows (from a newer PEFT?); "
                                  "refused rather than ignored, since it might change the outputs")
        if value not in (PEFT_ONLY[key], ALSO_NEUTRAL.get(key, PEFT_ONLY[key])):
            raise CheckpointError(f"{path!r}: {key}={value!r} changes how PEFT computes this adapter, and lorabook "
                                  f"does not implement it (it reads only {key}={PEFT_ONLY[key]!r})")
    fields = {key: value for key, value in values.items() if key in own}
    fields.update({key: BEFORE_IT_EXISTED[key] for key in REQUIRED if key not in values})  # younger than the file
    try:
        return LoraConfig(**fields)
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
    extra = {k: v for k, v in {**PEFT_ONLY, **ANY_VALUE}.items() if k not in NOT_WRITTEN}
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
            pickled = name == WEIGHTS_NAME and os.path.exists(os.path.join(path, "adapter_model.bin"))
            hint = (" but an adapter_model.bin: a pickle, which lorabook never loads since unpickling can run code. "
                    "Convert it once with PEFT: PeftModel.from_pretrained(model, path).save_pretrained(new_path)"
                    if pickled else "")
            raise FileNotFoundError(f"adapter folder {path!r} has no {name}{hint}")
    config_path = os.path.join(path, CONFIG_NAME)
    config = config_from_json(load_json(config_path), config_path)
    return config, read_safetensors(os.path.join(path, WEIGHTS_NAME))
