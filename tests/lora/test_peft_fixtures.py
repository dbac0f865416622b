"""Adapter folders written by real PEFT 0.21.2 (tests/fixtures/peft, made by make_fixtures.py there)
load in lorabook and give PEFT's outputs."""
import json
import os
import re
import shutil

import numpy as np
import pytest
import safetensors.numpy

from lorabook import nn
from lorabook.io import CheckpointError
from lorabook.lora import PeftModel

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "peft")
CASES = ["plain", "rslora", "modules_to_save", "bias_all", "two_adapters", "pissa", "task_r8", "task_r64"]


def base_model():
    """The MLP 20-64-64-3 PEFT's adapters were trained on, loaded from the file torch wrote."""
    model = nn.MLP([20, 64, 64, 3])
    nn.load(model, os.path.join(FIXTURES, "base_model.safetensors"))
    return model


def fixture_arrays(*parts):
    return safetensors.numpy.load_file(os.path.join(FIXTURES, *parts))


@pytest.mark.parametrize("case", CASES)
def test_peft_adapter_loads_and_gives_peft_outputs(case):
    x = fixture_arrays("inputs.safetensors")["x"]
    expected = fixture_arrays(case, "expected.safetensors")
    folder = os.path.join(FIXTURES, case)
    model = PeftModel.from_pretrained(base_model(), folder)
    for name in expected:
        if name != "default":
            model.load_adapter(os.path.join(folder, name), adapter_name=name)
        model.set_adapter(name, inference_mode=True)
        output = model(x).data
        assert not np.allclose(output, base_model()(x).data, atol=1e-3)  # the adapter matters ...
        np.testing.assert_allclose(output, expected[name], rtol=1e-5, atol=2e-6)  # ... and computes as in PEFT


@pytest.mark.parametrize("case", CASES)
def test_resaving_a_peft_adapter_gives_peft_files_back(case, tmp_path):
    """lorabook writes the same keys, shapes and config values that PEFT wrote."""
    folder = os.path.join(FIXTURES, case)
    model = PeftModel.from_pretrained(base_model(), folder)
    for name in fixture_arrays(case, "expected.safetensors"):
        if name != "default":
            model.load_adapter(os.path.join(folder, name), adapter_name=name)
    model.save_pretrained(tmp_path)
    for root, _, files in os.walk(folder):
        relative = os.path.relpath(root, folder)
        if "adapter_config.json" not in files:
            continue
        peft_config = json.loads(open(os.path.join(root, "adapter_config.json")).read())
        ours = json.loads((tmp_path / relative / "adapter_config.json").read_text())
        assert set(ours) == set(peft_config) - {"auto_mapping", "peft_version"}
        for key in ours:
            theirs = peft_config[key]
            if key == "target_modules":  # PEFT writes "all-linear" as a set's list, in no fixed order
                assert sorted(ours[key]) == sorted(theirs)
            else:
                assert ours[key] == theirs and type(ours[key]) is type(theirs), key  # 8, not 8.0
        peft_arrays = fixture_arrays(case, relative, "adapter_model.safetensors")
        our_arrays = safetensors.numpy.load_file(tmp_path / relative / "adapter_model.safetensors")
        assert sorted(our_arrays) == sorted(peft_arrays)
        if case != "pissa":  # PiSSA: the same A and B (the residual lives in the base weights)
            for key in peft_arrays:
                np.testing.assert_array_equal(our_arrays[key], peft_arrays[key])


def copy_case(case, tmp_path):
    target = tmp_path / case
    shutil.copytree(os.path.join(FIXTURES, case), target)
    return target


def edit_config(folder, **changes):
    path = folder / "adapter_config.json"
    values = json.loads(path.read_text())
    for key, value in changes.items():
        if value is KeyError:
            del values[key]
        else:
            values[key] = value
    path.write_text(json.dumps(values))


@pytest.mark.parametrize("key, value", [("fan_in_fan_out", True), ("lora_bias", True), ("layers_to_transform", [0]),
                                        ("exclude_modules", ["2"]), ("use_qalora", True)])
def test_a_peft_setting_that_changes_the_math_is_refused_by_name(tmp_path, key, value):
    folder = copy_case("plain", tmp_path)
    edit_config(folder, **{key: value})
    model = base_model()
    with pytest.raises(CheckpointError, match=rf"adapter_config.json.*{re.escape(f'{key}={value!r}')} changes how PEFT computes"):
        PeftModel.from_pretrained(model, folder)
    assert not any("lora" in name for name, _ in model.named_parameters())


def test_an_unknown_key_is_refused_not_ignored(tmp_path):
    folder = copy_case("plain", tmp_path)
    edit_config(folder, use_hyperlora=True)
    with pytest.raises(CheckpointError, match="key 'use_hyperlora' is not a LoRA setting lorabook knows"):
        PeftModel.from_pretrained(base_model(), folder)


def test_origin_fields_are_accepted_at_any_value(tmp_path):
    folder = copy_case("plain", tmp_path)
    edit_config(folder, task_type="CAUSAL_LM", base_model_name_or_path="some/model", peft_version="0.99.0")
    PeftModel.from_pretrained(base_model(), folder)  # no error


# Keys written by two older PEFT releases (read off PEFT's history): a file keeps the keys of its time.
PEFT_0_2_KEYS = ["base_model_name_or_path", "bias", "enable_lora", "fan_in_fan_out", "inference_mode", "lora_alpha",
                 "lora_dropout", "merge_weights", "modules_to_save", "peft_type", "r", "target_modules", "task_type"]
PEFT_0_8_KEYS = ["alpha_pattern", "auto_mapping", "base_model_name_or_path", "bias", "fan_in_fan_out", "inference_mode",
                 "init_lora_weights", "layers_pattern", "layers_to_transform", "loftq_config", "lora_alpha",
                 "lora_dropout", "megatron_config", "megatron_core", "modules_to_save", "peft_type", "r", "rank_pattern",
                 "revision", "target_modules", "task_type", "use_rslora"]


def older_config(folder, keys, **changes):
    """Rewrite the plain fixture's config as an older PEFT wrote it: only `keys`, PEFT 0.2's own two added."""
    path = folder / "adapter_config.json"
    values = {**json.loads(path.read_text()), "enable_lora": None, "merge_weights": True, **changes}
    path.write_text(json.dumps({key: values[key] for key in keys}))


@pytest.mark.parametrize("keys", [PEFT_0_2_KEYS, PEFT_0_8_KEYS], ids=["PEFT 0.2", "PEFT 0.8"])
def test_a_config_written_by_an_older_peft_loads_with_the_values_of_its_time(tmp_path, keys):
    """use_dora (0.9), use_rslora (0.8), rank_pattern (0.6), init_lora_weights (0.3) did not exist yet:
    such a file computes as they do when left at their neutral values, as PEFT 0.21 loads it too."""
    folder = copy_case("plain", tmp_path)
    older_config(folder, keys)
    x = fixture_arrays("inputs.safetensors")["x"]
    expected = PeftModel.from_pretrained(base_model(), os.path.join(FIXTURES, "plain"))(x).data
    np.testing.assert_array_equal(PeftModel.from_pretrained(base_model(), folder)(x).data, expected)


def test_a_key_missing_from_a_file_that_holds_younger_keys_is_refused(tmp_path):
    """A PEFT 0.8 file lacking rank_pattern (written since 0.6) was edited, not written by an older PEFT."""
    folder = copy_case("plain", tmp_path)
    older_config(folder, [key for key in PEFT_0_8_KEYS if key != "rank_pattern"])
    with pytest.raises(CheckpointError, match=r"lacks the key\(s\) \['rank_pattern'\]"):
        PeftModel.from_pretrained(base_model(), folder)


def test_peft_0_2_s_merged_qkv_layer_is_refused_by_name(tmp_path):
    folder = copy_case("plain", tmp_path)
    older_config(folder, PEFT_0_2_KEYS, enable_lora=[True, False, True])
    with pytest.raises(CheckpointError, match=re.escape("enable_lora=[True, False, True] changes how PEFT computes")):
        PeftModel.from_pretrained(base_model(), folder)


def test_empty_lists_of_excluded_modules_and_target_parameters_change_nothing(tmp_path):
    folder = copy_case("plain", tmp_path)
    edit_config(folder, exclude_modules=[], target_parameters=[])
    PeftModel.from_pretrained(base_model(), folder)  # no error


def test_a_pickled_adapter_file_gets_a_hint_and_is_never_opened(tmp_path):
    folder = copy_case("plain", tmp_path)
    os.rename(folder / "adapter_model.safetensors", folder / "adapter_model.bin")
    with pytest.raises(FileNotFoundError, match="adapter_model.bin: a pickle, which lorabook never loads"):
        PeftModel.from_pretrained(base_model(), folder)
