"""Adapter files: bit-exact round trips, only the adapter's arrays, clear errors for what does not fit."""
import copy
import dataclasses
import json
import os

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lorabook.io import CheckpointError
from lorabook.lora import LoraConfig, LoraLinear, PeftModel, get_peft_model, get_peft_model_state_dict


def trained(model, config, seed=0, name="default"):
    peft_model = get_peft_model(model, config, adapter_name=name, generator=seed)
    rng = np.random.default_rng(seed)
    for param in peft_model.parameters():
        if param.requires_grad:
            param.data[...] = rng.standard_normal(param.shape)
    return peft_model


def test_round_trip_is_bit_exact(make_mlp, batch, tmp_path):
    config = LoraConfig(r=2, lora_alpha=4, target_modules=["0", "2"], modules_to_save=["4"], bias="lora_only")
    peft_model = trained(make_mlp(), config)
    expected = peft_model(batch).data
    peft_model.save_adapter(tmp_path / "adapter")
    assert sorted(os.listdir(tmp_path / "adapter")) == ["adapter_config.json", "adapter_model.safetensors"]

    loaded = PeftModel.from_pretrained(make_mlp(), tmp_path / "adapter")
    assert np.array_equal(loaded(batch).data, expected)
    saved, again = get_peft_model_state_dict(peft_model), get_peft_model_state_dict(loaded)
    assert list(saved) == list(again) and all(np.array_equal(saved[k], again[k]) for k in saved)
    # the same config, but loaded for inference (PEFT's default is_trainable=False)
    assert loaded.peft_config["default"] == dataclasses.replace(peft_model.peft_config["default"], inference_mode=True)


def test_file_holds_only_the_adapter_under_peft_keys(make_mlp, tmp_path):
    peft_model = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"], modules_to_save=["4"]))
    peft_model.save_adapter(tmp_path)
    keys = sorted(safetensors.numpy.load_file(tmp_path / "adapter_model.safetensors"))
    assert keys == ["base_model.model.0.lora_A.weight", "base_model.model.0.lora_B.weight",
                    "base_model.model.4.bias", "base_model.model.4.weight"]
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 2 and config["target_modules"] == ["0"]


def test_load_adapter_under_another_name_and_switch(make_mlp, batch, tmp_path):
    source = trained(make_mlp(), LoraConfig(r=3, target_modules="all-linear"), seed=1)
    source.save_adapter(tmp_path)
    expected = source(batch).data
    target = get_peft_model(make_mlp(), LoraConfig(r=2, target_modules=["0"]))
    before = target(batch).data
    target.load_adapter(tmp_path, adapter_name="rotated")
    assert target.active_adapter == "default" and np.array_equal(target(batch).data, before)
    target.set_adapter("rotated")
    assert np.array_equal(target(batch).data, expected)


def test_pissa_adapter_round_trip(make_mlp, batch, tmp_path):
    sizes = (6, 10, 8, 3)
    peft_model = get_peft_model(make_mlp(sizes=sizes), LoraConfig(r=2, target_modules=["0", "2"], init_lora_weights="pissa"))
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            param.data += 0.1  # some training
    peft_model.save_adapter(tmp_path)
    loaded = PeftModel.from_pretrained(make_mlp(sizes=sizes), tmp_path)
    assert np.array_equal(loaded(batch).data, peft_model(batch).data)


def test_loading_a_pissa_adapter_beside_another_warns_that_the_shared_weight_changes(make_mlp, batch, tmp_path):
    sizes = (6, 10, 8, 3)
    get_peft_model(make_mlp(sizes=sizes), LoraConfig(r=2, target_modules=["0"], init_lora_weights="pissa")).save_adapter(
        tmp_path)
    peft_model = trained(make_mlp(sizes=sizes), LoraConfig(r=2, target_modules=["0", "2"]))
    before = peft_model(batch).data.copy()
    with pytest.warns(UserWarning, match=r"replaces the shared base weight of \['0'\].*\['default'\]") as caught:
        peft_model.load_adapter(tmp_path, adapter_name="pissa")
    assert caught[0].filename == __file__  # the warning points at the caller's line
    assert not np.allclose(peft_model(batch).data, before)  # what it warns about: "default" changed


def test_loading_does_not_move_the_default_random_stream(make_mlp, tmp_path):
    import lorabook

    trained(make_mlp(), LoraConfig(r=2, target_modules=["0"])).save_adapter(tmp_path)
    lorabook.manual_seed(3)
    first = lorabook.random.default_generator().random()
    lorabook.manual_seed(3)
    PeftModel.from_pretrained(make_mlp(), tmp_path)
    assert lorabook.random.default_generator().random() == first


def test_another_model_shape_is_refused_and_model_left_alone(make_mlp, batch, tmp_path):
    trained(make_mlp(), LoraConfig(r=2, target_modules=["0", "2"])).save_adapter(tmp_path)
    other = make_mlp(sizes=(6, 7, 4, 3))
    before = copy.deepcopy(other)
    with pytest.raises(ValueError, match=r"base_model.model.0.lora_B.weight: shape \(5, 2\) in the adapter, \(7, 2\) in the model \(saved for out_features=5, this layer has 7\)"):
        PeftModel.from_pretrained(other, tmp_path)
    assert all(type(m) is not LoraLinear for m in other.modules())
    assert [p.requires_grad for p in other.parameters()] == [p.requires_grad for p in before.parameters()]
    assert np.array_equal(other(batch).data, before(batch).data)


def test_another_rank_is_refused(make_mlp, tmp_path):
    source = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"]))
    target = get_peft_model(make_mlp(), LoraConfig(r=3, target_modules=["0"]))
    from lorabook.lora import set_peft_model_state_dict

    with pytest.raises(ValueError, match=r"lora_A.weight: shape \(2, 6\) in the adapter, \(3, 6\) in the model \(rank 2 in the adapter vs 3 in the model\)"):
        set_peft_model_state_dict(target, get_peft_model_state_dict(source))
    # a file whose config says another rank than its arrays
    source.save_adapter(tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    config["r"] = 4
    (tmp_path / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="rank 2 in the adapter vs 4 in the model"):
        target.load_adapter(tmp_path, adapter_name="other")
    assert list(target.peft_config) == ["default"]


def test_missing_and_unexpected_layers_are_named(make_mlp, tmp_path):
    source = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"]))
    state = get_peft_model_state_dict(source)
    target = get_peft_model(make_mlp(), LoraConfig(r=2, target_modules=["0", "2"]))
    from lorabook.lora import set_peft_model_state_dict

    with pytest.raises(ValueError, match=r"missing .*\['base_model.model.2.lora_A.weight', 'base_model.model.2.lora_B.weight'\]"):
        set_peft_model_state_dict(target, state)
    state["base_model.model.9.lora_A.weight"] = np.zeros((2, 6))
    with pytest.raises(ValueError, match=r"unexpected .*\['base_model.model.9.lora_A.weight'\]"):
        set_peft_model_state_dict(source, state)


def test_load_adapter_name_in_use(make_mlp, tmp_path):
    peft_model = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"]))
    peft_model.save_adapter(tmp_path)
    with pytest.raises(ValueError, match="adapter_name 'default' is already in use"):
        peft_model.load_adapter(tmp_path, adapter_name="default")


def test_truncated_and_damaged_files_are_refused_and_the_model_left_alone(make_mlp, batch, tmp_path):
    peft_model = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"]))
    peft_model.save_adapter(tmp_path)
    weights, config = tmp_path / "adapter_model.safetensors", tmp_path / "adapter_config.json"
    data, text = weights.read_bytes(), config.read_text()
    cases = {
        "weights cut in half": (lambda: weights.write_bytes(data[: len(data) * 2 // 3]), "outside the file|header claims"),
        "config cut in half": (lambda: config.write_text(text[: len(text) // 2]), "not valid JSON"),
        "config not UTF-8": (lambda: config.write_bytes(b'{"r": 2, "bias": "\xff"}'), "not UTF-8"),
        "config of nested brackets": (lambda: config.write_bytes(b"[" * 100_000), "nested too deeply"),
        "r = 0": (lambda: config.write_text(json.dumps({**json.loads(text), "r": 0})),
                  "does not hold a valid LoRA config: r must be >= 1, got 0"),
        "r = 2**40": (lambda: config.write_text(json.dumps({**json.loads(text), "r": 2**40})),
                      "config's ranks .* need at least 12094627905536 numbers"),
    }
    for what, (damage, message) in cases.items():
        weights.write_bytes(data)
        config.write_text(text)
        damage()
        model = make_mlp()
        before = model(batch).data
        with pytest.raises(CheckpointError, match=message):
            PeftModel.from_pretrained(model, tmp_path)
        assert all(type(m) is not LoraLinear for m in model.modules()), what
        assert np.array_equal(model(batch).data, before), what


@pytest.mark.parametrize("key", ["lora_alpha", "r", "target_modules", "use_rslora", "bias"])
def test_a_config_without_a_key_its_outputs_depend_on_is_refused(make_mlp, tmp_path, key):
    """Without lora_alpha the adapter would load with the default 8 instead of the saved 32."""
    trained(make_mlp(), LoraConfig(r=2, lora_alpha=32, target_modules=["0"])).save_adapter(tmp_path)
    values = json.loads((tmp_path / "adapter_config.json").read_text())
    del values[key]
    (tmp_path / "adapter_config.json").write_text(json.dumps(values))
    with pytest.raises(CheckpointError, match=rf"adapter_config.json' lacks the key\(s\) \['{key}'\]"):
        PeftModel.from_pretrained(make_mlp(), tmp_path)


def test_a_complex_valued_adapter_is_refused_and_the_model_left_alone(make_mlp, batch, tmp_path):
    source = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"], modules_to_save=["4"]))
    source.save_adapter(tmp_path)
    state = get_peft_model_state_dict(source)
    state["base_model.model.0.lora_B.weight"] = state["base_model.model.0.lora_B.weight"] * (1 + 1j)
    (tmp_path / "adapter_model.safetensors").write_bytes(safetensors.numpy.save(state))
    model = make_mlp()
    flags = [p.requires_grad for p in model.parameters()]
    before = model(batch).data
    with pytest.raises(CheckpointError, match=r"'base_model.model.0.lora_B.weight' has dtype 'C64'|dtype complex"):
        PeftModel.from_pretrained(model, tmp_path)
    assert all(type(m) is not LoraLinear for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags and model.training
    assert np.array_equal(model(batch).data, before)


def test_a_failed_load_adapter_leaves_no_adapter_registered(make_mlp, batch, tmp_path):
    trained(make_mlp(), LoraConfig(r=2, target_modules=["0", "2"])).save_adapter(tmp_path)
    weights = tmp_path / "adapter_model.safetensors"
    state = safetensors.numpy.load_file(weights)
    state["base_model.model.2.lora_A.weight"] = np.zeros((2, 99), dtype=np.float32)  # the second layer does not fit
    weights.write_bytes(safetensors.numpy.save(state))
    target = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"]), seed=3)
    names = [name for name, _ in target.named_parameters()]
    before = {name: p.data.copy() for name, p in target.named_parameters()}
    with pytest.raises(ValueError, match=r"2.lora_A.weight: shape \(2, 99\) in the adapter, \(2, 5\) in the model"):
        target.load_adapter(tmp_path, "other")
    assert list(target.peft_config) == ["default"]
    assert [name for name, _ in target.named_parameters()] == names
    assert all(np.array_equal(p.data, before[name]) for name, p in target.named_parameters())
    assert isinstance(target.get_base_model()[2], type(make_mlp()[2]))  # layer "2" is still a plain Linear


def test_missing_folder_or_file(make_mlp, tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder holding an adapter"):
        PeftModel.from_pretrained(make_mlp(), tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="has no adapter_config.json"):
        PeftModel.from_pretrained(make_mlp(), tmp_path)


def test_save_pretrained_saves_every_adapter_in_peft_layout(make_mlp, batch, tmp_path):
    model = trained(make_mlp(), LoraConfig(r=2, lora_alpha=4, target_modules=["0", "2"]))
    model.add_adapter("rotated", LoraConfig(r=3, lora_alpha=8, target_modules=["4"]))
    model.set_adapter("rotated")
    for name, param in model.named_parameters():
        if param.requires_grad:
            param.data[...] = np.random.default_rng(1).standard_normal(param.shape)
    outputs = {}
    for name in ("default", "rotated"):
        model.set_adapter(name)
        outputs[name] = model(batch).data
    model.save_pretrained(tmp_path / "both")
    assert sorted(os.listdir(tmp_path / "both")) == ["adapter_config.json", "adapter_model.safetensors", "rotated"]
    assert sorted(os.listdir(tmp_path / "both" / "rotated")) == ["adapter_config.json", "adapter_model.safetensors"]
    loaded = PeftModel.from_pretrained(make_mlp(), tmp_path / "both")
    loaded.load_adapter(tmp_path / "both" / "rotated", "rotated")
    for name, expected in outputs.items():
        loaded.set_adapter(name)
        assert np.array_equal(loaded(batch).data, expected), name
    # selected_adapters: only those; a lone adapter that is not "default" still goes in its subfolder, as in PEFT
    model.save_pretrained(tmp_path / "one", selected_adapters=["rotated"])
    assert os.listdir(tmp_path / "one") == ["rotated"]
    with pytest.raises(ValueError, match="selected_adapters 'nope' is not an adapter of this model"):
        model.save_pretrained(tmp_path / "none", selected_adapters=["nope"])
    assert not (tmp_path / "none").exists()


def test_save_adapter_puts_one_adapter_at_the_top_under_any_name(make_mlp, batch, tmp_path):
    model = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"]))
    model.add_adapter("other", LoraConfig(r=2, target_modules=["2"]))
    model.save_adapter(tmp_path / "other", adapter_name="other")
    assert sorted(os.listdir(tmp_path / "other")) == ["adapter_config.json", "adapter_model.safetensors"]
    model.set_adapter("other")
    loaded = PeftModel.from_pretrained(make_mlp(), tmp_path / "other", adapter_name="other")
    assert np.array_equal(loaded(batch).data, model(batch).data)


def test_config_numbers_are_written_as_peft_writes_them(make_mlp, tmp_path):
    config = LoraConfig(r=2, lora_alpha=8, target_modules="all-linear", alpha_pattern={"2": 4.0, "4": 0.5})
    trained(make_mlp(), config).save_adapter(tmp_path)
    text = (tmp_path / "adapter_config.json").read_text()
    values = json.loads(text)
    assert '"lora_alpha": 8,' in text and values["alpha_pattern"] == {"2": 4, "4": 0.5}
    assert values["target_modules"] == ["0", "2", "4"]  # "all-linear" expanded, as PEFT writes it
    assert values["inference_mode"] is True and values["peft_type"] == "LORA"


@pytest.mark.parametrize("name, adapter, key", [
    ("0.lora_A.default.weight", "default", "0.lora_A.weight"),
    ("enc.fc.lora_B.run1.weight", "run1", "enc.fc.lora_B.weight"),
    ("0.lora_E.default", "default", "0.lora_E"),                                    # AdaLoRA (a ParameterDict entry)
    ("0.lora_magnitude_vector.default.weight", "default", "0.lora_magnitude_vector"),  # DoRA, PEFT's key
    ("4.modules_to_save.default.bias", "default", "4.bias"),
    ("0.lora_A.0.weight", "0", "0.lora_A.weight"),                                  # an adapter named like a layer
    ("0.base_layer.weight", "default", None),
    ("0.lora_A.other.weight", "default", None),
    ("4.original_module.weight", "default", None),
])
def test_peft_keys_are_found_by_name_for_any_adapter_parameter(name, adapter, key):
    from lorabook.lora.saving import peft_key

    assert peft_key(name, adapter) == key


def test_a_new_kind_of_adapter_tensor_is_saved_without_a_special_case(make_mlp):
    from lorabook import nn
    from lorabook.lora.saving import adapter_parameters

    model = get_peft_model(make_mlp(), LoraConfig(r=2, target_modules=["0"]))
    layer = model.get_base_model()[0]
    layer.lora_magnitude_vector = nn.ModuleDict()  # as DoRA adds one per adapter
    layer.lora_magnitude_vector["default"] = nn.Linear(1, 5, bias=False)
    assert list(adapter_parameters(model)) == ["base_model.model.0.lora_A.weight", "base_model.model.0.lora_B.weight",
                                               "base_model.model.0.lora_magnitude_vector"]


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-3, 2**41) | st.floats(allow_nan=False) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                           max_leaves=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["r", "lora_alpha", "target_modules", "modules_to_save", "bias", "init_lora_weights",
                        "use_rslora", "rank_pattern", "alpha_pattern", "lora_dropout", "peft_type", "use_dora"]),
       JSON_VALUES)
def test_any_config_value_loads_or_is_refused_leaving_the_model_alone(make_mlp, batch, tmp_path, key, value):
    folder = tmp_path / "fuzz"
    if not folder.exists():
        trained(make_mlp(), LoraConfig(r=2, target_modules=["0", "2"])).save_adapter(folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config[key] = value
    (folder / "changed.json").write_text(json.dumps(config))
    os.replace(folder / "changed.json", folder / "adapter_config.json")
    model = make_mlp()
    before = model(batch).data
    try:
        PeftModel.from_pretrained(model, folder)
    except (ValueError, TypeError):  # CheckpointError is a ValueError
        assert all(type(m) is not LoraLinear for m in model.modules())
        assert np.array_equal(model(batch).data, before) and model.training


def test_bad_adapter_names_for_saving_are_named(make_mlp, tmp_path):
    model = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"]))
    with pytest.raises(TypeError, match=r"adapter_name must be a str, the name of one adapter; got 3 \(adapters"):
        model.save_adapter(tmp_path / "a", adapter_name=3)
    with pytest.raises(ValueError, match=r"adapter_name 'nope' is not an adapter of this model; adapters: \['default'\]"):
        model.save_adapter(tmp_path / "a", adapter_name="nope")
    with pytest.raises(TypeError, match="selected_adapters must be a list of adapter names, got the string 'default'"):
        model.save_pretrained(tmp_path / "a", selected_adapters="default")
    assert os.listdir(tmp_path) == []


def test_an_adapter_name_with_a_slash_is_refused_by_save_pretrained_naming_it(make_mlp, tmp_path):
    model = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"]))
    model.add_adapter("run/2", LoraConfig(r=2, target_modules=["2"]))
    with pytest.raises(ValueError, match="selected_adapters: adapter 'run/2' holds a path separator"):
        model.save_pretrained(tmp_path / "a")
    assert os.listdir(tmp_path) == []


def test_setting_an_adapter_s_state_between_forward_and_backward_is_caught(make_mlp, batch):
    from lorabook.lora import set_peft_model_state_dict

    model = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"]))
    state = {key: value + 1.0 for key, value in get_peft_model_state_dict(model).items()}
    loss = model(batch).sum()
    set_peft_model_state_dict(model, state)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()
