"""`LoraLinear`: a frozen Linear layer plus trainable low-rank updates (PEFT's `lora.Linear`).

For input x (batch, in) the layer computes

    y = x W^T + b  +  sum over active adapters of  scaling * (dropout(x) A^T) B^T

W (out, in) and b (out,) belong to the pretrained layer, kept as
`self.base_layer` and frozen. Each adapter `name` owns

    A = lora_A[name].weight   (r, in)    starts Kaiming-uniform, U(-1/sqrt(in), 1/sqrt(in))
    B = lora_B[name].weight   (out, r)   starts at zero, so the layer starts unchanged

and scaling = lora_alpha / r (lora_alpha / sqrt(r) with rsLoRA). The layer
acts as if its weight were W + delta W with delta W = scaling * B @ A, a
matrix of rank at most r, but forward never forms B @ A: that would cost
out * r * in multiply-adds and an (out, in) array, while the two thin
products cost batch * r * (in + out). The scaling multiplies the small
(batch, r) intermediate rather than the (batch, out) result: the same
numbers, out / r times less work, and no extra (batch, out) array.

Parameter names read as in PEFT: "base_layer.weight", "lora_A.default.weight",
"lora_B.default.weight". Several adapters can live side by side; the
active ones (`active_adapters`) are used, and `merge()` folds an adapter
into W so that inference costs one product again.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .._checks import _show, check_bool, check_float, check_int
from ..autograd.tensor import Tensor
from ..nn import init
from ..nn.layers import Dropout, Identity, Linear, ModuleDict
from ..nn.module import Module
from ..random import get_generator
from .config import check_init, lora_scaling
from .functional import lora_linear


class LoraLinear(Module):
    """A Linear layer with LoRA adapters; see the module docstring for the formula.

    base_layer: the nn.Linear to adapt (its weight and bias are frozen here).
    adapter_name, r, lora_alpha, lora_dropout, init_lora_weights, use_rslora:
    the first adapter, as in LoraConfig. generator: an int seed or a
    numpy Generator for A's (and B's) starting values; None uses the
    package's default generator (lorabook.manual_seed).
    """

    def __init__(self, base_layer, adapter_name="default", r=8, lora_alpha=8, lora_dropout=0.0,
                 init_lora_weights=True, use_rslora=False, generator=None):
        super().__init__()
        if not isinstance(base_layer, Linear):
            raise TypeError(f"base_layer must be a lorabook.nn.Linear, got {type(base_layer).__name__}")
        self.base_layer = base_layer
        self.in_features = base_layer.in_features
        self.out_features = base_layer.out_features
        self.lora_A = ModuleDict()
        self.lora_B = ModuleDict()
        self.lora_dropout = ModuleDict()
        self.r = {}
        self.lora_alpha = {}
        self.scaling = {}
        self.use_rslora = {}
        self.active_adapters = [adapter_name]
        self.merged_adapters = []
        self.disable_adapters = False
        base_layer.requires_grad_(False)
        self.update_layer(adapter_name, r, lora_alpha, lora_dropout, init_lora_weights, use_rslora, generator)

    # ----- adapters ---------------------------------------------------------------
    def update_layer(self, adapter_name, r, lora_alpha, lora_dropout=0.0, init_lora_weights=True,
                     use_rslora=False, generator=None):
        """Add the adapter `adapter_name`: A (r, in), B (out, r), its dropout and scaling."""
        check_adapter_name(adapter_name)
        if adapter_name in self.lora_A:
            raise ValueError(f"adapter_name {adapter_name!r} is already in use in this layer; pick another name")
        r = check_int("r", r, low=1)
        lora_alpha = check_float("lora_alpha", lora_alpha, low=0.0, low_open=True)
        lora_dropout = check_float("lora_dropout", lora_dropout, low=0.0, high=1.0, high_open=True)
        init_lora_weights = check_init("init_lora_weights", init_lora_weights)
        use_rslora = check_bool("use_rslora", use_rslora)  # 'yes' would silently mean True
        if r > min(self.in_features, self.out_features):
            warnings.warn(
                f"r={r} is larger than min(in_features, out_features) = "
                f"min({self.in_features}, {self.out_features}): delta W = B @ A of an (out, in) = "
                f"({self.out_features}, {self.in_features}) layer has rank at most "
                f"{min(self.in_features, self.out_features)}, so the extra rank cannot help",
                stacklevel=3,
            )
        rng = get_generator(generator)
        dtype = self.base_layer.weight.dtype
        # Linear draws a start of its own; reset_lora_parameters below sets the one asked for.
        self.lora_A[adapter_name] = Linear(self.in_features, r, bias=False, generator=rng, dtype=dtype)
        self.lora_B[adapter_name] = Linear(r, self.out_features, bias=False, generator=rng, dtype=dtype)
        self.lora_dropout[adapter_name] = Dropout(lora_dropout, generator=rng) if lora_dropout > 0 else Identity()
        self.r[adapter_name] = r
        self.lora_alpha[adapter_name] = lora_alpha
        self.use_rslora[adapter_name] = use_rslora
        self.scaling[adapter_name] = lora_scaling(lora_alpha, r, use_rslora)
        self.reset_lora_parameters(adapter_name, init_lora_weights, rng)
        self.set_adapter(self.active_adapters)

    def reset_lora_parameters(self, adapter_name, init_lora_weights=True, generator=None):
        """Give A and B their starting values.

        True       A ~ U(-1/sqrt(in), 1/sqrt(in)) (Kaiming-uniform, a=sqrt(5)), B = 0
        "gaussian" A ~ Normal with standard deviation 1/r (PEFT's normal_(std=1/r)), B = 0
        "pissa"    A, B from the top-r singular triplets of W; W becomes the residual
        False      A and B both random (Kaiming-uniform): the layer starts changed
        """
        init_lora_weights = check_init("init_lora_weights", init_lora_weights)
        A, B = self.lora_A[adapter_name].weight, self.lora_B[adapter_name].weight
        rng = get_generator(generator)
        if init_lora_weights is True:
            init.kaiming_uniform_(A, a=math.sqrt(5), generator=rng)
            init.zeros_(B)
        elif init_lora_weights == "gaussian":
            init.normal_(A, std=1.0 / self.r[adapter_name], generator=rng)
            init.zeros_(B)
        elif init_lora_weights == "pissa":
            B_start, A_start = self.pissa_split(adapter_name)
            A.data[...] = A_start
            B.data[...] = B_start
        else:  # False: both random (what PEFT leaves, nn.Linear's own start), for experiments
            init.kaiming_uniform_(A, a=math.sqrt(5), generator=rng)
            init.kaiming_uniform_(B, a=math.sqrt(5), generator=rng)

    def pissa_split(self, adapter_name):
        """PiSSA (Meng et al. 2024): move W's principal part into the adapter.

        With W = U S V^T, the adapter starts with its update equal to the top-r
        part of W, and the frozen weight keeps the rest:

            B = U_r sqrt(S_r) / sqrt(scaling)     (out, r)
            A = sqrt(S_r) V_r^T / sqrt(scaling)   (r, in)
            W <- W - scaling * B @ A              (the residual, frozen)

        so W + scaling * B @ A is unchanged and the output too (to float
        rounding), but training now moves the directions that matter most.
        Returns (B, A); the base weight is replaced here, in place.
        """
        W = self.base_layer.weight.data
        r, scaling = self.r[adapter_name], self.scaling[adapter_name]
        U, S, Vt = np.linalg.svd(W.astype(np.float64), full_matrices=False)
        k = min(r, len(S))  # r > min(in, out): the extra directions stay zero
        root = np.sqrt(S[:k] / scaling)
        B = np.zeros((self.out_features, r), dtype=W.dtype)
        A = np.zeros((r, self.in_features), dtype=W.dtype)
        B[:, :k] = U[:, :k] * root
        A[:k] = root[:, None] * Vt[:k]
        # The residual uses the factors as stored (rounded to W's dtype), so that
        # residual + scaling * B @ A reproduces W as closely as the dtype allows.
        residual = W.astype(np.float64) - scaling * (B.astype(np.float64) @ A.astype(np.float64))
        W[...] = residual
        return B, A

    def set_delta_factors(self, lora_B, lora_A, adapter_name=None):
        """Make the adapter's update scaling * B @ A equal lora_B @ lora_A (to float rounding).

        lora_B (out, k) and lora_A (k, in) with k = the adapter's rank, for
        instance from lorabook.analysis.extract_lora. Each factor is stored
        divided by sqrt(scaling), which keeps them balanced.
        """
        adapter_name = self._single_adapter(adapter_name)
        r = self.r[adapter_name]
        expected = {"lora_B": (self.out_features, r), "lora_A": (r, self.in_features)}
        root = math.sqrt(self.scaling[adapter_name])
        for key, value in (("lora_B", lora_B), ("lora_A", lora_A)):
            value = np.asarray(getattr(value, "data", value))
            if value.shape != expected[key]:
                raise ValueError(
                    f"{key} must have shape {expected[key]} for adapter {adapter_name!r} (rank {r}, "
                    f"in_features {self.in_features}, out_features {self.out_features}), got {value.shape}"
                )
            getattr(self, key)[adapter_name].weight.data[...] = value / root

    def set_adapter(self, adapter_names):
        """Make `adapter_names` (a name or a list) the active adapters; only they train."""
        names = [adapter_names] if isinstance(adapter_names, str) else list(adapter_names)
        for name in names:
            if name not in self.lora_A:
                raise ValueError(f"adapter_name {name!r} is not an adapter of this layer; adapters: {list(self.lora_A)}")
        for name in self.lora_A:
            self.lora_A[name].requires_grad_(name in names)
            self.lora_B[name].requires_grad_(name in names)
        self.active_adapters = names

    @property
    def active_adapter(self):
        """The active adapter's name (a list when several are active)."""
        return self.active_adapters[0] if len(self.active_adapters) == 1 else list(self.active_adapters)

    def delete_adapter(self, adapter_name):
        """Remove an adapter; if it was active, the first remaining one becomes active."""
        if adapter_name not in self.lora_A:
            raise ValueError(f"adapter_name {adapter_name!r} is not an adapter of this layer; adapters: {list(self.lora_A)}")
        if adapter_name in self.merged_adapters:
            raise ValueError(f"adapter {adapter_name!r} is merged into the base weight; unmerge() it before deleting it")
        for table in (self.lora_A, self.lora_B, self.lora_dropout):
            del table[adapter_name]
        for table in (self.r, self.lora_alpha, self.scaling, self.use_rslora):
            del table[adapter_name]
        remaining = [name for name in self.active_adapters if name != adapter_name]
        if not remaining and len(self.lora_A):
            remaining = [next(iter(self.lora_A))]
        self.active_adapters = remaining

    def _single_adapter(self, adapter_name):
        if adapter_name is None:
            adapter_name = self.active_adapters[0] if self.active_adapters else None
        if adapter_name not in self.lora_A:
            raise ValueError(f"adapter_name {adapter_name!r} is not an adapter of this layer; adapters: {list(self.lora_A)}")
        return adapter_name

    # ----- forward ------------------------------------------------------------------
    def forward(self, x):
        """y = base_layer(x) + sum over active, unmerged adapters of scaling * B(A(dropout(x))).

        The first such adapter is computed together with the base layer in one
        fused operation (functional.lora_linear), which keeps a single
        (batch, out) array alive for backward; any further active adapter adds
        its term separately.
        """
        if self.disable_adapters:
            if self.merged_adapters:  # as in PEFT: disabled means the base layer, so take merges out
                self.unmerge()
            return self.base_layer(x)
        names = [n for n in self.active_adapters if n in self.lora_A and n not in self.merged_adapters]
        if not names:
            return self.base_layer(x)
        if not isinstance(x, Tensor):
            x = Tensor(x)  # once, so that an identity dropout hands back this same tensor
        base = self.base_layer
        first, rest = names[0], names[1:]
        result = lora_linear(x, base.weight, base.bias, self.lora_A[first].weight, self.lora_B[first].weight,
                             self.scaling[first], x_lora=self.lora_dropout[first](x))
        for name in rest:
            h = self.lora_A[name](self.lora_dropout[name](x))                 # (batch, r)
            result = result + self.lora_B[name](h * self.scaling[name])       # (batch, out)
        return result

    # ----- merging ------------------------------------------------------------------
    def get_delta_weight(self, adapter_name=None):
        """delta W = scaling * B @ A, an (out, in) array of W's dtype (not part of any graph)."""
        adapter_name = self._single_adapter(adapter_name)
        delta = self.lora_B[adapter_name].weight.data @ self.lora_A[adapter_name].weight.data
        delta *= self.scaling[adapter_name]
        return delta

    @property
    def merged(self):
        """True when some adapter is folded into the base weight."""
        return bool(self.merged_adapters)

    def merge(self, safe_merge=False, adapter_names=None):
        """W <- W + delta W for each adapter given (default: the active ones).

        Afterwards forward costs one matrix product, as the original layer.
        safe_merge: compute the merged weight on a copy first and raise a
        ValueError naming the adapter, leaving W untouched, if it holds NaN or
        inf. An adapter already merged is skipped with a warning.
        """
        names = self._adapters_to_merge(adapter_names)
        if not names:
            return
        weight = self.base_layer.weight.data
        if safe_merge:
            weight[...] = self._safe_merged_weight(names)
        else:
            for name in names:
                weight += self.get_delta_weight(name)
        self.merged_adapters.extend(names)

    def _safe_merged_weight(self, adapter_names):
        """W + the adapters' updates, on a copy; ValueError naming the adapter if not finite."""
        merged = self.base_layer.weight.data.copy()
        for name in adapter_names:
            # A diverged adapter's inf or NaN is what this looks for: computing with it must not
            # warn (whether B @ A warns depends on the BLAS kernel), it must be caught just below.
            with np.errstate(invalid="ignore", over="ignore"):
                merged += self.get_delta_weight(name)
            if not np.all(np.isfinite(merged)):
                raise ValueError(
                    f"safe_merge: merging adapter {name!r} would put NaN or inf into the base weight "
                    f"(have the adapter's weights diverged?); nothing was merged"
                )
        return merged

    def _adapters_to_merge(self, adapter_names):
        names = list(self.active_adapters) if adapter_names is None else (
            [adapter_names] if isinstance(adapter_names, str) else list(adapter_names))
        for name in names:
            if name not in self.lora_A:
                raise ValueError(f"adapter_names: {name!r} is not an adapter of this layer; adapters: {list(self.lora_A)}")
        already = [name for name in names if name in self.merged_adapters]
        if already:
            warnings.warn(f"adapter(s) {already} already merged into this layer; merging again would add them twice, so they are skipped", stacklevel=3)
        return [name for name in names if name not in self.merged_adapters]

    def unmerge(self):
        """Undo merge(): W <- W - delta W for every merged adapter, last merged first."""
        if not self.merged_adapters:
            warnings.warn("unmerge: no adapter is merged into this layer; nothing to do", stacklevel=2)
            return
        weight = self.base_layer.weight.data
        while self.merged_adapters:
            weight -= self.get_delta_weight(self.merged_adapters.pop())

    def extra_repr(self):
        ranks = ", ".join(f"{name}: r={r}" for name, r in self.r.items())
        return f"in_features={self.in_features}, out_features={self.out_features}, adapters {{{ranks}}}"


def check_adapter_name(adapter_name):
    """A non-empty string without dots (it becomes part of dotted parameter names)."""
    if not isinstance(adapter_name, str) or not adapter_name or "." in adapter_name:
        raise ValueError(f"adapter_name must be a non-empty string without dots, got {_show(adapter_name)}")
    return adapter_name
