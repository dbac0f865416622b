"""Numerical stability: huge logits stay finite and accurate, with no RuntimeWarning."""
import warnings

import numpy as np
import pytest

from lorabook.autograd import Tensor, nn_ops

TARGETS = np.array([0, 1, 2, 1])


def huge_logits():
    """Rows mixing +-1e4 with near-ties, where a naive exp overflows (exp(1e4) = inf)."""
    return np.array(
        [
            [1e4, -1e4, 0.0],  # target is the maximum: loss ~ 0
            [1e4, -1e4, 5e3],  # target is the minimum: loss ~ 2e4
            [-1e4, 9999.0, 1e4],  # near-tie at the top: loss = log(1 + e^-1)
            [-1e4, -1e4, -1e4],  # all equal: loss = log 3
        ]
    )


def reference_cross_entropy(logits, targets):
    """Per-row -log softmax(logits)[target], by hand in float64 with the max subtracted."""
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)  # exact here: the logits are whole numbers
    return np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(targets)), targets]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_with_logits_of_magnitude_1e4(dtype):
    logits = Tensor(huge_logits().astype(dtype), requires_grad=True)
    targets = np.array(TARGETS, dtype=np.int64)
    expected = reference_cross_entropy(huge_logits(), TARGETS)
    np.testing.assert_allclose(expected, [0.0, 2e4, np.log1p(np.exp(-1.0)), np.log(3.0)], rtol=1e-12, atol=1e-300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        per_row = nn_ops.CrossEntropy.apply(logits, targets=targets, reduction="none")
        loss = nn_ops.CrossEntropy.apply(logits, targets=targets)
        loss.backward()
    assert loss.dtype == dtype and np.isfinite(loss.data)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(per_row.data, expected, rtol=rtol, atol=1e-30)
    np.testing.assert_allclose(loss.item(), expected.mean(), rtol=rtol)
    # d loss / d logits = (softmax - onehot) / N: finite, each row summing to zero.
    assert logits.grad.dtype == dtype and np.all(np.isfinite(logits.grad))
    np.testing.assert_allclose(logits.grad.sum(axis=1), 0.0, atol=1e-7)
    np.testing.assert_allclose(logits.grad[1], [0.25, -0.25, 0.0], atol=1e-7)
    np.testing.assert_allclose(logits.grad[3], [1 / 12, -2 / 12, 1 / 12], rtol=1e-6)  # (1/3 - onehot(1)) / 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_of_plus_minus_1e4_is_finite_without_warnings(dtype):
    x = Tensor(np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x.sigmoid()
        y.sum().backward()
    assert y.dtype == dtype
    np.testing.assert_array_equal(y.data[[0, 2, 4]], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(y.data[[1, 3]], [np.exp(-50.0), 1.0], rtol=1e-6)
    np.testing.assert_array_equal(x.grad[[0, 2, 4]], [0.0, 0.25, 0.0])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_and_log_softmax_of_huge_logits_are_finite(name):
    logits = huge_logits()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = getattr(Tensor(logits, requires_grad=True), name)(axis=1)
    expected_log = -reference_cross_entropy(logits[:, None, :].repeat(3, 1).reshape(-1, 3), np.tile([0, 1, 2], 4))
    expected = expected_log.reshape(4, 3)
    if name == "softmax":
        expected = np.exp(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-300)
    assert np.all(np.isfinite(out.data))


def test_gelu_and_tanh_of_huge_inputs_are_exact_limits():
    x = Tensor(np.array([-1e4, 1e4]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gelu, tanh = x.gelu(), x.tanh()
        (gelu + tanh).sum().backward()
    np.testing.assert_array_equal(gelu.data, [0.0, 1e4])
    np.testing.assert_array_equal(tanh.data, [-1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 1.0])
