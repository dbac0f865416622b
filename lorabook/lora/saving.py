"""Saving and loading one adapter: its own tensors and its config, nothing of the base model.

    peft_model.save_adapter("adapters/rotated")       # a folder:
        adapters/rotated/adapter_model.npz            the adapter's arrays
        adapters/rotated/adapter_config.json          its LoraConfig

The file names are PEFT's; the formats are not: PEFT writes safetensors,
lorabook writes NumPy's .npz (read with allow_pickle=False, so a file can
only hold numbers) and JSON. Each file is written to a temporary file and
renamed, so a crash never leaves half a file. An adapter of r=8 on a
1024 x 1024 layer is 8 * (1024 + 1024) numbers: 64 KB, against 4 MB for the
layer itself.

Keys are PEFT's, with the adapter's name left out so that a file can be
loaded under any name:

    base_model.model.0.lora_A.weight          (r, in)
    base_model.model.0.lora_B.weight          (out, r)
    base_model.model.4.weight, ...            a module in modules_to_save
    base_model.model.0.base_layer.bias, ...   biases, if the config trains them

Loading checks that the model fits (every key present, nothing extra, every
shape equal) before changing anything, and names what does not fit. As in
PEFT, an adapter is loaded frozen, for inference, unless is_trainable=True,
and the config file says "inference_mode": true whatever the adapter's mode.

Biases are not the adapter's own: with bias="lora_only" or "all" the file
holds biases of the base layers, which every adapter of the model shares
(as in PEFT). Loading such an adapter overwrites them; see load_adapter.
"""
from __future__ import annotations

import dataclasses
import os
import warnings
from collections import OrderedDict

import numpy as np

from ..io import CheckpointError, load_arrays, load_json, save_arrays, save_json
from .._checks import check_bool
from .config import LoraConfig
from .layer import check_adapter_name
from .model import warn_if_pissa_changes_others

WEIGHTS_NAME = "adapter_model.npz"
CONFIG_NAME = "adapter_config.json"
KIND = "lora_adapter"
PREFIX = "base_model.model."


def _lora_model(model):
    lora_model = getattr(model, "base_model", None)
    if lora_model is None or not hasattr(lora_model, "peft_config"):
        raise TypeError(f"model must be a PeftModel (from get_peft_model), got {type(model).__name__}")
    return lora_model


def adapter_parameters(model, adapter_name=None):
    """PEFT key -> Parameter for everything saved with the adapter (see the module docstring)."""
    return _adapter_parameters(model, adapter_name)[0]


def _adapter_parameters(model, adapter_name=None):
    """(adapter_parameters, the keys among them of shared base-model biases)."""
    lora_model = _lora_model(model)
    adapter_name = lora_model.active_adapter if adapter_name is None else adapter_name
    lora_model._check_known("adapter_name", adapter_name)
    bias = lora_model.peft_config[adapter_name].bias
    params, shared = OrderedDict(), set()
    for name, layer in lora_model.lora_layers():
        if adapter_name in layer.lora_A:
            params[f"{PREFIX}{name}.lora_A.weight"] = layer.lora_A[adapter_name].weight
            params[f"{PREFIX}{name}.lora_B.weight"] = layer.lora_B[adapter_name].weight
            if bias == "lora_only" and layer.base_layer.bias is not None:
                params[f"{PREFIX}{name}.base_layer.bias"] = layer.base_layer.bias
                shared.add(f"{PREFIX}{name}.base_layer.bias")
    for name, wrapper in lora_model.saved_modules():
        if adapter_name in wrapper.modules_to_save:
            for param_name, param in wrapper.modules_to_save[adapter_name].named_parameters():
                params[f"{PREFIX}{name}.{param_name}"] = param
    if bias == "all":
        for param_name, param in lora_model.model.named_parameters():
            parts = param_name.split(".")
            if parts[-1] == "bias" and "original_module" not in parts and "modules_to_save" not in parts:
                params[PREFIX + param_name] = param
                shared.add(PREFIX + param_name)
    return params, shared


def get_peft_model_state_dict(model, adapter_name=None):
    """The adapter's arrays (copies) under PEFT's keys; default: the active adapter."""
    return OrderedDict((key, param.data.copy()) for key, param in adapter_parameters(model, adapter_name).items())


def set_peft_model_state_dict(model, state_dict, adapter_name=None):
    """Copy `state_dict` (as from get_peft_model_state_dict) into an existing adapter.

    Raises ValueError, changing nothing, unless the keys and every shape
    match: an adapter saved for another model shape or another rank.
    """
    params = adapter_parameters(model, adapter_name)
    missing = [key for key in params if key not in state_dict]
    unexpected = [key for key in state_dict if key not in params]
    problems = []
    if missing:
        problems.append(f"missing (the model has them, the adapter does not): {missing}")
    if unexpected:
        problems.append(f"unexpected (the adapter has them, the model does not): {unexpected}")
    for key, param in params.items():
        if key in state_dict and np.shape(state_dict[key]) != param.shape:
            problems.append(_explain_shape(key, np.shape(state_dict[key]), param.shape))
    if problems:
        raise ValueError("the adapter does not fit this model: " + "; ".join(problems))
    for key, param in params.items():
        np.copyto(param.data, np.asarray(state_dict[key]), casting="same_kind")


def _explain_shape(key, found, expected):
    """'...lora_A.weight: shape (4, 20) in the adapter, (8, 20) in the model (rank 4 vs 8)'."""
    text = f"{key}: shape {found} in the adapter, {expected} in the model"
    if len(found) != 2 or len(expected) != 2:
        return text
    if key.endswith("lora_A.weight"):
        rank_axis, feature_axis, feature = 0, 1, "in_features"
    elif key.endswith("lora_B.weight"):
        rank_axis, feature_axis, feature = 1, 0, "out_features"
    else:
        return text
    details = []
    if found[rank_axis] != expected[rank_axis]:
        details.append(f"rank {found[rank_axis]} in the adapter vs {expected[rank_axis]} in the model")
    if found[feature_axis] != expected[feature_axis]:
        details.append(f"saved for {feature}={found[feature_axis]}, this layer has {expected[feature_axis]}")
    return text + f" ({'; '.join(details)})"


def save_adapter(model, path, adapter_name=None):
    """Write the adapter (default: the active one) to the folder `path`; returns `path`."""
    lora_model = _lora_model(model)
    adapter_name = lora_model.active_adapter if adapter_name is None else adapter_name
    state = get_peft_model_state_dict(model, adapter_name)
    # PEFT writes inference_mode=True into every saved config; loading sets it from is_trainable.
    config = dataclasses.replace(lora_model.peft_config[adapter_name], inference_mode=True)
    os.makedirs(os.fspath(path), exist_ok=True)
    save_arrays(os.path.join(path, WEIGHTS_NAME), state, KIND)
    save_json(os.path.join(path, CONFIG_NAME), config.to_dict())
    return path


def read_adapter(path):
    """(LoraConfig, dict of arrays) from a folder written by save_adapter; CheckpointError if damaged."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"path {path!r} is not a folder holding a saved adapter ({WEIGHTS_NAME}, {CONFIG_NAME})")
    for name in (WEIGHTS_NAME, CONFIG_NAME):
        if not os.path.exists(os.path.join(path, name)):
            raise FileNotFoundError(f"adapter folder {path!r} has no {name}")
    config_path = os.path.join(path, CONFIG_NAME)
    values = load_json(config_path)
    try:
        config = LoraConfig.from_dict(values)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{config_path!r} does not hold a valid LoRA config: {err}") from None
    return config, load_arrays(os.path.join(path, WEIGHTS_NAME), KIND)


def load_adapter(model, path, adapter_name, is_trainable=False):
    """Add the adapter saved in `path` to `model` (a PeftModel) as `adapter_name`; not made active.

    The layers are built from the saved config, then the saved arrays are
    copied in; if they do not fit, the new adapter is removed again and the
    error says what did not fit. A PiSSA adapter gets its frozen residual
    recomputed from the base weights, which must be the ones it was trained on.

    is_trainable=False (PEFT's default): the adapter is for inference. Its
    config gets inference_mode=True and, as PEFT does, the whole model is put
    in eval mode (call model.train() to go on training the active adapter).
    set_adapter(adapter_name) makes it trainable after all, as in PEFT.

    Shared biases: an adapter saved with bias="lora_only" or "all" carries
    biases of the base layers, and every adapter of the model computes with
    those same biases (PEFT shares them too). Loading writes the saved
    biases into them, so the active adapter's outputs change although the
    new adapter is not made active; a warning names the layers whose bias
    changed. To keep the current biases, copy them before loading and write
    them back after, or load such an adapter into a model of its own with
    PeftModel.from_pretrained.
    """
    lora_model = _lora_model(model)
    check_adapter_name(adapter_name)
    is_trainable = check_bool("is_trainable", is_trainable)
    if adapter_name in lora_model.peft_config:
        raise ValueError(f"adapter_name {adapter_name!r} is already in use; adapters: {list(lora_model.peft_config)}")
    config, arrays = read_adapter(path)
    config = dataclasses.replace(config, inference_mode=not is_trainable)
    lora_model.inject_adapter(adapter_name, _plain(config), generator=np.random.default_rng(0))
    params, shared = _adapter_parameters(model, adapter_name)
    before = {key: param.data.copy() for key, param in params.items() if key in shared}  # in model order
    try:
        set_peft_model_state_dict(model, arrays, adapter_name)
    except ValueError as err:
        lora_model.delete_adapter(adapter_name)
        raise ValueError(f"adapter in {os.fspath(path)!r}: {err}") from None
    _finish_loading(lora_model, adapter_name, config)
    changed = [_layer_of(key) for key in before if not np.array_equal(before[key], params[key].data)]
    if changed:
        warnings.warn(
            f"load_adapter: adapter {adapter_name!r} was saved with bias={config.bias!r}, and biases are "
            f"shared by all adapters (as in PEFT): loading it overwrote the biases of layer(s) {changed}, "
            f"so the active adapter {lora_model.active_adapter!r} now computes with them too",
            stacklevel=3,  # the user's line, when called as peft_model.load_adapter
        )
    if not is_trainable:
        model.eval()  # as PEFT: loaded for inference means dropout off
    return model


def _layer_of(bias_key):
    """'base_model.model.0.base_layer.bias' -> '0': the layer the bias belongs to, as the user names it."""
    name = bias_key[len(PREFIX):].rsplit(".", 1)[0]
    return name[: -len(".base_layer")] if name.endswith(".base_layer") else name


def _plain(config):
    """The config with the default start: the saved arrays overwrite A and B anyway.

    (A fixed generator is used for that throwaway start, so that loading
    never moves the package's default random stream.)
    """
    return dataclasses.replace(config, init_lora_weights=True)


def _finish_loading(lora_model, adapter_name, config):
    lora_model.peft_config[adapter_name] = config
    if config.init_lora_weights == "pissa":
        layers = [(name, layer) for name, layer in lora_model.lora_layers() if adapter_name in layer.lora_A]
        others = [name for name in lora_model.peft_config if name != adapter_name]
        shared = [name for name, layer in layers if len(layer.lora_A) > 1]
        warn_if_pissa_changes_others(shared, others, stacklevel=5)
        for _, layer in layers:
            layer.pissa_split(adapter_name)  # only the residual is wanted; A and B are the saved ones
