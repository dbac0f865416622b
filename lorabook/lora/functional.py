"""The LoRA linear map as one autograd Function, forward and backward by hand.

    y = x W^T + b + (s * x_lora A^T) B^T          s = scaling, x_lora = dropout(x)

    x (batch, in), W (out, in), b (out,), A (r, in), B (out, r), y (batch, out)

Why one fused Function rather than F.linear calls added together? The
autograd keeps every input of every recorded operation alive until
backward. Written as `base(x) + B(A(x) * s)`, the graph would hold three
(batch, out) arrays per layer (the base output, the LoRA output and their
sum) where a plain Linear holds one; fused, the layer holds one (batch, out)
output and one small (batch, r) array, h. That is what lets LoRA training
need less than half the memory of full fine-tuning.

Backward, with g = dL/dy (batch, out) and hs = s * x_lora A^T (batch, r):

    dB = g^T hs                    (out, r)
    dA = (s * g B)^T x_lora        (r, in)
    dx = g W  (+ (s * g B) A  for the LoRA branch; it goes to x_lora)
    dW = g^T x,  db = sum of g over the batch      only if W, b are trainable

The scaling always multiplies a thin (batch, r) array, never a (batch, out)
one. dW is skipped when W is frozen: that product, (out x batch) @ (batch x
in), is the most expensive of the step, and LoRA's saving in time.
"""
from __future__ import annotations

from ..autograd.function import Function
from ..autograd.ops import ShapeError
from ..autograd.tensor import Tensor


class LoraLinearFunction(Function):
    """Inputs (x, x_lora, lora_A, lora_B, weight[, bias]), option scaling; see the module docstring.

    x_lora may be the very tensor x (no dropout): then the two gradients
    for x are added in backward and returned once.
    """

    @staticmethod
    def forward(ctx, x, x_lora, lora_A, lora_B, weight, bias=None, scaling=1.0):
        if x.shape[-1:] != weight.shape[1:] or x_lora.shape != x.shape:
            raise ShapeError(
                f"lora_linear: input of shape {x.shape} does not fit a weight of shape {weight.shape} "
                f"(out_features, in_features): the input's last axis must be {weight.shape[1]}"
            )
        x2 = x.reshape(-1, x.shape[-1])
        x_lora2 = x2 if x_lora is x else x_lora.reshape(-1, x.shape[-1])
        out = x2 @ weight.T
        if bias is not None:
            out += bias
        hs = x_lora2 @ lora_A.T            # (batch, r)
        hs *= scaling                      # scale the thin array, not the wide one
        out += hs @ lora_B.T
        ctx.save_for_backward(x2, x_lora2, hs, lora_A, lora_B, weight)
        ctx.scaling = scaling
        ctx.x_shape = x.shape
        ctx.same_input = x_lora is x
        return out.reshape(x.shape[:-1] + out.shape[-1:])

    @staticmethod
    def backward(ctx, g):
        x2, x_lora2, hs, lora_A, lora_B, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        grad_h = None
        if needs[1] or needs[2] or (needs[0] and ctx.same_input):
            grad_h = g2 @ lora_B           # (batch, r)
            grad_h *= ctx.scaling
        grad_A = grad_h.T @ x_lora2 if needs[2] else None
        grad_B = g2.T @ hs if needs[3] else None
        grad_x = grad_x_lora = None
        if ctx.same_input:
            if needs[0]:
                grad_x = g2 @ weight
                grad_x += grad_h @ lora_A
                grad_x = grad_x.reshape(ctx.x_shape)
        else:
            if needs[0]:
                grad_x = (g2 @ weight).reshape(ctx.x_shape)
            if needs[1]:
                grad_x_lora = (grad_h @ lora_A).reshape(ctx.x_shape)
        grad_W = g2.T @ x2 if needs[4] else None
        if len(needs) == 5:
            return grad_x, grad_x_lora, grad_A, grad_B, grad_W
        grad_b = g2.sum(axis=0) if needs[5] else None
        return grad_x, grad_x_lora, grad_A, grad_B, grad_W, grad_b


def lora_linear(x, weight, bias, lora_A, lora_B, scaling, x_lora=None):
    """y = x W^T + b + (scaling * x_lora A^T) B^T as one recorded operation.

    x_lora: the LoRA branch's input (dropout(x)); None means x itself.
    bias may be None. All of weight, lora_A, lora_B (and bias) are Tensors.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    x_lora = x if x_lora is None else x_lora
    inputs = (x, x_lora, lora_A, lora_B, weight) + (() if bias is None else (bias,))
    return LoraLinearFunction.apply(*inputs, scaling=scaling)
