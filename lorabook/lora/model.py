"""`LoraModel`: puts LoRA layers into a model, switches, merges and removes them.

    lora_model = LoraModel(model, LoraConfig(r=8, target_modules=["0", "2"]))

The model is changed in place, as in PEFT: each target Linear is replaced by
a LoraLinear wrapping it, each module in `modules_to_save` by a
ModulesToSaveWrapper, and every parameter is frozen except those of the
active adapter. (Take a `copy.deepcopy(model)` first to keep the original.)
The user's model stays reachable as `lora_model.model`.

Trainable, with the active adapter `a` and its config:

    every lora_A[a], lora_B[a]              always
    every lora_magnitude_vector[a]          with use_dora=True
    the copies modules_to_save[a]           always
    biases                                  bias="all": every bias of the model (but the
                                            frozen originals of saved modules);
                                            bias="lora_only": biases of the layers adapted by `a`

Everything else has requires_grad=False: no gradient, no optimizer state.
As in PEFT, only one adapter of a model may train biases (they are shared
by all adapters). Unlike PEFT, the biases train only while that adapter is
active: PEFT decides once, when an adapter is injected, from the adapter
active at that moment, so there the biases go on training while another
adapter is trained, and never train for an adapter added second.

An adapter whose config has inference_mode=True (PeftModel.from_pretrained
and load_adapter without is_trainable=True) trains nothing at all while it
is active, its biases included (PEFT leaves the biases of a bias="all" or
"lora_only" adapter trainable there; here frozen means frozen).
set_adapter(name) makes an adapter trainable again, as in PEFT, unless
given inference_mode=True.

Note that a trained bias, and PiSSA's residual weights, change the base
model itself: `disable_adapter()` then no longer gives the original outputs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import warnings
from typing import Sequence, Union

from .._checks import _show, check_bool
from ..nn.module import Module
from ..random import get_generator
from .config import LoraConfig, check_adapter_name
from .layer import LoraLinear
from .modules_to_save import ModulesToSaveWrapper
from .targets import plan_injection


class LoraModel(Module):
    """The tuner: holds `model`, its LoRA layers, and a LoraConfig per adapter (`peft_config`)."""

    def __init__(self, model: Module, config: LoraConfig, adapter_name: str = "default", generator=None):
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"model must be a lorabook.nn.Module, got {type(model).__name__}")
        _refuse_injected(model)
        self.model = model
        self.peft_config = {}
        self.active_adapter = adapter_name
        self.inject_adapter(adapter_name, config, generator)

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    # ----- the tuner's layers ---------------------------------------------------------
    def lora_layers(self) -> list:
        """(name, LoraLinear) for every LoRA layer in the model."""
        return [(name, m) for name, m in self.model.named_modules() if isinstance(m, LoraLinear)]

    def saved_modules(self) -> list:
        """(name, ModulesToSaveWrapper) for every wrapped module."""
        return [(name, m) for name, m in self.model.named_modules() if isinstance(m, ModulesToSaveWrapper)]

    def _replace(self, name, new_module):
        parent_name, _, child = name.rpartition(".")
        setattr(self.model.get_submodule(parent_name), child, new_module)

    # ----- adding and choosing adapters -------------------------------------------------
    def inject_adapter(self, adapter_name: str, config: LoraConfig, generator=None) -> None:
        """Add the adapter `adapter_name` described by `config` (a LoraConfig) to the model.

        Every check runs before the model changes. The new adapter does not
        become active (use set_adapter), except for the very first one.
        """
        check_adapter_name(adapter_name)
        if adapter_name in self.peft_config:
            raise ValueError(f"adapter_name {adapter_name!r} is already in use; adapters: {list(self.peft_config)}")
        if not isinstance(config, LoraConfig):
            raise TypeError(f"config must be a LoraConfig, got {_show(config)}")
        with_bias = [name for name, other in self.peft_config.items() if other.bias != "none"]
        if config.bias != "none" and with_bias:
            raise ValueError(
                f"bias={config.bias!r}: adapter {with_bias[0]!r} already trains biases, and a LoraModel supports only "
                "1 adapter with bias (as in PEFT: the biases are shared by all adapters). Use bias='none' here"
            )
        plan = plan_injection(self.model, config)
        # The layers of the plan may already hold other adapters: a name clash must be
        # found now, not halfway through the loop below with some layers changed.
        for name, module in plan.targets + plan.modules_to_save:
            taken = (module.lora_A if isinstance(module, LoraLinear) else
                     module.modules_to_save if isinstance(module, ModulesToSaveWrapper) else ())
            if adapter_name in taken:
                raise ValueError(f"adapter_name {adapter_name!r} is already in use in layer {name!r} "
                                 f"(adapters there: {list(taken)}); pick another name")
        if config.use_dora:
            merged = [name for name, module in plan.targets if isinstance(module, LoraLinear) and module.merged]
            if merged:
                raise ValueError(f"use_dora=True: layer(s) {merged} have merged adapters in their base weight, from "
                                 "which DoRA's magnitude would start; call unmerge_adapter() first")
        if config.init_lora_weights == "pissa":
            shared = [name for name, module in plan.targets if isinstance(module, LoraLinear)]
            warn_if_pissa_changes_others(shared, list(self.peft_config), stacklevel=4)
        rng = get_generator(generator)
        for name, module in plan.targets:
            options = dict(r=config.rank_for(name), lora_alpha=config.alpha_for(name), lora_dropout=config.lora_dropout,
                           init_lora_weights=config.init_lora_weights, use_rslora=config.use_rslora,
                           use_dora=config.use_dora, generator=rng)
            if isinstance(module, LoraLinear):
                module.update_layer(adapter_name, **options)
            else:
                self._replace(name, LoraLinear(module, adapter_name, **options))
        for name, module in plan.modules_to_save:
            if isinstance(module, ModulesToSaveWrapper):
                module.update(adapter_name)
            else:
                self._replace(name, ModulesToSaveWrapper(module, adapter_name))
        self.peft_config[adapter_name] = dataclasses.replace(config)  # a copy: later edits of `config` change nothing
        self._activate(self.active_adapter)

    def set_adapter(self, adapter_name: str, inference_mode: bool = False) -> None:
        """Make `adapter_name` the active adapter: it alone is used in forward and trained.

        As in PEFT, this makes the adapter trainable, also one loaded frozen
        (is_trainable=False); inference_mode=True activates it frozen instead.
        """
        self.check_known_adapter("adapter_name", adapter_name)
        inference_mode = check_bool("inference_mode", inference_mode)
        if any(layer.merged for _, layer in self.lora_layers()):
            warnings.warn("set_adapter: the model has merged adapters; unmerging them first", stacklevel=2)
            self.unmerge_adapter()
        self.peft_config[adapter_name].inference_mode = inference_mode
        self._activate(adapter_name)

    def _activate(self, adapter_name):
        self.active_adapter = adapter_name
        for _, layer in self.lora_layers():
            layer.set_adapter([adapter_name] if adapter_name in layer.lora_A else [])
        for _, wrapper in self.saved_modules():
            wrapper.set_adapter(adapter_name)
        self._mark_trainable()

    def _mark_trainable(self):
        """Freeze everything, then unfreeze the active adapter's parameters (module docstring)."""
        name = self.active_adapter
        self.model.requires_grad_(False)
        if self.peft_config[name].inference_mode:
            return
        for _, layer in self.lora_layers():
            if name in layer.lora_A:
                for table in (layer.lora_A, layer.lora_B, layer.lora_magnitude_vector):
                    if name in table:
                        table[name].requires_grad_(True)
        for _, wrapper in self.saved_modules():
            if name in wrapper.modules_to_save:
                wrapper.modules_to_save[name].requires_grad_(True)
        for _, param in self.bias_parameters(name):
            param.requires_grad = True

    def bias_parameters(self, adapter_name):
        """(name in self.model, Parameter) of the biases `adapter_name`'s config trains, which are
        also saved with it: bias="lora_only" the biases of the layers it adapts, bias="all" every
        bias but those of the originals and copies of saved modules, bias="none" none."""
        bias = self.peft_config[adapter_name].bias
        if bias == "lora_only":
            return [(f"{name}.base_layer.bias", layer.base_layer.bias) for name, layer in self.lora_layers()
                    if adapter_name in layer.lora_A and layer.base_layer.bias is not None]
        if bias == "all":
            return [(name, param) for name, param in self.model.named_parameters()
                    if name.split(".")[-1] == "bias" and not {"original_module", "modules_to_save"} & set(name.split("."))]
        return []

    def delete_adapter(self, adapter_name: str) -> None:
        """Remove an adapter everywhere.

        As in PEFT, a layer left with no adapter keeps its LoraLinear (or
        ModulesToSaveWrapper), which then computes as the plain module: the
        model's parameter names and state keys stay as they were.
        """
        self.check_known_adapter("adapter_name", adapter_name)
        if len(self.peft_config) == 1:
            raise ValueError(f"cannot delete {adapter_name!r}, the only adapter; use unload() to get the plain model back")
        if any(adapter_name in layer.merged_adapters for _, layer in self.lora_layers()):
            raise ValueError(f"adapter {adapter_name!r} is merged into the base weights; unmerge_adapter() first")
        for _, layer in self.lora_layers():
            if adapter_name in layer.lora_A:
                layer.delete_adapter(adapter_name)
        for _, wrapper in self.saved_modules():
            wrapper.delete_adapter(adapter_name)
        del self.peft_config[adapter_name]
        self._activate(next(iter(self.peft_config)) if adapter_name == self.active_adapter else self.active_adapter)

    def check_known_adapter(self, argument: str, adapter_name) -> None:
        """TypeError/ValueError naming `argument` unless `adapter_name` is one of this model's adapters."""
        if not isinstance(adapter_name, str):
            raise TypeError(f"{argument} must be a str, the name of one adapter; got {_show(adapter_name)} "
                            f"(adapters: {list(self.peft_config)})")
        if adapter_name not in self.peft_config:
            raise ValueError(f"{argument} {adapter_name!r} is not an adapter of this model; adapters: {list(self.peft_config)}")

    @contextlib.contextmanager
    def disable_adapter(self):
        """Inside `with model.disable_adapter():` the model computes as the base model.

        Merged adapters are unmerged first (as in PEFT) and stay unmerged.
        """
        layers = [layer for _, layer in self.lora_layers()] + [w for _, w in self.saved_modules()]
        previous = [layer.disable_adapters for layer in layers]
        for layer in layers:
            if isinstance(layer, LoraLinear) and layer.merged:
                layer.unmerge()
            layer.disable_adapters = True
        try:
            yield
        finally:
            for layer, flag in zip(layers, previous):
                layer.disable_adapters = flag

    # ----- merging and unloading ------------------------------------------------------
    def merge_adapter(self, adapter_names: Union[str, Sequence[str], None] = None, safe_merge: bool = False) -> None:
        """Fold adapters (default: the active one) into the base weights: W <- W + scaling * B @ A.

        With safe_merge every layer's merged weight is computed and checked
        for NaN and inf before any layer changes, so a failure merges nothing.
        """
        names = [self.active_adapter] if adapter_names is None else (
            [adapter_names] if isinstance(adapter_names, str) else list(adapter_names))
        for name in names:
            self.check_known_adapter("adapter_names", name)
        layers = [(lname, layer, [n for n in names if n in layer.lora_A]) for lname, layer in self.lora_layers()]
        if safe_merge:
            for lname, layer, layer_names in layers:
                try:
                    layer._merged_weight([n for n in layer_names if n not in layer.merged_adapters])
                except ValueError as err:
                    raise ValueError(f"layer {lname!r}: {err}") from None
        for _, layer, layer_names in layers:
            if layer_names:
                layer.merge(adapter_names=layer_names)

    def unmerge_adapter(self) -> None:
        """Take every merged adapter back out of the base weights."""
        merged = [layer for _, layer in self.lora_layers() if layer.merged]
        if not merged:
            warnings.warn("unmerge_adapter: no adapter is merged; nothing to do", stacklevel=2)
        for layer in merged:
            layer.unmerge()

    def merge_and_unload(self, safe_merge: bool = False, adapter_names: Union[str, Sequence[str], None] = None) -> Module:
        """Merge (default: the active adapter) and return the plain model, without LoRA layers.

        Each LoraLinear becomes its base Linear holding W + scaling * B @ A (with
        DoRA: (m / ‖W + scaling * B @ A‖_row) ⊙ (W + scaling * B @ A)); each
        ModulesToSaveWrapper becomes the active adapter's copy. Outputs are
        unchanged (to float rounding); inference costs what the original
        model costs. Parameters keep their requires_grad flags (base weights
        stay frozen: call model.requires_grad_(True) to train it in full).
        """
        names = [self.active_adapter] if adapter_names is None else adapter_names
        names = [names] if isinstance(names, str) else list(names)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"adapter\(s\) .* already merged")  # merged before: fine
            self.merge_adapter(names, safe_merge=safe_merge)
        return self.unload()

    def unload(self) -> Module:
        """Return the plain model with the LoRA layers taken out, without merging.

        Weights are left as they are: an adapter merged before stays in them
        (call unmerge_adapter() first to get the base weights back). Saved
        modules become the active adapter's copy, as in PEFT.
        """
        for name, layer in self.lora_layers():
            self._replace(name, layer.base_layer)
        for name, wrapper in self.saved_modules():
            active = wrapper.active_adapter
            kept = wrapper.modules_to_save[active] if active in wrapper.modules_to_save else wrapper.original_module
            self._replace(name, kept)
        return self.model


def warn_if_pissa_changes_others(layer_names, other_adapters, stacklevel):
    """PiSSA moves W's top-r part out of the frozen base weight, which every adapter of a layer
    shares: warn when layers that already hold other adapters get a PiSSA adapter."""
    if layer_names and other_adapters:
        warnings.warn(f"a PiSSA adapter replaces the shared base weight of {layer_names} by its residual, so the "
                      f"outputs of the adapters already there ({other_adapters}) change", stacklevel=stacklevel)


def _refuse_injected(model):
    """TypeError if `model` already holds LoRA layers: a second LoraModel would share (and change) them."""
    injected = [name or type(model).__name__ for name, m in model.named_modules()
                if isinstance(m, (LoraModel, LoraLinear, ModulesToSaveWrapper))]
    if injected:
        where = ", ".join(repr(name) for name in injected[:4]) + (", ..." if len(injected) > 4 else "")
        raise TypeError(
            f"model already has LoRA layers (at {where}): it went through get_peft_model before, "
            "and a second get_peft_model would change the first PeftModel's layers too. To add another "
            "adapter use peft_model.add_adapter(name, config); to start afresh, pass a copy.deepcopy of the "
            "model taken before get_peft_model, or the plain model that peft_model.unload() returns"
        )
