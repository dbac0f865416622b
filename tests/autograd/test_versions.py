"""Arrays saved for backward and changed in place afterwards are refused, as in PyTorch."""
import numpy as np
import pytest

import lorabook as lb
from lorabook import nn, optim
from lorabook.autograd import Tensor, no_grad

MODIFIED = "modified by an in-place operation"


def leaf(values, name=None):
    return Tensor(np.array(values, dtype=np.float64), requires_grad=True, name=name)


def linear_and_input():
    lin = nn.Linear(3, 2, generator=0, dtype=np.float64)
    x = leaf([1.0, 2.0, 3.0], name="x")
    return lin, x


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=1.0), lambda p: optim.Adam(p, lr=0.1),
                                  lambda p: optim.AdamW(p, lr=0.1)], ids=["SGD", "Adam", "AdamW"])
def test_an_optimizer_step_between_forward_and_backward_is_refused(make):
    lin, x = linear_and_input()
    optimizer = make(lin.parameters())
    (lin(x) ** 2).sum().backward()  # some gradients, so that step() moves the weights
    x.grad = None
    loss = lin(x).sum()
    seen = lin.weight._version
    optimizer.step()
    with pytest.raises(RuntimeError, match=rf"{MODIFIED}: tensor of shape \(2, 3\) \(an input of Linear\) "
                                           rf"is at version {seen + 1}; expected version {seen}"):
        loss.backward()
    assert x.grad is None  # refused before any gradient arrived


def test_the_right_gradient_when_the_step_comes_after_backward():
    lin, x = linear_and_input()
    optimizer = optim.SGD(lin.parameters(), lr=1.0)
    (lin(x) ** 2).sum().backward()
    x.grad = None
    loss = lin(x).sum()
    loss.backward()
    np.testing.assert_allclose(x.grad, lin.weight.data.sum(axis=0))
    versions = lin.weight._version, lin.bias._version
    optimizer.step()  # after backward: fine
    assert (lin.weight._version, lin.bias._version) == (versions[0] + 1, versions[1] + 1)


def test_an_in_place_operator_on_a_saved_input_is_refused_naming_it():
    w, x = leaf([1.0, 2.0], name="w"), Tensor(np.array([3.0, 4.0]), name="x")
    y = (w * x).sum()  # Mul saved x's array for dw
    x += 100.0
    with pytest.raises(RuntimeError, match=rf"{MODIFIED}: tensor 'x' of shape \(2,\) \(an input of Mul\) "
                                           r"is at version 1; expected version 0"):
        y.backward()


def test_an_in_place_change_of_an_input_that_was_not_saved_is_allowed():
    w, b = leaf([1.0, 2.0]), Tensor(np.array([3.0, 4.0]))
    y = ((w + b) * 2.0).sum()  # Add saves nothing: its gradient does not depend on b's values
    b += 1.0
    y.backward()
    np.testing.assert_array_equal(w.grad, [2.0, 2.0])


def test_an_in_place_change_of_a_saved_output_is_refused():
    x = leaf([-1.0, 2.0])
    y = x.relu()  # ReLU saves its output
    with no_grad():
        y -= 5.0  # would turn the positive entry negative: relu's backward would see 0 where it was 1
    with pytest.raises(RuntimeError, match=rf"{MODIFIED}: .*\(the output of ReLU\) is at version 1; expected version 0"):
        y.sum().backward()


def test_writing_data_directly_then_bumping_the_version_is_refused():
    w, x = leaf([1.0, 2.0]), leaf([3.0, 4.0], name="x")
    y = (w * x).sum()
    x.data[...] = 0.0
    x.bump_version()
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_rebinding_data_needs_no_bump_and_keeps_the_recorded_gradient():
    w, x = leaf([1.0, 2.0]), Tensor(np.array([3.0, 4.0]))
    y = (w * x).sum()
    x.data = np.zeros(2)  # a new array: the graph still holds the old one
    y.backward()
    np.testing.assert_array_equal(w.grad, [3.0, 4.0])


def test_in_place_operators_change_the_array_itself_and_count():
    t = Tensor(np.zeros(2))
    array = t.data
    t += 1.0
    t *= 3.0
    assert t.data is array and t._version == 2
    np.testing.assert_array_equal(array, [3.0, 3.0])


def test_init_functions_bump_the_version():
    w = nn.Parameter(np.zeros((2, 3)))
    before = w._version
    nn.init.kaiming_uniform_(w, generator=0)
    nn.init.zeros_(w)
    assert w._version == before + 2


def test_a_second_backward_after_a_step_with_retain_graph_is_refused():
    lin, x = linear_and_input()
    optimizer = optim.SGD(lin.parameters(), lr=1.0)
    loss = (lin(x) ** 2).sum()
    loss.backward(retain_graph=True)
    optimizer.step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_the_check_costs_nothing_when_nothing_changed():
    # The usual loop: forward, backward, step, again; never an error.
    model = nn.MLP([4, 8, 3], generator=0)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    x, y = lb.tensor(np.ones((5, 4))), np.array([0, 1, 2, 0, 1])
    before = [p._version for p in model.parameters()]
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert [p._version for p in model.parameters()] == [v + 3 for v in before]


def test_in_place_on_a_read_only_array_is_refused_with_a_sentence():
    t = Tensor(np.broadcast_to(np.zeros(2), (3, 2)))
    with pytest.raises(ValueError, match=r"`t \+= other`: t's array is read-only"):
        t += 1.0
