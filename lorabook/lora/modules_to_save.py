"""`ModulesToSaveWrapper`: a module trained in full next to the adapters (PEFT's name).

The common case is a new classifier head for a new domain: LoRA adapts the
body, the head is retrained. The wrapper keeps the original module frozen
and gives every adapter its own trainable copy, so that switching adapters
with `set_adapter` also switches heads, and `disable_adapter()` gives back
the original head:

    (4): ModulesToSaveWrapper
      (original_module): Linear(...)                   frozen
      (modules_to_save): ModuleDict
        (default): Linear(...)                         trainable copy

Parameter names therefore read "4.original_module.weight" and
"4.modules_to_save.default.weight", as in PEFT. The trainable count counts
the copy once; "all params" counts both the original and the copy, since
both are held in memory.
"""
from __future__ import annotations

import copy

from ..nn.layers import ModuleDict
from ..nn.module import Module


class ModulesToSaveWrapper(Module):
    """Holds `original_module` (frozen) and one trainable copy per adapter."""

    def __init__(self, module_to_save: Module, adapter_name: str):
        super().__init__()
        self.original_module = module_to_save
        self.modules_to_save = ModuleDict()
        self.active_adapter = adapter_name
        self.disable_adapters = False
        module_to_save.requires_grad_(False)
        self.update(adapter_name)

    def update(self, adapter_name: str) -> None:
        """Give `adapter_name` its own copy of the original module, starting from its values."""
        if adapter_name in self.modules_to_save:
            raise ValueError(f"adapter_name {adapter_name!r} already has a copy in this ModulesToSaveWrapper")
        self.modules_to_save[adapter_name] = copy.deepcopy(self.original_module)

    def forward(self, *args, **kwargs):
        if self.disable_adapters or self.active_adapter not in self.modules_to_save:
            return self.original_module(*args, **kwargs)
        return self.modules_to_save[self.active_adapter](*args, **kwargs)

    def set_adapter(self, adapter_name: str) -> None:
        """Use `adapter_name`'s copy (the original module if that adapter has none here)."""
        self.active_adapter = adapter_name

    def delete_adapter(self, adapter_name: str) -> None:
        """Drop `adapter_name`'s copy; with no copy left the wrapper computes as the original module."""
        if adapter_name in self.modules_to_save:
            del self.modules_to_save[adapter_name]

    def extra_repr(self):
        return f"adapters {list(self.modules_to_save)}, active {self.active_adapter!r}"
