"""clear_grad / zero_grad: what happens to the old gradient array.

With set_to_none=True the old array is let go only when the next backward
stores a new gradient (freed right before forward, a large model's
gradients page-fault in again every step); with set_to_none=False the
gradient is zeroed in place, as PyTorch does.
"""
import numpy as np

import lorabook
from lorabook import nn, optim
from lorabook.nn import functional as F


def _model_and_loss(seed=0):
    model = nn.MLP([4, 8, 3], generator=seed)
    x = np.random.default_rng(seed).standard_normal((5, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 1, 0])
    return model, (lambda: F.cross_entropy(model(x), y))


def test_set_to_none_gives_none_and_frees_the_old_array_at_the_next_backward():
    model, loss = _model_and_loss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    loss().backward()
    weight = model[0].weight
    old = weight.grad
    optimizer.zero_grad()
    assert weight.grad is None
    assert weight._spent_grad is old  # kept, not freed before forward
    loss().backward()
    assert weight._spent_grad is None  # let go once the new gradient is stored
    assert weight.grad is not old


def test_module_zero_grad_behaves_the_same():
    model, loss = _model_and_loss()
    loss().backward()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    loss().backward()
    assert all(p._spent_grad is None and p.grad is not None for p in model.parameters())


def test_set_to_none_false_zeroes_in_place_and_the_next_backward_gives_the_same_gradient():
    model, loss = _model_and_loss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    loss().backward()
    first = {name: p.grad.copy() for name, p in model.named_parameters()}
    arrays = {name: p.grad for name, p in model.named_parameters()}
    optimizer.zero_grad(set_to_none=False)
    for name, p in model.named_parameters():
        assert p.grad is arrays[name] and not p.grad.any()
    loss().backward()
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad, first[name])


def test_set_to_none_false_makes_new_zeros_for_an_array_it_does_not_own():
    t = lorabook.tensor([1.0, 2.0], requires_grad=True)
    shared = np.ones(4, np.float32)
    t.grad = shared[:2]  # a view of the user's array: zeroing it in place would change theirs
    t.clear_grad(set_to_none=False)
    assert not t.grad.any() and shared.all()
