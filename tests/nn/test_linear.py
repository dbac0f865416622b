"""Linear and MLP: shapes, PyTorch's default init, forward against a hand computation."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lorabook as lb
from lorabook import nn


def test_weight_is_out_by_in_and_bias_is_out():
    layer = nn.Linear(5, 3)
    assert layer.weight.shape == (3, 5)
    assert layer.bias.shape == (3,)
    assert layer.weight.dtype == np.float32
    assert layer.weight.requires_grad and layer.bias.requires_grad
    assert nn.Linear(5, 3, bias=False).bias is None
    assert nn.Linear(5, 3, dtype=np.float64).weight.dtype == np.float64


def test_default_init_bounds_and_spread_match_pytorch():
    n_in = 400
    layer = nn.Linear(n_in, 500, generator=0)
    bound = 1 / math.sqrt(n_in)
    w = layer.weight.data.astype(np.float64)
    assert np.abs(w).max() <= bound
    assert np.abs(layer.bias.data).max() <= bound
    # U(-b, b) has std b / sqrt(3); with 200,000 draws the estimate is within 0.5%.
    assert np.std(w) == pytest.approx(1 / math.sqrt(3 * n_in), rel=0.01)
    assert abs(np.mean(w)) < 0.01 * bound
    assert np.abs(w).max() > 0.99 * bound  # the whole interval is used, not a narrower one


def test_same_generator_seed_gives_identical_weights():
    a = nn.Linear(6, 4, generator=123)
    b = nn.Linear(6, 4, generator=np.random.default_rng(123))
    c = nn.Linear(6, 4, generator=124)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(a.weight.data, c.weight.data)


def test_manual_seed_makes_default_init_repeatable():
    lb.manual_seed(5)
    first = nn.MLP([3, 4, 2])
    lb.manual_seed(5)
    second = nn.MLP([3, 4, 2])
    for (name, p), (_, q) in zip(first.named_parameters(), second.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def test_forward_equals_x_wt_plus_b():
    rng = np.random.default_rng(0)
    layer = nn.Linear(4, 3, generator=0, dtype=np.float64)
    x = rng.normal(size=(5, 4))
    expected = np.array(
        [[sum(x[i, k] * layer.weight.data[j, k] for k in range(4)) + layer.bias.data[j] for j in range(3)] for i in range(5)]
    )
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12)
    no_bias = nn.Linear(4, 3, bias=False, generator=0, dtype=np.float64)
    np.testing.assert_allclose(no_bias(x).data, x @ no_bias.weight.data.T, rtol=1e-12)


def test_three_dimensional_input_and_its_gradients():
    rng = np.random.default_rng(1)
    layer = nn.Linear(4, 3, generator=0, dtype=np.float64)
    x_data = rng.normal(size=(2, 5, 4))
    x = lb.tensor(x_data, requires_grad=True, dtype=np.float64)
    out = layer(x)
    assert out.shape == (2, 5, 3)
    np.testing.assert_allclose(out.data, x_data @ layer.weight.data.T + layer.bias.data, rtol=1e-12)
    out.sum().backward()
    # d sum(y) / dW[j, k] = sum over all batch positions of x[..., k]
    np.testing.assert_allclose(layer.weight.grad, np.tile(x_data.sum(axis=(0, 1)), (3, 1)), rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, np.full(3, 10.0))
    np.testing.assert_allclose(x.grad, np.broadcast_to(layer.weight.data.sum(axis=0), (2, 5, 4)), rtol=1e-12)


def test_wrong_input_width_names_both_shapes():
    layer = nn.Linear(4, 3)
    with pytest.raises(ValueError, match=r"\(2, 5\).*\(3, 4\)"):
        layer(np.ones((2, 5), dtype=np.float32))


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(in_features=0, out_features=3), "in_features must be >= 1, got 0"),
        (dict(in_features=2, out_features=2.5), "out_features must be an integer, got 2.5"),
    ],
)
def test_linear_rejects_bad_sizes(kwargs, pattern):
    with pytest.raises((TypeError, ValueError), match=pattern):
        nn.Linear(**kwargs)


def test_mlp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least an input and an output size"):
        nn.MLP([3])
    with pytest.raises(ValueError, match="activation must be one of.*'swish'"):
        nn.MLP([3, 2], activation="swish")
    with pytest.raises(ValueError, match=r"dropout must be in \[0.0, 1.0\), got 1.0"):
        nn.MLP([3, 4, 2], dropout=1.0)


@settings(deadline=None, max_examples=30)
@given(
    batch=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    n_in=st.integers(1, 6),
    n_out=st.integers(1, 6),
)
def test_linear_maps_any_batch_shape(batch, n_in, n_out):
    layer = nn.Linear(n_in, n_out, generator=0)
    x = np.ones(tuple(batch) + (n_in,), dtype=np.float32)
    assert layer(x).shape == tuple(batch) + (n_out,)


@settings(deadline=None, max_examples=30)
@given(sizes=st.lists(st.integers(1, 20), min_size=2, max_size=5), activation=st.sampled_from(["relu", "tanh", "gelu"]))
def test_mlp_parameter_count(sizes, activation):
    model = nn.MLP(sizes, activation=activation, generator=0)
    expected = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    assert sum(p.size for p in model.parameters()) == expected
    assert len(model) == 2 * len(sizes) - 3  # Linear layers with an activation between each pair
