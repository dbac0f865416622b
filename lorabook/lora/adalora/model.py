"""`AdaLoraModel`: puts SVDLinear layers into a model and reallocates their rank while it trains.

    peft_model = get_peft_model(model, AdaLoraConfig(init_r=12, target_r=4, total_step=300,
                                                     target_modules="all-linear"))
    for step in range(300):
        loss = F.cross_entropy(peft_model(x), y) + peft_model.base_model.orth_regularization()
        loss.backward()
        optimizer.step()
        peft_model.base_model.update_and_allocate(step)   # after step, before zero_grad, as in PEFT
        optimizer.zero_grad()
    peft_model.peft_config["default"].rank_pattern          # which triplets each layer kept

The orthogonality regulariser. AdaLoRA trains the loss

    L + orth_reg_weight * R,   R = mean over the adapted A and B matrices of
                                   ||A A^T - I||_F  and  ||B^T B - I||_F

(the norm itself, not its square, as PEFT computes it): one more L + lambda R,
where R pulls A's rows and B's columns towards orthonormal sets so that E
behaves as singular values. PEFT adds it to `outputs.loss` inside forward for
models that return a loss (transformers models); lorabook's models return
their outputs, so you add `orth_regularization()` to the loss yourself.
"""
from __future__ import annotations

import contextlib
import dataclasses

import numpy as np

from ..._checks import _show
from ...autograd.tensor import Tensor
from ...nn.layers import Linear
from ...nn.module import Module
from ...random import get_generator
from ..targets import adaptable_modules, describe_modules, is_target
from .allocator import RankAllocator
from .config import AdaLoraConfig
from .layer import SVDLinear


def find_targets(model, config):
    """(name, Linear) for every module config.target_modules picks, by LoraConfig's rules; errors name the problem."""
    if config.target_modules is None:
        raise ValueError("AdaLoraConfig.target_modules is None: lorabook does not guess which layers to adapt. Pass "
                         f"a list of names, a regular expression, or 'all-linear'. Modules: {describe_modules(model)}")
    targets = [(name, module) for name, module in adaptable_modules(model)
               if is_target(name, module, config.target_modules)]
    if not targets:
        raise ValueError(f"target_modules {config.target_modules!r} matches no module. "
                         f"Modules: {describe_modules(model)}")
    for name, module in targets:
        if type(module) is not Linear:
            raise TypeError(f"AdaLoRA adapts plain Linear layers; {name!r} is a {type(module).__name__} "
                            f"(a model that already went through get_peft_model?)")
    return targets


class AdaLoraModel(Module):
    """The AdaLoRA tuner: holds `model`, its SVDLinear layers and `peft_config` {name: AdaLoraConfig}.

    One adapter per model (PEFT allows several, all but one frozen). With
    inference_mode=False it is trained and `rankallocator` tracks importance.
    """

    def __init__(self, model, config, adapter_name="default", generator=None):
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"model must be a lorabook.nn.Module, got {type(model).__name__}")
        if not isinstance(config, AdaLoraConfig):
            raise TypeError(f"config must be an AdaLoraConfig, got {_show(config)}")
        targets = find_targets(model, config)
        self.model = model
        self.active_adapter = adapter_name
        self.peft_config = {adapter_name: dataclasses.replace(config)}
        config = self.peft_config[adapter_name]
        rng = get_generator(generator)
        for name, module in targets:
            layer = SVDLinear(module, adapter_name, r=config.init_r, lora_alpha=config.lora_alpha,
                              lora_dropout=config.lora_dropout, init_lora_weights=config.init_lora_weights,
                              generator=rng)
            parent, _, child = name.rpartition(".")
            setattr(self.model.get_submodule(parent), child, layer)
        self._mark_trainable()
        self.trainable_adapter_name = adapter_name
        self.rankallocator = None if config.inference_mode else RankAllocator(self.model, config, adapter_name)

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def svd_layers(self):
        """(name, SVDLinear) for every adapted layer, in module order."""
        return [(name, m) for name, m in self.model.named_modules() if isinstance(m, SVDLinear)]

    def _mark_trainable(self):
        """Everything frozen but A, E and B of the adapter (ranknum stays frozen: it is a count, not a weight)."""
        self.model.requires_grad_(False)
        if self.peft_config[self.active_adapter].inference_mode:
            return
        for _, layer in self.svd_layers():
            for table in (layer.lora_A, layer.lora_E, layer.lora_B):
                table[self.active_adapter].requires_grad = True

    # ----- AdaLoRA's two additions to the training loop ----------------------------------
    def orth_regularization(self) -> Tensor:
        """orth_reg_weight * mean over adapted A, B of ||A A^T - I||_F, ||B^T B - I||_F, a 0-d Tensor in the graph."""
        weight = self.peft_config[self.trainable_adapter_name].orth_reg_weight
        terms = []
        for name, param in self.model.named_parameters():
            if ("lora_A" in name or "lora_B" in name) and self.trainable_adapter_name in name:
                gram = param @ param.T if "lora_A" in name else param.T @ param      # (r, r)
                identity = Tensor(np.eye(*gram.shape, dtype=gram.dtype))
                difference = gram - identity
                terms.append((difference * difference).sum().sqrt())
        if not terms:
            return Tensor(0.0)
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total * (weight / len(terms))

    def update_and_allocate(self, global_step: int) -> None:
        """Update importance and mask triplets for `global_step`, as PEFT's AdaLoraModel.update_and_allocate.

        Call it at every step after loss.backward() and optimizer.step(), before zero_grad():
        before total_step - tfinal it scores and (every deltaT steps) masks to the budget;
        at total_step - tfinal it fixes the final mask in peft_config[...].rank_pattern and
        forgets the scores; after that it re-applies the fixed mask (the optimizer would
        otherwise move the masked E entries away from 0 again).
        """
        if self.rankallocator is None:
            raise RuntimeError("update_and_allocate: this adapter was loaded for inference (is_trainable=False)")
        config = self.peft_config[self.trainable_adapter_name]
        boundary = config.total_step - config.tfinal
        if global_step < boundary:
            _, rank_pattern = self.rankallocator.update_and_allocate(self.model, global_step)
            if rank_pattern:
                config.rank_pattern = rank_pattern
        elif global_step == boundary:
            _, rank_pattern = self.rankallocator.update_and_allocate(self.model, global_step, force_mask=True)
            config.rank_pattern = rank_pattern
            self.rankallocator.reset_ipt()
        else:
            self.rankallocator.mask_using_rank_pattern(self.model, config.rank_pattern)

    def layer_ranks(self) -> dict[str, int]:
        """{layer name: triplets kept}, read off rank_pattern (init_r everywhere before the first mask)."""
        config = self.peft_config[self.active_adapter]
        ranks = {}
        for name, layer in self.svd_layers():
            kept = None if config.rank_pattern is None else config.rank_pattern.get(
                f"{name}.lora_E.{self.active_adapter}", config.rank_pattern.get(f"{name}.lora_E"))
            ranks[name] = layer.r[self.active_adapter] if kept is None else int(sum(kept))
        return ranks

    # ----- as LoraModel ------------------------------------------------------------------
    @contextlib.contextmanager
    def disable_adapter(self):
        """Inside `with model.disable_adapter():` the model computes as the base model."""
        layers = [layer for _, layer in self.svd_layers()]
        for layer in layers:
            layer.disable_adapters = True
        try:
            yield
        finally:
            for layer in layers:
                layer.disable_adapters = False

    def merge_and_unload(self, safe_merge=False):
        """Fold each update into its base weight and return the plain model (this model is spent)."""
        layers = self.svd_layers()
        if safe_merge:  # check every layer before any changes
            for name, layer in layers:
                if not np.all(np.isfinite(layer.base_layer.weight.data + layer.get_delta_weight())):
                    raise ValueError(f"safe_merge: layer {name!r} would get NaN or inf; nothing was merged")
        for _, layer in layers:
            layer.merge()
        return self.unload()

    def unload(self):
        """The plain model with the SVD layers taken out, weights as they are."""
        for name, layer in self.svd_layers():
            parent, _, child = name.rpartition(".")
            setattr(self.model.get_submodule(parent), child, layer.base_layer)
        return self.model
