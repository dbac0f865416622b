"""LoRA+ (Hayou et al. 2024): train B with a larger learning rate than A.

    optimizer = create_loraplus_optimizer(peft_model, Adam, lr=2e-3, loraplus_lr_ratio=16)

Why. With B = 0 at the start, the update B A first grows through B, and in
wide layers the two factors want learning rates of different orders: LoRA+
gives B's parameters lr * loraplus_lr_ratio and A's lr. One more
hyper-parameter, the ratio (the paper suggests 2 to 2^4 = 16 and more).

The groups are PEFT's (peft.optimizers.create_loraplus_optimizer), in its order:

    0  "groupA"            every trainable matrix that is not a lora_B       lr,                    loraplus_weight_decay
                           (lora_A, lora_E, a saved module's weight)
    1  "embedding"         LoRA on embedding layers (lorabook has none:     loraplus_lr_embedding, loraplus_weight_decay
                           always empty, kept so the group order is PEFT's)
    2  "groupB"            lora_B weights, and 1-D parameters whose name   lr * ratio,            loraplus_weight_decay
                           does not say "bias" (none in lorabook's models)
    3  "groupB_no_decay"   biases (any trainable 1-D parameter named        lr * ratio,            0
                           "...bias"): these too learn at the B rate

Note the last row: with bias="all" or "lora_only", PEFT trains the biases at
the larger rate, and so does lorabook. Other keyword arguments go to
optimizer_cls (betas, eps, ...); a `weight_decay` there is overridden by the
groups' own values, as in PEFT.
"""
from __future__ import annotations

import inspect

from .._checks import _show, check_float
from ..nn.module import Module
from ..optim import Optimizer


def loraplus_groups(model: Module) -> dict[str, dict]:
    """The trainable parameters sorted as PEFT does: {"groupA": {name: param}, "embedding": {},
    "groupB": {...}, "groupB_no_decay": {...}}."""
    groups = {"groupA": {}, "embedding": {}, "groupB": {}, "groupB_no_decay": {}}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if "lora_B" in name or param.ndim == 1:
            groups["groupB" if "bias" not in name else "groupB_no_decay"][name] = param
        else:
            groups["groupA"][name] = param
    return groups


def create_loraplus_optimizer(model: Module, optimizer_cls: type[Optimizer], *, lr: float, loraplus_lr_ratio: float,
                              **kwargs) -> Optimizer:
    """An `optimizer_cls` (Adam, AdamW, SGD) over `model`'s trainable parameters in LoRA+'s four groups.

    lr: A's learning rate. loraplus_lr_ratio: B's rate over A's, > 0 (LoRA+ means >= 1).
    kwargs: loraplus_weight_decay (default 0.0), loraplus_lr_embedding (default 1e-6),
    and the rest is passed to optimizer_cls.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a lorabook Module (a PeftModel), got {_show(model)}")
    if not (inspect.isclass(optimizer_cls) and issubclass(optimizer_cls, Optimizer)):
        raise TypeError(f"optimizer_cls must be an optimizer class of lorabook.optim (Adam, AdamW, SGD), "
                        f"got {_show(optimizer_cls)}")
    lr = check_float("lr", lr, low=0.0, low_open=True)
    loraplus_lr_ratio = check_float("loraplus_lr_ratio", loraplus_lr_ratio, low=0.0, low_open=True)
    weight_decay = check_float("loraplus_weight_decay", kwargs.pop("loraplus_weight_decay", 0.0), low=0.0)
    lr_embedding = check_float("loraplus_lr_embedding", kwargs.pop("loraplus_lr_embedding", 1e-6), low=0.0)
    kwargs.pop("weight_decay", None)  # every group sets its own, as PEFT's do
    groups = loraplus_groups(model)
    grouped = [
        {"params": list(groups["groupA"].values()), "weight_decay": weight_decay, "lr": lr},
        {"params": list(groups["embedding"].values()), "weight_decay": weight_decay, "lr": lr_embedding},
        {"params": list(groups["groupB"].values()), "weight_decay": weight_decay, "lr": lr * loraplus_lr_ratio},
        {"params": list(groups["groupB_no_decay"].values()), "weight_decay": 0.0, "lr": lr * loraplus_lr_ratio},
    ]
    return optimizer_cls(grouped, lr=lr, **kwargs)
