"""Modules + autograd + optimizer together: five training steps of an MLP agree
with the same network written by hand in NumPy (forward, backward, SGD)."""
import numpy as np
import pytest

import lorabook as lb
from lorabook import nn, optim
from lorabook.nn import functional as F

SIZES = [2, 16, 16, 3]
STEPS = 5


def separable_data(n=60, seed=0):
    """Three Gaussian blobs far apart: a problem a small MLP can separate."""
    rng = np.random.default_rng(seed)
    centers = np.array([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]])
    y = np.arange(n) % 3
    X = centers[y] + rng.normal(scale=0.5, size=(n, 2))
    return X, y


ACTIVATIONS = {
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(z.dtype)),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
}


def numpy_step(weights, biases, buffers, X, y, activation, lr, momentum, weight_decay):
    """One SGD step of the MLP written out by hand; returns the loss before the step."""
    act, act_grad = ACTIVATIONS[activation]
    inputs, pre_activations = [], []
    h = X
    for index, (W, b) in enumerate(zip(weights, biases)):
        inputs.append(h)
        z = h @ W.T + b
        pre_activations.append(z)
        h = act(z) if index < len(weights) - 1 else z
    logits = h
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.mean(np.log(probs[np.arange(n), y]))

    g = (probs - np.eye(logits.shape[1])[y]) / n  # d loss / d logits
    grads = [None] * len(weights)
    for index in reversed(range(len(weights))):
        grads[index] = (g.T @ inputs[index], g.sum(axis=0))
        if index > 0:
            g = (g @ weights[index]) * act_grad(pre_activations[index - 1])

    for index, (dW, db) in enumerate(grads):
        for params, grad, key in ((weights, dW, (index, "w")), (biases, db, (index, "b"))):
            grad = grad + weight_decay * params[index]
            if momentum:
                buffers[key] = grad.copy() if key not in buffers else momentum * buffers[key] + grad
                grad = buffers[key]
            params[index] = params[index] - lr * grad
    return loss


@pytest.mark.parametrize(
    "activation, lr, momentum, weight_decay",
    [("relu", 0.5, 0.0, 0.0), ("tanh", 0.2, 0.9, 1e-3)],
    ids=["relu_plain_sgd", "tanh_momentum_decay"],
)
def test_five_sgd_steps_match_handwritten_numpy(activation, lr, momentum, weight_decay):
    X, y = separable_data()
    model = nn.MLP(SIZES, activation=activation, generator=0, dtype=np.float64)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    weights = [layer.weight.data.copy() for layer in linears]
    biases = [layer.bias.data.copy() for layer in linears]
    buffers = {}
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    inputs = lb.tensor(X, dtype=np.float64)

    for step in range(1, STEPS + 1):
        loss = F.cross_entropy(model(inputs), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        expected_loss = numpy_step(weights, biases, buffers, X, y, activation, lr, momentum, weight_decay)
        assert loss.item() == pytest.approx(expected_loss, rel=1e-10, abs=1e-12), f"loss at step {step}"

    for index, layer in enumerate(linears):
        np.testing.assert_allclose(layer.weight.data, weights[index], rtol=1e-6, atol=1e-9, err_msg=f"weight {index}")
        np.testing.assert_allclose(layer.bias.data, biases[index], rtol=1e-6, atol=1e-9, err_msg=f"bias {index}")
        # in float64 the two agree far more closely than the 1e-6 the brief asks for
        assert np.abs(layer.weight.data - weights[index]).max() < 1e-12

    # The steps did something: the weights moved and the loss went down.
    start = nn.MLP(SIZES, activation=activation, generator=0, dtype=np.float64)
    assert np.abs(start[0].weight.data - linears[0].weight.data).max() > 1e-4
    final_loss = F.cross_entropy(model(inputs), y).item()
    first_loss = F.cross_entropy(start(inputs), y).item()
    assert final_loss < first_loss


def test_mlp_learns_the_separable_problem():
    X, y = separable_data(n=90, seed=1)
    model = nn.MLP(SIZES, generator=3, dtype=np.float64)
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    inputs = lb.tensor(X, dtype=np.float64)
    for _ in range(40):
        loss = F.cross_entropy(model(inputs), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    X_test, y_test = separable_data(n=90, seed=2)
    accuracy = np.mean(model(X_test).data.argmax(axis=1) == y_test)
    assert accuracy == 1.0
