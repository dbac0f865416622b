"""The fused LoraLinearFunction is an optimisation of PEFT's one-line formula: same forward, same gradients.

LoraLinear computes either way: `fused = True` (the default) puts the base layer
and the first adapter into one LoraLinearFunction; `fused = False` runs
`reference_forward`, PEFT's `result + lora_B(lora_A(dropout(x))) * scaling`
adapter by adapter. Both run here on the same weights, inputs and dropout
masks, in float64, and every output and gradient must agree.
"""
import contextlib
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorabook import nn
from lorabook.autograd import Context, Tensor
from lorabook.lora import LoraLinear, LoraLinearFunction


def make_layer(n_adapters, dropout, bias, in_features=5, out_features=4, seed=0):
    base = nn.Linear(in_features, out_features, bias=bias, generator=seed, dtype=np.float64)
    layer = LoraLinear(base, r=3, lora_alpha=5, lora_dropout=dropout, init_lora_weights=False, generator=seed + 1)
    for i in range(1, n_adapters):
        layer.update_layer(f"extra{i}", r=2, lora_alpha=3, lora_dropout=dropout, init_lora_weights=False,
                           generator=seed + 1 + i)
    layer.set_adapter(list(layer.lora_A))
    return layer


def run(layer, fused, x, trainable_x, seed=3):
    """Forward and backward of sum(y * G); returns y and every gradient by name."""
    layer.fused = fused
    for i, dropout in enumerate(layer.lora_dropout.values()):  # the same masks on both paths
        if isinstance(dropout, nn.Dropout):
            dropout.generator = np.random.default_rng(100 + i)
    for param in layer.parameters():
        param.grad = None
    x = Tensor(x.copy(), requires_grad=trainable_x)
    y = layer(x)
    weights = np.random.default_rng(seed).standard_normal(y.shape)
    (y * Tensor(weights)).sum().backward()
    grads = {name: None if p.grad is None else p.grad.copy() for name, p in layer.named_parameters()}
    grads["x"] = x.grad
    return y.data, grads


CASES = list(itertools.product([1, 2], [0.0, 0.4], [True, False], [True, False], [True, False]))


@pytest.mark.parametrize("n_adapters, dropout, bias, trainable_x, trainable_base", CASES)
def test_fused_equals_the_reference_in_forward_and_every_gradient(n_adapters, dropout, bias, trainable_x,
                                                                  trainable_base):
    layer = make_layer(n_adapters, dropout, bias)
    layer.base_layer.requires_grad_(trainable_base)
    x = np.random.default_rng(2).standard_normal((6, 5))
    calls = []
    original = LoraLinearFunction.forward

    def counted(ctx, *args, **kwargs):
        calls.append(1)
        return original(ctx, *args, **kwargs)

    LoraLinearFunction.forward = staticmethod(counted)
    try:
        fused_y, fused_grads = run(layer, True, x, trainable_x)
        assert len(calls) == 1  # the fused path did use the Function
        reference_y, reference_grads = run(layer, False, x, trainable_x)
        assert len(calls) == 1  # ...and the reference did not
    finally:
        LoraLinearFunction.forward = staticmethod(original)
    np.testing.assert_allclose(fused_y, reference_y, rtol=1e-12, atol=1e-12)
    assert fused_grads.keys() == reference_grads.keys()
    for name, grad in reference_grads.items():
        if grad is None:
            assert fused_grads[name] is None, name
        else:
            np.testing.assert_allclose(fused_grads[name], grad, rtol=1e-12, atol=1e-12, err_msg=name)
    expected = {"x": trainable_x, "base_layer.weight": trainable_base, "base_layer.bias": trainable_base and bias}
    for name, asked in expected.items():
        assert (reference_grads.get(name) is not None) == asked, name
    assert all(reference_grads[name] is not None for name in reference_grads if "lora_" in name)


def test_the_two_paths_really_differ_in_what_they_are():
    """A sanity check of the test itself: a wrong scaling on one path is caught."""
    layer = make_layer(1, 0.0, True)
    x = np.random.default_rng(2).standard_normal((6, 5))
    fused_y, _ = run(layer, True, x, True)
    layer.scaling["default"] *= 1.0 + 1e-9
    reference_y, _ = run(layer, False, x, True)
    assert not np.allclose(fused_y, reference_y, rtol=1e-12, atol=1e-13)


@settings(max_examples=25, deadline=None)
@given(batch_shape=st.lists(st.integers(1, 3), min_size=1, max_size=3), in_features=st.integers(1, 6),
       out_features=st.integers(1, 6), r=st.integers(1, 4), bias=st.booleans())
def test_shapes_of_output_and_gradients(batch_shape, in_features, out_features, r, bias):
    base = nn.Linear(in_features, out_features, bias=bias, generator=0, dtype=np.float64)
    too_big = r > min(in_features, out_features)  # warns that the extra rank cannot help
    with pytest.warns(UserWarning, match="cannot help") if too_big else contextlib.nullcontext():
        layer = LoraLinear(base, r=r, init_lora_weights=False, generator=1)
    x = Tensor(np.ones(tuple(batch_shape) + (in_features,)), requires_grad=True)
    y = layer(x)
    assert y.shape == tuple(batch_shape) + (out_features,)
    y.sum().backward()
    assert x.grad.shape == x.shape
    assert layer.lora_A["default"].weight.grad.shape == (r, in_features)
    assert layer.lora_B["default"].weight.grad.shape == (out_features, r)


@pytest.mark.parametrize("with_bias", [True, False])
def test_backward_gives_one_gradient_per_input_by_name(with_bias):
    """Five inputs without a bias, six with one; x_lora is x: its gradient comes back once, in x's place."""
    rng = np.random.default_rng(0)
    x, A, B, W, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal((5, 2)), \
        rng.standard_normal((5, 4)), rng.standard_normal(5)
    inputs = (x, x, A, B, W) + ((b,) if with_bias else ())
    ctx = Context((True, True, True, False, False) + ((True,) if with_bias else ()))
    LoraLinearFunction.forward(ctx, *inputs, scaling=0.5)
    grads = LoraLinearFunction.backward(ctx, np.ones((3, 5)))
    assert len(grads) == len(inputs)
    assert [g is not None for g in grads] == [True, False, True, False, False] + ([True] if with_bias else [])
    expected_x = np.ones((3, 5)) @ W + 0.5 * (np.ones((3, 5)) @ B) @ A
    np.testing.assert_allclose(grads[0], expected_x, rtol=1e-12)
