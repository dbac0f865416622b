"""The model level: injection, what trains, merging, adapters, counts, patterns."""
import copy
import dataclasses

import numpy as np
import pytest

from lorabook import nn, optim
from lorabook.lora import (
    LoraConfig, LoraLinear, ModulesToSaveWrapper, get_peft_model, lora_state_dict, mark_only_lora_as_trainable,
)
from lorabook.nn import functional as F


def randomise_lora(peft_model, seed=0):
    """Give every B (and A) random values, as after some training."""
    rng = np.random.default_rng(seed)
    for name, param in peft_model.named_parameters():
        if "lora_" in name:
            param.data[...] = rng.standard_normal(param.shape) * 0.3


def test_fresh_model_output_equals_base_exactly(mlp, batch):
    base = copy.deepcopy(mlp)
    peft_model = get_peft_model(mlp, LoraConfig(r=2, target_modules="all-linear"))
    assert np.array_equal(peft_model(batch).data, base(batch).data)


def test_pissa_model_output_equals_base_to_float_tolerance(make_mlp, batch):
    model = make_mlp(sizes=(6, 16, 12, 3))
    base = copy.deepcopy(model)
    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules="all-linear", init_lora_weights="pissa"))
    np.testing.assert_allclose(peft_model(batch).data, base(batch).data, rtol=1e-5, atol=1e-5)
    assert not np.allclose(model[2].base_layer.weight.data, base[2].weight.data)  # the residual is frozen


def test_adding_a_pissa_adapter_warns_that_the_shared_weight_changes(make_mlp, batch):
    model = make_mlp(sizes=(6, 16, 12, 3))
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=["0"]))
    randomise_lora(peft_model)
    before = peft_model(batch).data.copy()
    with pytest.warns(UserWarning, match=r"replaces the shared base weight of \['0'\].*\['default'\]") as caught:
        peft_model.add_adapter("pissa", LoraConfig(r=2, target_modules=["0", "2"], init_lora_weights="pissa"))
    assert caught[0].filename == __file__  # the warning points at the caller's line
    assert not np.allclose(peft_model(batch).data, before)  # what the warning says: "default" changed


def test_names_mirror_peft(mlp):
    peft_model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0"]))
    names = [name for name, _ in peft_model.named_parameters()]
    assert names[:4] == ["base_model.model.0.base_layer.weight", "base_model.model.0.base_layer.bias",
                         "base_model.model.0.lora_A.default.weight", "base_model.model.0.lora_B.default.weight"]
    assert "base_model.model.2.weight" in names
    assert peft_model.get_base_model() is mlp and isinstance(mlp[0], LoraLinear)


@pytest.mark.parametrize("targets, picked", [
    (["0", "4"], ["0", "4"]),
    (r"[02]", ["0", "2"]),
    ("all-linear", ["0", "2", "4"]),
])
def test_target_forms(mlp, targets, picked):
    get_peft_model(mlp, LoraConfig(r=2, target_modules=targets))
    assert [name for name, m in mlp.named_modules() if isinstance(m, LoraLinear)] == picked


def test_suffix_matching_in_nested_models():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(4, 4, generator=0))
            self.fc = nn.Linear(4, 4, generator=1)

        def forward(self, x):
            return self.fc(self.encoder(x))

    net = Net()
    get_peft_model(net, LoraConfig(r=2, target_modules=["0", "fc"]))
    assert isinstance(net.encoder[0], LoraLinear) and isinstance(net.fc, LoraLinear)


def _train_one_step(peft_model, batch, seed=1):
    targets = np.random.default_rng(seed).integers(0, 3, len(batch))
    optimizer = optim.Adam(peft_model.parameters(), lr=0.1)
    loss = F.cross_entropy(peft_model(batch), targets)
    loss.backward()
    optimizer.step()
    return optimizer


@pytest.mark.parametrize("bias", ["none", "all", "lora_only"])
def test_only_adapter_parameters_train(mlp, batch, bias):
    peft_model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0", "2"], modules_to_save=["4"], bias=bias))
    randomise_lora(peft_model)
    before = {name: p.data.copy() for name, p in peft_model.named_parameters()}
    optimizer = _train_one_step(peft_model, batch)

    def should_train(name):
        if "lora_" in name or ".modules_to_save.default." in name:
            return True
        if name.endswith("bias") and "original_module" not in name:
            return bias == "all" or (bias == "lora_only" and "base_layer" in name)
        return False

    for name, param in peft_model.named_parameters():
        assert param.requires_grad == should_train(name), name
        if should_train(name):
            assert param.grad is not None and not np.array_equal(param.data, before[name]), name
        else:
            assert param.grad is None, name
            assert np.array_equal(param.data, before[name]), name  # bit-identical
    trainable = sum(p.size for p in peft_model.parameters() if p.requires_grad)
    assert optimizer.state_nbytes() == 2 * trainable * 4  # Adam state only for what trains


def test_merge_unmerge_and_merge_and_unload(mlp, batch):
    peft_model = get_peft_model(mlp, LoraConfig(r=2, lora_alpha=4, target_modules="all-linear"))
    randomise_lora(peft_model)
    weights = [mlp[i].base_layer.weight.data.copy() for i in (0, 2, 4)]
    adapted = peft_model(batch).data
    peft_model.merge_adapter()
    np.testing.assert_allclose(peft_model(batch).data, adapted, rtol=1e-5, atol=1e-6)
    peft_model.unmerge_adapter()
    for i, before in zip((0, 2, 4), weights):
        after = mlp[i].base_layer.weight.data
        assert np.linalg.norm(after - before) / np.linalg.norm(before) <= 1e-6
    plain = peft_model.merge_and_unload()
    assert plain is mlp and all(type(m) is not LoraLinear for m in plain.modules())
    assert [name for name, _ in plain.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    np.testing.assert_allclose(plain(batch).data, adapted, rtol=1e-5, atol=1e-6)


def test_safe_merge_at_model_level_merges_nothing_on_failure(mlp):
    peft_model = get_peft_model(mlp, LoraConfig(r=2, target_modules="all-linear"))
    randomise_lora(peft_model)
    mlp[4].lora_B["default"].weight.data[0, 0] = np.nan
    before = [mlp[i].base_layer.weight.data.copy() for i in (0, 2, 4)]
    with pytest.raises(ValueError, match=r"layer '4': safe_merge: merging adapter 'default'"):
        peft_model.merge_adapter(safe_merge=True)
    assert all(np.array_equal(mlp[i].base_layer.weight.data, w) for i, w in zip((0, 2, 4), before))


def test_disable_adapter_gives_the_base_model(mlp, batch):
    base = copy.deepcopy(mlp)
    peft_model = get_peft_model(mlp, LoraConfig(r=2, target_modules="all-linear", modules_to_save=None))
    randomise_lora(peft_model)
    adapted = peft_model(batch).data
    assert not np.allclose(adapted, base(batch).data)
    with peft_model.disable_adapter():
        assert np.array_equal(peft_model(batch).data, base(batch).data)
    np.testing.assert_array_equal(peft_model(batch).data, adapted)


def test_disable_adapter_with_a_saved_head_and_after_merging(mlp, batch):
    base = copy.deepcopy(mlp)
    peft_model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0", "2"], modules_to_save=["4"]))
    randomise_lora(peft_model)
    mlp[4].modules_to_save["default"].weight.data += 1.0
    peft_model.merge_adapter()
    with peft_model.disable_adapter():
        np.testing.assert_allclose(peft_model(batch).data, base(batch).data, rtol=1e-5, atol=1e-6)


def test_switching_between_two_adapters(mlp, batch):
    peft_model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0", "2"]), adapter_name="upright")
    peft_model.add_adapter("rotated", LoraConfig(r=3, lora_alpha=6, target_modules="all-linear"))
    assert peft_model.active_adapter == "upright"
    randomise_lora(peft_model)
    out_upright = peft_model(batch).data
    # the second adapter alone, computed by hand
    expected = batch
    for i in (0, 2, 4):
        layer = mlp[i]
        weight = layer.base_layer.weight.data + layer.get_delta_weight("rotated")
        expected = expected @ weight.T + layer.base_layer.bias.data
        if i < 4:
            expected = np.maximum(expected, 0)
    peft_model.set_adapter("rotated")
    np.testing.assert_allclose(peft_model(batch).data, expected, rtol=1e-5, atol=1e-6)
    trainable = {name for name, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all(".rotated." in name for name in trainable)
    peft_model.set_adapter("upright")
    np.testing.assert_array_equal(peft_model(batch).data, out_upright)
    peft_model.delete_adapter("upright")
    assert peft_model.active_adapter == "rotated" and list(peft_model.peft_config) == ["rotated"]
    np.testing.assert_allclose(peft_model(batch).data, expected, rtol=1e-5, atol=1e-6)


def test_delete_adapter_keeps_the_wrappers_and_the_state_keys(mlp, batch):
    """As in PEFT: a layer left with no adapter keeps its wrapper, which computes as the plain module."""
    base = copy.deepcopy(mlp)
    peft_model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0"]))
    peft_model.add_adapter("head", LoraConfig(r=2, target_modules=["4"], modules_to_save=["2"]))
    assert isinstance(mlp[2], ModulesToSaveWrapper) and isinstance(mlp[4], LoraLinear)
    keys = [key for key in peft_model.state_dict() if ".head." not in key]
    peft_model.delete_adapter("head")
    assert isinstance(mlp[2], ModulesToSaveWrapper) and isinstance(mlp[4], LoraLinear) and not len(mlp[4].lora_A)
    assert list(peft_model.state_dict()) == keys == [
        "base_model.model.0.base_layer.weight", "base_model.model.0.base_layer.bias",
        "base_model.model.0.lora_A.default.weight", "base_model.model.0.lora_B.default.weight",
        "base_model.model.2.original_module.weight", "base_model.model.2.original_module.bias",
        "base_model.model.4.base_layer.weight", "base_model.model.4.base_layer.bias"]  # PEFT 0.21's keys
    assert np.array_equal(peft_model(batch).data, base(batch).data)
    plain = peft_model.merge_and_unload()
    assert [type(m).__name__ for m in plain] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]


def test_each_adapter_gets_its_own_head(mlp, batch):
    peft_model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0"], modules_to_save=["4"]), adapter_name="a")
    peft_model.add_adapter("b", LoraConfig(r=2, target_modules=["0"], modules_to_save=["4"]))
    wrapper = mlp[4]
    assert list(wrapper.modules_to_save) == ["a", "b"]
    wrapper.modules_to_save["b"].bias.data += 5.0
    out_a = peft_model(batch).data
    peft_model.set_adapter("b")
    np.testing.assert_allclose(peft_model(batch).data, out_a + 5.0, rtol=1e-5)
    assert wrapper.modules_to_save["b"].weight.requires_grad and not wrapper.modules_to_save["a"].weight.requires_grad
    plain = peft_model.merge_and_unload()
    assert plain[4] is wrapper.modules_to_save["b"]


# ----- counts on the 20-2000-2000-2 model ------------------------------------------------
def test_trainable_counts_and_the_exact_line(big, capsys):
    peft_model = get_peft_model(big, LoraConfig(r=8, target_modules=["0", "2"]))
    sizes = [p.size for name, p in peft_model.named_parameters() if "lora_" in name]
    assert sizes == [160, 16_000, 16_000, 16_000]
    base_total = 20 * 2000 + 2000 + 2000 * 2000 + 2000 + 2000 * 2 + 2
    assert peft_model.get_nb_trainable_parameters() == (48_160, base_total + 48_160)
    peft_model.print_trainable_parameters()
    assert capsys.readouterr().out == "trainable params: 48,160 || all params: 4,096,162 || trainable%: 1.1757\n"


def test_the_utils_docstring_shows_the_line_the_code_prints():
    from lorabook.lora import format_trainable_parameters, utils

    line = format_trainable_parameters(48_160, 4_096_162)
    assert f"'{line}'" in utils.__doc__


def test_module_to_save_counts_once_as_trainable(big):
    peft_model = get_peft_model(big, LoraConfig(r=8, target_modules=["0", "2"], modules_to_save=["4"]))
    head = 2000 * 2 + 2
    trainable, total = peft_model.get_nb_trainable_parameters()
    assert trainable == 48_160 + head
    assert total == 4_048_002 + 48_160 + head  # the frozen original and the trainable copy are both held


# ----- scaling and patterns -------------------------------------------------------------
def test_rslora_rank_and_alpha_patterns(make_mlp):
    model = make_mlp(sizes=(8, 8, 8, 8))
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", use_rslora=True,
                        rank_pattern={"2": 2}, alpha_pattern={r"[4]": 3.0})
    get_peft_model(model, config)
    assert [model[i].r["default"] for i in (0, 2, 4)] == [4, 2, 4]
    assert [model[i].lora_alpha["default"] for i in (0, 2, 4)] == [8.0, 8.0, 3.0]
    np.testing.assert_allclose([model[i].scaling["default"] for i in (0, 2, 4)], [8 / 2, 8 / np.sqrt(2), 3.0 / 2])
    assert model[2].lora_A["default"].weight.shape == (2, 8) and model[2].lora_B["default"].weight.shape == (8, 2)


def test_patterns_match_dotted_suffixes():
    config = LoraConfig(r=8, rank_pattern={"fc": 2, r"layers\.\d": 3})
    assert config.rank_for("encoder.fc") == 2 and config.rank_for("fc") == 2
    assert config.rank_for("model.layers.1") == 3 and config.rank_for("encoder.fc2") == 8
    assert config.scaling_for("encoder.fc") == 8 / 2


def test_config_round_trip_and_copy(mlp):
    from lorabook.io import CheckpointError
    from lorabook.lora.peft_format import config_from_json, config_to_json

    config = LoraConfig(r=2, target_modules=["0"], rank_pattern={"0": 1})
    assert config_from_json(config_to_json(config, ["0"]), "adapter_config.json") == dataclasses.replace(
        config, inference_mode=True)  # PEFT writes inference_mode true
    peft_model = get_peft_model(mlp, config)
    config.r = 99
    assert peft_model.peft_config["default"].r == 2
    with pytest.raises(CheckpointError, match="key 'rank' is not a LoRA setting lorabook knows"):
        config_from_json({**config_to_json(config, ["0"]), "rank": 3}, "adapter_config.json")


# ----- loralib's helpers -----------------------------------------------------------------
def test_mark_only_lora_as_trainable_and_lora_state_dict():
    model = nn.Sequential(LoraLinear(nn.Linear(4, 3, generator=0), r=2, generator=1), nn.ReLU(), nn.Linear(3, 2, generator=2))
    model.requires_grad_(True)
    mark_only_lora_as_trainable(model)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"0.lora_A.default.weight", "0.lora_B.default.weight"}
    mark_only_lora_as_trainable(model, bias="lora_only")
    assert model[0].base_layer.bias.requires_grad and not model[2].bias.requires_grad
    mark_only_lora_as_trainable(model, bias="all")
    assert model[2].bias.requires_grad and not model[2].weight.requires_grad
    assert list(lora_state_dict(model)) == ["0.lora_A.default.weight", "0.lora_B.default.weight"]
    assert "0.base_layer.bias" in lora_state_dict(model, bias="lora_only")
    assert set(lora_state_dict(model, bias="all")) == {"0.lora_A.default.weight", "0.lora_B.default.weight", "0.base_layer.bias", "2.bias"}


def test_mark_only_lora_as_trainable_leaves_lora_flags_as_they_are():
    """loralib only freezes what is not LoRA: an adapter that is not active stays frozen."""
    layer = LoraLinear(nn.Linear(4, 3, generator=0), r=2, generator=1)
    layer.update_layer("other", r=2, lora_alpha=2, generator=2)  # added, not active: frozen
    model = nn.Sequential(layer, nn.ReLU(), nn.Linear(3, 2, generator=3))
    mark_only_lora_as_trainable(model, bias="lora_only")
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        "0.base_layer.bias", "0.lora_A.default.weight", "0.lora_B.default.weight"}
    layer.set_adapter(["default", "other"])
    mark_only_lora_as_trainable(model)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        "0.lora_A.default.weight", "0.lora_B.default.weight", "0.lora_A.other.weight", "0.lora_B.other.weight"}


def test_bias_all_leaves_frozen_originals_and_other_heads_alone(mlp):
    peft_model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0"], modules_to_save=["4"], bias="all"), adapter_name="a")
    peft_model.add_adapter("b", LoraConfig(r=2, target_modules=["0"], modules_to_save=["4"]))
    assert mlp[2].bias.requires_grad and mlp[0].base_layer.bias.requires_grad
    assert mlp[4].modules_to_save["a"].bias.requires_grad
    assert not mlp[4].modules_to_save["b"].bias.requires_grad and not mlp[4].original_module.bias.requires_grad
    # bias="none": every bias frozen again. On purpose unlike PEFT, where the biases would go on
    # training with "b" (PEFT decides once, at injection) and change what "a" computes.
    peft_model.set_adapter("b")
    assert not mlp[2].bias.requires_grad and not mlp[0].base_layer.bias.requires_grad
