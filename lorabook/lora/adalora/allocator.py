"""`RankAllocator`: which singular triplets AdaLoRA keeps, step by step (PEFT's RankAllocator).

Importance of one parameter entry theta after a backward pass (Zhang et al. 2023):

    I        = |theta * dL/dtheta|                       sensitivity: the loss change, to first
                                                          order, if theta were set to 0
    I_bar   <- beta1 * I_bar + (1 - beta1) * I           smoothed sensitivity
    U_bar   <- beta2 * U_bar + (1 - beta2) * |I - I_bar|  its uncertainty
    score    = I_bar * U_bar

A triplet i of a layer (row i of A, entry i of E, column i of B) scores

    S_i = score(E_i) + mean_j score(A_ij) + mean_j score(B_ji).

budget_schedule(step) gives how many triplets may stay, over all layers
together: init_r * layers during warm-up, then a cubic fall to
target_r * layers. mask_to_budget sets E_i = 0 for every triplet whose S_i
is at or below the (total - budget)-th smallest score, wherever it sits: a
layer that matters keeps more rank than one that does not.

Parameters are found by name in model.named_parameters() (names such as
"0.lora_E.default"), exactly as PEFT finds them.
"""
from __future__ import annotations

import numpy as np


class RankAllocator:
    """Importance scores and the budget of one AdaLoRA adapter; see the module docstring.

    model: the user's model holding SVDLinear layers (AdaLoraModel.model).
    peft_config: its AdaLoraConfig (shared, not copied: total_step and
    rank_pattern are read from it). adapter_name: the adapter trained.
    """

    def __init__(self, model, peft_config, adapter_name):
        self.peft_config = peft_config
        self.adapter_name = adapter_name
        self.beta1 = peft_config.beta1
        self.beta2 = peft_config.beta2
        self.reset_ipt()
        self._set_budget_scheduler(model)

    def reset_ipt(self):
        """Forget every score (the final mask is fixed; PEFT does this once at total_step - tfinal)."""
        self.ipt, self.exp_avg_ipt, self.exp_avg_unc = {}, {}, {}

    def _set_budget_scheduler(self, model):
        self.init_bgt = 0
        layers = set()
        for name, param in model.named_parameters():
            if f"lora_A.{self.adapter_name}" in name:
                self.init_bgt += param.shape[0]
                layers.add(name.replace("lora_A", "%s"))
        self.name_set = sorted(layers)
        self.target_bgt = self.peft_config.target_r * len(self.name_set)

    def budget_schedule(self, step: int) -> tuple[int, bool]:
        """(budget, mask now?) at `step`: init_bgt until tinit, then a cubic fall to target_bgt.

            b(t) = int((init_bgt - target_bgt) * (1 - (t - tinit) / (total_step - tfinal - tinit))^3 + target_bgt)

        and target_bgt after total_step - tfinal. Masking happens every
        deltaT steps in the middle phase and at every step after it.
        """
        tinit, tfinal, total_step = self.peft_config.tinit, self.peft_config.tfinal, self.peft_config.total_step
        if step <= tinit:
            return self.init_bgt, False
        if step > total_step - tfinal:
            return self.target_bgt, True
        mul_coeff = 1 - (step - tinit) / (total_step - tfinal - tinit)
        budget = int((self.init_bgt - self.target_bgt) * (mul_coeff**3) + self.target_bgt)
        return budget, step % self.peft_config.deltaT == 0

    def update_ipt(self, model):
        """Update I, I_bar and U_bar of every lora_* entry from the parameters and their .grad."""
        for name, param in model.named_parameters():
            if "lora_" not in name or self.adapter_name not in name:
                continue
            if param.grad is None:
                raise RuntimeError(f"update_and_allocate needs the gradient of {name!r}: call it after "
                                   f"loss.backward() (and optimizer.step()) and before optimizer.zero_grad()")
            if name not in self.ipt:
                self.exp_avg_ipt[name] = np.zeros_like(param.data)
                self.exp_avg_unc[name] = np.zeros_like(param.data)
            self.ipt[name] = np.abs(param.data * param.grad)
            self.exp_avg_ipt[name] = self.beta1 * self.exp_avg_ipt[name] + (1 - self.beta1) * self.ipt[name]
            self.exp_avg_unc[name] = (self.beta2 * self.exp_avg_unc[name]
                                      + (1 - self.beta2) * np.abs(self.ipt[name] - self.exp_avg_ipt[name]))

    def _element_score(self, name):
        return self.exp_avg_ipt[name] * self.exp_avg_unc[name]

    def triplet_scores(self, model):
        """{"<layer>.lora_E.<adapter>": S (r,)}: each triplet's score S_i (module docstring)."""
        values, vectors = {}, {}
        for name, _ in model.named_parameters():
            if f"lora_A.{self.adapter_name}" in name:
                vectors.setdefault(name.replace("lora_A", "%s"), []).append(self._element_score(name).mean(axis=1))
            elif f"lora_B.{self.adapter_name}" in name:
                vectors.setdefault(name.replace("lora_B", "%s"), []).append(self._element_score(name).mean(axis=0))
            elif f"lora_E.{self.adapter_name}" in name:
                values[name.replace("lora_E", "%s")] = self._element_score(name).reshape(-1)
        return {layer % "lora_E": values[layer] + np.sum(vectors[layer], axis=0) for layer in vectors}

    def mask_to_budget(self, model, budget):
        """Set E_i = 0 for the lowest-scoring triplets so that `budget` remain; returns the rank_pattern.

        The threshold is the (init_bgt - budget)-th smallest score over all
        layers (PyTorch's kthvalue); every triplet at or below it is masked,
        so ties may mask a few more. rank_pattern: {"<layer>.lora_E.<adapter>": [kept?, ...]}.
        """
        scores = self.triplet_scores(model)
        k = self.init_bgt - budget
        # k = 0 (target_r = init_r) masks nothing; PyTorch's kthvalue refuses k = 0 and PEFT stops there.
        threshold = -np.inf if k <= 0 else float(np.sort(np.concatenate(list(scores.values())))[k - 1])
        rank_pattern = {}
        for name, param in model.named_parameters():
            if f"lora_E.{self.adapter_name}" in name:
                masked = scores[name] <= threshold
                # a new array rather than an in-place write: no saved graph input changes under it
                param.data = np.where(masked[:, None], 0.0, param.data).astype(param.dtype)
                rank_pattern[name] = [bool(keep) for keep in ~masked]
        return rank_pattern

    def update_and_allocate(self, model, global_step, force_mask=False):
        """Update the scores (before the final phase), mask to the budget when it is time.

        Returns (budget, rank_pattern or None when nothing was masked).
        """
        if global_step < self.peft_config.total_step - self.peft_config.tfinal:
            self.update_ipt(model)
        budget, mask_now = self.budget_schedule(global_step)
        rank_pattern = self.mask_to_budget(model, budget) if (mask_now or force_mask) else None
        return budget, rank_pattern

    def mask_using_rank_pattern(self, model, rank_pattern):
        """Set E_i = 0 wherever `rank_pattern` says the triplet is gone (the final phase, and after loading)."""
        for name, param in model.named_parameters():
            if f"lora_E.{self.adapter_name}" in name:
                kept = rank_pattern.get(name, rank_pattern.get(name.replace(f".{self.adapter_name}", "")))
                masked = ~np.asarray(kept, dtype=bool)
                param.data = np.where(masked[:, None], 0.0, param.data).astype(param.dtype)
