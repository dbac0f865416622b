"""The backward engine: reuse, accumulation, deep graphs, frozen inputs, no_grad, aliasing, dtypes."""
import gc
import sys

import numpy as np
import pytest

import lorabook
from lorabook.autograd.ops import Mul
from lorabook.autograd import (
    Function, ShapeError, Tensor, is_grad_enabled, no_grad, set_grad_enabled, topological_order,
)


def leaf(values, dtype=np.float64):
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


# ----- reuse and accumulation -----------------------------------------------------------
def test_a_plus_a_gives_two():
    a = leaf([1.0, -3.0, 5.0])
    (a + a).sum().backward()
    np.testing.assert_array_equal(a.grad, [2.0, 2.0, 2.0])


def test_a_times_a_gives_two_a():
    a = leaf([1.0, -3.0, 5.0])
    (a * a).sum().backward()
    np.testing.assert_array_equal(a.grad, [2.0, -6.0, 10.0])


def test_a_tensor_feeding_several_operations_sums_their_contributions():
    a, b = leaf([0.5, -1.0]), leaf([3.0, 4.0])
    # d/da of sum(a*b + exp(a) + a.sum() * 2) = b + exp(a) + 2 * 2 (a.sum() feeds both entries)
    y = (a * b + a.exp() + a.sum() * 2).sum()
    y.backward()
    np.testing.assert_allclose(a.grad, b.data + np.exp(a.data) + 4.0, rtol=1e-15)
    np.testing.assert_array_equal(b.grad, a.data)


def test_a_diamond_graph_visits_each_node_once_after_all_its_users():
    a = leaf([2.0])
    left, right = a * 3.0, a.exp()
    top = left * right
    order = topological_order(top)
    assert order[0] is top and order[-1] is a
    assert len(order) == len({id(t) for t in order}) == 4
    top.backward()
    np.testing.assert_allclose(a.grad, [3 * np.exp(2.0) + 6 * np.exp(2.0)])


def test_backward_twice_with_retain_graph_accumulates():
    a = leaf([1.0, 2.0])
    y = (a * a).sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(a.grad, [2.0, 4.0])
    y.backward()
    np.testing.assert_array_equal(a.grad, [4.0, 8.0])


def test_backward_twice_without_retain_graph_raises_a_clear_error():
    a = leaf([1.0, 2.0])
    y = (a * a).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_gradients_accumulate_across_calls_until_zeroed():
    a = leaf([1.0, 2.0])
    (a * 3.0).sum().backward()
    (a * a).sum().backward()
    np.testing.assert_array_equal(a.grad, [3.0 + 2.0, 3.0 + 4.0])
    a.grad = None  # zero_grad, PyTorch style
    (a * 5.0).sum().backward()
    np.testing.assert_array_equal(a.grad, [5.0, 5.0])


def test_backward_of_a_leaf_itself_and_with_a_tensor_gradient():
    a = leaf([1.0, 2.0])
    a.backward(Tensor(np.array([0.5, 0.25])))
    np.testing.assert_array_equal(a.grad, [0.5, 0.25])


# ----- deep graphs --------------------------------------------------------------------------
def test_a_chain_100000_operations_deep_backpropagates_without_recursion():
    assert sys.getrecursionlimit() < 100_000  # so a recursive walk would fail here
    x = leaf([1.0, 2.0])
    factor = Tensor(np.array(1.00001))
    y = x
    for _ in range(100_000):
        y = Mul.apply(y, factor)
    y.sum().backward(retain_graph=True)
    np.testing.assert_allclose(x.grad, [1.00001**100_000] * 2, rtol=1e-9)
    # Freeing the chain (its saved arrays still held) must not overflow the C stack either.
    del y
    gc.collect()
    assert x.grad.shape == (2,)


# ----- frozen inputs cost nothing ----------------------------------------------------------
class SpyMul(Function):
    """a * b that records, for each backward call, which gradients it was asked for."""

    calls = []

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        SpyMul.calls.append(ctx.needs_input_grad)
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


@pytest.fixture
def spy():
    SpyMul.calls = []
    return SpyMul


def test_no_gradient_is_asked_for_or_stored_for_a_frozen_input(spy):
    x, frozen = leaf([1.0, 2.0]), Tensor(np.array([3.0, 4.0]))
    spy.apply(x, frozen).sum().backward()
    assert spy.calls == [(True, False)]
    assert frozen.grad is None
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_a_subgraph_of_frozen_tensors_is_never_visited(spy):
    x = leaf([1.0, 2.0])
    frozen_branch = spy.apply(Tensor(np.array([3.0, 4.0])), Tensor(np.array([5.0, 6.0])))
    assert not frozen_branch.requires_grad and frozen_branch._ctx is None
    y = spy.apply(x, frozen_branch)
    y.sum().backward()
    assert spy.calls == [(True, False)]  # one backward call, for y only
    np.testing.assert_array_equal(x.grad, [15.0, 24.0])


def test_a_frozen_operand_of_add_gets_no_gradient_buffer():
    x, frozen = leaf([1.0, 2.0]), Tensor(np.array([3.0, 4.0]))
    (x + frozen - frozen * 2.0).sum().backward()
    assert frozen.grad is None
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


# ----- no_grad, retain_grad, detach ----------------------------------------------------------
def test_no_grad_records_no_graph_and_restores_the_mode():
    x = leaf([1.0, 2.0])
    with no_grad():
        assert not is_grad_enabled()
        y = x * 2.0 + 1.0
    assert is_grad_enabled()
    assert y.requires_grad is False and y._ctx is None and y.grad_fn is None
    np.testing.assert_array_equal(y.data, [3.0, 5.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("boom")
    assert is_grad_enabled()


def test_no_grad_as_a_decorator_with_and_without_parentheses():
    x = leaf([1.0])

    @no_grad()
    def double(t):
        """Doubles."""
        return t * 2.0

    @no_grad
    def triple(t):
        return t * 3.0

    assert double(x)._ctx is None and not double(x).requires_grad
    assert triple(x)._ctx is None and not triple(x).requires_grad
    assert double.__name__ == "double" and double.__doc__ == "Doubles."
    assert (x * 2.0).requires_grad  # outside the decorated function, recording is back on
    with set_grad_enabled(False):
        with set_grad_enabled(True):
            assert (x * 2.0).requires_grad
        assert not (x * 2.0).requires_grad


def test_retain_grad_keeps_the_gradient_of_an_intermediate():
    x = leaf([1.0, -2.0])
    hidden = (x * 3.0).retain_grad()
    other = x * 5.0
    (hidden * hidden + other).sum().backward()
    np.testing.assert_array_equal(hidden.grad, 2 * hidden.data)  # d(h^2)/dh
    np.testing.assert_array_equal(x.grad, 2 * hidden.data * 3.0 + 5.0)
    assert other.grad is None  # intermediates keep no gradient unless asked


def test_detach_cuts_the_graph_and_shares_the_values():
    x = leaf([2.0, 3.0])
    constant = x.detach()
    assert not constant.requires_grad and constant._ctx is None
    assert np.shares_memory(constant.data, x.data)
    (constant * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 3.0])  # not 2x: the detached factor is a constant


# ----- gradient arrays are never shared ---------------------------------------------------------
def test_the_grads_of_two_leaves_never_alias():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad += 10.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


@pytest.mark.parametrize(
    "build",
    [
        lambda a, b: a + b,
        lambda a, b: a.reshape(2, 1) + b.reshape(2, 1),
        lambda a, b: lorabook.concatenate([a, b]).reshape(2, 2).sum(axis=0),
        lambda a, b: a - (-b),
    ],
    ids=["add", "reshape views", "concatenate slices", "sub of neg"],
)
def test_each_grad_is_its_own_array_apart_from_other_grads_upstream_and_data(build):
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    upstream = np.array([1.0, 1.0]).reshape(build(a, b).shape)
    build(a, b).backward(upstream)
    arrays = [a.grad, b.grad, a.data, b.data, upstream]
    for i, first in enumerate(arrays):
        for second in arrays[i + 1:]:
            assert not np.shares_memory(first, second)
    a.grad[...] = 99.0  # writeable, and only a's
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_grad_dtype_is_the_leaf_dtype_when_float32_and_float64_mix():
    a32, b64 = leaf([1.0, 2.0], np.float32), leaf([3.0, 4.0], np.float64)
    y = a32 * b64 + a32.double() + b64.float()
    assert y.dtype == np.float64
    y.sum().backward()
    assert a32.grad.dtype == np.float32 and b64.grad.dtype == np.float64
    np.testing.assert_array_equal(a32.grad, [4.0, 5.0])
    np.testing.assert_array_equal(b64.grad, [2.0, 3.0])


def test_float32_stays_float32_through_a_whole_step():
    x = Tensor(np.ones((4, 3), dtype=np.float32))
    w = Tensor(np.full((3, 2), 0.5, dtype=np.float32), requires_grad=True)
    loss = ((x @ w).relu() * 2.0 - 1.0).mean()
    assert loss.dtype == np.float32
    loss.backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_allclose(w.grad, np.full((3, 2), 4 * 2.0 / 8))


# ----- a learner's own Function: the engine checks what backward returns ---------------------
class MulForgettingAnInput(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b  # the gradient for b is missing


class SumWithFlatGradient(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x.sum()

    @staticmethod
    def backward(ctx, g):
        return np.full(int(np.prod(ctx.shape)), g)  # (6,) for a (2, 3) input: must not be reshaped


def test_a_backward_returning_too_few_gradients_is_reported():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    with pytest.raises(RuntimeError, match=r"MulForgettingAnInput.backward returned 1 gradient\(s\) for 2 input\(s\)"):
        MulForgettingAnInput.apply(a, b).sum().backward()


@pytest.mark.parametrize("shape", [(2, 3), (3, 2)])
def test_a_backward_returning_a_wrong_shape_is_reported_not_reshaped(shape):
    x = Tensor(np.ones(shape), requires_grad=True)
    with pytest.raises(ShapeError, match=rf"SumWithFlatGradient.backward returned a gradient of shape "
                                                  rf"\(6,\) for input 0, which has shape \({shape[0]}, {shape[1]}\)"):
        SumWithFlatGradient.apply(x).backward()
    assert x.grad is None


# ----- in place: updating parameters by hand ----------------------------------------------------
def test_in_place_update_under_no_grad_changes_the_parameter_itself():
    w = leaf([1.0, 2.0])
    (w * w).sum().backward()  # grad = 2 w
    same = w
    with no_grad():
        w -= 0.25 * w.grad
        w *= 2.0
        w += Tensor(np.array([1.0, 1.0]))
        w /= 2.0
    assert w is same
    np.testing.assert_allclose(w.data, ((np.array([1.0, 2.0]) * 0.5) * 2.0 + 1.0) / 2.0)


def test_in_place_on_a_tensor_that_records_gradients_is_refused():
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"`t -= \.\.\.` on a tensor that requires grad would not be recorded.*no_grad"):
        w -= 1.0
    np.testing.assert_array_equal(w.data, [1.0, 2.0])
    constant = Tensor(np.zeros(2))
    constant += 1.0  # nothing records it: allowed, as in PyTorch
    np.testing.assert_array_equal(constant.data, [1.0, 1.0])


def test_in_place_keeps_the_dtype_or_refuses():
    t = Tensor(np.zeros(2, dtype=np.float32))
    t += np.ones(2)  # float64 operand: the result stays float32
    assert t.dtype == np.float32
    counts = lorabook.tensor([0, 0], dtype=np.int64)
    with pytest.raises(TypeError, match="would turn t's int64 into float64"):
        counts += 0.5


def test_in_place_must_keep_the_shape():
    t = Tensor(np.zeros(2))
    with pytest.raises(ShapeError, match=r"t has shape \(2,\), other has shape \(2, 2\)"):
        t += np.ones((2, 2))


def test_truth_value_only_for_one_element():
    assert bool(Tensor(np.array(2.0))) and not bool(Tensor(np.array([0.0])))
    with pytest.raises(ValueError, match=r"truth value of a tensor with 2 elements \(shape \(2,\)\) is ambiguous"):
        bool(Tensor(np.zeros(2)))
