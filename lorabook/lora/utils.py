"""Counting parameters, and loralib's two helpers for models built from LoRA layers by hand.

    count:     get_nb_trainable_parameters(model) -> (trainable, all)
               format_trainable_parameters(trainable, all)
               'trainable params: 48,160 || all params: 4,096,162 || trainable%: 1.1757'
    loralib:   mark_only_lora_as_trainable(model, bias="none")
               lora_state_dict(model, bias="none")

A parameter shared between two places is counted once (named_parameters
lists it once).
"""
from __future__ import annotations

from collections import OrderedDict

from .._checks import check_choice
from ..nn.module import Module
from .config import BIAS_CHOICES
from .layer import LoraLinear


def get_nb_trainable_parameters(model: Module) -> tuple:
    """(number of trainable parameter values, number of all parameter values) in `model`."""
    trainable = total = 0
    for _, param in model.named_parameters():
        total += param.size
        if param.requires_grad:
            trainable += param.size
    return trainable, total


def format_trainable_parameters(trainable: int, total: int) -> str:
    """PEFT's line: 'trainable params: N || all params: M || trainable%: P' (P with 4 decimals)."""
    percent = 100.0 * trainable / total if total else 0.0
    return f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {percent:.4f}"


def _is_lora_name(name):
    return "lora_" in name


def mark_only_lora_as_trainable(model: Module, bias: str = "none") -> Module:
    """Freeze every parameter that is not LoRA's (name without "lora_"), as loralib does.

    LoRA parameters keep their requires_grad flag: an adapter that is not
    active in its LoraLinear stays frozen, an active one stays trainable.
    Then bias: "none" (biases frozen), "all" (every bias trains) or
    "lora_only" (the biases of LoRA layers train). Returns the model.
    """
    check_choice("bias", bias, BIAS_CHOICES)
    for name, param in model.named_parameters():
        if not _is_lora_name(name):
            param.requires_grad = False
    if bias == "all":
        for name, param in model.named_parameters():
            if name.split(".")[-1] == "bias":
                param.requires_grad = True
    elif bias == "lora_only":
        for module in model.modules():
            if isinstance(module, LoraLinear) and module.base_layer.bias is not None:
                module.base_layer.bias.requires_grad = True
    return model


def lora_state_dict(model: Module, bias: str = "none") -> OrderedDict:
    """The LoRA part of model.state_dict() (copies), as loralib's lora_state_dict.

    bias: "none" (LoRA weights only), "all" (and every bias) or "lora_only"
    (and the biases of LoRA layers). Load it back with
    model.load_state_dict(state, strict=False).
    """
    check_choice("bias", bias, BIAS_CHOICES)
    state = model.state_dict()
    keep = {name for name in state if _is_lora_name(name)}
    if bias == "all":
        keep |= {name for name in state if name.split(".")[-1] == "bias"}
    elif bias == "lora_only":
        for module_name, module in model.named_modules():
            if isinstance(module, LoraLinear) and module.base_layer.bias is not None:
                keep.add(f"{module_name}.base_layer.bias" if module_name else "base_layer.bias")
    return OrderedDict((name, value) for name, value in state.items() if name in keep)
