"""Bad input to the LoRA API gets an error naming the argument, the value given and what was expected."""
import re

import numpy as np
import pytest

from lorabook import nn
from lorabook.lora import LoraConfig, LoraLinear, get_peft_model


@pytest.mark.parametrize("r, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), ("8", TypeError), (True, TypeError)])
def test_bad_rank(r, error):
    with pytest.raises(error, match=r"^r must .*" + ("got" if error is TypeError else str(r))):
        LoraConfig(r=r, target_modules=["0"])


@pytest.mark.parametrize("alpha", [0, -1.0, float("nan"), float("inf")])
def test_lora_alpha_must_be_positive(alpha):
    with pytest.raises(ValueError, match="lora_alpha"):
        LoraConfig(lora_alpha=alpha)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_lora_dropout_outside_0_1(p):
    with pytest.raises(ValueError, match=r"lora_dropout must be in \[0.0, 1.0\), got " + str(p)):
        LoraConfig(lora_dropout=p)


@pytest.mark.parametrize("init", ["kaiming", "PISSA", 1, 0, None])
def test_unknown_init_lora_weights(init):
    with pytest.raises(ValueError, match=r"init_lora_weights must be one of True, False, 'gaussian', 'pissa'; got " + repr(init)):
        LoraConfig(init_lora_weights=init)


def test_other_config_fields_checked():
    with pytest.raises(ValueError, match="bias must be one of 'none', 'all', 'lora_only'; got 'some'"):
        LoraConfig(bias="some")
    with pytest.raises(TypeError, match="target_modules must be a list"):
        LoraConfig(target_modules=3)
    with pytest.raises(ValueError, match="target_modules '\\[' is not a valid regular expression"):
        LoraConfig(target_modules="[")
    with pytest.raises(ValueError, match=r"rank_pattern\['0'\] must be >= 1, got 0"):
        LoraConfig(rank_pattern={"0": 0})
    with pytest.raises(ValueError, match=r"alpha_pattern\['0'\]"):
        LoraConfig(alpha_pattern={"0": -2})
    with pytest.raises(TypeError, match="use_rslora must be True or False"):
        LoraConfig(use_rslora="yes")


def test_target_modules_none_asks_for_them(mlp):
    with pytest.raises(ValueError, match=r"target_modules is None.*'all-linear'.*0 \(Linear\), 1 \(ReLU\)"):
        get_peft_model(mlp, LoraConfig())


def test_target_modules_matching_nothing_lists_module_names(mlp):
    with pytest.raises(ValueError, match=r"target_modules \['fc'\] matches no module.*0 \(Linear\), 1 \(ReLU\), 2 \(Linear\), 3 \(ReLU\), 4 \(Linear\)"):
        get_peft_model(mlp, LoraConfig(target_modules=["fc"]))
    with pytest.raises(ValueError, match="matches no module"):
        get_peft_model(mlp, LoraConfig(target_modules=r"\d\d"))  # a regex must match the whole name


def test_target_that_is_not_linear(mlp):
    """ValueError, as PEFT raises for a ReLU target."""
    with pytest.raises(ValueError, match=r"picks '1', a ReLU; LoRA here adapts Linear layers only"):
        get_peft_model(mlp, LoraConfig(target_modules=["0", "1"]))
    assert isinstance(mlp[0], nn.Linear)  # checked before anything changed


def test_modules_to_save_must_exist_and_not_overlap(mlp):
    with pytest.raises(ValueError, match="modules_to_save entry 'head' matches no module"):
        get_peft_model(mlp, LoraConfig(target_modules=["0"], modules_to_save=["head"]))
    with pytest.raises(ValueError, match="either adapted with LoRA or trained in full"):
        get_peft_model(mlp, LoraConfig(target_modules=["0", "4"], modules_to_save=["4"]))


def test_unknown_adapter_names(mlp):
    model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0"]))
    with pytest.raises(ValueError, match=r"adapter_name 'other' is not an adapter of this model; adapters: \['default'\]"):
        model.set_adapter("other")
    with pytest.raises(ValueError, match=r"adapter_name 'other' is not an adapter of this model"):
        model.delete_adapter("other")
    with pytest.raises(ValueError, match=r"adapter_names 'other' is not an adapter"):
        model.merge_adapter("other")


def test_add_adapter_name_in_use(mlp):
    model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0"]))
    with pytest.raises(ValueError, match=r"adapter_name 'default' is already in use; adapters: \['default'\]"):
        model.add_adapter("default", LoraConfig(r=2, target_modules=["2"]))
    with pytest.raises(ValueError, match="adapter_name must be a non-empty string without dots, got 'a.b'"):
        model.add_adapter("a.b", LoraConfig(r=2, target_modules=["2"]))
    with pytest.raises(TypeError, match="config must be a LoraConfig"):
        model.add_adapter("b", {"r": 4})


def test_deleting_the_only_adapter_is_refused(mlp):
    model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0"]))
    with pytest.raises(ValueError, match="only adapter; use unload"):
        model.delete_adapter("default")


def test_rank_above_min_features_warns_but_works():
    layer = nn.Linear(6, 3, generator=0)
    with pytest.warns(UserWarning, match=r"r=5 is larger than min\(in_features, out_features\) = min\(6, 3\).*cannot help"):
        lora = LoraLinear(layer, r=5, generator=1)
    assert lora.lora_A["default"].weight.shape == (5, 6)
    assert lora(np.ones((2, 6), dtype=np.float32)).shape == (2, 3)


def test_layer_checks_its_arguments():
    with pytest.raises(TypeError, match="base_layer must be a lorabook.nn.Linear, got ReLU"):
        LoraLinear(nn.ReLU())
    with pytest.raises(ValueError, match="r must be >= 1, got 0"):
        LoraLinear(nn.Linear(3, 3), r=0)
    layer = LoraLinear(nn.Linear(3, 3, generator=0), r=2, generator=0)
    with pytest.raises(ValueError, match=r"lora_B must have shape \(3, 2\)"):
        layer.set_delta_factors(np.ones((3, 3)), np.ones((2, 3)))


def test_model_must_be_a_module(mlp):
    with pytest.raises(TypeError, match="model must be a lorabook.nn.Module, got list"):
        get_peft_model([mlp], LoraConfig(r=2, target_modules=["0"]))


def test_wrapping_a_peft_model_again_is_refused(mlp):
    peft_model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0"]))
    with pytest.raises(TypeError, match=r"already has LoRA layers.*peft_model\.add_adapter\(name, config\)"):
        get_peft_model(peft_model, LoraConfig(r=2, target_modules=["2"]))


@pytest.mark.parametrize("second", [
    dict(targets=["0", "2"], adapter_name="default"),   # clashed in layer "2", after layer "0" was replaced
    dict(targets=["0"], adapter_name="b"),              # went through and switched the first model's layer
    dict(targets=["2"], adapter_name="default", modules_to_save=["4"]),
])
def test_the_users_model_a_second_time_is_refused_and_left_alone(mlp, batch, second):
    """The notebook mistake: running the get_peft_model cell twice passes the already injected model again."""
    first = get_peft_model(mlp, LoraConfig(r=2, target_modules=["2"], modules_to_save=["4"]))
    for param in first.parameters():
        if param.requires_grad:
            param.data += 0.5
    modules = list(mlp.named_modules())
    flags = [p.requires_grad for p in mlp.parameters()]
    output = first(batch).data
    config = LoraConfig(r=2, target_modules=second["targets"], modules_to_save=second.get("modules_to_save"))
    with pytest.raises(TypeError, match=r"already has LoRA layers \(at '2', '4'\).*peft_model\.add_adapter\(name, config\)"):
        get_peft_model(mlp, config, adapter_name=second["adapter_name"])
    assert [(n, id(m)) for n, m in mlp.named_modules()] == [(n, id(m)) for n, m in modules]
    assert [p.requires_grad for p in mlp.parameters()] == flags
    assert mlp[2].active_adapters == ["default"] and list(first.peft_config) == ["default"]
    assert np.array_equal(first(batch).data, output)


def test_a_hand_built_lora_layer_counts_as_injected():
    model = nn.Sequential(LoraLinear(nn.Linear(3, 3, generator=0), r=2, generator=0), nn.ReLU())
    with pytest.raises(TypeError, match=r"already has LoRA layers \(at '0'\)"):
        get_peft_model(model, LoraConfig(r=2, target_modules=["0"]))


def test_adapter_name_clash_inside_a_layer_changes_nothing(mlp):
    """A layer can hold an adapter the model does not know (added by hand): found before any layer changes."""
    peft_model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["2"]))
    mlp[2].update_layer("b", r=2, lora_alpha=2, generator=0)
    with pytest.raises(ValueError, match=r"adapter_name 'b' is already in use in layer '2' \(adapters there: \['default', 'b'\]\)"):
        peft_model.add_adapter("b", LoraConfig(r=2, target_modules=["0", "2"]))
    assert type(mlp[0]) is nn.Linear and list(peft_model.peft_config) == ["default"]


def test_use_rslora_must_be_a_bool_in_the_layer_too():
    with pytest.raises(TypeError, match="use_rslora must be True or False, got 'yes'"):
        LoraLinear(nn.Linear(3, 3, generator=0), r=2, use_rslora="yes")
    layer = LoraLinear(nn.Linear(3, 3, generator=0), r=2, generator=0)
    with pytest.raises(TypeError, match="use_rslora must be True or False, got 1"):
        layer.update_layer("other", r=2, lora_alpha=2, use_rslora=1)
    assert list(layer.lora_A) == ["default"]


@pytest.mark.parametrize("name", [["default"], None, 0])
def test_adapter_name_must_be_a_str(mlp, name):
    model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0"]))
    with pytest.raises(TypeError, match=r"adapter_name must be a str, the name of one adapter; got " + re.escape(repr(name))
                       + r" \(adapters: \['default'\]\)"):
        model.set_adapter(name)
    with pytest.raises(TypeError, match="adapter_name must be a str"):
        model.delete_adapter(name)


def test_set_adapter_inference_mode_and_is_trainable_must_be_bools(mlp, tmp_path):
    model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0"]))
    with pytest.raises(TypeError, match="inference_mode must be True or False, got 'no'"):
        model.set_adapter("default", inference_mode="no")
    model.save_adapter(tmp_path)
    with pytest.raises(TypeError, match="is_trainable must be True or False, got 1"):
        model.load_adapter(tmp_path, "b", is_trainable=1)
    with pytest.raises(TypeError, match="inference_mode must be True or False"):
        LoraConfig(inference_mode=None)


@pytest.mark.parametrize("field, pattern", [("rank_pattern", {"00": 1}), ("alpha_pattern", {"fc": 4}),
                                            ("rank_pattern", {"2": 1})])  # "2" exists, but is no target
def test_a_pattern_key_that_matches_no_target_is_refused(mlp, field, pattern):
    key = next(iter(pattern))
    with pytest.raises(ValueError, match=rf"{field} key '{key}' matches no module picked by target_modules \['0', '4'\]"):
        get_peft_model(mlp, LoraConfig(r=2, target_modules=["0", "4"], **{field: pattern}))
    assert type(mlp[0]) is nn.Linear  # checked before anything changed


def test_pattern_keys_that_match_are_accepted(mlp):
    model = get_peft_model(mlp, LoraConfig(r=2, target_modules=r"[04]", rank_pattern={r"\d": 3}, alpha_pattern={"4": 1}))
    assert model.get_base_model()[0].r["default"] == 3


def test_a_second_adapter_with_a_bias_is_refused_as_in_peft(mlp):
    model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0"], bias="all"))
    with pytest.raises(ValueError, match=r"bias='lora_only': adapter 'default' already trains biases.*only 1 adapter with bias"):
        model.add_adapter("b", LoraConfig(r=2, target_modules=["2"], bias="lora_only"))
    assert list(model.peft_config) == ["default"] and type(mlp[2]) is nn.Linear
    model.add_adapter("b", LoraConfig(r=2, target_modules=["2"]))  # bias="none" is fine


@pytest.mark.parametrize("alpha", [0, -2])
def test_lora_alpha_zero_or_negative_says_why(alpha):
    with pytest.raises(ValueError, match=rf"lora_alpha must be > 0, got {alpha} \(PEFT accepts 0.*changes nothing"):
        LoraConfig(lora_alpha=alpha)


def test_lora_dropout_one_says_why():
    with pytest.raises(ValueError, match=r"got 1.0: with lora_dropout=1 the LoRA branch sees only zeros"):
        LoraConfig(lora_dropout=1)


def test_lora_alpha_keeps_an_int():
    assert LoraConfig(lora_alpha=np.int64(16)).lora_alpha == 16 and type(LoraConfig(lora_alpha=np.int64(16)).lora_alpha) is int
    assert type(LoraConfig(lora_alpha=16.0).lora_alpha) is float


def test_backward_through_a_merged_adapter_says_how_to_unmerge(mlp, batch):
    model = get_peft_model(mlp, LoraConfig(r=2, target_modules="all-linear"))
    model.merge_adapter()
    loss = model(batch).sum()
    with pytest.raises(RuntimeError, match=r"backward through a merged adapter: \['default'\] is merged.*unmerge_adapter\(\)"):
        loss.backward()
    from lorabook import no_grad

    with no_grad():
        model(batch)  # inference on the merged model is fine
    model.unmerge_adapter()
    model(batch).sum().backward()
    assert mlp[0].lora_B["default"].weight.grad is not None


def test_use_dora_on_a_layer_with_a_merged_adapter_is_refused(mlp):
    model = get_peft_model(mlp, LoraConfig(r=2, target_modules=["0"]))
    model.merge_adapter()
    with pytest.raises(ValueError, match=r"use_dora=True: layer\(s\) \['0'\] have merged adapters.*unmerge_adapter\(\)"):
        model.add_adapter("d", LoraConfig(r=2, target_modules=["0", "2"], use_dora=True))
    assert list(model.peft_config) == ["default"] and type(mlp[2]) is nn.Linear
    with pytest.raises(ValueError, match=r"use_dora=True: adapter 'd' cannot be added while adapter\(s\) \['default'\] are merged"):
        mlp[0].update_layer("d", r=2, lora_alpha=2, use_dora=True)
    with pytest.raises(TypeError, match="use_dora must be True or False, got 1"):
        LoraConfig(use_dora=1)
