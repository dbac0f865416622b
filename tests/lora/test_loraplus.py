"""create_loraplus_optimizer builds PEFT's groups (compared with groups PEFT 0.21.2 built,
tests/fixtures/adalora/loraplus_groups.json) and B really learns ratio times faster."""
import json
import os

import numpy as np
import pytest

from lorabook.lora import AdaLoraConfig, LoraConfig, create_loraplus_optimizer, get_peft_model
from lorabook.nn import MLP
from lorabook.nn import functional as F
from lorabook.optim import SGD, Adam, AdamW

HERE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "adalora")
with open(os.path.join(HERE, "loraplus_groups.json")) as _file:
    PEFT_GROUPS = json.load(_file)
CONFIGS = {
    "plain": LoraConfig(r=2, target_modules=["0", "2"]),
    "bias_all_and_saved_head": LoraConfig(r=2, target_modules=["0", "2"], bias="all", modules_to_save=["4"]),
}


def mlp():
    return MLP([6, 8, 8, 3], generator=0, dtype=np.float64)


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_groups_are_peft_groups(case):
    peft_model = get_peft_model(mlp(), CONFIGS[case], generator=0)
    optimizer = create_loraplus_optimizer(peft_model, AdamW, lr=1e-3, loraplus_lr_ratio=16.0,
                                          loraplus_weight_decay=0.01, betas=(0.8, 0.9))
    names = {id(p): n for n, p in peft_model.named_parameters()}
    mine = [{"params": [names[id(p)] for p in g["params"]], "lr": g["lr"], "weight_decay": g["weight_decay"],
             "betas": list(g["betas"])} for g in optimizer.param_groups]
    assert len(mine) == len(PEFT_GROUPS[case]) == 4
    for own, theirs in zip(mine, PEFT_GROUPS[case]):
        assert own["params"] == theirs["params"]
        assert own["lr"] == pytest.approx(theirs["lr"], rel=1e-15)
        assert own["weight_decay"] == theirs["weight_decay"]
        assert own["betas"] == theirs["betas"]


def test_b_moves_ratio_times_as_far_as_with_one_rate_under_sgd():
    """SGD's step is lr * grad: B's step is 8 times that of the plain optimizer, A's the same."""
    x = np.random.default_rng(0).standard_normal((5, 6))
    y = np.array([0, 1, 2, 0, 1])
    steps = {}
    for ratio in (1.0, 8.0):
        peft_model = get_peft_model(mlp(), LoraConfig(r=2, target_modules=["0"], init_lora_weights=False), generator=1)
        before = {n: p.data.copy() for n, p in peft_model.named_parameters() if p.requires_grad}
        optimizer = create_loraplus_optimizer(peft_model, SGD, lr=0.1, loraplus_lr_ratio=ratio)
        F.cross_entropy(peft_model(x), y).backward()
        optimizer.step()
        steps[ratio] = {n: p.data - before[n] for n, p in peft_model.named_parameters() if p.requires_grad}
    np.testing.assert_allclose(steps[8.0]["base_model.model.0.lora_B.default.weight"],
                               8.0 * steps[1.0]["base_model.model.0.lora_B.default.weight"], rtol=1e-12)
    np.testing.assert_allclose(steps[8.0]["base_model.model.0.lora_A.default.weight"],
                               steps[1.0]["base_model.model.0.lora_A.default.weight"], rtol=1e-12)
    assert np.abs(steps[1.0]["base_model.model.0.lora_B.default.weight"]).max() > 1e-4


def test_adalora_e_learns_at_a_rate_as_peft_groups_it():
    peft_model = get_peft_model(mlp(), AdaLoraConfig(init_r=3, target_r=1, total_step=10, target_modules=["0"]),
                                generator=0)
    optimizer = create_loraplus_optimizer(peft_model, Adam, lr=1e-3, loraplus_lr_ratio=4)
    names = {id(p): n for n, p in peft_model.named_parameters()}
    assert [names[id(p)] for p in optimizer.param_groups[0]["params"]] == [
        "base_model.model.0.lora_A.default", "base_model.model.0.lora_E.default"]
    assert [names[id(p)] for p in optimizer.param_groups[2]["params"]] == ["base_model.model.0.lora_B.default"]


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(lr=1e-3, loraplus_lr_ratio=0.0), r"^loraplus_lr_ratio must be in \(0.0, inf\), got 0.0"),
    (dict(lr=1e-3, loraplus_lr_ratio=-2), r"^loraplus_lr_ratio must be"),
    (dict(lr=0.0, loraplus_lr_ratio=2), r"^lr must be"),
    (dict(lr=1e-3, loraplus_lr_ratio=2, loraplus_weight_decay=-1), r"^loraplus_weight_decay must be"),
])
def test_bad_input_names_the_argument(kwargs, pattern):
    peft_model = get_peft_model(mlp(), CONFIGS["plain"], generator=0)
    with pytest.raises(ValueError, match=pattern):
        create_loraplus_optimizer(peft_model, Adam, **kwargs)


def test_optimizer_cls_must_be_a_lorabook_optimizer_class():
    peft_model = get_peft_model(mlp(), CONFIGS["plain"], generator=0)
    with pytest.raises(TypeError, match="^optimizer_cls must be an optimizer class"):
        create_loraplus_optimizer(peft_model, "Adam", lr=1e-3, loraplus_lr_ratio=2)
