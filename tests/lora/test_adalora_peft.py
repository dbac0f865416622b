"""AdaLoRA against PEFT 0.21.2 in float64, from fixtures that real PEFT wrote
(tests/fixtures/adalora/make_fixtures.py says how): forward, gradients, the
orthogonality regulariser, the budget schedule, importance scores and masks
after every update_and_allocate step, and PEFT's adapter files."""
import json
import os

import numpy as np
import pytest
from safetensors.numpy import load_file

from lorabook.lora import AdaLoraConfig, AdaLoraPeftModel, get_peft_model
from lorabook.nn import MLP
from lorabook.nn import functional as F
from lorabook.optim import SGD

HERE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "adalora")
REF = load_file(os.path.join(HERE, "adalora_reference.safetensors"))
with open(os.path.join(HERE, "adalora_reference.json")) as _file:
    RECORD = json.load(_file)
TOL = dict(rtol=0, atol=1e-9)


def build():
    """lorabook's twin of the fixture's model, holding PEFT's starting weights."""
    peft_model = get_peft_model(MLP([6, 8, 8, 3], generator=0, dtype=np.float64),
                                AdaLoraConfig(**RECORD["config"]), generator=0)
    own = dict(peft_model.named_parameters())
    starts = {key[len("start/"):]: value for key, value in REF.items() if key.startswith("start/")}
    assert set(starts) == {name for name in own if "ranknum" not in name}  # PEFT's names, one to one
    for name, value in starts.items():
        own[name].data = value.copy()
    return peft_model


def test_forward_orth_regulariser_and_gradients_match_peft():
    peft_model = build()
    x, y = REF["x"], REF["y"]
    out = peft_model(x)
    np.testing.assert_allclose(out.data, REF["start_output"], **TOL)
    cross_entropy = F.cross_entropy(out, y)
    orth = peft_model.base_model.orth_regularization()
    assert float(cross_entropy.data) == pytest.approx(RECORD["start_cross_entropy"], abs=1e-9)
    assert float(orth.data) == pytest.approx(RECORD["start_orth"], abs=1e-9)
    (cross_entropy + orth).backward()
    grads = {key[len("start_grad/"):]: value for key, value in REF.items() if key.startswith("start_grad/")}
    own = dict(peft_model.named_parameters())
    assert set(grads) == {name for name, p in own.items() if p.requires_grad}
    for name, expected in grads.items():
        np.testing.assert_allclose(own[name].grad, expected, err_msg=name, **TOL)
    for i in (0, 2, 4):
        layer = peft_model.get_base_model().get_submodule(str(i))
        np.testing.assert_allclose(layer.get_delta_weight(), REF[f"start_delta/{i}"], **TOL)


def test_budget_schedule_matches_peft():
    allocator = build().base_model.rankallocator
    assert (allocator.init_bgt, allocator.target_bgt) == (RECORD["init_bgt"], RECORD["target_bgt"])
    assert [list(allocator.budget_schedule(t)) for t in range(len(RECORD["budget_schedule"]))] == \
        RECORD["budget_schedule"]


def test_importance_masks_and_weights_match_peft_at_every_step():
    peft_model = build()
    x, y = REF["x"], REF["y"]
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = SGD(params, lr=RECORD["lr"])
    allocator = peft_model.base_model.rankallocator
    own = dict(peft_model.named_parameters())
    masked_some = False
    for entry in RECORD["steps"]:
        step = entry["step"]
        loss = F.cross_entropy(peft_model(x), y) + peft_model.base_model.orth_regularization()
        assert float(loss.data) == pytest.approx(entry["loss"], abs=1e-9)
        loss.backward()
        optimizer.step()
        peft_model.update_and_allocate(step)
        optimizer.zero_grad()
        pattern = peft_model.peft_config["default"].rank_pattern
        assert pattern == entry["rank_pattern"], f"step {step}"
        masked_some |= pattern is not None and not all(all(kept) for kept in pattern.values())
        for kind, table in (("exp_avg_ipt", allocator.exp_avg_ipt), ("exp_avg_unc", allocator.exp_avg_unc)):
            expected = {k.split("/", 2)[2]: v for k, v in REF.items() if k.startswith(f"step{step}/{kind}/")}
            assert set(table) == set(expected), f"step {step} {kind}"
            for name, value in expected.items():
                np.testing.assert_allclose(table[name], value, err_msg=f"step {step} {kind} {name}", **TOL)
        for name, param in own.items():
            if "lora_" in name:
                np.testing.assert_allclose(param.data, REF[f"step{step}/{name}"], err_msg=f"step {step} {name}", **TOL)
    assert masked_some  # the fixture does exercise masking
    np.testing.assert_allclose(peft_model(x).data, REF["end_output"], **TOL)
    assert peft_model.base_model.layer_ranks() == {"0": 3, "2": 2, "4": 1}


def test_an_adapter_saved_by_peft_loads_and_gives_peft_outputs():
    base = MLP([6, 8, 8, 3], generator=0, dtype=np.float64)
    own = dict(base.named_parameters())
    for key, value in REF.items():
        if key.startswith("start/base_model.model.") and ".base_layer." in key:
            own[key[len("start/base_model.model."):].replace(".base_layer", "")].data = value.copy()
    loaded = AdaLoraPeftModel.from_pretrained(base, os.path.join(HERE, "peft_adapter"))
    np.testing.assert_allclose(loaded(REF["x"]).data, REF["end_output"], **TOL)
    assert loaded.base_model.layer_ranks() == {"0": 3, "2": 2, "4": 1}
    assert not any(p.requires_grad for p in loaded.parameters())  # loaded for inference, as in PEFT


def test_lorabook_writes_the_file_peft_wrote(tmp_path):
    """Same keys, shapes and numbers as PEFT's adapter_model.safetensors; the config's AdaLoRA fields agree."""
    peft_model = build()
    optimizer = SGD([p for p in peft_model.parameters() if p.requires_grad], lr=RECORD["lr"])
    for step in range(RECORD["config"]["total_step"]):
        (F.cross_entropy(peft_model(REF["x"]), REF["y"]) + peft_model.base_model.orth_regularization()).backward()
        optimizer.step()
        peft_model.update_and_allocate(step)
        optimizer.zero_grad()
    peft_model.save_pretrained(tmp_path / "adapter")
    mine = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    theirs = load_file(os.path.join(HERE, "peft_adapter", "adapter_model.safetensors"))
    assert sorted(mine) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(mine[key], theirs[key], err_msg=key, **TOL)
    with open(tmp_path / "adapter" / "adapter_config.json") as file:
        my_config = json.load(file)
    with open(os.path.join(HERE, "peft_adapter", "adapter_config.json")) as file:
        peft_config = json.load(file)
    for key in ("peft_type", "init_r", "target_r", "tinit", "tfinal", "deltaT", "beta1", "beta2", "orth_reg_weight",
                "total_step", "lora_alpha", "rank_pattern", "target_modules", "inference_mode", "r"):
        assert my_config[key] == peft_config[key], key


def test_trainable_and_all_parameter_counts_are_peft_counts():
    """ranknum counts among all parameters, not among the trainable ones, as in PEFT."""
    assert build().get_nb_trainable_parameters() == (RECORD["trainable_params"], RECORD["all_params"])
