"""`get_peft_model` and `PeftModel`: the one object a LoRA user works with, in PEFT's shape.

    model = nn.MLP([64, 128, 128, 10])
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear"))
    peft_model.print_trainable_parameters()
    # trainable params: 2,344 || all params: 28,466 || trainable%: 8.2344

The nesting is PEFT's: PeftModel -> base_model (a LoraModel, which does the
LoRA work) -> model (yours, with LoRA layers put in). So parameter names
read exactly as in PEFT:

    base_model.model.0.base_layer.weight      frozen
    base_model.model.0.lora_A.default.weight  (r, in)   trainable
    base_model.model.0.lora_B.default.weight  (out, r)  trainable

What PeftModel shares with AdaLoraPeftModel (forwarding to base_model,
counting parameters, disable_adapter, unload) is in lora.wrapper.
named_parameters, parameters, state_dict, train and eval are Module's own
and so see everything. Note that get_peft_model changes `model` in place,
and so refuses a model that already went through it (add a second adapter
with `peft_model.add_adapter(name, config)` instead).

    peft_model.save_pretrained("adapters")                       # PEFT's files and layout
    loaded = PeftModel.from_pretrained(base, "adapters")          # base: the model it was trained on
    # loaded frozen, for inference, as in PEFT; is_trainable=True to train it further
"""
from __future__ import annotations

from typing import Optional, Sequence

from ..io import PathLike
from ..nn.module import Module
from . import saving
from .adalora import AdaLoraConfig, AdaLoraPeftModel
from .model import LoraModel
from .wrapper import PeftWrapper


class PeftModel(PeftWrapper):
    """A model with LoRA adapters; see the module docstring. Made by get_peft_model."""

    tuner = LoraModel

    @property
    def active_adapters(self):
        return [self.base_model.active_adapter]

    # ----- adapters ---------------------------------------------------------------------
    def add_adapter(self, adapter_name, peft_config, generator=None):
        """Add another adapter from `peft_config`; it becomes active only with set_adapter."""
        self.base_model.inject_adapter(adapter_name, peft_config, generator)

    def set_adapter(self, adapter_name, inference_mode=False):
        """Use and train `adapter_name` (the others stay, frozen and unused).

        As in PEFT this makes the adapter trainable, even one loaded with
        is_trainable=False; pass inference_mode=True to use it frozen.
        """
        self.base_model.set_adapter(adapter_name, inference_mode)

    def delete_adapter(self, adapter_name):
        self.base_model.delete_adapter(adapter_name)

    # ----- merging ----------------------------------------------------------------------
    def merge_adapter(self, adapter_names=None, safe_merge=False):
        """Fold the active adapter (or those named) into the base weights; see LoraModel."""
        self.base_model.merge_adapter(adapter_names, safe_merge)

    def unmerge_adapter(self):
        self.base_model.unmerge_adapter()

    def merge_and_unload(self, safe_merge=False, adapter_names=None):
        """Merge and return the plain model (no LoRA layers); this PeftModel is spent afterwards."""
        return self.base_model.merge_and_unload(safe_merge, adapter_names)

    # ----- saving and loading (lora.saving) ---------------------------------------------
    def save_pretrained(self, save_directory: PathLike, selected_adapters: Optional[Sequence[str]] = None) -> str:
        """Write the adapters (default: all) in PEFT's layout: "default" at the top of
        save_directory, every other adapter in the subfolder of its name. One atomic step."""
        return saving.save_pretrained(self, save_directory, selected_adapters)

    def save_adapter(self, path: PathLike, adapter_name: Optional[str] = None) -> str:
        """Write one adapter (default: the active one) at the top of the folder `path`."""
        return saving.save_adapter(self, path, adapter_name)

    def load_adapter(self, path: PathLike, adapter_name: str, is_trainable: bool = False) -> "PeftModel":
        """Add the adapter saved in `path` as `adapter_name` (use set_adapter to switch to it).

        is_trainable=False (PEFT's default) loads it for inference: frozen,
        and the model is put in eval mode. is_trainable=True: it trains once
        set_adapter makes it active (PEFT 0.21 also unfreezes it while it is
        inactive, where forward does not use it). If the adapter does not fit, the
        error says what and the model is as before. See lora.saving.load_adapter,
        which also explains the warning about shared biases.
        """
        return saving.load_adapter(self, path, adapter_name, is_trainable)

    @classmethod
    def from_pretrained(cls, model: Module, path: PathLike, adapter_name: str = "default",
                        is_trainable: bool = False) -> "PeftModel":
        """A PeftModel of `model` with the adapter saved in `path` loaded (and active).

        is_trainable=False (PEFT's default): the adapter is for inference.
        Nothing trains (its config gets inference_mode=True) and the model is
        put in eval mode, so dropout is off. Pass is_trainable=True to go on
        training it.

        Everything is checked before `model` changes: if the adapter does not
        fit, or a file is damaged, the error says so and `model` is exactly
        as it was. See lora.saving.load_adapter.
        """
        return saving.load_adapter(model, path, adapter_name, is_trainable, wrap=cls)


def get_peft_model(model, peft_config, adapter_name="default", generator=None):
    """Wrap `model` with LoRA as `peft_config` says; returns a PeftModel (model is changed in place).

    generator: an int seed or numpy Generator for the adapters' starting
    values; None uses the package's default generator (lorabook.manual_seed).
    """
    if isinstance(peft_config, AdaLoraConfig):  # PEFT too picks the tuner from the config's type
        return AdaLoraPeftModel(model, peft_config, adapter_name, generator)
    return PeftModel(model, peft_config, adapter_name, generator)
