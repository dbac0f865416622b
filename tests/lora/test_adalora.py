"""AdaLoRA's layer, schedule, regulariser and files, on known answers and finite differences."""
import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorabook.lora import AdaLoraConfig, AdaLoraPeftModel, SVDLinear, get_peft_model
from lorabook.nn import MLP, Linear
from lorabook.nn import functional as F
from lorabook.optim import Adam

CONFIG = dict(init_r=4, target_r=2, tinit=2, tfinal=3, deltaT=2, total_step=12, target_modules=["0", "2"])


def model64(seed=0):
    return MLP([5, 7, 3], generator=seed, dtype=np.float64)


def randomised(peft_model, seed=0):
    """Give every adapter parameter random values (E != 0), so every gradient is non-zero."""
    rng = np.random.default_rng(seed)
    for name, param in peft_model.named_parameters():
        if "lora_" in name:
            param.data = rng.standard_normal(param.shape) * 0.5
    return peft_model


def numeric_grad(loss, param, eps=1e-6):
    grad = np.zeros_like(param.data)
    original = param.data.copy()
    for index in np.ndindex(param.shape):
        values = []
        for sign in (1, -1):
            shifted = original.copy()
            shifted[index] += sign * eps
            param.data = shifted
            values.append(float(loss().data))
        grad[index] = (values[0] - values[1]) / (2 * eps)
    param.data = original
    return grad


def test_forward_is_the_formula_and_a_fresh_adapter_changes_nothing():
    base = model64()
    x = np.random.default_rng(1).standard_normal((4, 5))
    expected = base(x).data
    peft_model = get_peft_model(base, AdaLoraConfig(**CONFIG), generator=0)
    np.testing.assert_array_equal(peft_model(x).data, expected)  # E = 0 at the start
    layer = peft_model.get_base_model().get_submodule("0")
    assert isinstance(layer, SVDLinear)
    assert layer.lora_A["default"].shape == (4, 5) and layer.lora_E["default"].shape == (4, 1)
    assert layer.lora_B["default"].shape == (7, 4) and float(layer.ranknum["default"].data[0]) == 4.0
    assert 0.015 < layer.lora_A["default"].data.std() < 0.025  # N(0, 0.02^2), PEFT's start
    randomised(peft_model)
    A, E, B = (layer.lora_A["default"].data, layer.lora_E["default"].data, layer.lora_B["default"].data)
    W, b = layer.base_layer.weight.data, layer.base_layer.bias.data
    by_hand = x @ W.T + b + (x @ (A * E).T @ B.T) * 8 / (4 + 1e-5)
    np.testing.assert_allclose(layer(x).data, by_hand, rtol=1e-13)
    np.testing.assert_allclose(layer.get_delta_weight(), B @ np.diag(E[:, 0]) @ A * 8 / (4 + 1e-5), rtol=1e-13)


def test_gradients_of_loss_plus_orth_regulariser_match_finite_differences():
    peft_model = randomised(get_peft_model(model64(), AdaLoraConfig(**CONFIG), generator=0), seed=3)
    x = np.random.default_rng(2).standard_normal((6, 5))
    y = np.array([0, 1, 2, 0, 1, 2])

    def loss():
        return F.cross_entropy(peft_model(x), y) + peft_model.base_model.orth_regularization()

    loss().backward()
    for name, param in peft_model.named_parameters():
        if param.requires_grad:
            np.testing.assert_allclose(param.grad, numeric_grad(loss, param), atol=1e-7, err_msg=name)


def test_orth_regulariser_is_the_mean_of_frobenius_norms_not_squares():
    peft_model = randomised(get_peft_model(model64(), AdaLoraConfig(**CONFIG, orth_reg_weight=0.3), generator=0))
    norms = []
    for _, layer in peft_model.base_model.svd_layers():
        A, B = layer.lora_A["default"].data, layer.lora_B["default"].data
        norms += [np.linalg.norm(A @ A.T - np.eye(4)), np.linalg.norm(B.T @ B - np.eye(4))]
    assert float(peft_model.base_model.orth_regularization().data) == pytest.approx(0.3 * np.mean(norms), rel=1e-13)
    # orthonormal rows of A and columns of B: the penalty is zero
    for _, layer in peft_model.base_model.svd_layers():
        layer.lora_A["default"].data = np.linalg.qr(layer.lora_A["default"].data.T)[0].T.copy()
        layer.lora_B["default"].data = np.linalg.qr(layer.lora_B["default"].data)[0].copy()
    assert float(peft_model.base_model.orth_regularization().data) == pytest.approx(0.0, abs=1e-12)


def test_budget_follows_the_cubic_by_hand():
    peft_model = get_peft_model(model64(), AdaLoraConfig(**CONFIG), generator=0)
    allocator = peft_model.base_model.rankallocator
    assert (allocator.init_bgt, allocator.target_bgt) == (8, 4)
    # steps 3..9 fall from 8 to 4: b(t) = int(4 (1 - (t - 2) / 7)^3 + 4)
    assert [allocator.budget_schedule(t)[0] for t in range(13)] == [8, 8, 8, 6, 5, 4, 4, 4, 4, 4, 4, 4, 4]
    assert [allocator.budget_schedule(t)[1] for t in range(13)] == [
        False, False, False, False, True, False, True, False, True, False, True, True, True]


def test_masking_keeps_the_budget_and_zeroes_the_dropped_values():
    peft_model = randomised(get_peft_model(model64(), AdaLoraConfig(**CONFIG), generator=0))
    x = np.random.default_rng(2).standard_normal((6, 5))
    y = np.array([0, 1, 2, 0, 1, 2])
    optimizer = Adam([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    for step in range(12):
        (F.cross_entropy(peft_model(x), y) + peft_model.base_model.orth_regularization()).backward()
        optimizer.step()
        peft_model.update_and_allocate(step)
        optimizer.zero_grad()
        pattern = peft_model.peft_config["default"].rank_pattern
        budget, masked_now = peft_model.base_model.rankallocator.budget_schedule(step)
        if masked_now:  # a mask was made at this step: it keeps at most the budget
            assert sum(sum(kept) for kept in pattern.values()) <= budget
        if masked_now:  # between masks Adam's momentum moves a dropped E again, as in PEFT
            for name, layer in peft_model.base_model.svd_layers():
                dropped = ~np.array(pattern[f"{name}.lora_E.default"])
                assert not np.any(layer.lora_E["default"].data[dropped])
    assert sum(peft_model.base_model.layer_ranks().values()) == 4


def test_update_and_allocate_needs_the_gradients():
    peft_model = get_peft_model(model64(), AdaLoraConfig(**CONFIG), generator=0)
    with pytest.raises(RuntimeError, match="after loss.backward"):
        peft_model.update_and_allocate(0)


def test_merge_and_unload_keeps_the_outputs():
    peft_model = randomised(get_peft_model(model64(), AdaLoraConfig(**CONFIG), generator=0))
    x = np.random.default_rng(5).standard_normal((3, 5))
    expected = peft_model(x).data
    with peft_model.disable_adapter():
        plain = peft_model(x).data
    assert np.abs(plain - expected).max() > 1e-3
    merged = peft_model.merge_and_unload()
    assert all(type(m) is Linear for m in (merged[0], merged[2]))
    np.testing.assert_allclose(merged(x).data, expected, rtol=1e-12, atol=1e-12)


def test_save_and_load_round_trip_cuts_to_the_rank_pattern(tmp_path):
    peft_model = randomised(get_peft_model(model64(), AdaLoraConfig(**CONFIG), generator=0))
    pattern = {"0.lora_E.default": [True, False, True, False], "2.lora_E.default": [False, False, False, True]}
    peft_model.peft_config["default"].rank_pattern = pattern
    peft_model.base_model.rankallocator.mask_using_rank_pattern(peft_model.get_base_model(), pattern)
    x = np.random.default_rng(5).standard_normal((3, 5))
    expected = peft_model(x).data
    peft_model.save_pretrained(tmp_path / "ada")
    with open(tmp_path / "ada" / "adapter_config.json") as file:
        saved = json.load(file)
    assert saved["peft_type"] == "ADALORA" and saved["rank_pattern"] == {
        "0.lora_E": [True, False, True, False], "2.lora_E": [False, False, False, True]}
    loaded = AdaLoraPeftModel.from_pretrained(model64(), tmp_path / "ada")
    assert loaded.get_base_model()[0].lora_A["default"].shape == (2, 5)
    assert float(loaded.get_base_model()[0].ranknum["default"].data[0]) == 4.0  # the trained scaling
    np.testing.assert_allclose(loaded(x).data, expected, rtol=1e-12)


def test_a_load_that_does_not_fit_changes_nothing(tmp_path):
    peft_model = get_peft_model(model64(), AdaLoraConfig(**CONFIG), generator=0)
    peft_model.save_pretrained(tmp_path / "ada")
    other = MLP([5, 6, 3], generator=0, dtype=np.float64)
    before = {n: p.data.copy() for n, p in other.named_parameters()}
    with pytest.raises(ValueError, match="does not fit this model"):
        AdaLoraPeftModel.from_pretrained(other, tmp_path / "ada")
    assert all(type(m) is Linear for m in (other[0], other[2]))
    for name, param in other.named_parameters():
        np.testing.assert_array_equal(param.data, before[name])


@pytest.mark.parametrize("changes, pattern", [
    (dict(target_r=5), r"^target_r must be <= init_r.*target_r=5 and init_r=4"),
    (dict(tinit=6, tfinal=6), r"^tinit \+ tfinal must be < total_step.*tinit=6, tfinal=6, total_step=12"),
    (dict(total_step=None), r"^total_step must be given"),
    (dict(total_step=0), r"^total_step must be >= 1"),
    (dict(beta1=1.0), r"^beta1 must be in \(0.0, 1.0\)"),
    (dict(orth_reg_weight=-0.1), r"^orth_reg_weight must be"),
    (dict(deltaT=0), r"^deltaT must be >= 1"),
    (dict(modules_to_save=["4"]), r"^modules_to_save is not supported"),
])
def test_bad_config_names_the_argument(changes, pattern):
    with pytest.raises(ValueError, match=pattern):
        AdaLoraConfig(**{**CONFIG, **changes})


def test_r_other_than_8_warns_as_peft_does():
    with pytest.warns(UserWarning, match="r is not used by AdaLoRA"):
        AdaLoraConfig(**CONFIG, r=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AdaLoraConfig(**CONFIG)


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 5), n_in=st.integers(1, 6), n_out=st.integers(1, 6), r=st.integers(0, 5),
       alpha=st.sampled_from([0, 1, 8]), seed=st.integers(0, 1000))
def test_svd_linear_shapes_and_formula_for_any_sizes(batch, n_in, n_out, r, alpha, seed):
    """Any sizes, r = 0 included (a layer that lost every triplet); lora_alpha <= 0 means scaling r, as in PEFT."""
    rng = np.random.default_rng(seed)
    base = Linear(n_in, n_out, generator=seed, dtype=np.float64)
    layer = SVDLinear(base, r=r, lora_alpha=alpha, generator=seed)
    for table in (layer.lora_A, layer.lora_E, layer.lora_B):
        table["default"].data = rng.standard_normal(table["default"].shape)
    x = rng.standard_normal((batch, n_in))
    out = layer(x)
    assert out.shape == (batch, n_out)
    scaling = alpha if alpha > 0 else float(r)
    A, E, B = (layer.lora_A["default"].data, layer.lora_E["default"].data, layer.lora_B["default"].data)
    expected = x @ base.weight.data.T + base.bias.data + (x @ (A * E).T @ B.T) * scaling / (r + 1e-5)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    assert layer.get_delta_weight().shape == (n_out, n_in)
