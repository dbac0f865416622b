"""Saving and loading adapters in PEFT's format: only the adapter's tensors and its config.

    peft_model.save_pretrained("adapters")         # every adapter, in PEFT's layout:
        adapters/adapter_config.json                   "default": its LoraConfig as JSON
        adapters/adapter_model.safetensors             its tensors
        adapters/rotated/adapter_config.json           any other adapter in a subfolder of its name
        adapters/rotated/adapter_model.safetensors
    loaded = PeftModel.from_pretrained(base, "adapters")               # base: the model it was trained on
    loaded.load_adapter("adapters/rotated", adapter_name="rotated")

The files are PEFT's own, so a folder goes both ways between lorabook and
PyTorch + PEFT. An adapter of r=8 on a 1024 x 1024 layer is
8 * (1024 + 1024) numbers: 64 KB, against 4 MB for the layer itself.

Keys are PEFT's: a parameter's name in the model with the adapter's name
left out, so that a file can be loaded under any name:

    base_model.model.0.lora_A.weight          (r, in)     from ...0.lora_A.default.weight
    base_model.model.0.lora_B.weight          (out, r)
    base_model.model.4.weight, ...            a module in modules_to_save (its copy for the adapter)
    base_model.model.0.base_layer.bias, ...   biases, if the config trains them

Which parameters belong to an adapter is read off their names, as PEFT
does: `<layer>.<container>.<adapter>[.weight]` with a container whose name
starts with "lora_" (lora_A, lora_B, and so lora_E of AdaLoRA or
lora_magnitude_vector of DoRA too, with no special case), the adapter's
copies in `modules_to_save`, and the biases its `bias` setting trains.

A save is atomic as a whole: a crash leaves the folder with the old
adapters or the new ones, never a mix (lorabook.io.write_folder). A load
checks everything first (the config complete and valid, the file's header,
every key, shape and dtype, by rehearsing on a copy of the model) and
changes the model only when all of it fits. As in PEFT, a loaded adapter is
frozen, for inference, unless is_trainable=True.

Biases are not the adapter's own: with bias="lora_only" or "all" the file
holds biases of the base layers, which every adapter of the model shares
(as in PEFT). Loading such an adapter overwrites them; see `load_adapter`.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import warnings
from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np

from .._checks import check_bool
from ..io import CheckpointError, PathLike, json_bytes, write_folder
from ..nn.module import Module
from ..safetensors_file import safetensors_bytes
from .config import LoraConfig, check_adapter_name
from .model import LoraModel, warn_if_pissa_changes_others
from .peft_format import CONFIG_NAME, PREFIX, WEIGHTS_NAME, adapter_folder, config_to_json, read_adapter
from .targets import plan_injection

METADATA = {"format": "pt"}  # what PEFT writes into adapter_model.safetensors


def _lora_model(model) -> LoraModel:
    """The LoraModel of a PeftModel (or the LoraModel itself)."""
    lora_model = model if isinstance(model, LoraModel) else getattr(model, "base_model", None)
    if not isinstance(lora_model, LoraModel):
        raise TypeError(f"model must be a PeftModel (from get_peft_model), got {type(model).__name__}")
    return lora_model


# ----- which parameters an adapter saves ----------------------------------------------------------
def adapter_parameters(model, adapter_name: Optional[str] = None) -> "OrderedDict[str, object]":
    """PEFT key -> Parameter for everything saved with the adapter (default: the active one)."""
    lora_model = _lora_model(model)
    adapter_name = lora_model.active_adapter if adapter_name is None else adapter_name
    lora_model.check_known_adapter("adapter_name", adapter_name)
    params = OrderedDict()
    for name, param in lora_model.model.named_parameters():
        key = peft_key(name, adapter_name)
        if key is not None:
            params[PREFIX + key] = param
    for name, param in lora_model.bias_parameters(adapter_name):
        params[PREFIX + name] = param
    return params


def peft_key(name: str, adapter_name: str) -> Optional[str]:
    """The key PEFT saves the parameter `name` under, if it belongs to `adapter_name`; else None.

        0.lora_A.default.weight                -> 0.lora_A.weight
        0.lora_E.default                       -> 0.lora_E
        0.lora_magnitude_vector.default.weight -> 0.lora_magnitude_vector   (PEFT drops ".weight" here)
        4.modules_to_save.default.weight       -> 4.weight
    """
    parts = name.split(".")
    for i in range(1, len(parts)):
        container = parts[i - 1]
        if parts[i] != adapter_name or not (container.startswith("lora_") or container == "modules_to_save"):
            continue
        rest = parts[i + 1:]
        if container == "lora_magnitude_vector" and rest == ["weight"]:
            rest = []  # PEFT kept the key of its older DoRA layout
        kept = parts[:i - 1] if container == "modules_to_save" else parts[:i]
        return ".".join(kept + rest)
    return None


def get_peft_model_state_dict(model, adapter_name: Optional[str] = None) -> "OrderedDict[str, np.ndarray]":
    """The adapter's arrays (copies) under PEFT's keys; default: the active adapter."""
    return OrderedDict((key, param.data.copy()) for key, param in adapter_parameters(model, adapter_name).items())


def set_peft_model_state_dict(model, state_dict, adapter_name: Optional[str] = None) -> None:
    """Copy `state_dict` (as from get_peft_model_state_dict) into an existing adapter.

    Raises ValueError, changing nothing, unless the keys, every shape and
    every dtype (real floating point) fit: e.g. an adapter saved for another
    model shape or another rank.
    """
    params = adapter_parameters(model, adapter_name)
    arrays = {key: np.asarray(value) for key, value in state_dict.items()}
    expected = {key: (param.shape, param.dtype) for key, param in params.items()}
    check_fits(expected, {key: (array.dtype, array.shape) for key, array in arrays.items()})
    for key, param in params.items():
        np.copyto(param.data, arrays[key], casting="same_kind")
        param.bump_version()


def check_fits(expected, found) -> None:
    """ValueError listing every difference between `expected` (key -> (shape, dtype)) and
    `found` (key -> (dtype, shape)): missing and unexpected keys, shapes, non-float dtypes."""
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    problems = []
    if missing:
        problems.append(f"missing (the model has them, the adapter does not): {missing}")
    if unexpected:
        problems.append(f"unexpected (the adapter has them, the model does not): {unexpected}")
    for key, (shape, _) in expected.items():
        if key not in found:
            continue
        dtype, found_shape = found[key]
        if np.dtype(dtype).kind != "f":
            problems.append(f"{key}: dtype {np.dtype(dtype)} in the adapter; only real floating point is loaded")
        elif tuple(found_shape) != tuple(shape):
            problems.append(_explain_shape(key, tuple(found_shape), tuple(shape)))
    if problems:
        raise ValueError("the adapter does not fit this model: " + "; ".join(problems))


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


# ----- saving --------------------------------------------------------------------------------------
def adapter_files(model, adapter_name: str) -> dict:
    """{CONFIG_NAME: bytes, WEIGHTS_NAME: bytes}: the two files of one adapter, as PEFT writes them."""
    lora_model = _lora_model(model)
    state = get_peft_model_state_dict(lora_model, adapter_name)
    targets = [name for name, layer in lora_model.lora_layers() if adapter_name in layer.lora_A]
    config = config_to_json(lora_model.peft_config[adapter_name], targets)
    return {CONFIG_NAME: json_bytes(config), WEIGHTS_NAME: safetensors_bytes(state, METADATA)}


def save_adapter(model, path: PathLike, adapter_name: Optional[str] = None) -> str:
    """Write one adapter (default: the active one) into the folder `path`, its two files at the top."""
    lora_model = _lora_model(model)
    adapter_name = lora_model.active_adapter if adapter_name is None else adapter_name
    lora_model.check_known_adapter("adapter_name", adapter_name)
    return write_folder(path, adapter_files(lora_model, adapter_name))


def save_pretrained(model, save_directory: PathLike, selected_adapters: Optional[Sequence[str]] = None) -> str:
    """Write the adapters (default: all of them) in PEFT's layout, all in one atomic step.

    "default" goes at the top of save_directory, every other adapter into
    the subfolder named after it, as PEFT does.
    """
    lora_model = _lora_model(model)
    if isinstance(selected_adapters, str):
        raise TypeError(f"selected_adapters must be a list of adapter names, got the string {selected_adapters!r}")
    names = list(lora_model.peft_config) if selected_adapters is None else list(selected_adapters)
    for name in names:
        lora_model.check_known_adapter("selected_adapters", name)
        if os.sep in name or "/" in name:  # (no dots: adapter names never hold one, so never "..")
            raise ValueError(f"selected_adapters: adapter {name!r} holds a path separator, so it cannot be saved "
                             "in a subfolder of its name; rename it without '/'")
    files = {}
    for name in names:
        folder = adapter_folder("", name)
        files.update({os.path.join(folder, file): content for file, content in adapter_files(lora_model, name).items()})
    return write_folder(save_directory, files)


# ----- loading ------------------------------------------------------------------------------------
def load_adapter(target: Module, path: PathLike, adapter_name: str = "default", is_trainable: bool = False, wrap=None):
    """The one way an adapter is loaded; returns the PeftModel holding it.

    target: a PeftModel (load_adapter: the adapter is added, not made
    active), or a plain model that `wrap(model, config, adapter_name,
    generator)` turns into one (from_pretrained: the adapter is active).

    1. Read the folder: the config complete and valid, the header checked.
    2. Rehearse on a copy of the model: build the adapter there, and check
       every key, shape and dtype the file holds against it.
    3. Only then change the model: build the adapter for real, copy the
       numbers in, recompute a PiSSA residual from the base weights (which
       must be the ones the adapter was trained on).

    is_trainable=False (PEFT's default): the adapter is for inference. Its
    config gets inference_mode=True, and, as PEFT does, the whole model is
    put in eval mode (model.train() to go on training the active adapter).

    Shared biases: an adapter saved with bias="lora_only" or "all" carries
    biases of the base layers, and every adapter of the model computes with
    those same biases (PEFT shares them too). Loading it with load_adapter
    writes the saved biases into them, so the active adapter's outputs
    change although the new adapter is not made active; a warning names
    the layers whose bias changed.
    """
    check_adapter_name(adapter_name)
    is_trainable = check_bool("is_trainable", is_trainable)
    existing = None if wrap is not None else _lora_model(target)
    if existing is not None and adapter_name in existing.peft_config:
        raise ValueError(f"adapter_name {adapter_name!r} is already in use; adapters: {list(existing.peft_config)}")
    if wrap is not None and not isinstance(target, Module):
        raise TypeError(f"model must be a lorabook.nn.Module, got {type(target).__name__}")

    # 1. the files
    config, weights = read_adapter(path)
    config = dataclasses.replace(config, inference_mode=not is_trainable)
    plain = dataclasses.replace(config, init_lora_weights=True)  # the start is overwritten by the file anyway
    _check_size(target if existing is None else existing.model, config, weights)

    # 2. the rehearsal, on a copy (a throwaway generator: loading never moves the default random stream)
    try:
        with warnings.catch_warnings():  # warnings about the adapter come once, from the real build below
            warnings.simplefilter("ignore")
            if existing is None:
                trial = LoraModel(copy.deepcopy(target), plain, adapter_name, np.random.default_rng(0))
            else:
                trial = copy.deepcopy(existing)
                trial.inject_adapter(adapter_name, plain, np.random.default_rng(0))
        expected = {key: (param.shape, param.dtype) for key, param in adapter_parameters(trial, adapter_name).items()}
        check_fits(expected, weights.entries)
    except CheckpointError:
        raise
    except (ValueError, TypeError) as err:  # say which adapter did not fit
        raise type(err)(f"adapter in {os.fspath(path)!r}: {err}") from None
    del trial
    arrays = weights.read(list(expected))

    # 3. for real: nothing below can fail on what was checked above
    if existing is None:
        peft_model = wrap(target, plain, adapter_name, np.random.default_rng(0))
        lora_model = _lora_model(peft_model)
    else:
        peft_model, lora_model = target, existing
        lora_model.inject_adapter(adapter_name, plain, np.random.default_rng(0))
    params = adapter_parameters(lora_model, adapter_name)
    biases = {name for name, _ in lora_model.bias_parameters(adapter_name)}
    before = {key: params[key].data.copy() for key in params if key[len(PREFIX):] in biases}
    for key, param in params.items():
        np.copyto(param.data, arrays[key], casting="same_kind")
        param.bump_version()
    lora_model.peft_config[adapter_name] = config
    if config.init_lora_weights == "pissa":
        _pissa_residual(lora_model, adapter_name)
    changed = [_layer_of(key) for key in before if not np.array_equal(before[key], params[key].data)]
    if existing is not None and changed:
        warnings.warn(
            f"load_adapter: adapter {adapter_name!r} was saved with bias={config.bias!r}, and biases are "
            f"shared by all adapters (as in PEFT): loading it overwrote the biases of layer(s) {changed}, "
            f"so the active adapter {lora_model.active_adapter!r} now computes with them too",
            stacklevel=3,  # the user's line, when called as peft_model.load_adapter
        )
    if not is_trainable:
        peft_model.eval()  # as PEFT: loaded for inference means dropout off
    return peft_model


def _check_size(model, config: LoraConfig, weights) -> None:
    """Refuse a config whose ranks ask for far more numbers than the file and the model hold
    (r = 2**40, say) before anything is allocated; the adapter needs at least r * (in + out)
    numbers per layer. Smaller mismatches are left to the rehearsal, which names each tensor."""
    try:
        targets = plan_injection(model, config).targets
    except (ValueError, TypeError):
        return  # the rehearsal reports it, with the adapter's path
    needed = sum(config.rank_for(name) * (module.in_features + module.out_features) for name, module in targets)
    available = weights.numel() + sum(param.size for param in model.parameters())
    if needed > available:
        raise CheckpointError(f"{weights.path!r}: its config's ranks (r={config.r}, rank_pattern={config.rank_pattern}) "
                              f"need at least {needed} numbers, more than the file ({weights.numel()}) and the model "
                              f"hold together: the config and the tensors do not belong together")


def _pissa_residual(lora_model: LoraModel, adapter_name: str) -> None:
    """PiSSA moved W's top-r part into the adapter when it was made: do the same to this base weight
    (A and B keep the loaded values)."""
    layers = [(name, layer) for name, layer in lora_model.lora_layers() if adapter_name in layer.lora_A]
    others = [name for name in lora_model.peft_config if name != adapter_name]
    warn_if_pissa_changes_others([name for name, layer in layers if len(layer.lora_A) > 1], others, stacklevel=5)
    for _, layer in layers:
        layer.pissa_split(adapter_name)  # (it tells the engine that W changed in place)


def _layer_of(bias_key: str) -> str:
    """'base_model.model.0.base_layer.bias' -> '0': the layer the bias belongs to, as the user names it."""
    name = bias_key[len(PREFIX):].rsplit(".", 1)[0]
    return name[: -len(".base_layer")] if name.endswith(".base_layer") else name
