"""Elementwise functions and the softmax family.

Each backward is the derivative of the function applied elementwise,
times the incoming gradient g (for softmax, the Jacobian-vector product
along the softmax axis). Where the derivative is cheaper from the output
than from the input (exp, tanh, sigmoid), forward saves the output.
"""
from __future__ import annotations

import numpy as np

from .function import Function


class Exp(Function):
    """exp(a);  da = g * exp(a)."""

    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class Log(Function):
    """log(a);  da = g / a."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


class Sqrt(Function):
    """sqrt(a);  da = g / (2 sqrt(a))."""

    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (2 * out)


class Tanh(Function):
    """tanh(a);  da = g * (1 - tanh(a)**2)."""

    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (1 - out * out)


class Sigmoid(Function):
    """sigmoid(a) = 1 / (1 + exp(-a));  da = g * s * (1 - s)."""

    @staticmethod
    def forward(ctx, a):
        # exp of a negative number only, so large |a| neither overflows nor warns.
        e = np.exp(-np.abs(a))
        out = np.where(a >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out * (1 - out)


class ReLU(Function):
    """max(a, 0);  da = g where a > 0, else 0."""

    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out > 0)


def _normal_cdf(a):
    """Phi(a), the standard normal CDF, from SciPy.

    SciPy is imported here, at the first GELU, rather than with lorabook:
    importing it takes longer than importing all of lorabook.
    """
    from scipy.special import ndtr

    return ndtr(a)


class GELU(Function):
    """a * Phi(a), Phi the standard normal CDF (the exact GELU, PyTorch's default);
    da = g * (Phi(a) + a * phi(a))."""

    @staticmethod
    def forward(ctx, a):
        cdf = _normal_cdf(a)
        ctx.save_for_backward(a, cdf)
        return a * cdf

    @staticmethod
    def backward(ctx, g):
        a, cdf = ctx.saved_tensors
        pdf = np.exp(-0.5 * a * a) / np.sqrt(2 * np.pi)
        return g * (cdf + a * pdf)


class Softmax(Function):
    """exp(a) / sum(exp(a)) along `axis`;  da = s * (g - sum(g * s))."""

    @staticmethod
    def forward(ctx, a, axis=-1):
        shifted = a - a.max(axis=axis, keepdims=True)  # exp never overflows
        e = np.exp(shifted)
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return s * (g - (g * s).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    """a - logsumexp(a) along `axis`;  da = g - softmax(a) * sum(g)."""

    @staticmethod
    def forward(ctx, a, axis=-1):
        shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g - np.exp(out) * g.sum(axis=ctx.axis, keepdims=True)
