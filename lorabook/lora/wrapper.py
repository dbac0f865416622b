"""`PeftWrapper`: the outer object get_peft_model returns, shared by plain LoRA and AdaLoRA.

As in PEFT, the object a user holds is a thin wrapper: everything LoRA
does happens in `base_model` (a "tuner": LoraModel, or AdaLoraModel for
AdaLoRA), which holds the user's model with the adapter layers put in:

    wrapper -> base_model (the tuner) -> model (yours)

which is why parameter names start with "base_model.model.". The wrapper
forwards calls to the tuner and counts parameters; PeftModel (lora.peft_model)
and AdaLoraPeftModel (lora.adalora.peft) add what differs between the two:
adapters by name, merging options, and their files.
"""
from __future__ import annotations

from ..nn.module import Module
from .utils import format_trainable_parameters, get_nb_trainable_parameters


class PeftWrapper(Module):
    """What PeftModel and AdaLoraPeftModel share; subclasses name their tuner class in `tuner`."""

    tuner = None  # the class that puts the adapter layers in and manages them

    def __init__(self, model, peft_config, adapter_name="default", generator=None):
        super().__init__()
        self.base_model = self.tuner(model, peft_config, adapter_name, generator)

    def forward(self, *args, **kwargs):
        return self.base_model(*args, **kwargs)

    @property
    def peft_config(self):
        """Adapter name -> its config."""
        return self.base_model.peft_config

    @property
    def active_adapter(self):
        """The name of the adapter in use."""
        return self.base_model.active_adapter

    def get_base_model(self):
        """The user's model (with the adapter layers in it until merge_and_unload or unload)."""
        return self.base_model.model

    def get_nb_trainable_parameters(self):
        """(trainable parameters, all parameters); a module in modules_to_save counts once as trainable."""
        return get_nb_trainable_parameters(self)

    def print_trainable_parameters(self):
        """Print 'trainable params: N || all params: M || trainable%: P', as PEFT does."""
        print(format_trainable_parameters(*self.get_nb_trainable_parameters()))

    def disable_adapter(self):
        """Context manager: `with peft_model.disable_adapter():` computes as the base model."""
        return self.base_model.disable_adapter()

    def unload(self):
        """Return the plain model without merging; this wrapper is spent afterwards."""
        return self.base_model.unload()
