"""read_lora_factors: any PEFT adapter folder -> per-layer (A, B, scaling), no model needed; the
analysis then runs on adapters PEFT trained (tests/fixtures/peft, written by real PEFT)."""
import json
import math
import os
import shutil

import numpy as np
import pytest

from lorabook import nn
from lorabook.analysis import (
    effective_rank, energy_rank, random_subspace_baseline, read_lora_factors, singular_values, stable_rank,
    subspace_similarity, suggest_rank,
)
from lorabook.io import CheckpointError
from lorabook.lora import PeftModel

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "peft")


def test_factors_give_the_update_lorabook_computes_after_loading():
    folder = os.path.join(FIXTURES, "plain")
    factors = read_lora_factors(folder)
    assert list(factors) == ["0", "2"]
    assert factors["0"].A.shape == (4, 20) and factors["0"].B.shape == (64, 4) and factors["0"].r == 4
    assert factors["0"].scaling == 2.0 and factors["0"].A.dtype == np.float64
    base = nn.MLP([20, 64, 64, 3])
    nn.load(base, os.path.join(FIXTURES, "base_model.safetensors"))
    model = PeftModel.from_pretrained(base, folder)
    for name, layer in factors.items():
        lora_layer = model.get_base_model().get_submodule(name)
        np.testing.assert_allclose(layer.delta_weight(), lora_layer.get_delta_weight(), rtol=1e-6, atol=1e-7)


def test_rslora_and_patterns_give_each_layer_its_own_scaling():
    factors = read_lora_factors(os.path.join(FIXTURES, "rslora"))
    assert {name: f.r for name, f in factors.items()} == {"0": 8, "2": 4, "4": 2}
    assert math.isclose(factors["0"].scaling, 16 / math.sqrt(8))
    assert math.isclose(factors["2"].scaling, 16 / math.sqrt(4))
    assert math.isclose(factors["4"].scaling, 4 / math.sqrt(2))  # alpha_pattern {"4": 4}


def test_r8_and_r64_trained_by_peft_on_one_task_find_the_same_top_directions():
    """The LoRA paper's Figure 3 question on adapters PEFT trained: the teacher's layer "2" differs by a
    planted rank-2 change with singular values 1.5 and 1.0."""
    r8 = read_lora_factors(os.path.join(FIXTURES, "task_r8"))["2"]
    r64 = read_lora_factors(os.path.join(FIXTURES, "task_r64"))["2"]
    assert (r8.r, r64.r) == (8, 64)
    for layer in (r8, r64):
        delta = layer.delta_weight()
        s = singular_values(delta)
        np.testing.assert_allclose(s[:2], [1.5, 1.0], atol=0.1)  # the planted change, found
        assert s[2] < 0.15 * s[0]  # the rest is small
        assert energy_rank(delta, 0.9) == 2
        assert 1.3 < stable_rank(delta) < 1.7  # (1.5^2 + 1^2) / 1.5^2 = 1.44 for the planted change alone
        assert effective_rank(delta) > 2  # the small rest spreads the spectrum's entropy
        assert suggest_rank(delta) >= 2
    # phi: the top directions A reads agree far above chance (max(i, j) / 64 for random subspaces)
    for k in (1, 2):
        phi = subspace_similarity(r8.A, r64.A, k, k)
        assert phi > 0.85 > 10 * random_subspace_baseline(k, k, 64), (k, phi)
    assert subspace_similarity(r8.A, r64.A, 4, 4) < 0.7  # beyond the planted two, the runs part ways


def test_a_rank_that_disagrees_with_the_config_is_refused(tmp_path):
    folder = tmp_path / "plain"
    shutil.copytree(os.path.join(FIXTURES, "plain"), folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["rank_pattern"] = {"2": 3}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="layer '2' has rank 4, its config says 3"):
        read_lora_factors(folder)


def test_a_folder_without_an_adapter_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder holding an adapter"):
        read_lora_factors(tmp_path / "nowhere")
