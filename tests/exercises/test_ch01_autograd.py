"""Sheet 01's checkers accept lorabook's own operations and reject typical mistakes with their hint."""
import numpy as np

from lorabook import Function
from lorabook.autograd import unbroadcast
from lorabook.exercises import ch01_autograd as check


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, g * a


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ g


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x):
        shifted = x - x.max(axis=-1, keepdims=True)
        y = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g - np.exp(y) * g.sum(axis=-1, keepdims=True)


def test_correct_operations_and_lorabooks_unbroadcast_pass():
    assert check.mul(Mul) and check.exp(Exp) and check.matmul(MatMul) and check.unbroadcast(unbroadcast)
    assert check.log_softmax(LogSoftmax)
    assert check.predicted_grads(lambda: (np.full((3, 1), 10.0), np.full(4, 6.0)))


def test_mul_with_swapped_gradients(rejected):
    class Swapped(Mul):
        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * a, g * b

    assert rejected(check.mul(Swapped), "case 1", "swapped")


def test_exp_without_the_upstream_gradient(rejected):
    class NoChainRule(Exp):
        @staticmethod
        def backward(ctx, g):
            (out,) = ctx.saved_tensors
            return out

    assert rejected(check.exp(NoChainRule), "forgot to multiply by grad_output")


def test_unbroadcast_that_does_not_sum(rejected):
    assert rejected(check.unbroadcast(lambda grad, shape: grad), "case 2", "not summed over the broadcast axis")

    def squeezed(grad, shape):
        grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
        return grad.sum(axis=tuple(i for i, size in enumerate(shape) if size == 1))

    assert rejected(check.unbroadcast(squeezed), "case 2", "keepdims=True")


def test_matmul_with_dot_T_on_a_batch(rejected):
    class PlainTranspose(MatMul):
        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g @ b.T, a.T @ g

    assert rejected(check.matmul(PlainTranspose), "case 2", "np.swapaxes(b, -1, -2)")


def test_log_softmax_without_the_max_shift_and_with_a_diagonal_backward(rejected):
    class Naive(LogSoftmax):
        @staticmethod
        def forward(ctx, x):
            y = x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
            ctx.save_for_backward(y)
            return y

    class Diagonal(LogSoftmax):
        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * (1 - np.exp(y))

    assert rejected(check.log_softmax(Naive), "case 3", "log-sum-exp")
    assert rejected(check.log_softmax(Diagonal), "case 1", "only the diagonal")


def test_predicted_gradient_of_the_broadcast_shape(rejected):
    wrong = lambda: (np.ones((3, 4)) * [1.0, 2.0, 3.0, 4.0], np.full(4, 6.0))  # noqa: E731
    assert rejected(check.predicted_grads(wrong), "not summed over the broadcast axis")


def test_a_function_with_only_forward_written_is_not_attempted_yet_and_says_so():
    class ForwardOnly(Mul):
        @staticmethod
        def backward(ctx, g):
            raise NotImplementedError()

    feedback = check.mul(ForwardOnly)
    assert str(feedback).startswith("Task 1.1 (Mul): not attempted yet. forward runs; backward is still the stub.")
