"""lorabook and real PEFT side by side: where they behave alike, and where lorabook differs on purpose.

Runs only where torch and peft can be imported (a developer's machine; CI
has neither and skips with the reason). Each difference on purpose is
asserted on both sides, so that a change in PEFT shows up here; the README
lists them under "Where lorabook differs on purpose".
"""
import warnings

import numpy as np
import pytest

from lorabook import nn
from lorabook.lora import LoraConfig, LoraLinear, get_peft_model

torch = pytest.importorskip("torch", reason="torch is not installed (only needed to compare with PEFT)")
peft = pytest.importorskip("peft", reason="peft is not installed (only needed to compare with PEFT)")


def torch_mlp(dtype=torch.float32):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4), torch.nn.ReLU(),
                               torch.nn.Linear(4, 3)).to(dtype)


def ours(dtype=np.float32):
    return nn.MLP([6, 5, 4, 3], generator=0, dtype=dtype)


def theirs_peft(config, adapter_name="default", dtype=torch.float32):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return peft.get_peft_model(torch_mlp(dtype), peft.LoraConfig(**config), adapter_name=adapter_name)


def trainable(model):
    return sorted(name for name, p in model.named_parameters() if p.requires_grad)


# ----- alike -----------------------------------------------------------------------------------
def test_a_relu_target_is_a_value_error_in_both():
    with pytest.raises(ValueError, match="ReLU"):
        theirs_peft(dict(r=2, target_modules=["0", "1"]))
    with pytest.raises(ValueError, match="ReLU"):
        get_peft_model(ours(), LoraConfig(r=2, target_modules=["0", "1"]))


def test_a_second_adapter_with_a_bias_is_refused_by_both():
    theirs = theirs_peft(dict(r=2, target_modules=["0"], bias="all"))
    with pytest.raises(ValueError, match="supports only 1 adapter with bias"):
        theirs.add_adapter("b", peft.LoraConfig(r=2, target_modules=["2"], bias="lora_only"))
    mine = get_peft_model(ours(), LoraConfig(r=2, target_modules=["0"], bias="all"))
    with pytest.raises(ValueError, match="supports only 1 adapter with bias"):
        mine.add_adapter("b", LoraConfig(r=2, target_modules=["2"], bias="lora_only"))


def test_delete_adapter_keeps_the_wrappers_and_the_state_keys_in_both():
    theirs = theirs_peft(dict(r=2, target_modules=["0"]))
    theirs.add_adapter("head", peft.LoraConfig(r=2, target_modules=["4"], modules_to_save=["2"]))
    theirs.delete_adapter("head")
    mine = get_peft_model(ours(), LoraConfig(r=2, target_modules=["0"]))
    mine.add_adapter("head", LoraConfig(r=2, target_modules=["4"], modules_to_save=["2"]))
    mine.delete_adapter("head")
    assert list(mine.state_dict()) == list(theirs.state_dict())
    assert isinstance(theirs.base_model.model[4], peft.tuners.lora.LoraLayer)
    assert isinstance(mine.get_base_model()[4], LoraLinear)


@pytest.mark.parametrize("config", [dict(r=2, target_modules="all-linear", bias="all"),
                                    dict(r=2, target_modules=["0", "2"], bias="lora_only", use_dora=True),
                                    dict(r=2, target_modules=["0"], modules_to_save=["4"], use_rslora=True)])
def test_trainable_names_and_state_keys_are_the_same(config):
    theirs = theirs_peft(config)
    mine = get_peft_model(ours(), LoraConfig(**config))
    assert trainable(mine) == trainable(theirs)
    assert list(mine.state_dict()) == list(theirs.state_dict())


# ----- lorabook differs on purpose ----------------------------------------------------------------
def test_biases_train_only_while_their_adapter_is_active():
    """PEFT decides which biases train when an adapter is injected; lorabook follows the active adapter."""
    theirs = theirs_peft(dict(r=2, target_modules=["0"], bias="all"), adapter_name="a")
    theirs.add_adapter("b", peft.LoraConfig(r=2, target_modules=["0"]))
    theirs.set_adapter("b")
    assert "base_model.model.2.bias" in trainable(theirs)  # PEFT: "b" trains the biases "a" asked for
    mine = get_peft_model(ours(), LoraConfig(r=2, target_modules=["0"], bias="all"), adapter_name="a")
    mine.add_adapter("b", LoraConfig(r=2, target_modules=["0"]))
    mine.set_adapter("b")
    assert not any(name.endswith("bias") for name in trainable(mine))
    mine.set_adapter("a")
    assert "base_model.model.2.bias" in trainable(mine)


@pytest.mark.parametrize("field, value", [("lora_alpha", 0), ("lora_dropout", 1.0)])
def test_configs_that_cannot_train_are_refused(field, value):
    peft.LoraConfig(**{field: value})  # PEFT accepts them
    with pytest.raises(ValueError, match=field):
        LoraConfig(**{field: value})


def test_pissa_in_float64_and_with_a_rank_above_min_features():
    with pytest.raises(TypeError, match="float32"):  # PEFT runs its SVD in float32 and refuses float64
        theirs_peft(dict(r=2, target_modules=["0"], init_lora_weights="pissa"), dtype=torch.float64)
    mine = get_peft_model(ours(np.float64), LoraConfig(r=2, target_modules=["0"], init_lora_weights="pissa"))
    assert mine.get_base_model()[0].lora_A["default"].weight.dtype == np.float64
    # r = 5 > min(out, in) = 4 for layer "4" (4 -> 3): PEFT's A gets min(out, in) rows, lorabook's r rows
    theirs = theirs_peft(dict(r=5, target_modules=["4"], init_lora_weights="pissa"))
    assert tuple(theirs.base_model.model[4].lora_A["default"].weight.shape) == (3, 4)
    with pytest.warns(UserWarning, match="cannot help"):
        mine = get_peft_model(ours(), LoraConfig(r=5, target_modules=["4"], init_lora_weights="pissa"))
    assert mine.get_base_model()[4].lora_A["default"].weight.shape == (5, 4)
