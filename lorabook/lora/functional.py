"""The LoRA layer's autograd Functions: the LoRA linear map as one Function (an optimisation of
PEFT's one-line formula), and MergedAdapterGuard, which makes backward through a merged adapter an error.

The reference (LoraLinear.reference_forward, PEFT's own line) is

    result = base_layer(x) + lora_B(lora_A(dropout(x))) * scaling

that is y = x W^T + b + s (x_lora A^T) B^T with x_lora = dropout(x), s = scaling,

    x (batch, in), W (out, in), b (out,), A (r, in), B (out, r), y (batch, out).

Why fuse it? The autograd keeps every input of every recorded operation
alive until backward. Written as four operations, the graph holds three
(batch, out) arrays per layer (the base output, the LoRA output and their
sum) where a plain Linear holds one. Fused, the layer keeps one (batch, out)
output and one thin (batch, r) array hs = s x_lora A^T. The scaling
multiplies that thin array, never a (batch, out) one.

Backward, with g = dL/dy (batch, out) and gh = s g B (batch, r):

    dA = gh^T x_lora     (r, in)          dB = g^T hs          (out, r)
    dx = g W             (batch, in)      dx_lora = gh A       (batch, in)
    dW = g^T x           (out, in)        db = sum of g over the batch

Each is computed only if its input needs a gradient. dW is the costliest
product of the step, (out x batch) @ (batch x in), and W is frozen in LoRA:
skipping it is where LoRA saves time. tests/lora/test_fused_vs_reference.py
checks that this Function and the reference agree in forward and in every
gradient.
"""
from __future__ import annotations

from typing import Optional

from ..autograd import Function, Tensor
from ..autograd.errors import ShapeError

INPUTS = ("x", "x_lora", "lora_A", "lora_B", "weight", "bias")  # the order apply() gets them in


class LoraLinearFunction(Function):
    """y = x W^T + b + (s x_lora A^T) B^T; inputs in the order of INPUTS (bias may be left out)."""

    @staticmethod
    def forward(ctx, x, x_lora, lora_A, lora_B, weight, bias=None, scaling=1.0):
        """x, x_lora (..., in) -> y (..., out). x_lora may be x itself (no dropout)."""
        if x.shape[-1:] != weight.shape[1:] or x_lora.shape != x.shape:
            raise ShapeError(f"lora_linear: input of shape {x.shape} does not fit a weight of shape {weight.shape} "
                             f"(out_features, in_features): the input's last axis must be {weight.shape[1]}")
        same_input, input_shape = x_lora is x, x.shape
        x = x.reshape(-1, x.shape[-1])                                   # (batch, in)
        x_lora = x if same_input else x_lora.reshape(x.shape)
        hs = x_lora @ lora_A.T                                           # (batch, r)
        hs *= scaling
        y = x @ weight.T                                                 # (batch, out)
        if bias is not None:
            y += bias
        y += hs @ lora_B.T
        ctx.save_for_backward(x, x_lora, hs, lora_A, lora_B, weight)
        ctx.scaling, ctx.same_input, ctx.input_shape = scaling, same_input, input_shape
        return y.reshape(input_shape[:-1] + y.shape[-1:])

    @staticmethod
    def backward(ctx, g):
        """g (..., out) -> one gradient or None per input, by name; see the module docstring."""
        x, x_lora, hs, lora_A, lora_B, weight = ctx.saved_tensors
        need = dict(zip(INPUTS, ctx.needs_input_grad))  # only the inputs given: no "bias" without one
        g = g.reshape(-1, g.shape[-1])                                   # (batch, out)
        grad = dict.fromkeys(need)
        # x_lora is x when there is no dropout: its gradient is then added into x's, returned once.
        lora_input = need["x"] if ctx.same_input else need["x_lora"]
        if need["lora_A"] or lora_input:
            gh = g @ lora_B                                              # (batch, r)
            gh *= ctx.scaling
        if need["lora_A"]:
            grad["lora_A"] = gh.T @ x_lora                               # (r, in)
        if need["lora_B"]:
            grad["lora_B"] = g.T @ hs                                    # (out, r)
        if need["x"]:
            grad["x"] = g @ weight                                       # (batch, in)
        if lora_input:
            if ctx.same_input:
                grad["x"] += gh @ lora_A
            else:
                grad["x_lora"] = gh @ lora_A
        if need["weight"]:
            grad["weight"] = g.T @ x                                     # (out, in)
        if need.get("bias"):
            grad["bias"] = g.sum(axis=0)                                 # (out,)
        for name in ("x", "x_lora"):
            if grad[name] is not None:
                grad[name] = grad[name].reshape(ctx.input_shape)
        return tuple(grad[name] for name in need)


def lora_linear(x, weight: Tensor, bias: Optional[Tensor], lora_A: Tensor, lora_B: Tensor, scaling: float,
                x_lora=None) -> Tensor:
    """y = x W^T + b + (scaling * x_lora A^T) B^T as one recorded operation.

    x_lora: the LoRA branch's input (dropout(x)); None means x itself.
    bias may be None. weight, lora_A, lora_B (and bias) are Tensors.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    x_lora = x if x_lora is None else x_lora
    inputs = (x, x_lora, lora_A, lora_B, weight) + (() if bias is None else (bias,))
    return LoraLinearFunction.apply(*inputs, scaling=float(scaling))


class MergedAdapterGuard(Function):
    """The identity on the layer's output, with the merged adapters' parameters as extra inputs.

    A merged adapter is part of W: forward does not use its A and B, so they
    could get no gradient and training would silently do nothing. Backward
    through this node says so instead.
    """

    @staticmethod
    def forward(ctx, output, *params, adapter_names=()):
        ctx.adapter_names = adapter_names
        return output.view()

    @staticmethod
    def backward(ctx, grad_output):
        raise RuntimeError(
            f"backward through a merged adapter: {ctx.adapter_names} is merged into the base weight of a LoRA "
            "layer, so forward did not use its lora_A and lora_B and they cannot get a gradient. To train it, call "
            "peft_model.unmerge_adapter() (layer.unmerge()) before the forward pass; to use the merged model for "
            "inference only, run it under lorabook.no_grad() or freeze the adapter"
        )
