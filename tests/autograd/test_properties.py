"""Property tests with hypothesis: random broadcast-compatible shapes, random reduction axes."""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from lorabook import gradcheck
from lorabook.autograd import ShapeError, Tensor, unbroadcast

BINARY_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "matmul": lambda a, b: a @ b,
}

pairs = mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3)
# np.matmul's signature: 1-D operands allowed, batch axes broadcast (kept small for speed).
matmul_pairs = mutually_broadcastable_shapes(signature="(m?,n),(n,p?)->(m?,p?)", max_dims=2, max_side=3)
seeds = st.integers(0, 2**32 - 1)


def operands(op, shapes, seed):
    """float64 arrays on which op is smooth: a positive base for pow, a divisor away from 0."""
    rng = np.random.default_rng(seed)
    a, b = (rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape) for shape in shapes)
    return (np.abs(a), b) if op == "pow" else (a, b)


@settings(deadline=None, max_examples=25)
@given(data=st.data(), op=st.sampled_from(sorted(BINARY_OPS)), seed=seeds)
def test_each_input_gradient_has_exactly_the_input_shape(data, op, seed):
    shapes = data.draw(matmul_pairs if op == "matmul" else pairs).input_shapes
    a, b = (Tensor(x, requires_grad=True) for x in operands(op, shapes, seed))
    out = BINARY_OPS[op](a, b)
    out.backward(np.ones(out.shape))
    assert a.grad.shape == a.shape and b.grad.shape == b.shape
    assert a.grad.dtype == b.grad.dtype == np.float64


@settings(deadline=None, max_examples=25)
@given(data=st.data(), op=st.sampled_from(["add", "mul", "div", "matmul"]), seed=seeds)
def test_gradcheck_passes_on_random_shapes(data, op, seed):
    shapes = data.draw(matmul_pairs if op == "matmul" else pairs).input_shapes
    result = gradcheck(BINARY_OPS[op], list(operands(op, shapes, seed)))
    assert result, str(result)


@settings(deadline=None, max_examples=40)
@given(shapes=pairs, seed=seeds)
def test_unbroadcast_sums_the_gradient_over_every_copy(shapes, seed):
    shape, other = shapes.input_shapes
    out_shape = np.broadcast_shapes(shape, other)
    grad = np.random.default_rng(seed).standard_normal(out_shape)
    # Reference: which element of the input each output entry is a copy of, then add up.
    size = int(np.prod(shape))
    source = np.broadcast_to(np.arange(size).reshape(shape), out_shape)
    expected = np.bincount(source.ravel(), weights=grad.ravel(), minlength=size).reshape(shape)
    np.testing.assert_allclose(unbroadcast(grad, shape), expected)


@st.composite
def shape_and_axes(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    axes = draw(st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)))
    # Spell each axis as positive or negative, as callers do.
    axes = tuple(a - len(shape) if draw(st.booleans()) else a for a in axes)
    axis = draw(st.sampled_from([None, axes] + ([axes[0]] if axes else [])))
    return shape, axis


@settings(deadline=None, max_examples=30)
@given(case=shape_and_axes(), keepdims=st.booleans(), reduction=st.sampled_from(["sum", "mean"]), seed=seeds)
def test_sum_and_mean_over_random_axes(case, keepdims, reduction, seed):
    shape, axis = case
    x = np.random.default_rng(seed).standard_normal(shape)
    t = Tensor(x, requires_grad=True)
    out = getattr(t, reduction)(axis=axis, keepdims=keepdims)
    expected = getattr(np, reduction)(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-15)
    out.backward(np.ones(out.shape))
    # Every element contributes once to its sum, or with weight 1/count to its mean.
    count = x.size // max(np.size(expected), 1)
    np.testing.assert_allclose(t.grad, np.full(shape, 1.0 if reduction == "sum" else 1.0 / count))
    result = gradcheck(lambda u: getattr(u, reduction)(axis=axis, keepdims=keepdims), [x])
    assert result, str(result)


@pytest.mark.parametrize("grad_shape, shape", [((6,), (2, 3)), ((2, 4), (3, 4)), ((3, 2), (2, 3)), ((4,), (2, 1, 4))])
def test_unbroadcast_refuses_a_gradient_that_is_no_broadcast_of_the_shape(grad_shape, shape):
    with pytest.raises(ShapeError, match=re.escape(f"shape {grad_shape} cannot be summed back to shape {shape}")):
        unbroadcast(np.ones(grad_shape), shape)
