"""Loading adapters: frozen unless is_trainable, a refused load leaves the model as it was, shared biases."""
import json
import re
import warnings

import numpy as np
import pytest

from lorabook import optim
from lorabook.lora import LoraConfig, LoraLinear, ModulesToSaveWrapper, PeftModel, get_peft_model
from lorabook.nn import functional as F


def trained(model, config, seed=0):
    """A PeftModel whose trainable parameters hold random values, as after some training."""
    peft_model = get_peft_model(model, config, generator=seed)
    rng = np.random.default_rng(seed)
    for param in peft_model.parameters():
        if param.requires_grad:
            param.data[...] = rng.standard_normal(param.shape) * 0.3
    return peft_model


def trainable_names(peft_model):
    return {name for name, p in peft_model.named_parameters() if p.requires_grad}


# ----- is_trainable ------------------------------------------------------------------------
HEAD = LoraConfig(r=2, target_modules=["0"], modules_to_save=["4"], bias="all")


def test_from_pretrained_is_frozen_for_inference_by_default(make_mlp, batch, tmp_path):
    source = trained(make_mlp(), HEAD)
    source.save_adapter(tmp_path)
    loaded = PeftModel.from_pretrained(make_mlp(), tmp_path)
    assert trainable_names(loaded) == set()  # lora_A, lora_B, the head's copy and the biases: all frozen
    assert loaded.get_nb_trainable_parameters()[0] == 0
    assert loaded.peft_config["default"].inference_mode and not loaded.training
    assert not any(m.training for m in loaded.modules())
    assert np.array_equal(loaded(batch).data, source(batch).data)
    loaded.add_adapter("other", LoraConfig(r=2, target_modules=["2"]))  # re-marks what trains: still nothing
    assert trainable_names(loaded) == set()


def test_from_pretrained_is_trainable_trains_what_the_config_says(make_mlp, batch, tmp_path):
    trained(make_mlp(), HEAD).save_adapter(tmp_path)
    loaded = PeftModel.from_pretrained(make_mlp(), tmp_path, is_trainable=True)
    fresh = get_peft_model(make_mlp(), HEAD)
    assert trainable_names(loaded) == trainable_names(fresh) and trainable_names(loaded)
    assert not loaded.peft_config["default"].inference_mode and loaded.training
    before = {n: p.data.copy() for n, p in loaded.named_parameters()}
    optimizer = optim.SGD(loaded.parameters(), lr=0.1)
    F.cross_entropy(loaded(batch), np.arange(len(batch)) % 3).backward()
    optimizer.step()
    moved = {n for n, p in loaded.named_parameters() if not np.array_equal(p.data, before[n])}
    assert moved == trainable_names(loaded)


def test_load_adapter_is_frozen_and_set_adapter_makes_it_trainable(make_mlp, tmp_path):
    trained(make_mlp(), HEAD).save_adapter(tmp_path / "head")
    target = get_peft_model(make_mlp(), LoraConfig(r=2, target_modules=["0"], modules_to_save=["4"]))
    with pytest.warns(UserWarning, match="biases are shared"):  # bias="all": see the tests below
        target.load_adapter(tmp_path / "head", "loaded")
    assert target.peft_config["loaded"].inference_mode and not target.training  # PEFT: eval mode
    assert all(".loaded." not in name for name in trainable_names(target))
    target.set_adapter("loaded", inference_mode=True)
    assert trainable_names(target) == set()
    target.set_adapter("loaded")  # as in PEFT, activating an adapter makes it trainable
    assert not target.peft_config["loaded"].inference_mode
    assert {"base_model.model.0.lora_A.loaded.weight", "base_model.model.4.modules_to_save.loaded.weight"} <= trainable_names(target)
    # (a second adapter without biases: as in PEFT, only one adapter of a model may train biases)
    trained(make_mlp(), LoraConfig(r=2, target_modules=["2"])).save_adapter(tmp_path / "plain")
    target.load_adapter(tmp_path / "plain", "again", is_trainable=True)
    assert not target.peft_config["again"].inference_mode
    # unlike PEFT 0.21, whose load_adapter(is_trainable=True) also unfreezes the inactive adapter, only
    # the active adapter trains: "again" is not used in forward, so it could get no gradient
    assert all(".again." not in name for name in trainable_names(target))
    target.set_adapter("again")
    assert {"base_model.model.2.lora_A.again.weight", "base_model.model.2.lora_B.again.weight"} <= trainable_names(target)


def test_saved_config_says_inference_mode_as_peft_writes_it(make_mlp, tmp_path):
    trained(make_mlp(), LoraConfig(r=2, target_modules=["0"])).save_adapter(tmp_path)
    assert json.loads((tmp_path / "adapter_config.json").read_text())["inference_mode"] is True


# ----- a refused load gives the model back as it was -------------------------------------------
def test_refused_from_pretrained_gives_back_the_same_modules_and_flags(make_mlp, tmp_path):
    trained(make_mlp(), LoraConfig(r=2, target_modules=["0"], modules_to_save=["4"])).save_adapter(tmp_path)
    other = make_mlp(sizes=(7, 5, 4, 3))  # the first layer has another in_features: the load must fail
    other[4].requires_grad_(False)        # the user had frozen the head...
    other[2].bias.requires_grad = False   # ...and one bias
    modules = [(name, id(m)) for name, m in other.named_modules()]
    # the same Parameter objects: an optimizer made before the call still holds the model's own
    params = [(name, id(p), p.requires_grad) for name, p in other.named_parameters()]
    x = np.ones((2, 7), dtype=np.float32)
    output = other(x).data
    with pytest.raises(ValueError, match=r"base_model.model.0.lora_A.weight: shape \(2, 6\) in the adapter, \(2, 7\) in the model"):
        PeftModel.from_pretrained(other, tmp_path)
    assert [(name, id(m)) for name, m in other.named_modules()] == modules
    assert [(name, id(p), p.requires_grad) for name, p in other.named_parameters()] == params
    assert not any(isinstance(m, (LoraLinear, ModulesToSaveWrapper)) for m in other.modules())
    assert other.training and np.array_equal(other(x).data, output)
    get_peft_model(other, LoraConfig(r=2, target_modules=["0"]))  # and it is a plain model again


# ----- shared biases ---------------------------------------------------------------------------
@pytest.mark.parametrize("bias, layers", [("lora_only", ["0"]), ("all", ["0", "2", "4"])])
def test_loading_a_bias_adapter_warns_and_overwrites_the_shared_biases(make_mlp, batch, tmp_path, bias, layers):
    source = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"], bias=bias), seed=1)
    source.save_adapter(tmp_path)
    target = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"]), seed=5)
    before = target(batch).data
    with pytest.warns(UserWarning, match=rf"adapter 'b' was saved with bias='{bias}'.*overwrote the biases of "
                                         rf"layer\(s\) {re.escape(repr(layers))}.*active adapter 'default' now computes with them too"):
        target.load_adapter(tmp_path, "b")
    assert target.active_adapter == "default"
    # the documented effect: the active adapter's outputs change, because its biases are the loaded ones
    assert not np.allclose(target(batch).data, before)
    np.testing.assert_array_equal(target.get_base_model()[0].base_layer.bias.data, source.get_base_model()[0].base_layer.bias.data)
    # loading the same file again (in place of "b": one adapter with biases at a time, as in PEFT)
    # changes nothing, and so does not warn
    target.delete_adapter("b")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        target.load_adapter(tmp_path, "c")


def test_loading_without_biases_does_not_warn_nor_change_the_active_adapter(make_mlp, batch, tmp_path):
    trained(make_mlp(), LoraConfig(r=2, target_modules=["0", "2"]), seed=1).save_adapter(tmp_path)
    target = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"], bias="lora_only"), seed=5)
    before = target(batch).data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        target.load_adapter(tmp_path, "b")
    assert np.array_equal(target(batch).data, before)


def test_a_load_warns_once_about_its_adapter(make_mlp, tmp_path):
    """The rehearsal on a copy stays quiet: only the real build warns (here: r above the layer's size)."""
    with pytest.warns(UserWarning, match="r=4 is larger than"):
        trained(make_mlp(), LoraConfig(r=4, target_modules=["4"])).save_adapter(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        PeftModel.from_pretrained(make_mlp(), tmp_path)
    assert [str(w.message)[:18] for w in caught] == ["r=4 is larger than"]


# ----- a save killed between the two renames of the fallback swap ----------------------------------
def test_a_folder_left_by_a_save_killed_between_the_renames_loads_whole(make_mlp, batch, tmp_path):
    """Without renameat2, a save renames the old folder away before renaming the new one in; a kill
    between the two leaves only the old folder, under a staging name. The next load puts it back."""
    import subprocess
    import sys

    from lorabook.analysis import read_lora_factors

    source = trained(make_mlp(), LoraConfig(r=2, target_modules=["0", "2"]))
    source.add_adapter("second", LoraConfig(r=1, target_modules=["4"]))
    source.save_pretrained(tmp_path / "adapters")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "adapters").rename(tmp_path / f".adapters.tmp-{int(dead.stdout)}-old")  # what the kill leaves
    assert sorted(read_lora_factors(tmp_path / "adapters" / "second")) == ["4"]  # the subfolder: its parent comes back
    loaded = PeftModel.from_pretrained(make_mlp(), tmp_path / "adapters")
    assert np.array_equal(loaded(batch).data, source(batch).data)


def test_several_adapters_with_dora_among_them_round_trip_in_peft_s_layout(make_mlp, batch, tmp_path):
    """PEFT 0.21 loads the same folder with the same outputs (tests/fixtures/peft/cross_check.py)."""
    import safetensors.numpy

    source = trained(make_mlp(), LoraConfig(r=2, target_modules=["0", "2"]))
    source.add_adapter("dora", LoraConfig(r=1, lora_alpha=4, target_modules=["2", "4"], use_dora=True), generator=1)
    source.set_adapter("dora")
    for param in source.parameters():  # the DoRA adapter trained too: its magnitudes moved
        if param.requires_grad:
            param.data += 0.1
    source.save_pretrained(tmp_path)
    keys = sorted(safetensors.numpy.load_file(tmp_path / "dora" / "adapter_model.safetensors"))
    assert keys == [f"base_model.model.{i}.{kind}" for i in (2, 4) for kind in
                    ("lora_A.weight", "lora_B.weight", "lora_magnitude_vector")]  # PEFT's keys, no ".weight" on m
    loaded = PeftModel.from_pretrained(make_mlp(), tmp_path)
    loaded.load_adapter(tmp_path / "dora", "dora")
    for name in ("default", "dora"):
        source.set_adapter(name, inference_mode=True)
        loaded.set_adapter(name, inference_mode=True)
        assert np.array_equal(loaded(batch).data, source(batch).data), name
