"""`LoraConfig`: which layers get an adapter, of what rank, scaled how, started how.

    config = LoraConfig(r=8, lora_alpha=16, target_modules=["0", "2"])

The fields and their defaults are PEFT's, so a config written here reads the
same in PEFT. Every value is checked when the config is made, so a typo
fails on the line that made it, not deep inside training.

    r               rank of each update delta W = scaling * B @ A
    lora_alpha      numerator of scaling = lora_alpha / r  (lora_alpha / sqrt(r) with use_rslora)
    lora_dropout    dropout on the LoRA branch's input only, in [0, 1)
    target_modules  which Linear layers get LoRA: a list of names (whole name or
                    dotted suffix: "fc" matches "encoder.fc"), a regular
                    expression string (must match the whole name), or "all-linear";
                    None (the default) is an error when the config is used:
                    lorabook does not guess (see lora.targets)
    modules_to_save modules trained in full next to the adapter (a new head)
    bias            "none", "all" (every bias trains) or "lora_only" (biases of adapted layers)
    init_lora_weights True (A Kaiming-uniform, B zeros), "gaussian" (A normal with
                    standard deviation 1/r, as PEFT; B zeros), "pissa", or False
    use_rslora      rank-stabilised scaling lora_alpha / sqrt(r) (Kalajdzievski 2023)
    use_dora        DoRA (Liu et al. 2024): a trainable magnitude per output row on top of
                    the low-rank update (see lora.dora)
    rank_pattern    {name or regex: r} overriding r for the layers it matches
    alpha_pattern   {name or regex: alpha} overriding lora_alpha likewise
    inference_mode  True: the adapter is frozen, for inference only (nothing trains
                    while it is active). PEFT's field: PeftModel.from_pretrained and
                    load_adapter set it to `not is_trainable`; save_adapter writes True,
                    as PEFT does, since a saved adapter is by default for inference
"""
from __future__ import annotations

import math
import re
import numbers
from dataclasses import asdict, dataclass, field
from typing import Optional, Union

from .._checks import _show, check_bool, check_choice, check_float, check_int

INIT_CHOICES = (True, False, "gaussian", "pissa")
BIAS_CHOICES = ("none", "all", "lora_only")
ALL_LINEAR = "all-linear"


@dataclass
class LoraConfig:
    """The settings of one adapter; see the module docstring for each field."""

    r: int = 8
    lora_alpha: float = 8
    lora_dropout: float = 0.0
    target_modules: Union[list, str, None] = None
    modules_to_save: Optional[list] = None
    bias: str = "none"
    init_lora_weights: Union[bool, str] = True
    use_rslora: bool = False
    use_dora: bool = False
    rank_pattern: dict = field(default_factory=dict)
    alpha_pattern: dict = field(default_factory=dict)
    inference_mode: bool = False

    def __post_init__(self):
        self.r = check_int("r", self.r, low=1)
        self.lora_alpha = check_alpha("lora_alpha", self.lora_alpha)
        self.lora_dropout = check_dropout("lora_dropout", self.lora_dropout)
        self.target_modules = check_names("target_modules", self.target_modules, allow_regex=True)
        self.modules_to_save = check_names("modules_to_save", self.modules_to_save, allow_regex=False)
        check_choice("bias", self.bias, BIAS_CHOICES)
        self.init_lora_weights = check_init("init_lora_weights", self.init_lora_weights)
        self.use_rslora = check_bool("use_rslora", self.use_rslora)
        self.use_dora = check_bool("use_dora", self.use_dora)
        self.rank_pattern = _check_pattern("rank_pattern", self.rank_pattern, lambda n, v: check_int(n, v, low=1))
        self.alpha_pattern = _check_pattern("alpha_pattern", self.alpha_pattern, check_alpha)
        self.inference_mode = check_bool("inference_mode", self.inference_mode)

    # ----- per-layer values -------------------------------------------------------
    def rank_for(self, module_name: str) -> int:
        """r for the layer `module_name`: the first rank_pattern key that matches it, else r."""
        key = pattern_key_for(self.rank_pattern, module_name)
        return self.r if key is None else self.rank_pattern[key]

    def alpha_for(self, module_name: str) -> float:
        """lora_alpha for the layer `module_name`, with alpha_pattern applied like rank_pattern."""
        key = pattern_key_for(self.alpha_pattern, module_name)
        return self.lora_alpha if key is None else self.alpha_pattern[key]

    def scaling_for(self, module_name: str) -> float:
        """alpha / r, or alpha / sqrt(r) with use_rslora, for the layer `module_name`."""
        return lora_scaling(self.alpha_for(module_name), self.rank_for(module_name), self.use_rslora)

    # ----- to and from JSON -------------------------------------------------------
    def to_dict(self) -> dict:
        """The fields as plain JSON-ready values, plus PEFT's "peft_type": "LORA".

        (A config is read back from a file by lora.peft_format.read_adapter,
        which knows PEFT's other keys.)
        """
        return {"peft_type": "LORA", **asdict(self)}


def lora_scaling(lora_alpha: float, r: int, use_rslora: bool = False) -> float:
    """scaling = lora_alpha / r, or lora_alpha / sqrt(r) (rsLoRA).

    Why sqrt? With alpha / r, the update B @ A of a larger rank is scaled down
    so much that learning slows as r grows; alpha / sqrt(r) keeps the size of
    the update's effect steady across ranks (Kalajdzievski 2023).
    """
    return lora_alpha / math.sqrt(r) if use_rslora else lora_alpha / r


def pattern_key_for(pattern: dict, module_name: str) -> Optional[str]:
    """The first key of `pattern` that matches `module_name`, or None.

    A key matches, as in PEFT, when it fully matches the name or a dotted
    suffix of it: the key "fc" (or the regex "f.") matches "encoder.fc".
    """
    for key in pattern:
        if pattern_matches(key, module_name):
            return key
    return None


def pattern_matches(key: str, module_name: str) -> bool:
    """Does the rank_pattern/alpha_pattern key match the whole name or a dotted suffix of it?"""
    return re.fullmatch(rf"(.*\.)?(?:{key})", module_name) is not None


def check_init(name, value):
    """One of True, False, "gaussian", "pissa" (1 and 0 are not accepted for True and False)."""
    if isinstance(value, bool) or (isinstance(value, str) and value in INIT_CHOICES):
        return value
    options = ", ".join(repr(c) for c in INIT_CHOICES)
    raise ValueError(f"{name} must be one of {options}; got {_show(value)}")


def check_alpha(name, value):
    """lora_alpha > 0, kept as given (8 stays the int 8, as PEFT writes it).

    PEFT accepts 0 (and negative values); lorabook refuses them: with
    lora_alpha = 0 the scaling is 0, so the adapter changes nothing and its
    A and B never get a gradient, which is a mistake, not a choice.
    """
    checked = check_float(name, value)
    if checked <= 0:
        raise ValueError(f"{name} must be > 0, got {value} (PEFT accepts 0 and negative values; lorabook refuses "
                         "them: with 0 the scaling lora_alpha / r is 0, so the adapter changes nothing and gets "
                         "no gradient)")
    return int(value) if isinstance(value, numbers.Integral) else checked


def check_dropout(name, value):
    """lora_dropout in [0, 1).

    PEFT accepts 1.0; lorabook refuses it: every input of the LoRA branch
    would be dropped while training, so the adapter could never learn.
    """
    checked = check_float(name, value)
    if not 0.0 <= checked < 1.0:
        why = (": with lora_dropout=1 the LoRA branch sees only zeros while training and never learns "
               "(PEFT accepts 1.0; lorabook refuses it)") if checked == 1.0 else ""
        raise ValueError(f"{name} must be in [0.0, 1.0), got {checked}{why}")
    return checked


def check_names(name, value, allow_regex):
    """None, a list of module names, or (if allow_regex) one string: a regex or "all-linear"."""
    if value is None:
        return None
    if isinstance(value, str):
        if not allow_regex:
            return [value]  # one name, as PEFT accepts
        if value != ALL_LINEAR:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"{name} {value!r} is not a valid regular expression: {err}") from None
        return value
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise TypeError(f"{name} must be a list of module names or a string, got {_show(value)}")
    names = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    for item in names:
        if not isinstance(item, str) or not item:
            raise TypeError(f"every entry of {name} must be a non-empty string (a module name), got {_show(item)}")
    if not names:
        raise ValueError(f"{name} must name at least one module, got an empty list")
    return names


def _check_pattern(name, pattern, check_value):
    if not isinstance(pattern, dict):
        raise TypeError(f"{name} must be a dict of module name (or regex) -> value, got {_show(pattern)}")
    checked = {}
    for key, value in pattern.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"the keys of {name} must be non-empty strings (module names or regexes), got {_show(key)}")
        try:
            re.compile(key)
        except re.error as err:
            raise ValueError(f"{name} key {key!r} is not a valid regular expression: {err}") from None
        checked[key] = check_value(f"{name}[{key!r}]", value)
    return checked


def check_adapter_name(adapter_name: str) -> str:
    """A non-empty string without dots (it becomes part of dotted parameter names)."""
    if not isinstance(adapter_name, str) or not adapter_name or "." in adapter_name:
        raise ValueError(f"adapter_name must be a non-empty string without dots, got {_show(adapter_name)}")
    return adapter_name
