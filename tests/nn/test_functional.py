"""nn.functional and the loss modules: known values and clear errors for bad input."""
import math

import numpy as np
import pytest

import lorabook as lb
from lorabook import nn
from lorabook.nn import functional as F

LOGITS = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
TARGETS = np.array([0, 2])


def per_row_cross_entropy():
    shifted = LOGITS - LOGITS.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(2), TARGETS]


def test_cross_entropy_known_values_and_reductions():
    rows = per_row_cross_entropy()
    assert rows[1] == pytest.approx(math.log(3))  # equal logits: -log(1/3)
    assert rows[0] == pytest.approx(-2 + math.log(math.exp(2) + 1 + math.exp(-1)))
    np.testing.assert_allclose(F.cross_entropy(LOGITS, TARGETS, reduction="none").data, rows, rtol=1e-12)
    assert F.cross_entropy(LOGITS, TARGETS).item() == pytest.approx(rows.mean(), rel=1e-12)
    assert F.cross_entropy(LOGITS, TARGETS, reduction="sum").item() == pytest.approx(rows.sum(), rel=1e-12)
    assert nn.CrossEntropyLoss()(LOGITS, TARGETS).item() == pytest.approx(rows.mean(), rel=1e-12)


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    logits = lb.tensor(LOGITS, requires_grad=True, dtype=np.float64)
    F.cross_entropy(logits, TARGETS).backward()
    softmax = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(logits.grad, (softmax - np.eye(3)[TARGETS]) / 2, rtol=1e-12)


def test_mse_loss_known_values():
    prediction, target = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 0.0], [0.0, 4.0]])
    assert F.mse_loss(prediction, target).item() == pytest.approx((4 + 9) / 4)
    assert F.mse_loss(prediction, target, reduction="sum").item() == pytest.approx(13.0)
    np.testing.assert_allclose(F.mse_loss(prediction, target, reduction="none").data, [[0, 4], [9, 0]])
    assert nn.MSELoss(reduction="sum")(prediction, target).item() == pytest.approx(13.0)


@pytest.mark.parametrize("bad", [np.array([0, 3]), np.array([-1, 0]), np.array([7, 1]),
                                 np.array([-1, 0], dtype=np.int8), np.array([0, 3], dtype=np.uint8),
                                 np.array([[0, -2]], dtype=np.int32)[0]])
def test_targets_outside_the_class_range_are_named(bad):
    with pytest.raises(ValueError, match=r"targets must be in \[0, 3\), got values such as \["):
        F.cross_entropy(LOGITS, bad)


def test_out_of_range_message_shows_the_bad_value():
    with pytest.raises(ValueError, match=r"\[0, 3\), got values such as \[5\]"):
        F.cross_entropy(LOGITS, np.array([1, 5]))


def test_float_targets_are_refused():
    with pytest.raises(TypeError, match="targets must be integer class indices, got dtype float64"):
        F.cross_entropy(LOGITS, np.array([0.0, 2.0]))
    with pytest.raises(TypeError, match=r"got dtype float32 \(lorabook.tensor makes float32 by default"):
        F.cross_entropy(LOGITS, lb.tensor([0, 2]))


def test_an_empty_batch_is_refused_not_nan():
    with pytest.raises(ValueError, match=r"cross_entropy: the batch is empty \(logits \(0, 3\)\)"):
        F.cross_entropy(np.zeros((0, 3)), np.zeros(0, dtype=int))


def test_linear_takes_arrays_as_constants():
    x, w, b = np.ones((2, 3)), np.arange(12.0).reshape(4, 3), np.arange(4.0)
    np.testing.assert_allclose(F.linear(x, w, b).data, x @ w.T + b)
    weight = lb.tensor(w, requires_grad=True, dtype=np.float64)
    F.linear(x, weight, b).sum().backward()
    np.testing.assert_allclose(weight.grad, np.full((4, 3), 2.0))  # the sum over the batch of x


@pytest.mark.parametrize("targets", [np.array([0, 1, 2]), np.array([[0], [2]]), np.eye(3, dtype=int)[TARGETS]])
def test_wrong_target_shape_is_refused(targets):
    with pytest.raises(ValueError, match=r"targets must have shape \(2,\) to match logits \(2, 3\), got \("):
        F.cross_entropy(LOGITS, targets)


def test_logits_must_be_a_matrix():
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\), got \(3,\)"):
        F.cross_entropy(np.zeros(3), np.array([0]))


@pytest.mark.parametrize("call", [
    lambda r: F.cross_entropy(LOGITS, TARGETS, reduction=r),
    lambda r: F.mse_loss(LOGITS, LOGITS, reduction=r),
    lambda r: nn.CrossEntropyLoss(reduction=r),
    lambda r: nn.MSELoss(reduction=r),
])
def test_unknown_reduction_is_named(call):
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'; got 'average'"):
        call("average")


def test_mse_shape_mismatch_shows_both_shapes():
    with pytest.raises(ValueError, match=r"prediction shape \(4, 1\) and target shape \(4,\) must match"):
        F.mse_loss(np.zeros((4, 1)), np.zeros(4))


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_dropout_probability_outside_unit_interval(p):
    with pytest.raises(ValueError, match=rf"p must be in \[0.0, 1.0\), got {p}"):
        F.dropout(np.ones(3), p)
    with pytest.raises(ValueError, match=rf"p must be in \[0.0, 1.0\), got {p}"):
        nn.Dropout(p)


def test_dropout_edge_cases():
    x = lb.tensor(np.ones(10))
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.9, training=False) is x
    out = F.dropout(np.ones(10_000, dtype=np.float32), 0.5, generator=0).data
    assert out.dtype == np.float32
    assert set(np.unique(out).tolist()) == {0.0, 2.0}


def test_activations_known_values():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(F.relu(x).data, [0, 0, 3])
    np.testing.assert_allclose(F.tanh(x).data, np.tanh(x), rtol=1e-12)
    np.testing.assert_allclose(F.sigmoid(x).data, 1 / (1 + np.exp(-x)), rtol=1e-12)
    # exact GELU, x * Phi(x), as PyTorch's default (the tanh approximation is off by ~1e-4 here)
    np.testing.assert_allclose(F.gelu(x).data, [-2 * 0.02275013194817921, 0.0, 3 * 0.9986501019683699], rtol=1e-12)
    np.testing.assert_allclose(F.softmax(np.array([[0.0, math.log(3)]])).data, [[0.25, 0.75]], rtol=1e-12)
