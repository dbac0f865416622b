"""Which modules a LoraConfig picks: matching names, as PEFT does, and checking the result.

Module names are the dotted paths of `model.named_modules()`: "0", "2",
"encoder.fc". A config names its targets in one of three ways:

    ["0", "fc"]          a list: a name matches if it equals an entry or ends
                         with "." + entry ("fc" matches "encoder.fc")
    r"\\d"               one string: a regular expression that must match the
                         whole name ("\\d" matches "0" and "2", not "10.0")
    "all-linear"         every Linear layer, including the last one

On "all-linear": PEFT leaves out the output layer of a language model,
whose vocabulary-sized head is usually kept as it is. lorabook's models are
small MLPs without a separate head, and the last Linear layer is where a
domain shift often bites, so "all-linear" here means every Linear layer,
except those listed in `modules_to_save` (they are trained in full anyway).

`plan_injection` does every check before anything changes, so a config
that does not fit leaves the model untouched.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..nn.layers import Linear
from ..nn.module import Module
from .config import ALL_LINEAR, LoraConfig, pattern_matches
from .layer import LoraLinear
from .modules_to_save import ModulesToSaveWrapper


def adaptable_modules(model: Module):
    """(dotted name, module) for every submodule, without looking inside LoRA layers or wrappers.

    The insides of a LoraLinear ("0.base_layer", "0.lora_A.default") are
    LoRA's own machinery, never targets; the LoraLinear itself ("0") is
    listed, so that a second adapter can be added to it.
    """
    wrappers = []  # names of the LoRA layers and wrappers met so far; their insides are skipped
    for name, module in model.named_modules():  # depth first: a wrapper comes before its insides
        if not name or any(name.startswith(wrapper + ".") for wrapper in wrappers):
            continue
        yield name, module
        if isinstance(module, (LoraLinear, ModulesToSaveWrapper)):
            wrappers.append(name)


def name_matches(name: str, names) -> bool:
    """True if `name` equals an entry of `names` or ends with "." + entry (PEFT's rule)."""
    return any(name == entry or name.endswith("." + entry) for entry in names)


def is_target(name: str, module: Module, target_modules) -> bool:
    """Does `target_modules` (a list, a regex string or "all-linear") pick the module `name`?"""
    if target_modules == ALL_LINEAR:
        return isinstance(module, (Linear, LoraLinear))
    if isinstance(target_modules, str):
        return re.fullmatch(target_modules, name) is not None
    return name_matches(name, target_modules)


@dataclass
class InjectionPlan:
    """What injecting one adapter will do: the (name, module) pairs to adapt and to save."""

    targets: list
    modules_to_save: list


def describe_modules(model: Module) -> str:
    """'0 (Linear), 1 (ReLU), ...': the names a config can use, for error messages."""
    return ", ".join(f"{name} ({type(module).__name__})" for name, module in adaptable_modules(model)) or "(none)"


def plan_injection(model: Module, config: LoraConfig) -> InjectionPlan:
    """Check `config` against `model` and return an InjectionPlan; raise if anything does not fit."""
    modules = list(adaptable_modules(model))
    target_modules = config.target_modules
    if target_modules is None:
        raise ValueError(
            "LoraConfig.target_modules is None: lorabook does not guess which layers to adapt. Pass a "
            "list of names such as ['0', '2'], a regular expression, or 'all-linear'. Modules of this "
            f"model: {describe_modules(model)}"
        )
    save_names = config.modules_to_save or []
    to_save = [(name, module) for name, module in modules if name_matches(name, save_names)]
    for entry in save_names:
        if not any(name_matches(name, [entry]) for name, _ in to_save):
            raise ValueError(f"modules_to_save entry {entry!r} matches no module. Modules of this model: {describe_modules(model)}")
    saved = {name for name, _ in to_save}
    targets = [(name, module) for name, module in modules
               if is_target(name, module, target_modules) and not (target_modules == ALL_LINEAR and name in saved)]
    if not targets:
        raise ValueError(f"target_modules {target_modules!r} matches no module. Modules of this model: {describe_modules(model)}")
    for name, module in targets:
        if not isinstance(module, (Linear, LoraLinear)):
            raise ValueError(
                f"target_modules {target_modules!r} picks {name!r}, a {type(module).__name__}; LoRA here adapts "
                f"Linear layers only. Modules of this model: {describe_modules(model)}"
            )
    target_names = [name for name, _ in targets]
    for field_name in ("rank_pattern", "alpha_pattern"):
        for key in getattr(config, field_name):
            if not any(pattern_matches(key, name) for name in target_names):
                raise ValueError(f"{field_name} key {key!r} matches no module picked by target_modules "
                                 f"{target_names}; a key is a name, a dotted suffix or a regex of one of them")
    for target, _ in targets:
        for kept, _ in to_save:
            if target == kept or target.startswith(kept + ".") or kept.startswith(target + "."):
                raise ValueError(
                    f"module {target!r} is picked by target_modules and {kept!r} by modules_to_save; a module "
                    f"is either adapted with LoRA or trained in full, not both"
                )
    for kept, module in to_save:
        if not isinstance(module, ModulesToSaveWrapper) and any(isinstance(m, LoraLinear) for m in module.modules()):
            raise ValueError(f"modules_to_save {kept!r} contains LoRA layers of another adapter; save a module without them")
    return InjectionPlan(targets=targets, modules_to_save=to_save)
