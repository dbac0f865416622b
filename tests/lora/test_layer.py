"""LoraLinear: starting values, the fused forward/backward, gradcheck, merging."""
import copy
import math
import warnings

import numpy as np
import pytest

from lorabook import gradcheck, nn
from lorabook.autograd import Context, Tensor
from lorabook.lora import LoraLinear, LoraLinearFunction, lora_linear


def make_layer(in_features=7, out_features=5, r=3, dtype=np.float32, seed=0, **options):
    base = nn.Linear(in_features, out_features, generator=seed, dtype=dtype)
    return base, LoraLinear(copy.deepcopy(base), r=r, generator=seed + 1, **options)


def randomise_B(layer, name="default", seed=3):
    B = layer.lora_B[name].weight
    B.data[...] = np.random.default_rng(seed).standard_normal(B.shape)


def x_for(layer, batch=4, seed=5):
    return np.random.default_rng(seed).standard_normal((batch, layer.in_features)).astype(layer.base_layer.weight.dtype)


def test_lora_linear_wraps_an_existing_layer_and_has_no_loralib_alias():
    """PEFT's lora.Linear wraps a layer (the same Parameters); loralib.Linear(in, out, r) would build its own."""
    import lorabook.lora

    base = nn.Linear(4, 3, generator=0)
    layer = LoraLinear(base, r=2, generator=0)
    assert layer.base_layer is base and layer.base_layer.weight is base.weight
    assert not hasattr(lorabook.lora, "Linear")  # lorabook.nn.Linear is the only Linear


def test_fresh_adapter_changes_nothing_exactly():
    base, layer = make_layer()
    x = x_for(layer)
    assert np.array_equal(layer(x).data, base(x).data)
    assert np.all(layer.lora_B["default"].weight.data == 0)


def test_default_start_is_kaiming_uniform_for_A():
    _, layer = make_layer(in_features=400, out_features=6, r=4)
    A = layer.lora_A["default"].weight.data
    bound = 1 / math.sqrt(400)
    assert np.abs(A).max() <= bound
    assert np.abs(A).max() > 0.95 * bound  # spread over the whole interval
    assert A.shape == (4, 400) and layer.lora_B["default"].weight.shape == (6, 4)


def test_gaussian_start_has_std_one_over_r():
    _, layer = make_layer(in_features=3000, out_features=6, r=4, init_lora_weights="gaussian")
    A = layer.lora_A["default"].weight.data
    assert abs(A.std() - 1 / 4) < 0.01 and abs(A.mean()) < 0.01
    assert np.all(layer.lora_B["default"].weight.data == 0)


def test_init_false_starts_changed():
    base, layer = make_layer(init_lora_weights=False)
    x = x_for(layer)
    assert np.abs(layer.lora_B["default"].weight.data).max() > 0
    assert not np.allclose(layer(x).data, base(x).data)


def test_pissa_keeps_the_output_and_takes_the_top_singular_part():
    base, layer = make_layer(in_features=12, out_features=9, r=3, lora_alpha=6, init_lora_weights="pissa")
    x = x_for(layer)
    np.testing.assert_allclose(layer(x).data, base(x).data, rtol=1e-5, atol=1e-5)
    W = base.weight.data.astype(np.float64)
    s = np.linalg.svd(W, compute_uv=False)
    residual = layer.base_layer.weight.data.astype(np.float64)
    np.testing.assert_allclose(residual + layer.get_delta_weight().astype(np.float64), W, atol=1e-6)
    np.testing.assert_allclose(np.linalg.svd(layer.get_delta_weight(), compute_uv=False)[:3], s[:3], rtol=1e-5)
    np.testing.assert_allclose(np.linalg.svd(residual, compute_uv=False)[:6], s[3:], rtol=1e-4, atol=1e-6)
    A = layer.lora_A["default"].weight.data.astype(np.float64)
    np.testing.assert_allclose(A @ A.T, np.diag(s[:3] / layer.scaling["default"]), atol=1e-5)  # balanced factors


def test_scaling_plain_and_rslora():
    _, plain = make_layer(r=4, lora_alpha=16)
    _, rs = make_layer(r=4, lora_alpha=16, use_rslora=True)
    assert plain.scaling["default"] == 4.0 and rs.scaling["default"] == 8.0


def test_forward_is_base_plus_scaled_low_rank_update():
    base, layer = make_layer(r=3, lora_alpha=6, dtype=np.float64)
    randomise_B(layer)
    x = x_for(layer)
    A, B = layer.lora_A["default"].weight.data, layer.lora_B["default"].weight.data
    expected = x @ (base.weight.data + 2.0 * B @ A).T + base.bias.data
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12)
    np.testing.assert_allclose(layer.get_delta_weight(), 2.0 * B @ A, rtol=1e-12)
    assert np.linalg.matrix_rank(layer.get_delta_weight()) == 3


def test_dropout_acts_on_the_lora_branch_only():
    base = nn.Linear(4, 4, generator=0)
    layer = LoraLinear(copy.deepcopy(base), r=4, lora_alpha=4, lora_dropout=0.5, generator=1)
    layer.lora_A["default"].weight.data[...] = np.eye(4)
    layer.lora_B["default"].weight.data[...] = np.eye(4)  # scaling 1: y = base(x) + dropout(x)
    x = np.random.default_rng(2).uniform(1, 2, (50, 4)).astype(np.float32)
    branch = layer(x).data - base(x).data
    kept = np.isclose(branch, 2 * x, rtol=1e-5)
    dropped = np.abs(branch) < 1e-5
    assert np.all(kept | dropped) and 0.3 < dropped.mean() < 0.7
    layer.eval()
    np.testing.assert_allclose(layer(x).data - base(x).data, x, rtol=1e-5)


# ----- gradients ---------------------------------------------------------------------
def _problem(seed=0, batch=3, n_in=4, n_out=5, r=2):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, n_in)), rng.standard_normal((r, n_in)), rng.standard_normal((n_out, r)),
            rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out))


def test_gradcheck_fused_function_for_x_A_B():
    x, A, B, W, b = _problem()
    weight, bias = Tensor(W), Tensor(b)  # frozen: not checked, and not differentiated
    result = gradcheck(lambda x, A, B: lora_linear(x, weight, bias, A, B, scaling=1.7), [x, A, B])
    assert result, str(result)


def test_gradcheck_all_inputs_with_separate_lora_input_and_3d_batch():
    x, A, B, W, b = _problem(seed=1)
    x3 = np.random.default_rng(2).standard_normal((2, 3, 4))
    mask = np.random.default_rng(3).integers(0, 2, x3.shape) * 2.0  # a fixed dropout mask (p = 0.5)

    def fn(x, A, B, W, b):
        return lora_linear(x, W, b, A, B, scaling=0.5, x_lora=x * mask)

    result = gradcheck(fn, [x3, A, B, W, b])
    assert result, str(result)


def test_gradcheck_the_layer_itself():
    """gradcheck hands in its own leaf tensors; put them in the layer's place for each call."""
    _, layer = make_layer(in_features=4, out_features=3, r=2, lora_alpha=3, dtype=np.float64)

    def run_layer(x, A, B):
        layer.lora_A["default"].__dict__["weight"] = A  # the attribute forward reads
        layer.lora_B["default"].__dict__["weight"] = B
        return layer(x)

    rng = np.random.default_rng(4)
    result = gradcheck(run_layer, [rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal((3, 2))])
    assert result, str(result)


def test_frozen_weight_gradient_is_never_computed():
    x, A, B, W, b = (a.astype(np.float32) for a in _problem())
    ctx = Context((True, True, True, True, False, False))
    LoraLinearFunction.forward(ctx, x, x, A, B, W, b, scaling=1.0)
    grads = LoraLinearFunction.backward(ctx, np.ones((3, 5), dtype=np.float32))
    assert grads[4] is None and grads[5] is None and grads[1] is None  # dW, db skipped; dx given once
    assert grads[0].shape == x.shape and grads[2].shape == A.shape and grads[3].shape == B.shape


def test_the_engine_tells_the_fused_backward_what_is_frozen(monkeypatch):
    """Through a real forward and backward: which gradients the engine asks for, and which backward gives."""
    asked, given = [], []
    real_backward = LoraLinearFunction.backward

    def spy(ctx, grad_output):
        grads = real_backward(ctx, grad_output)
        asked.append(ctx.needs_input_grad)
        given.append(tuple(g is not None for g in grads))
        return grads

    monkeypatch.setattr(LoraLinearFunction, "backward", staticmethod(spy))
    first, second = make_layer(in_features=6, out_features=4)[1], make_layer(in_features=4, out_features=3, seed=7)[1]
    model = nn.Sequential(first, nn.ReLU(), second)
    model(np.ones((2, 6), dtype=np.float32)).sum().backward()
    # inputs (x, x_lora, A, B, W, b); backward runs from the last layer to the first.
    # x_lora is x itself (no dropout): its flag follows x's, and its gradient comes back
    # once, added into x's. Only A and B (and x between layers) are asked for.
    assert asked == [(True, True, True, True, False, False), (False, False, True, True, False, False)]
    assert given == [(True, False, True, True, False, False), (False, False, True, True, False, False)]
    for layer in (first, second):
        assert layer.base_layer.weight.grad is None and layer.base_layer.bias.grad is None
    # unfreezing the base weight is seen too: the engine reads requires_grad at each call
    second.base_layer.weight.requires_grad = True
    asked.clear(), given.clear()
    model(np.ones((2, 6), dtype=np.float32)).sum().backward()
    assert asked[0] == (True, True, True, True, True, False) and given[0] == (True, False, True, True, True, False)
    assert second.base_layer.weight.grad.shape == (3, 4)


def test_first_step_gives_A_no_gradient_and_B_one():
    """With B = 0, dA = s (g B)^T x = 0: A only starts moving after B has."""
    _, layer = make_layer()
    layer(x_for(layer)).sum().backward()
    assert np.all(layer.lora_A["default"].weight.grad == 0)
    assert np.abs(layer.lora_B["default"].weight.grad).max() > 0
    assert layer.base_layer.weight.grad is None and layer.base_layer.bias.grad is None


# ----- merging -------------------------------------------------------------------------
def test_merge_then_unmerge_restores_the_weight():
    _, layer = make_layer(in_features=30, out_features=20, r=4, init_lora_weights=False)
    before = layer.base_layer.weight.data.copy()
    x = x_for(layer)
    unmerged_output = layer(x).data
    layer.merge()
    assert layer.merged and layer.merged_adapters == ["default"]
    assert not np.allclose(layer.base_layer.weight.data, before)
    np.testing.assert_allclose(layer(x).data, unmerged_output, rtol=1e-5, atol=1e-5)
    layer.unmerge()
    assert not layer.merged
    error = np.linalg.norm(layer.base_layer.weight.data - before) / np.linalg.norm(before)
    assert error <= 1e-6


def test_merging_twice_warns_and_does_nothing():
    _, layer = make_layer(init_lora_weights=False)
    layer.merge()
    once = layer.base_layer.weight.data.copy()
    with pytest.warns(UserWarning, match=r"adapter\(s\) \['default'\] already merged"):
        layer.merge()
    assert np.array_equal(layer.base_layer.weight.data, once)
    layer.unmerge()
    with pytest.warns(UserWarning, match="no adapter is merged"):
        layer.unmerge()


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_safe_merge_refuses_non_finite_and_leaves_the_weight(bad):
    """The behaviour, whatever the BLAS kernel says on the way: B @ A with an inf may or may not warn."""
    _, layer = make_layer()
    layer.lora_B["default"].weight.data[0, 0] = bad
    before = layer.base_layer.weight.data.copy()
    with pytest.raises(ValueError, match="safe_merge: merging adapter 'default' would put NaN or inf"):
        layer.merge(safe_merge=True)
    assert np.array_equal(layer.base_layer.weight.data, before) and not layer.merged
    layer.lora_B["default"].weight.data[0, 0] = 1.0
    layer.merge(safe_merge=True)
    assert layer.merged


def test_two_active_adapters_add_up_and_switch():
    base, layer = make_layer(dtype=np.float64)
    layer.update_layer("other", r=2, lora_alpha=4, generator=9)
    randomise_B(layer, "default", seed=1)
    randomise_B(layer, "other", seed=2)
    x = x_for(layer)
    delta = {name: layer.get_delta_weight(name) for name in ("default", "other")}
    expect = {name: x @ (base.weight.data + delta[name]).T + base.bias.data for name in delta}
    np.testing.assert_allclose(layer(x).data, expect["default"], rtol=1e-12)
    assert not layer.lora_A["other"].weight.requires_grad  # added, not active: frozen
    layer.set_adapter("other")
    np.testing.assert_allclose(layer(x).data, expect["other"], rtol=1e-12)
    assert layer.lora_A["other"].weight.requires_grad and not layer.lora_A["default"].weight.requires_grad
    layer.set_adapter(["default", "other"])
    both = x @ (base.weight.data + delta["default"] + delta["other"]).T + base.bias.data
    np.testing.assert_allclose(layer(x).data, both, rtol=1e-12)
    layer.disable_adapters = True
    np.testing.assert_allclose(layer(x).data, base(x).data, rtol=1e-12)


def test_set_delta_factors_loads_an_update():
    _, layer = make_layer(r=2, lora_alpha=8)
    rng = np.random.default_rng(0)
    B, A = rng.standard_normal((5, 2)), rng.standard_normal((2, 7))
    layer.set_delta_factors(B, A)
    np.testing.assert_allclose(layer.get_delta_weight(), B @ A, rtol=1e-5, atol=1e-6)


def test_delete_adapter_of_a_layer():
    _, layer = make_layer()
    layer.update_layer("other", r=2, lora_alpha=2, generator=0)
    layer.delete_adapter("default")
    assert list(layer.lora_A) == ["other"] and layer.active_adapter == "other"
    assert "default" not in layer.r and "default" not in layer.scaling
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no complaint about the deleted adapter
        layer(x_for(layer))


def test_merging_between_forward_and_backward_is_caught():
    """merge() writes W in place: a graph recorded before it must not give gradients computed with the new W."""
    _, layer = make_layer(init_lora_weights=False, dtype=np.float64)
    x = Tensor(x_for(layer), requires_grad=True)
    loss = layer(x).sum()
    layer.merge()
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_a_plain_merge_of_a_diverged_adapter_warns_by_name():
    """Not NumPy's kernel-dependent RuntimeWarning: lorabook's own, naming the adapter."""
    _, layer = make_layer()
    layer.lora_B["default"].weight.data[0, 0] = np.inf
    with pytest.warns(UserWarning, match=r"merge: adapter 'default' put NaN or inf into the base weight") as caught:
        layer.merge()
    assert caught[0].filename == __file__
    assert layer.merged and not np.all(np.isfinite(layer.base_layer.weight.data))
