"""gradcheck, in float64, on every differentiable operation of lorabook.autograd."""
import numpy as np
import pytest

import lorabook
from lorabook.autograd import Tensor, nn_ops

BINARY_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}

# Pairs of shapes that broadcast, each tried in both orders.
BROADCAST_PAIRS = [
    ((2, 3), (2, 3)),
    ((3, 1, 4), (2, 4)),
    ((1,), (2, 3)),
    ((), (3, 4)),
    ((4, 1), (1, 5)),
]


def binary_inputs(op, rng, shape_a, shape_b):
    """Inputs where op is smooth: b away from 0 for div, a positive base for pow."""
    if op == "pow":
        return rng.uniform(0.5, 2.0, shape_a), rng.uniform(-2.0, 2.0, shape_b)
    b = rng.uniform(0.5, 2.0, shape_b) * rng.choice([-1.0, 1.0], shape_b)
    return rng.standard_normal(shape_a), b


@pytest.mark.parametrize("op", BINARY_OPS)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS + [pair[::-1] for pair in BROADCAST_PAIRS[1:]], ids=str)
def test_binary_ops_with_broadcasting(check, rng, op, shapes):
    a, b = binary_inputs(op, rng, *shapes)
    check(BINARY_OPS[op], a, b)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x + 2.0,
        lambda x: 2.0 + x,
        lambda x: x - 3.0,
        lambda x: 3.0 - x,
        lambda x: x * 1.5,
        lambda x: 1.5 * x,
        lambda x: x / 4.0,
        lambda x: 4.0 / x,
        lambda x: x**2,
        lambda x: x**2.5,
        lambda x: x**-1.5,
        lambda x: 2.0**x,
        lambda x: -x,
        lambda x: np.arange(1.0, 4.0) * x,  # an ndarray on the left defers to Tensor.__rmul__
        lambda x: x - np.arange(3.0),
    ],
    ids=["x+c", "c+x", "x-c", "c-x", "x*c", "c*x", "x/c", "c/x", "x**2", "x**2.5", "x**-1.5", "c**x", "neg", "array*x", "x-array"],
)
def test_operations_with_constants(check, rng, fn):
    check(fn, rng.uniform(0.5, 2.0, (2, 3)))


@pytest.mark.parametrize(
    "shape_a, shape_b",
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
        ((4,), (4, 5)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((4,), (2, 4, 5)),
        ((2, 3, 4), (4,)),
    ],
    ids=str,
)
def test_matmul(check, rng, shape_a, shape_b):
    check(lambda a, b: a @ b, rng.standard_normal(shape_a), rng.standard_normal(shape_b))


def test_matmul_output_shapes_follow_numpy(rng):
    for shape_a, shape_b in [((2, 1, 3, 4), (5, 4, 2)), ((4,), (4,)), ((4,), (2, 4, 5))]:
        a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
        out = Tensor(a) @ Tensor(b)
        assert out.shape == (a @ b).shape
        np.testing.assert_allclose(out.data, a @ b)


AXES = [None, 0, 1, -1, (0, 2), (-1, 0)]


@pytest.mark.parametrize("reduction", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_over_each_axis(check, rng, distinct, reduction, axis, keepdims):
    x = distinct(rng, (2, 3, 4))  # no ties: max is differentiable here
    fn = lambda t: getattr(t, reduction)(axis=axis, keepdims=keepdims)  # noqa: E731
    out = fn(Tensor(x))
    expected = getattr(np, reduction if reduction != "max" else "amax")(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected)
    check(fn, x)


def test_max_splits_the_gradient_evenly_between_ties():
    x = lorabook.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])


@pytest.mark.parametrize(
    "name, make_input",
    [
        ("exp", lambda rng: rng.standard_normal((3, 4))),
        ("log", lambda rng: rng.uniform(0.5, 3.0, (3, 4))),
        ("sqrt", lambda rng: rng.uniform(0.5, 3.0, (3, 4))),
        ("tanh", lambda rng: rng.standard_normal((3, 4))),
        ("sigmoid", lambda rng: rng.standard_normal((3, 4)) * 3),
        ("relu", lambda rng: rng.uniform(0.1, 2.0, (3, 4)) * rng.choice([-1.0, 1.0], (3, 4))),
        ("gelu", lambda rng: rng.standard_normal((3, 4)) * 2),
    ],
)
def test_elementwise_functions(check, rng, name, make_input):
    check(lambda t: getattr(t, name)(), make_input(rng))


def test_elementwise_values_are_the_textbook_formulas():
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    t = Tensor(x)
    np.testing.assert_allclose(t.sigmoid().data, 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(t.relu().data, [0.0, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(t.tanh().data, np.tanh(x))
    # exact GELU: x * Phi(x); Phi(-2) = 0.0227501319..., Phi(0.5) = 0.6914624612...
    np.testing.assert_allclose(t.gelu().data[[0, 2]], [-2 * 0.022750131948179, 0.5 * 0.691462461274013], rtol=1e-12)


SHAPE_OPS = {  # name: (the lorabook call, the same thing in NumPy)
    "reshape(4,6)": (lambda t: t.reshape(4, 6), lambda x: x.reshape(4, 6)),
    "reshape((3,-1))": (lambda t: t.reshape((3, -1)), lambda x: x.reshape(3, -1)),
    "flatten": (lambda t: t.reshape(24), lambda x: x.ravel()),
    "transpose()": (lambda t: t.transpose(), lambda x: x.transpose()),
    "transpose(1,0,2)": (lambda t: t.transpose(1, 0, 2), lambda x: x.transpose(1, 0, 2)),
    "transpose((2,0,1))": (lambda t: t.transpose((2, 0, 1)), lambda x: x.transpose(2, 0, 1)),
    "transpose(-1,0,1)": (lambda t: t.transpose(-1, 0, 1), lambda x: x.transpose(2, 0, 1)),
    "T": (lambda t: t.T, lambda x: x.T),
    "2-D T": (lambda t: t.reshape(6, 4).T, lambda x: x.reshape(6, 4).T),
}


@pytest.mark.parametrize("ours, numpys", SHAPE_OPS.values(), ids=SHAPE_OPS.keys())
def test_shape_operations(check, rng, ours, numpys):
    x = rng.standard_normal((2, 3, 4))
    np.testing.assert_array_equal(ours(Tensor(x)).data, numpys(x))
    check(ours, x)


def test_transpose_with_negative_axes_matches_numpy(rng):
    x = rng.standard_normal((2, 3, 4))
    t = Tensor(x, requires_grad=True)
    y = t.transpose(-1, 0, 1)
    np.testing.assert_array_equal(y.data, x.transpose(-1, 0, 1))
    upstream = rng.standard_normal(y.shape)
    y.backward(upstream)
    np.testing.assert_array_equal(t.grad, upstream.transpose(1, 2, 0))


INDICES = {
    "int": 1,
    "slices": (slice(1, None), slice(None, None, 2)),
    "ellipsis": (Ellipsis, 0),
    "newaxis": (None, 1),
    "negative step": (slice(None), slice(None, None, -1)),
    "repeated ints": np.array([0, 0, 2, 0]),
    "repeated list": [1, 1, 1],
    "pairs with repeats": (np.array([0, 1, 1, 0]), np.array([2, 2, 2, 2])),
    "slice and repeats": (slice(None), [3, 3, 0]),
    "boolean mask": np.array([[True, False, True, False], [False, False, True, True], [True, True, True, False]]),
    "boolean rows": np.array([True, False, True]),
}


@pytest.mark.parametrize("index", INDICES.values(), ids=INDICES.keys())
def test_getitem(check, rng, index):
    x = rng.standard_normal((3, 4))
    assert Tensor(x)[index].shape == x[index].shape
    check(lambda t: t[index], x)


def test_getitem_with_repeated_indices_sums_the_gradient():
    x = lorabook.tensor([10.0, 20.0, 30.0], requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


def test_getitem_accepts_a_tensor_of_indices():
    x = lorabook.tensor([10.0, 20.0, 30.0], requires_grad=True)
    picked = x[lorabook.tensor([2, 2], dtype=np.int64)]
    np.testing.assert_array_equal(picked.data, [30.0, 30.0])
    picked.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 2.0])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate(check, rng, axis):
    shapes = {0: [(1, 3, 2), (2, 3, 2), (3, 3, 2)], 1: [(2, 1, 2), (2, 4, 2), (2, 2, 2)],
              -1: [(2, 3, 3), (2, 3, 1), (2, 3, 2)]}[axis]
    arrays = [rng.standard_normal(s) for s in shapes]
    out = lorabook.concatenate([Tensor(a) for a in arrays], axis=axis)
    np.testing.assert_array_equal(out.data, np.concatenate(arrays, axis=axis))
    check(lambda *ts: lorabook.concatenate(ts, axis=axis), *arrays)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack(check, rng, axis):
    arrays = [rng.standard_normal((2, 3)) for _ in range(3)]
    out = lorabook.stack([Tensor(a) for a in arrays], axis=axis)
    np.testing.assert_array_equal(out.data, np.stack(arrays, axis=axis))
    check(lambda *ts: lorabook.stack(ts, axis=axis), *arrays)


def test_concatenate_with_a_constant_sends_gradient_only_to_the_tensor():
    x = lorabook.tensor([1.0, 2.0], requires_grad=True)
    c = lorabook.tensor([5.0])
    lorabook.concatenate([c, x, c]).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
    assert c.grad is None


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_softmax_and_log_softmax_over_each_axis(check, rng, name, axis):
    x = rng.standard_normal((2, 3, 4)) * 2
    out = getattr(Tensor(x), name)(axis=axis).data
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    softmax = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(out, softmax if name == "softmax" else np.log(softmax), rtol=1e-12, atol=1e-14)
    check(lambda t: getattr(t, name)(axis=axis), x)


# ----- fused neural-network Functions, called directly through .apply --------------------
@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(check, rng, x_shape, bias):
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((2, 3)), rng.standard_normal(2)
    expected = x @ w.T + (b if bias else 0)
    arrays = (x, w, b) if bias else (x, w)
    np.testing.assert_allclose(nn_ops.Linear.apply(*map(Tensor, arrays)).data, expected, rtol=1e-12)
    check(nn_ops.Linear.apply, *arrays)


def test_linear_with_a_frozen_weight_computes_no_weight_gradient(rng):
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = Tensor(rng.standard_normal((2, 3)))  # frozen
    b = Tensor(rng.standard_normal(2), requires_grad=True)
    nn_ops.Linear.apply(x, w, b).sum().backward()
    assert w.grad is None
    np.testing.assert_allclose(x.grad, np.ones((4, 2)) @ w.data)
    np.testing.assert_allclose(b.grad, [4.0, 4.0])


TARGETS = np.array([2, 0, 1, 2, 3])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(check, rng, reduction):
    logits = rng.standard_normal((5, 4)) * 2
    targets = np.array(TARGETS, dtype=np.int64)  # an option, as F.cross_entropy passes it: not differentiable
    losses = -np.log(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))[np.arange(5), TARGETS]
    expected = {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]
    out = nn_ops.CrossEntropy.apply(Tensor(logits), targets=targets, reduction=reduction)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    check(lambda t: nn_ops.CrossEntropy.apply(t, targets=targets, reduction=reduction), logits)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_for_prediction_and_target(check, rng, reduction):
    prediction, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    squared = (prediction - target) ** 2
    expected = {"mean": squared.mean(), "sum": squared.sum(), "none": squared}[reduction]
    out = nn_ops.MSELoss.apply(Tensor(prediction), Tensor(target), reduction=reduction)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    check(lambda p, t: nn_ops.MSELoss.apply(p, t, reduction=reduction), prediction, target)


def test_dropout_with_a_fixed_mask(check, rng):
    keep = rng.random((4, 5)) >= 0.5
    mask = keep / 0.5  # kept entries scaled by 1 / (1 - p), p = 0.5; an option, not an input
    x = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(nn_ops.Dropout.apply(Tensor(x), mask=mask).data, np.where(keep, 2 * x, 0.0))
    check(lambda t: nn_ops.Dropout.apply(t, mask=mask), x)
    t = Tensor(x, requires_grad=True)
    nn_ops.Dropout.apply(t, mask=mask).sum().backward()
    np.testing.assert_array_equal(t.grad, np.where(keep, 2.0, 0.0))


def test_a_small_network_end_to_end(check, rng):
    """Linear -> gelu -> Linear -> cross-entropy, checked as one function of all parameters."""
    x, targets = rng.standard_normal((6, 3)), np.array([0, 1, 2, 1, 0, 2])

    def network(w1, b1, w2):
        hidden = nn_ops.Linear.apply(Tensor(x), w1, b1).gelu()
        return nn_ops.CrossEntropy.apply(nn_ops.Linear.apply(hidden, w2), targets=targets)

    check(network, rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal((3, 4)))


def test_the_gradient_of_x_to_the_power_zero_is_zero_even_at_zero():
    x = Tensor(np.array([0.0, 2.0, -3.0]), requires_grad=True)
    with np.errstate(all="raise"):  # no 0 * inf on the way
        (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(3))
