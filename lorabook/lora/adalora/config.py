"""`AdaLoraConfig`: AdaLoRA's settings, with PEFT's field names and defaults.

    config = AdaLoraConfig(init_r=12, target_r=4, tinit=20, tfinal=40, deltaT=10,
                           total_step=300, lora_alpha=32, target_modules="all-linear")

Every adapted layer starts with init_r singular triplets; training then
takes rank away where it matters least, until on average target_r per
layer remain. The schedule has three phases over total_step optimizer steps:

    steps 0 .. tinit                        warm-up, every triplet kept
    tinit .. total_step - tfinal            the budget falls from init_r * layers to
                                            target_r * layers along a cubic; every deltaT
                                            steps the least important triplets are masked
    total_step - tfinal .. total_step       the final mask is fixed; training goes on

    init_r, target_r     starting rank and average final rank per layer (target_r <= init_r)
    tinit, tfinal        steps of warm-up and of final fine-tuning (tinit + tfinal < total_step)
    deltaT               steps between two re-allocations during the budget phase
    beta1, beta2         smoothing of the sensitivity and of its uncertainty, in (0, 1)
    orth_reg_weight      weight of the orthogonality penalty on A and B (>= 0)
    total_step           the number of optimizer steps the training will take (required)
    lora_alpha           scaling = lora_alpha / (ranknum + 1e-5); PEFT takes r when alpha <= 0
    lora_dropout, target_modules, init_lora_weights, inference_mode: as in LoraConfig
    rank_pattern         {"<layer>.lora_E": [kept?, ...]}: set by update_and_allocate, saved
                         with the adapter; None until the first allocation

`r` exists only because PEFT's AdaLoraConfig inherits it from LoraConfig: it
is not used (a value other than 8 gives PEFT's warning).
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

from ..._checks import _show, check_bool, check_float, check_int
from ..config import check_dropout, check_names


@dataclass
class AdaLoraConfig:
    """AdaLoRA's settings; see the module docstring for each field."""

    target_r: int = 8
    init_r: int = 12
    tinit: int = 0
    tfinal: int = 0
    deltaT: int = 1
    beta1: float = 0.85
    beta2: float = 0.85
    orth_reg_weight: float = 0.5
    total_step: int = None
    rank_pattern: dict = None
    lora_alpha: float = 8
    lora_dropout: float = 0.0
    target_modules: object = None
    init_lora_weights: bool = True
    inference_mode: bool = False
    r: int = 8
    modules_to_save: object = None  # PEFT's field; AdaLoRA here saves no modules (refused unless None)

    def __post_init__(self):
        self.init_r = check_int("init_r", self.init_r, low=1)
        self.target_r = check_int("target_r", self.target_r, low=0)
        if self.target_r > self.init_r:
            raise ValueError(f"target_r must be <= init_r (the budget only falls), got target_r={self.target_r} "
                             f"and init_r={self.init_r}")
        if self.total_step is None:
            raise ValueError("total_step must be given (the number of optimizer steps, > 0): AdaLoRA's budget "
                             "schedule needs it; got None")
        self.total_step = check_int("total_step", self.total_step, low=1)
        self.tinit = check_int("tinit", self.tinit, low=0)
        self.tfinal = check_int("tfinal", self.tfinal, low=0)
        if self.tinit + self.tfinal >= self.total_step:
            raise ValueError(f"tinit + tfinal must be < total_step, leaving steps to reduce the rank in; got "
                             f"tinit={self.tinit}, tfinal={self.tfinal}, total_step={self.total_step}")
        self.deltaT = check_int("deltaT", self.deltaT, low=1)
        self.beta1 = check_float("beta1", self.beta1, low=0.0, high=1.0, low_open=True, high_open=True)
        self.beta2 = check_float("beta2", self.beta2, low=0.0, high=1.0, low_open=True, high_open=True)
        self.orth_reg_weight = check_float("orth_reg_weight", self.orth_reg_weight, low=0.0)
        self.lora_alpha = check_float("lora_alpha", self.lora_alpha)
        if self.lora_alpha == int(self.lora_alpha):
            self.lora_alpha = int(self.lora_alpha)  # written 8, as PEFT writes it
        self.lora_dropout = check_dropout("lora_dropout", self.lora_dropout)
        self.target_modules = check_names("target_modules", self.target_modules, allow_regex=True)
        self.init_lora_weights = check_bool("init_lora_weights", self.init_lora_weights)
        self.inference_mode = check_bool("inference_mode", self.inference_mode)
        self.r = check_int("r", self.r, low=1)
        if self.r != 8:
            warnings.warn("AdaLoraConfig: r is not used by AdaLoRA and is ignored; the starting rank is init_r",
                          stacklevel=3)
        if self.modules_to_save is not None:
            raise ValueError(f"modules_to_save is not supported with AdaLoRA in lorabook; "
                             f"got {_show(self.modules_to_save)}")
        self.rank_pattern = _check_rank_pattern(self.rank_pattern)

    def scaling(self):
        """The numerator of AdaLoRA's scaling: lora_alpha, or init_r when lora_alpha <= 0 (as PEFT)."""
        return self.lora_alpha if self.lora_alpha > 0 else float(self.init_r)

    def to_dict(self):
        """The fields as JSON-ready values, plus "peft_type": "ADALORA" (PEFT's keys)."""
        values = asdict(self)
        if self.rank_pattern is not None:
            values["rank_pattern"] = {key: list(kept) for key, kept in self.rank_pattern.items()}
        return {"peft_type": "ADALORA", **values}


def _check_rank_pattern(pattern):
    """None, or {"<layer>.lora_E[.<adapter>]": list of bools}."""
    if pattern is None:
        return None
    if not isinstance(pattern, dict):
        raise TypeError(f"rank_pattern must be None or a dict of layer -> list of bools, got {_show(pattern)}")
    checked = {}
    for key, kept in pattern.items():
        if not isinstance(key, str) or "lora_E" not in key:
            raise ValueError(f"rank_pattern keys name lora_E parameters (e.g. '0.lora_E'), got {_show(key)}")
        if not isinstance(kept, (list, tuple)) or not all(isinstance(k, bool) for k in kept):
            raise TypeError(f"rank_pattern[{key!r}] must be a list of True/False, got {_show(kept)}")
        checked[key] = list(kept)
    return checked
