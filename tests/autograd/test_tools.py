"""gradcheck itself, the DOT drawing of a graph, tensor() and the Tensor's printed form."""
import re
import stat

import numpy as np
import pytest

import lorabook
from lorabook.autograd import Function, Tensor, gradcheck, ops, render_dot, to_dot
from lorabook.autograd import dot as dot_module


# ----- gradcheck -----------------------------------------------------------------------------
class MulWithDoubledGradient(ops.Mul):
    """a * b whose backward is deliberately wrong: twice the true gradient of b."""

    @staticmethod
    def backward(ctx, g):
        grad_a, grad_b = ops.Mul.backward(ctx, g)
        return grad_a, (None if grad_b is None else 2 * grad_b)


class Cube(Function):
    """A learner's own Function: x**3, with d/dx = 3 x**2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x**2


def test_gradcheck_passes_on_a_learners_correct_function():
    result = gradcheck(Cube.apply, [np.array([[0.5, -1.0], [2.0, 1.5]])])
    assert result and result.passed is True
    assert result.max_abs_error < 1e-6
    assert str(result).startswith("gradcheck passed")


def test_gradcheck_fails_on_a_wrong_backward_and_names_the_worst_element(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    result = gradcheck(MulWithDoubledGradient.apply, [a, b])
    assert not result and result.passed is False
    # The true d(v . a*b)/db is v * a, with v the fixed cotangent gradcheck draws (seed 0);
    # the wrong backward gives 2 v a, so the worst entry is where |v * a| is largest.
    numeric = np.random.default_rng(0).standard_normal((3, 4)) * a
    worst = np.unravel_index(np.argmax(np.abs(numeric)), numeric.shape)
    position, index, analytic, numeric_value = result.worst
    assert (position, index) == (1, tuple(int(i) for i in worst))
    np.testing.assert_allclose([analytic, numeric_value], [2 * numeric[worst], numeric[worst]], rtol=1e-6)
    np.testing.assert_allclose(result.max_abs_error, np.abs(numeric).max(), rtol=1e-6)
    text = str(result)
    assert text.startswith("gradcheck FAILED")
    assert f"input 1, element {tuple(int(i) for i in worst)}" in text


def test_gradcheck_fails_when_backward_forgets_an_input():
    class ForgetsB(ops.Mul):
        @staticmethod
        def backward(ctx, g):
            return ops.Mul.backward(ctx, g)[0], None

    result = gradcheck(ForgetsB.apply, [np.array([1.0, 2.0]), np.array([3.0, 4.0])])
    assert not result
    assert result.worst[0] == 1 and result.worst[2] == 0.0


def test_gradcheck_upcasts_to_float64_and_leaves_the_inputs_alone():
    x = np.array([0.3, -0.7, 1.1], dtype=np.float32)
    seen = []

    def fn(t):
        seen.append(t.dtype)
        return t.tanh() * t

    assert gradcheck(fn, [x], atol=1e-8, rtol=1e-6)
    assert set(seen) == {np.dtype(np.float64)}
    np.testing.assert_array_equal(x, np.array([0.3, -0.7, 1.1], dtype=np.float32))


def test_gradcheck_passes_integer_arrays_through_unchanged():
    targets = np.array([1, 0, 1])

    def picked(t, index):
        assert isinstance(index, np.ndarray) and index.dtype.kind == "i"
        return t[np.arange(3), index]

    assert gradcheck(picked, [np.ones((3, 2)), targets])


def test_gradcheck_rejects_bad_use():
    with pytest.raises(ValueError, match="at least one floating-point"):
        gradcheck(lambda i: i, [np.array([1, 2])])
    with pytest.raises(TypeError, match="must return a Tensor, got float"):
        gradcheck(lambda t: 1.0, [np.ones(2)])


# ----- to_dot and render_dot -----------------------------------------------------------------
def small_graph():
    x = Tensor(np.ones((2, 3)))
    weight = Tensor(np.ones((3, 4)), requires_grad=True, name="W")
    bias = Tensor(np.zeros(4), requires_grad=True, name="b")
    return ((x @ weight) + bias).relu().sum()


def test_to_dot_names_every_operation_and_has_one_box_per_tensor():
    text = to_dot(small_graph())
    assert text.startswith("digraph") and text.rstrip().endswith("}")
    # tensors: x, W, b, x@W, +b, relu, sum
    assert text.count("shape=box") == 7
    operations = re.findall(r'shape=ellipse, label="(\w+)"', text)
    assert sorted(operations) == ["Add", "MatMul", "ReLU", "Sum"]
    assert text.count("->") == 4 + (2 + 2 + 1 + 1)  # op -> its output, plus each input -> op
    for label in ['"W\\n3x4"', '"b\\n4"', '"input\\n2x3"', '"output\\nscalar"']:
        assert label in text


def test_to_dot_draws_a_reused_tensor_once():
    a = Tensor(np.ones(3), requires_grad=True)
    text = to_dot(a + a)
    assert text.count("shape=box") == 2
    assert text.count("t1 -> f0") == 2  # nodes are numbered from the output: a is t1


def test_to_dot_is_the_same_text_for_the_same_computation():
    def graph():
        a = Tensor(np.ones(3), requires_grad=True)
        return to_dot((a * 2).sum())

    assert graph() == graph()


def test_render_dot_without_graphviz_raises_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(dot_module.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Graphviz 'dot' program, which is not installed.*to_dot"):
        render_dot(small_graph(), tmp_path / "graph.png")
    assert list(tmp_path.iterdir()) == []


def test_render_dot_runs_the_dot_program(monkeypatch, tmp_path):
    # A stand-in for Graphviz: `dot -Tfmt source -o target` copies the source.
    fake = tmp_path / "dot"
    fake.write_text('#!/bin/sh\ncp "$2" "$4"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(dot_module.shutil, "which", lambda name: str(fake) if name == "dot" else None)
    graph = small_graph()
    target = tmp_path / "graph.svg"
    assert render_dot(graph, target, format="svg") == target
    assert target.read_text() == to_dot(graph)


# ----- tensor() and Tensor basics ----------------------------------------------------------------
def test_tensor_dtypes():
    assert lorabook.tensor([1.0, 2.0]).dtype == np.float32
    assert lorabook.tensor([[1, 2], [3, 4]]).dtype == np.float32
    assert lorabook.tensor(np.array([1.0, 2.0])).dtype == np.float64
    assert lorabook.tensor(np.ones(2, dtype=np.float32)).dtype == np.float32
    assert lorabook.tensor(2.5).shape == () and lorabook.tensor(2.5).dtype == np.float32
    assert lorabook.tensor([1.0], dtype=np.float64).dtype == np.float64
    assert lorabook.tensor([0, 2], dtype=np.int64).dtype == np.int64


def test_tensor_copies_its_data():
    source = np.array([1.0, 2.0])
    t = lorabook.tensor(source, requires_grad=True)
    source[0] = 99.0
    assert t.data[0] == 1.0
    u = lorabook.tensor(t)
    u.data[1] = -1.0
    assert t.data[1] == 2.0
    assert t.requires_grad and not u.requires_grad and t.grad is None


def test_tensor_facts_and_numpy_shares_memory():
    t = lorabook.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert (t.shape, t.ndim, t.size, len(t)) == ((2, 3), 2, 6, 2)
    assert t.numpy() is t.data and t.is_leaf and t.grad_fn is None
    assert t.T.shape == (3, 2) and t.T.grad_fn == "Transpose"
    assert np.asarray(t).shape == (2, 3)
    assert t.sum().item() == 15.0 and isinstance(t.sum().item(), float)


def test_repr_shows_values_dtype_and_grad_fn():
    x = lorabook.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<Mul>)"
    assert repr(lorabook.tensor(np.array([0.5]))) == "tensor([0.5], dtype=float64)"
    assert "grad_fn=<MatMul>" in repr(x @ x)
