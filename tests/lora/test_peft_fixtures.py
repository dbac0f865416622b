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
