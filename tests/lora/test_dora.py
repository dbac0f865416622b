"""DoRA: starting magnitude, forward, gradients and merging equal PEFT 0.21's, in float64, to 1e-9.

The numbers PEFT computed are in tests/fixtures/dora/dora_reference.npz, written
by make_dora_fixture.py beside it (torch and peft are not needed here). The
last test repeats the comparison live when torch and peft are importable.
"""
import copy
import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorabook import gradcheck, nn, no_grad
from lorabook.autograd import Tensor
from lorabook.lora import LoraConfig, LoraLinear, get_peft_model
from lorabook.lora import dora

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "dora", "dora_reference.npz")
LAYERS = (0, 2, 4)
TOL = dict(rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def base_from(ref):
    model = nn.MLP([12, 10, 10, 3], generator=0, dtype=np.float64)
    for i in LAYERS:
        model[i].weight.data[...] = ref[f"W{i}"]
        model[i].bias.data[...] = ref[f"b{i}"]
    return model


CONFIG = LoraConfig(r=4, lora_alpha=8, target_modules=["0", "2", "4"], use_dora=True, init_lora_weights=False,
                    rank_pattern={"2": 2, "4": 3}, use_rslora=True)


def peft_like(ref, magnitude="m"):
    """lorabook's PeftModel with PEFT's A and B (and the magnitude `magnitude`{i} of the fixture)."""
    model = base_from(ref)
    peft_model = get_peft_model(model, CONFIG, generator=0)
    for i in LAYERS:
        model[i].lora_A["default"].weight.data[...] = ref[f"A{i}"]
        model[i].lora_B["default"].weight.data[...] = ref[f"B{i}"]
        model[i].lora_magnitude_vector["default"].weight.data[...] = ref[f"{magnitude}{i}"]
    return model, peft_model


def test_the_magnitude_starts_at_the_row_norms_of_the_adapted_weight(ref):
    model, _ = peft_like(ref, magnitude="m_start")
    for i in LAYERS:
        start = model[i].dora_start("default")  # recomputed here from W, A, B
        np.testing.assert_allclose(start, ref[f"m_start{i}"], **TOL)
        s = model[i].scaling["default"]
        by_hand = np.linalg.norm(ref[f"W{i}"] + s * ref[f"B{i}"] @ ref[f"A{i}"], axis=1)
        np.testing.assert_allclose(start, by_hand, rtol=1e-12)
        assert not np.allclose(start, np.linalg.norm(ref[f"W{i}"], axis=1))  # B != 0 here: not just ‖W‖_row


def test_a_fresh_dora_adapter_changes_nothing(ref):
    model = base_from(ref)
    x = ref["x"]
    before = model(x).data
    get_peft_model(model, LoraConfig(r=3, target_modules="all-linear", use_dora=True), generator=0)
    np.testing.assert_allclose(model(x).data, before, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(model[0].lora_magnitude_vector["default"].weight.data,
                               np.linalg.norm(ref["W0"], axis=1), rtol=1e-14)


def test_names_and_state_keys_are_peft_s(ref):
    _, peft_model = peft_like(ref)
    assert list(peft_model.state_dict()) == [str(key) for key in ref["state_keys"]]
    trainable = [name for name, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable == [f"base_model.model.{i}.{part}.default.weight" for i in LAYERS
                         for part in ("lora_A", "lora_B", "lora_magnitude_vector")]


def test_forward_and_gradients_equal_peft_s(ref):
    model, peft_model = peft_like(ref)
    x = Tensor(ref["x"], requires_grad=True)
    y = peft_model(x)
    np.testing.assert_allclose(y.data, ref["y"], **TOL)
    (y * Tensor(ref["G"])).sum().backward()
    np.testing.assert_allclose(x.grad, ref["grad_x"], **TOL)
    for i in LAYERS:
        np.testing.assert_allclose(model[i].lora_A["default"].weight.grad, ref[f"grad_A{i}"], **TOL, err_msg=f"A{i}")
        np.testing.assert_allclose(model[i].lora_B["default"].weight.grad, ref[f"grad_B{i}"], **TOL, err_msg=f"B{i}")
        np.testing.assert_allclose(model[i].lora_magnitude_vector["default"].weight.grad, ref[f"grad_m{i}"], **TOL,
                                   err_msg=f"m{i}")
        assert model[i].base_layer.weight.grad is None


def test_merge_unmerge_and_merge_and_unload_equal_peft_s(ref):
    model, peft_model = peft_like(ref)
    x = ref["x"]
    adapted = peft_model(x).data
    peft_model.merge_adapter()
    for i in LAYERS:
        np.testing.assert_allclose(model[i].base_layer.weight.data, ref[f"merged_W{i}"], **TOL)
    with no_grad():
        np.testing.assert_allclose(peft_model(x).data, adapted, rtol=1e-12, atol=1e-13)
    peft_model.unmerge_adapter()
    for i in LAYERS:
        np.testing.assert_allclose(model[i].base_layer.weight.data, ref[f"unmerged_W{i}"], **TOL)
        np.testing.assert_allclose(model[i].base_layer.weight.data, ref[f"W{i}"], rtol=1e-13, atol=1e-14)
    plain = peft_model.merge_and_unload()
    assert all(type(m) is not LoraLinear for m in plain.modules())
    np.testing.assert_allclose(plain(x).data, ref["y_merged"], **TOL)


def test_the_norm_is_detached_from_the_graph():
    """m's gradient is g·(x W'^T) / n computed with n fixed: compare with finite differences of a frozen-norm copy."""
    rng = np.random.default_rng(0)
    W, A, B = rng.standard_normal((4, 5)), rng.standard_normal((2, 5)), rng.standard_normal((4, 2))
    m, x = rng.uniform(0.5, 2.0, 4), rng.standard_normal((3, 5))
    norm = np.linalg.norm(W + 1.5 * B @ A, axis=1)

    def frozen_norm(x, A, B, m):  # the same formula with n a constant, as PEFT's .detach() makes it
        ratio = m / Tensor(norm)
        lora = (x @ A.T) @ B.T * 1.5
        return (ratio - 1.0) * (x @ Tensor(W).T) + ratio * lora

    def dora_only(x, A, B, m):
        return dora.dora_term(x, Tensor(W), A, B, m, 1.5)

    result = gradcheck(frozen_norm, [x, A, B, m])
    assert result, str(result)
    weights = Tensor(np.arange(12.0).reshape(3, 4))
    ours = [Tensor(a, requires_grad=True) for a in (x, A, B, m)]
    (dora_only(*ours) * weights).sum().backward()
    frozen = [Tensor(a, requires_grad=True) for a in (x, A, B, m)]
    (frozen_norm(*frozen) * weights).sum().backward()
    for mine, expected in zip(ours, frozen):
        np.testing.assert_allclose(mine.grad, expected.grad, rtol=1e-12)


def test_gradcheck_of_the_magnitude_through_the_layer():
    """With the norm constant in A and B, the layer's m is an ordinary input: check it against finite differences."""
    base = nn.Linear(5, 4, generator=0, dtype=np.float64)
    layer = LoraLinear(base, r=2, init_lora_weights=False, use_dora=True, generator=1)

    def run(x, m):
        layer.lora_magnitude_vector["default"].__dict__["weight"] = m
        return layer(x)

    rng = np.random.default_rng(1)
    result = gradcheck(run, [rng.standard_normal((3, 5)), rng.uniform(0.5, 2.0, 4)])
    assert result, str(result)


def test_dropout_is_applied_to_the_dora_branch_only():
    """In training with dropout PEFT adds (m/n - 1) (x_d W^T) + (m/n) s B A x_d, x_d = dropout(x)."""
    base = nn.Linear(6, 4, generator=0, dtype=np.float64)
    layer = LoraLinear(copy.deepcopy(base), r=2, lora_dropout=0.5, init_lora_weights=False, use_dora=True,
                       generator=1)
    magnitude = layer.lora_magnitude_vector["default"].weight
    magnitude.data *= 1.3
    x = np.random.default_rng(2).uniform(1, 2, (7, 6))
    layer.lora_dropout["default"].generator = np.random.default_rng(5)
    y = layer(x).data
    keep = np.random.default_rng(5).random(x.shape) >= 0.5
    x_d = x * keep / 0.5
    W, s = base.weight.data, layer.scaling["default"]
    A, B = layer.lora_A["default"].weight.data, layer.lora_B["default"].weight.data
    ratio = magnitude.data / np.linalg.norm(W + s * B @ A, axis=1)
    expected = base(x).data + (ratio - 1) * (x_d @ W.T) + ratio * s * (x_d @ A.T @ B.T)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    layer.eval()  # no dropout: the layer is x W'^T + b
    W_prime = ratio[:, None] * (W + s * B @ A)
    np.testing.assert_allclose(layer(x).data, x @ W_prime.T + base.bias.data, rtol=1e-12)


def test_safe_merge_of_a_diverged_dora_adapter_leaves_the_weight():
    layer = LoraLinear(nn.Linear(5, 4, generator=0, dtype=np.float64), r=2, init_lora_weights=False, use_dora=True,
                       generator=1)
    layer.lora_magnitude_vector["default"].weight.data[1] = np.inf
    before = layer.base_layer.weight.data.copy()
    with pytest.raises(ValueError, match="safe_merge: merging adapter 'default' would put NaN or inf"):
        layer.merge(safe_merge=True)
    assert np.array_equal(layer.base_layer.weight.data, before) and not layer.merged


def test_a_dora_adapter_merged_after_a_lora_one_unmerges_exactly():
    """The DoRA norm comes from the unmerged weight, as forward sees it, and unmerge takes both out again."""
    base = nn.Linear(6, 5, generator=0, dtype=np.float64)
    layer = LoraLinear(base, r=2, init_lora_weights=False, generator=1)
    layer.update_layer("d", r=3, lora_alpha=4, init_lora_weights=False, use_dora=True, generator=2)
    layer.lora_magnitude_vector["d"].weight.data *= 0.9
    before = base.weight.data.copy()
    expected_norm = np.linalg.norm(before + layer.get_delta_weight("d"), axis=1)
    layer.merge(adapter_names=["default"])
    layer.merge(adapter_names=["d"])
    np.testing.assert_allclose(layer._merged_norms["d"], expected_norm, rtol=1e-13)
    layer.unmerge()
    np.testing.assert_allclose(base.weight.data, before, rtol=1e-13, atol=1e-14)


def test_delete_a_dora_adapter_removes_its_magnitude():
    layer = LoraLinear(nn.Linear(5, 4, generator=0), r=2, generator=1)
    layer.update_layer("d", r=2, lora_alpha=2, use_dora=True, generator=2)
    layer.delete_adapter("d")
    assert list(layer.lora_magnitude_vector) == [] and "DoRA" not in layer.extra_repr()


def test_live_against_peft_when_installed(ref):
    """Re-runs the fixture's script in memory and compares: skipped unless torch and peft can be imported."""
    torch = pytest.importorskip("torch", reason="torch is not installed: the committed fixture is compared instead")
    pytest.importorskip("peft", reason="peft is not installed: the committed fixture is compared instead")
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_dora_fixture", os.path.join(os.path.dirname(FIXTURE),
                                                                                    "make_dora_fixture.py"))
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    torch.manual_seed(0)
    model = maker.base_model(np.random.default_rng(0))
    for i in LAYERS:
        np.testing.assert_array_equal(model[i].weight.detach().numpy(), ref[f"W{i}"])
    from peft import get_peft_model as peft_get_peft_model
    from peft import LoraConfig as PeftLoraConfig

    live = peft_get_peft_model(model, PeftLoraConfig(r=4, lora_alpha=8, target_modules=["0", "2", "4"], use_dora=True,
                                                     init_lora_weights=False, rank_pattern={"2": 2, "4": 3}, use_rslora=True))
    for i in LAYERS:
        layer = live.base_model.model[i]
        np.testing.assert_allclose(layer.lora_magnitude_vector["default"].weight.detach().numpy(), ref[f"m_start{i}"],
                                   **TOL)
    ours, _ = peft_like(ref)
    with torch.no_grad():
        for i in LAYERS:
            live.base_model.model[i].lora_magnitude_vector["default"].weight.copy_(torch.from_numpy(ref[f"m{i}"]))
        theirs = live(torch.from_numpy(ref["x"])).numpy()
    np.testing.assert_allclose(ours(ref["x"]).data, theirs, **TOL)


def test_the_magnitude_trains_only_while_its_adapter_is_active(ref):
    model = base_from(ref)
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=["0"], use_dora=True), adapter_name="d",
                                generator=0)
    peft_model.add_adapter("plain", LoraConfig(r=2, target_modules=["0", "2"]), generator=1)
    magnitude = model[0].lora_magnitude_vector["d"].weight
    assert magnitude.requires_grad
    peft_model.set_adapter("plain")
    assert not magnitude.requires_grad and list(model[2].lora_magnitude_vector) == []
    peft_model.set_adapter("d", inference_mode=True)
    assert not magnitude.requires_grad
    peft_model.set_adapter("d")
    peft_model(ref["x"]).sum().backward()
    assert magnitude.grad is not None and model[0].lora_A["plain"].weight.grad is None


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 4), in_features=st.integers(1, 6), out_features=st.integers(1, 6),
       r=st.integers(1, 3), bias=st.booleans(), dropout=st.sampled_from([0.0, 0.3]))
def test_a_fresh_dora_layer_of_any_shape_starts_unchanged_and_gives_every_gradient(batch, in_features, out_features,
                                                                                    r, bias, dropout):
    base = nn.Linear(in_features, out_features, bias=bias, generator=0, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # r above min(in, out) warns that it cannot help
        layer = LoraLinear(copy.deepcopy(base), r=r, lora_dropout=dropout, use_dora=True, generator=1)
    x = Tensor(np.random.default_rng(2).standard_normal((batch, in_features)), requires_grad=True)
    y = layer(x)
    # B = 0 and m = ‖W‖_row, so m/n = 1: the layer computes as its base layer, with dropout too
    np.testing.assert_allclose(y.data, base(x.data).data, rtol=1e-12, atol=1e-13)
    y.sum().backward()
    assert x.grad.shape == x.shape
    assert layer.lora_magnitude_vector["default"].weight.grad.shape == (out_features,)
    assert layer.lora_B["default"].weight.grad.shape == (out_features, r)


def test_a_dora_adapter_written_by_peft_loads_with_peft_s_outputs(ref, tmp_path):
    """tests/fixtures/dora/peft_adapter was written by PEFT's save_pretrained: its magnitudes come along."""
    from lorabook.lora import PeftModel

    loaded = PeftModel.from_pretrained(base_from(ref), os.path.join(os.path.dirname(FIXTURE), "peft_adapter"))
    np.testing.assert_allclose(loaded(ref["x"]).data, ref["y"], **TOL)
    for i in LAYERS:
        layer = loaded.get_base_model()[i]
        np.testing.assert_array_equal(layer.lora_magnitude_vector["default"].weight.data, ref[f"m{i}"])
    loaded.save_pretrained(tmp_path)
    again = PeftModel.from_pretrained(base_from(ref), tmp_path)
    np.testing.assert_array_equal(again(ref["x"]).data, loaded(ref["x"]).data)


def test_reading_a_dora_adapter_for_analysis_says_what_delta_weight_leaves_out(ref):
    from lorabook.analysis import read_lora_factors

    with pytest.warns(UserWarning, match=r"DoRA adapter: delta_weight\(\) gives its low-rank update"):
        factors = read_lora_factors(os.path.join(os.path.dirname(FIXTURE), "peft_adapter"))
    assert sorted(factors) == sorted(str(i) for i in LAYERS)
