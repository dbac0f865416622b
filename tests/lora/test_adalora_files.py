"""AdaLoRA's adapter folder on lorabook's file terms: hostile or incomplete files are refused with a
CheckpointError naming the file (the model untouched), and a save killed half-way leaves the old
adapter whole."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lorabook.io import CheckpointError
from lorabook.lora import AdaLoraConfig, AdaLoraPeftModel, get_peft_model
from lorabook.lora.adalora.peft import REQUIRED, config_from_json
from lorabook.nn import MLP, Linear

CONFIG = dict(init_r=4, target_r=2, tinit=2, tfinal=3, deltaT=2, total_step=12, target_modules=["0", "2"],
              lora_alpha=16)  # not the default 8: a load that fell back on a default would change the outputs
X = np.random.default_rng(5).standard_normal((3, 5))
PATTERN = {"0.lora_E.default": [True, False, True, False], "2.lora_E.default": [False, True, True, True]}


def model64():
    return MLP([5, 7, 3], generator=0, dtype=np.float64)


def trained(seed=0):
    """An adapter with random values, cut to PATTERN, as training would leave it."""
    peft_model = get_peft_model(model64(), AdaLoraConfig(**CONFIG), generator=0)
    rng = np.random.default_rng(seed)
    for name, param in peft_model.named_parameters():
        if "lora_" in name:
            param.data = rng.standard_normal(param.shape)
    peft_model.peft_config["default"].rank_pattern = {key: list(kept) for key, kept in PATTERN.items()}
    peft_model.base_model.rankallocator.mask_using_rank_pattern(peft_model.get_base_model(), PATTERN)
    return peft_model


@pytest.fixture
def folder(tmp_path):
    trained().save_pretrained(tmp_path / "ada")
    return tmp_path / "ada"


def refused_and_untouched(folder, match):
    """Loading `folder` raises CheckpointError matching `match`, and the model is as it was."""
    model = model64()
    before = {name: param.data.copy() for name, param in model.named_parameters()}
    with pytest.raises(CheckpointError, match=match):
        AdaLoraPeftModel.from_pretrained(model, folder)
    assert all(type(module) is Linear for module in (model[0], model[2]))
    for name, param in model.named_parameters():
        np.testing.assert_array_equal(param.data, before[name])


def test_save_and_load_give_the_same_outputs(folder):
    loaded = AdaLoraPeftModel.from_pretrained(model64(), folder)
    np.testing.assert_allclose(loaded(X).data, trained()(X).data, rtol=1e-12)


def config_text(folder):
    return (folder / "adapter_config.json").read_text()


@pytest.mark.parametrize("damage, match", [
    (lambda text: b"\xff\xfe" + text.encode(), "not UTF-8"),
    (lambda text: ("[" * 100_000 + "]" * 100_000).encode(), "nested too deeply"),
    (lambda text: text.replace("{", '{\n  "lora_alpha": 64,', 1).encode(), "gives the key 'lora_alpha' twice"),
    (lambda text: (text + " " * 2**21).encode(), "larger than"),
    (lambda text: text[: len(text) // 2].encode(), "not valid JSON"),
], ids=["not utf-8", "deeply nested", "key twice", "too large", "cut short"])
def test_a_hostile_config_is_refused_naming_the_file(folder, damage, match):
    (folder / "adapter_config.json").write_bytes(damage(config_text(folder)))
    refused_and_untouched(folder, rf"adapter_config\.json.*{match}")


def test_a_damaged_tensor_file_is_refused_naming_the_file(folder):
    weights = folder / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])  # the last array cut short
    refused_and_untouched(folder, r"adapter_model\.safetensors")


@pytest.mark.parametrize("key", ["lora_alpha", "init_r", "rank_pattern", "target_modules", "total_step"])
def test_a_config_without_a_key_the_adapter_depends_on_is_refused(folder, key):
    values = json.loads(config_text(folder))
    del values[key]
    (folder / "adapter_config.json").write_text(json.dumps(values))
    refused_and_untouched(folder, rf"adapter_config\.json.*lacks the key\(s\) \['{key}'\]")


def test_a_rank_pattern_of_another_length_than_init_r_is_refused(folder):
    values = json.loads(config_text(folder))
    values["rank_pattern"]["0.lora_E"] = [True, True]  # init_r is 4
    (folder / "adapter_config.json").write_text(json.dumps(values))
    refused_and_untouched(folder, r"adapter_config\.json.*rank_pattern\['0\.lora_E'\] has 2 entries, init_r is 4")


def test_config_from_json_refuses_a_field_that_would_change_the_math():
    values = AdaLoraConfig(**CONFIG).to_dict()
    assert set(REQUIRED) <= set(values)
    assert config_from_json(values, "x.json") == AdaLoraConfig(**CONFIG)
    assert config_from_json({**values, "bias": "none", "task_type": "ANY"}, "x.json") == AdaLoraConfig(**CONFIG)
    for extra in ({"use_rslora": True}, {"bias": "all"}, {"surprise": 1}):
        with pytest.raises(CheckpointError, match=rf"'x\.json'.*\['{next(iter(extra))}'\]"):
            config_from_json({**values, **extra}, "x.json")
    with pytest.raises(CheckpointError, match=r"'x\.json'.*peft_type is 'LORA'"):
        config_from_json({**values, "peft_type": "LORA"}, "x.json")
    with pytest.raises(CheckpointError, match=r"'x\.json' does not hold a valid AdaLoRA config: target_r must be"):
        config_from_json({**values, "target_r": 9}, "x.json")


# A child process saves a second adapter over the first, as on a system without an atomic folder
# exchange (two renames), and dies between the renames: the old folder has been moved aside, the
# new one not yet moved in. The next load must find the first adapter whole.
CHILD = """
import os, sys
import numpy as np
from lorabook import io
sys.path.insert(0, {tests!r})
from test_adalora_files import trained

folder = os.path.realpath({folder!r})
new = trained(seed=1)
io._exchange = lambda first, second: False       # as where renameat2 is missing
moved_aside = []
for name in ("rename", "replace"):
    original = getattr(os, name)
    def step(source, target, *args, original=original, **kwargs):
        if moved_aside:                          # the second step: die before it
            os._exit(7)
        original(source, target, *args, **kwargs)
        if os.path.realpath(source) == folder:   # the old folder is now aside
            moved_aside.append(target)
    setattr(os, name, step)
new.save_pretrained(folder)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="the repair after a killed save is POSIX's")
def test_a_save_killed_between_its_two_renames_leaves_the_old_adapter_whole(folder):
    code = CHILD.format(tests=os.path.dirname(os.path.abspath(__file__)), folder=str(folder))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    child = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert child.returncode == 7, child.stderr  # it did die between the two steps
    assert not folder.exists()
    loaded = AdaLoraPeftModel.from_pretrained(model64(), folder)  # puts the old folder back first
    np.testing.assert_allclose(loaded(X).data, trained(seed=0)(X).data, rtol=1e-12)
    trained(seed=1).save_pretrained(folder)  # and the next save cleans up what the killed one left
    assert [name for name in os.listdir(folder.parent) if name != "ada"] == []
    np.testing.assert_allclose(AdaLoraPeftModel.from_pretrained(model64(), folder)(X).data,
                               trained(seed=1)(X).data, rtol=1e-12)
