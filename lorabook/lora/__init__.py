"""LoRA (Hu et al. 2021) with PEFT's and loralib's names.

    from lorabook.lora import LoraConfig, get_peft_model

    config = LoraConfig(r=8, lora_alpha=16, target_modules=["0", "2"])
    peft_model = get_peft_model(model, config)        # model changed in place
    peft_model.print_trainable_parameters()
    ... train: only lora_A and lora_B receive gradients ...
    merged = peft_model.merge_and_unload()            # a plain model again

Modules, read in this order:
    config           LoraConfig, the scaling alpha / r (alpha / sqrt(r)), and the checks of each field
    functional       the fused forward and backward of y = x W^T + b + s (x A^T) B^T, and
                     the guard that makes backward through a merged adapter an error
    dora             DoRA's magnitude and its formula (a variant laid out as the others should be)
    pissa            PiSSA's start: A and B from W's top singular directions, W the residual
    layer            LoraLinear: adapters, PEFT's formula as the reference, the fused path, merging
    targets          which modules a config picks
    modules_to_save  a module trained in full beside the adapters
    model            LoraModel: injects, switches, merges and removes adapters
    peft_model       PeftModel and get_peft_model, PEFT's outer object
    peft_format      PEFT's adapter folder: adapter_config.json and read_adapter
    saving           save_pretrained, save_adapter and the one loading path (load_adapter)
    utils            parameter counts and loralib's two helpers
    loraplus         create_loraplus_optimizer: B learns faster than A (LoRA+)
    adalora          AdaLoRA: SVD-form adapters whose rank is reallocated while training

LoraLinear is what PEFT calls peft.tuners.lora.Linear: it wraps a Linear
layer that already exists (`LoraLinear(model[0], r=8)`), as get_peft_model
does. loralib.Linear(in_features, out_features, r=8) is a different thing,
an nn.Linear subclass that builds its own weight; with lorabook you build
the plain layer and wrap it. (No alias `lora.Linear` here, so that it cannot
be mistaken for nn.Linear or for loralib's class.)
"""
from .adalora import AdaLoraConfig, AdaLoraModel, AdaLoraPeftModel, RankAllocator, SVDLinear
from .config import LoraConfig, lora_scaling
from .dora import DoraMagnitude
from .functional import LoraLinearFunction, lora_linear
from .layer import LoraLinear
from .loraplus import create_loraplus_optimizer
from .model import LoraModel
from .modules_to_save import ModulesToSaveWrapper
from .peft_model import PeftModel, get_peft_model
from .peft_format import read_adapter
from .saving import get_peft_model_state_dict, load_adapter, save_adapter, save_pretrained, set_peft_model_state_dict
from .targets import adaptable_modules
from .utils import format_trainable_parameters, get_nb_trainable_parameters, lora_state_dict, mark_only_lora_as_trainable

__all__ = [
    "LoraConfig", "lora_scaling", "LoraLinearFunction", "lora_linear", "LoraLinear", "LoraModel",
    "ModulesToSaveWrapper", "PeftModel", "get_peft_model", "get_peft_model_state_dict", "set_peft_model_state_dict",
    "save_adapter", "load_adapter", "read_adapter", "adaptable_modules", "get_nb_trainable_parameters",
    "format_trainable_parameters", "mark_only_lora_as_trainable", "lora_state_dict",
    "DoraMagnitude", "save_pretrained",
    "create_loraplus_optimizer", "AdaLoraConfig", "AdaLoraModel", "AdaLoraPeftModel", "RankAllocator", "SVDLinear",
]
