"""After backward, a graph that is still referenced holds no activations (as in PyTorch)."""
import tracemalloc
import weakref

import numpy as np

from lorabook import nn
from lorabook.autograd import Tensor, inputs_of, walk
from lorabook.nn import functional as F


def step(model, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss


def test_keeping_last_steps_loss_keeps_no_activations_alive():
    rng = np.random.default_rng(0)
    model = nn.MLP([64, 512, 512, 10], generator=0)
    x, y = Tensor(rng.standard_normal((256, 64)).astype(np.float32)), rng.integers(0, 10, 256)
    step(model, x, y)  # gradients exist from here on: the next steps allocate the same
    tracemalloc.start()
    try:
        loss = step(model, x, y)
        kept = tracemalloc.get_traced_memory()[0]
        del loss
        dropped = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # Each activation is 256 x 512 x 4 bytes = 512 KiB; the loss and its small Context remain.
    assert kept - dropped < 4096


def test_the_intermediate_tensors_die_once_backward_is_done():
    model = nn.MLP([4, 8, 3], generator=0)
    loss = F.cross_entropy(model(Tensor(np.ones((5, 4), dtype=np.float32))), np.array([0, 1, 2, 0, 1]))
    logits = weakref.ref(inputs_of(loss)[0])
    assert logits() is not None
    loss.backward()
    assert logits() is None and inputs_of(loss) == ()
    assert loss.grad_fn == "CrossEntropy"  # the tensor still says what made it


def test_retain_graph_keeps_the_graph_and_a_plain_backward_frees_it():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = w * 3.0
    loss = (h * h).sum()
    loss.backward(retain_graph=True)
    assert len(walk(loss)) == 5  # w, the constant 3, h, h * h, loss
    loss.backward()
    assert walk(loss) == [loss] and walk(h) == [h]  # as PyTorch, the graph is freed
