"""`SVDLinear`: a frozen Linear layer plus an update in SVD form (PEFT's adalora.SVDLinear).

For input x (batch, in) the layer computes

    y = x W^T + b  +  (dropout(x) (A * E)^T B^T) * scaling / (ranknum + 1e-5)

with, per adapter (PEFT's names and shapes),

    lora_A[name]    (r, in)   the right "singular vectors", rows of P in the paper's P Lambda Q
    lora_E[name]    (r, 1)    the "singular values" Lambda, one per triplet
    lora_B[name]    (out, r)  the left "singular vectors"
    ranknum[name]   (1,)      the starting rank r, frozen; it stays r when triplets are masked

so the update is delta W = B diag(E) A * scaling / (ranknum + 1e-5). Nothing
forces A's rows and B's columns to be orthonormal: the orthogonality penalty
(AdaLoraModel.orth_regularization) only pulls them there, which is what lets
E be read as singular values and a triplet be dropped by setting its E to 0.

Starting values are PEFT's: E = 0 (so a fresh adapter changes nothing, and
the first gradients reach E only), A and B ~ N(0, 0.02^2).

Parameters sit in ParameterDicts, so their names carry no ".weight":
"0.lora_A.default", "0.lora_E.default", "0.ranknum.default", as in PEFT.
"""
from __future__ import annotations

import numpy as np

from ..._checks import _show
from ...autograd.tensor import Tensor
from ...nn import init
from ...nn.layers import Dropout, Identity, Linear, ModuleDict
from ...nn.module import Module, Parameter
from ...random import get_generator

RANKNUM_EPS = 1e-5  # PEFT's: keeps the scaling finite for a layer of rank 0


class ParameterDict(Module):
    """A dict of named Parameters registered under their keys (PyTorch's nn.ParameterDict)."""

    def __setitem__(self, name, param):
        if not isinstance(param, Parameter):
            raise TypeError(f"ParameterDict values must be Parameters, got {_show(param)} for key {name!r}")
        setattr(self, name, param)

    def __getitem__(self, name):
        if name not in self._parameters:
            raise KeyError(f"no parameter named {name!r}; keys are {list(self._parameters)}")
        return self._parameters[name]

    def __contains__(self, name):
        return name in self._parameters

    def __iter__(self):
        return iter(self._parameters)

    def __len__(self):
        return len(self._parameters)

    def keys(self):
        return self._parameters.keys()


class SVDLinear(Module):
    """A Linear layer with an AdaLoRA adapter; see the module docstring for the formula.

    base_layer: the nn.Linear to adapt (frozen here). r: the starting rank
    (AdaLoraConfig.init_r). scaling: lora_alpha (or r when lora_alpha <= 0).
    generator: an int seed or numpy Generator for the starting values.
    """

    def __init__(self, base_layer, adapter_name="default", r=12, lora_alpha=8, lora_dropout=0.0,
                 init_lora_weights=True, generator=None):
        super().__init__()
        if not isinstance(base_layer, Linear):
            raise TypeError(f"base_layer must be a lorabook.nn.Linear, got {type(base_layer).__name__}")
        self.base_layer = base_layer
        self.in_features, self.out_features = base_layer.in_features, base_layer.out_features
        self.lora_A, self.lora_E, self.lora_B, self.ranknum = (ParameterDict(), ParameterDict(),
                                                               ParameterDict(), ParameterDict())
        self.lora_dropout = ModuleDict()
        self.r, self.lora_alpha, self.scaling = {}, {}, {}
        self.active_adapter = adapter_name
        self.merged_adapters = []
        self.disable_adapters = False
        base_layer.requires_grad_(False)
        self.update_layer(adapter_name, r, lora_alpha, lora_dropout, init_lora_weights, generator)

    def update_layer(self, adapter_name, r, lora_alpha, lora_dropout=0.0, init_lora_weights=True, generator=None):
        """(Re)create the adapter with r triplets; ranknum = r. r = 0 is allowed (a layer that lost every triplet)."""
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 0:
            raise ValueError(f"r must be an integer >= 0, got {_show(r)}")
        rng = get_generator(generator)
        dtype = self.base_layer.weight.dtype
        self.r[adapter_name] = int(r)
        self.lora_alpha[adapter_name] = lora_alpha
        self.scaling[adapter_name] = lora_alpha if lora_alpha > 0 else float(r)
        self.lora_dropout[adapter_name] = Dropout(lora_dropout, generator=rng) if lora_dropout > 0 else Identity()
        self.lora_A[adapter_name] = Parameter(rng.standard_normal((r, self.in_features)).astype(dtype))
        self.lora_E[adapter_name] = Parameter(rng.standard_normal((r, 1)).astype(dtype))
        self.lora_B[adapter_name] = Parameter(rng.standard_normal((self.out_features, r)).astype(dtype))
        self.ranknum[adapter_name] = Parameter(np.full(1, float(r), dtype=dtype), requires_grad=False)
        if init_lora_weights:
            self.reset_lora_parameters(adapter_name, rng)

    def reset_lora_parameters(self, adapter_name, generator=None):
        """PEFT's start: E = 0, A and B ~ N(0, 0.02^2)."""
        rng = get_generator(generator)
        init.zeros_(self.lora_E[adapter_name])
        init.normal_(self.lora_A[adapter_name], mean=0.0, std=0.02, generator=rng)
        init.normal_(self.lora_B[adapter_name], mean=0.0, std=0.02, generator=rng)

    def factor(self, adapter_name=None):
        """scaling / (ranknum + 1e-5), the number delta W = B diag(E) A is multiplied by."""
        name = self.active_adapter if adapter_name is None else adapter_name
        return self.scaling[name] / (float(self.ranknum[name].data[0]) + RANKNUM_EPS)

    def forward(self, x):
        """y = base_layer(x) + (dropout(x) (A * E)^T B^T) * scaling / (ranknum + 1e-5); the reference formula."""
        name = self.active_adapter
        if self.disable_adapters:
            if self.merged_adapters:
                self.unmerge()
            return self.base_layer(x)
        result = self.base_layer(x)
        if self.merged_adapters or name not in self.lora_A:
            return result
        if not isinstance(x, Tensor):
            x = Tensor(x)
        A, E, B = self.lora_A[name], self.lora_E[name], self.lora_B[name]
        update = (self.lora_dropout[name](x) @ (A * E).T) @ B.T   # (batch, r) then (batch, out)
        return result + update * self.factor(name)

    # ----- merging ------------------------------------------------------------------
    def get_delta_weight(self, adapter_name=None):
        """delta W = B @ (A * E) * scaling / (ranknum + 1e-5), an (out, in) array outside any graph."""
        name = self.active_adapter if adapter_name is None else adapter_name
        A, E, B = self.lora_A[name].data, self.lora_E[name].data, self.lora_B[name].data
        return (B @ (A * E)) * self.factor(name)

    @property
    def merged(self):
        return bool(self.merged_adapters)

    def merge(self, safe_merge=False):
        """W <- W + delta W (safe_merge: refuse, changing nothing, if that holds NaN or inf)."""
        if self.active_adapter in self.merged_adapters:
            return
        merged = self.base_layer.weight.data + self.get_delta_weight()
        if safe_merge and not np.all(np.isfinite(merged)):
            raise ValueError(f"safe_merge: merging adapter {self.active_adapter!r} would put NaN or inf into the "
                             f"base weight; nothing was merged")
        # a new array, never an in-place write: a graph that saved the old weight stays right
        self.base_layer.weight.data = merged.astype(self.base_layer.weight.dtype)
        self.merged_adapters.append(self.active_adapter)

    def unmerge(self):
        """W <- W - delta W for the merged adapter."""
        while self.merged_adapters:
            weight = self.base_layer.weight
            weight.data = (weight.data - self.get_delta_weight(self.merged_adapters.pop())).astype(weight.dtype)

    def extra_repr(self):
        ranks = ", ".join(f"{name}: r={r}" for name, r in self.r.items())
        return f"in_features={self.in_features}, out_features={self.out_features}, adapters {{{ranks}}}"
