"""`LoraLinear`: a frozen Linear layer plus trainable low-rank updates (PEFT's `lora.Linear`).

The reference is PEFT's own line, once per active adapter:

    result = base_layer(x)
    result = result + lora_B(lora_A(dropout(x))) * scaling

that is y = x W^T + b + scaling * (dropout(x) A^T) B^T for input x (batch, in).
W (out, in) and b (out,) belong to the pretrained layer, kept as
`self.base_layer` and frozen. Each adapter `name` owns

    A = lora_A[name].weight   (r, in)    starts Kaiming-uniform, U(-1/sqrt(in), 1/sqrt(in))
    B = lora_B[name].weight   (out, r)   starts at zero, so the layer starts unchanged

and scaling = lora_alpha / r (lora_alpha / sqrt(r) with rsLoRA). The layer
acts as if its weight were W + delta W with delta W = scaling * B @ A, a
matrix of rank at most r, but forward never forms B @ A: that would cost
out * r * in multiply-adds and an (out, in) array, while the two thin
products cost batch * r * (in + out).

Two ways to compute the same numbers (`forward` picks one):
  reference_forward   PEFT's line above, adapter by adapter (also DoRA's term, see lora.dora)
  fused_forward       the base layer and the first adapter as one autograd Function
                      (functional.LoraLinearFunction): the graph then keeps one (batch, out)
                      array instead of three, and the scaling multiplies a (batch, r) array
The fused path is used when `fused` is True (the default) and the first
adapter in use is a plain LoRA adapter; tests check that both paths agree.

Parameter names read as in PEFT: "base_layer.weight", "lora_A.default.weight",
"lora_B.default.weight" (and "lora_magnitude_vector.default.weight" with
DoRA). Several adapters can live side by side; the active ones
(`active_adapters`) are used, and `merge()` folds an adapter into W so that
inference costs one product again. A merged adapter cannot train (forward
no longer uses its A and B): backward through it raises an error that says
how to unmerge, where PyTorch would silently give it no gradient.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional, Sequence, Union

import numpy as np

from .._checks import _show, check_bool, check_float, check_int
from ..autograd import Tensor, is_grad_enabled
from ..nn import init
from ..nn.layers import Dropout, Identity, Linear, ModuleDict
from ..nn.module import Module
from ..random import get_generator
from . import dora
from .config import check_adapter_name, check_alpha, check_dropout, check_init, lora_scaling
from .functional import MergedAdapterGuard, lora_linear
from .pissa import pissa_factors

Names = Union[str, Sequence[str]]
Seed = Union[int, np.random.Generator, None]


class LoraLinear(Module):
    """A Linear layer with LoRA adapters; see the module docstring for the formula.

    base_layer: the nn.Linear to adapt (its weight and bias are frozen here).
    adapter_name, r, lora_alpha, lora_dropout, init_lora_weights, use_rslora,
    use_dora: the first adapter, as in LoraConfig. generator: an int seed or a
    numpy Generator for A's (and B's) starting values; None uses the
    package's default generator (lorabook.manual_seed).
    """

    fused = True  # False: forward computes with reference_forward (for comparing the two)

    def __init__(self, base_layer: Linear, adapter_name: str = "default", r: int = 8, lora_alpha: float = 8,
                 lora_dropout: float = 0.0, init_lora_weights: Union[bool, str] = True, use_rslora: bool = False,
                 use_dora: bool = False, generator: Seed = None):
        super().__init__()
        if not isinstance(base_layer, Linear):
            raise TypeError(f"base_layer must be a lorabook.nn.Linear, got {type(base_layer).__name__}")
        self.base_layer = base_layer
        self.in_features = base_layer.in_features
        self.out_features = base_layer.out_features
        self.lora_A = ModuleDict()
        self.lora_B = ModuleDict()
        self.lora_dropout = ModuleDict()
        self.lora_magnitude_vector = ModuleDict()  # DoRA's m, one per DoRA adapter (empty without DoRA)
        self.r = {}
        self.lora_alpha = {}
        self.scaling = {}
        self.use_rslora = {}
        self.active_adapters = [adapter_name]
        self.merged_adapters = []
        self._merged_norms = {}  # DoRA adapter -> the row norms its merge used (unmerge needs them)
        self.disable_adapters = False
        base_layer.requires_grad_(False)
        self.update_layer(adapter_name, r, lora_alpha, lora_dropout, init_lora_weights, use_rslora, use_dora,
                          generator)

    # ----- adapters ---------------------------------------------------------------
    def update_layer(self, adapter_name: str, r: int, lora_alpha: float, lora_dropout: float = 0.0,
                     init_lora_weights: Union[bool, str] = True, use_rslora: bool = False, use_dora: bool = False,
                     generator: Seed = None) -> None:
        """Add the adapter `adapter_name`: A (r, in), B (out, r), its dropout and scaling (and m with DoRA)."""
        check_adapter_name(adapter_name)
        if adapter_name in self.lora_A:
            raise ValueError(f"adapter_name {adapter_name!r} is already in use in this layer; pick another name")
        r = check_int("r", r, low=1)
        lora_alpha = check_alpha("lora_alpha", lora_alpha)
        lora_dropout = check_dropout("lora_dropout", lora_dropout)
        init_lora_weights = check_init("init_lora_weights", init_lora_weights)
        use_rslora = check_bool("use_rslora", use_rslora)  # 'yes' would silently mean True
        use_dora = check_bool("use_dora", use_dora)
        if use_dora and self.merged_adapters:
            raise ValueError(
                f"use_dora=True: adapter {adapter_name!r} cannot be added while adapter(s) {self.merged_adapters} "
                "are merged into this layer's base weight (DoRA's magnitude would start from the merged weight); "
                "call unmerge() (peft_model.unmerge_adapter()) first"
            )
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
        if use_dora:  # after the start of A and B (and PiSSA's residual), as in PEFT
            self.lora_magnitude_vector[adapter_name] = dora.DoraMagnitude(self.dora_start(adapter_name))
        self.set_adapter(self.active_adapters)

    def dora_start(self, adapter_name: str) -> np.ndarray:
        """DoRA's starting magnitude m = ‖W + scaling * B @ A‖_row (out,): the layer starts unchanged."""
        return dora.weight_norm(self.base_layer.weight.data, self.get_delta_weight(adapter_name))

    def reset_lora_parameters(self, adapter_name: str, init_lora_weights: Union[bool, str] = True,
                              generator: Seed = None) -> None:
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
            _write(A, A_start)
            _write(B, B_start)
        else:  # False: both random (what PEFT leaves, nn.Linear's own start), for experiments
            init.kaiming_uniform_(A, a=math.sqrt(5), generator=rng)
            init.kaiming_uniform_(B, a=math.sqrt(5), generator=rng)

    def pissa_split(self, adapter_name: str) -> tuple:
        """PiSSA's start (lora.pissa): returns (B, A) and replaces W, in place, by the residual W - scaling * B @ A."""
        B, A, residual = pissa_factors(self.base_layer.weight.data, self.r[adapter_name], self.scaling[adapter_name])
        _write(self.base_layer.weight, residual)
        return B, A

    def set_delta_factors(self, lora_B, lora_A, adapter_name: Optional[str] = None) -> None:
        """Make the adapter's update scaling * B @ A equal lora_B @ lora_A (to float rounding).

        lora_B (out, k) and lora_A (k, in) with k = the adapter's rank, for
        instance from lorabook.analysis.extract_lora. Each factor is stored
        divided by sqrt(scaling), which keeps them balanced.
        """
        adapter_name = self._single_adapter(adapter_name)
        r = self.r[adapter_name]
        expected = {"lora_B": (self.out_features, r), "lora_A": (r, self.in_features)}
        root = math.sqrt(self.scaling[adapter_name])
        values = {}
        for key, value in (("lora_B", lora_B), ("lora_A", lora_A)):
            values[key] = np.asarray(getattr(value, "data", value))
            if values[key].shape != expected[key]:
                raise ValueError(
                    f"{key} must have shape {expected[key]} for adapter {adapter_name!r} (rank {r}, in_features "
                    f"{self.in_features}, out_features {self.out_features}), got {values[key].shape}"
                )
        for key, value in values.items():
            _write(getattr(self, key)[adapter_name].weight, value / root)

    def set_adapter(self, adapter_names: Names) -> None:
        """Make `adapter_names` (a name or a list) the active adapters; only they train."""
        names = [adapter_names] if isinstance(adapter_names, str) else list(adapter_names)
        for name in names:
            if name not in self.lora_A:
                raise ValueError(f"adapter_name {name!r} is not an adapter of this layer; adapters: {list(self.lora_A)}")
        for name in self.lora_A:
            for table in (self.lora_A, self.lora_B, self.lora_magnitude_vector):
                if name in table:
                    table[name].requires_grad_(name in names)
        self.active_adapters = names

    @property
    def active_adapter(self) -> Union[str, list]:
        """The active adapter's name (a list when several are active)."""
        return self.active_adapters[0] if len(self.active_adapters) == 1 else list(self.active_adapters)

    def delete_adapter(self, adapter_name: str) -> None:
        """Remove an adapter; if it was active, the first remaining one becomes active.

        A layer left with no adapter stays a LoraLinear that computes as its
        base layer (as in PEFT), so the model's state keys do not change.
        """
        if adapter_name not in self.lora_A:
            raise ValueError(f"adapter_name {adapter_name!r} is not an adapter of this layer; adapters: {list(self.lora_A)}")
        if adapter_name in self.merged_adapters:
            raise ValueError(f"adapter {adapter_name!r} is merged into the base weight; unmerge() it before deleting it")
        for table in (self.lora_A, self.lora_B, self.lora_dropout, self.lora_magnitude_vector):
            if adapter_name in table:
                del table[adapter_name]
        for table in (self.r, self.lora_alpha, self.scaling, self.use_rslora):
            del table[adapter_name]
        remaining = [name for name in self.active_adapters if name != adapter_name]
        if not remaining and len(self.lora_A):
            remaining = [next(iter(self.lora_A))]
        self.active_adapters = remaining

    def _single_adapter(self, adapter_name: Optional[str]) -> str:
        if adapter_name is None:
            adapter_name = self.active_adapters[0] if self.active_adapters else None
        if adapter_name not in self.lora_A:
            raise ValueError(f"adapter_name {adapter_name!r} is not an adapter of this layer; adapters: {list(self.lora_A)}")
        return adapter_name

    # ----- forward ------------------------------------------------------------------
    def forward(self, x) -> Tensor:
        """y = base_layer(x) + one term per active, unmerged adapter; see the module docstring."""
        if self.disable_adapters:
            if self.merged_adapters:  # as in PEFT: disabled means the base layer, so take merges out
                self.unmerge()
            return self.base_layer(x)
        if not isinstance(x, Tensor):
            x = Tensor(x)  # once, so that an identity dropout hands back this same tensor
        names = [n for n in self.active_adapters if n in self.lora_A and n not in self.merged_adapters]
        if self.fused and names and names[0] not in self.lora_magnitude_vector:
            result = self.fused_forward(x, names)
        else:
            result = self.reference_forward(x, names)
        merged = [n for n in self.merged_adapters if n in self.active_adapters]
        if merged and is_grad_enabled():
            result = self._guard_merged(result, merged)
        return result

    def reference_forward(self, x: Tensor, adapter_names: Sequence[str]) -> Tensor:
        """PEFT's formula: base_layer(x), then one term per adapter (the reference the fused path must equal)."""
        base_output = result = self.base_layer(x)
        for name in adapter_names:
            result = result + self.adapter_term(x, name, base_output)
        return result

    def fused_forward(self, x: Tensor, adapter_names: Sequence[str]) -> Tensor:
        """The base layer and the first adapter as one LoraLinearFunction; any further adapter as in the reference."""
        first, base = adapter_names[0], self.base_layer
        result = lora_linear(x, base.weight, base.bias, self.lora_A[first].weight, self.lora_B[first].weight,
                             self.scaling[first], x_lora=self.lora_dropout[first](x))
        for name in adapter_names[1:]:
            result = result + self.adapter_term(x, name)
        return result

    def adapter_term(self, x: Tensor, adapter_name: str, base_output: Optional[Tensor] = None) -> Tensor:
        """What adapter `adapter_name` adds to base_layer(x), (batch, out).

        LoRA:  lora_B(lora_A(dropout(x))) * scaling          (PEFT's line)
        DoRA:  dora.dora_term(dropout(x), W, A, B, m, scaling), which reuses
               base_output = base_layer(x) when there is no dropout, as PEFT does
        """
        lora_A, lora_B = self.lora_A[adapter_name], self.lora_B[adapter_name]
        dropout, scaling = self.lora_dropout[adapter_name], self.scaling[adapter_name]
        x_lora = dropout(x)
        if adapter_name not in self.lora_magnitude_vector:
            return lora_B(lora_A(x_lora)) * scaling
        x_lora_W = None
        if x_lora is x and base_output is not None:  # no dropout: x W^T is the base output less its bias
            bias = self.base_layer.bias
            x_lora_W = base_output if bias is None else base_output - bias
        magnitude = self.lora_magnitude_vector[adapter_name].weight
        return dora.dora_term(x_lora, self.base_layer.weight, lora_A.weight, lora_B.weight, magnitude, scaling,
                              x_lora_W)

    def _guard_merged(self, result: Tensor, merged: Sequence[str]) -> Tensor:
        """Pass `result` through MergedAdapterGuard if a merged adapter is trainable: its backward explains."""
        params = [table[name].weight for name in merged
                  for table in (self.lora_A, self.lora_B, self.lora_magnitude_vector) if name in table]
        if not any(p.requires_grad for p in params):
            return result
        return MergedAdapterGuard.apply(result, *params, adapter_names=list(merged))

    # ----- merging ------------------------------------------------------------------
    def get_delta_weight(self, adapter_name: Optional[str] = None) -> np.ndarray:
        """delta W = scaling * B @ A, an (out, in) array of W's dtype (not part of any graph)."""
        adapter_name = self._single_adapter(adapter_name)
        delta = self.lora_B[adapter_name].weight.data @ self.lora_A[adapter_name].weight.data
        delta *= self.scaling[adapter_name]
        return delta

    @property
    def merged(self) -> bool:
        """True when some adapter is folded into the base weight."""
        return bool(self.merged_adapters)

    def merge(self, safe_merge: bool = False, adapter_names: Optional[Names] = None) -> None:
        """W <- W + delta W for each adapter given (default: the active ones).

        A DoRA adapter gives W <- (m / n)[:, None] * (W + delta W) instead,
        with n = ‖W + delta W‖_row of the unmerged weight (lora.dora).
        Afterwards forward costs one matrix product, as the original layer.
        safe_merge: compute the merged weight on a copy first and raise a
        ValueError naming the adapter, leaving W untouched, if it holds NaN or
        inf. An adapter already merged is skipped with a warning.
        """
        names = self._adapters_to_merge(adapter_names)
        if not names:
            return
        weight, norms = self._merged_weight(names, check_finite=safe_merge)
        _write(self.base_layer.weight, weight)
        self._merged_norms.update(norms)
        self.merged_adapters.extend(names)

    def _merged_weight(self, adapter_names: Sequence[str], check_finite: bool = True) -> tuple:
        """(W with the adapters merged in, on a copy; the DoRA norms used).

        An adapter that puts NaN or inf into W: ValueError naming it with
        check_finite (safe_merge), else a UserWarning naming it.
        """
        merged, norms = self.base_layer.weight.data.copy(), {}
        for name in adapter_names:
            # A diverged adapter's inf or NaN is looked for below, by name: whether B @ A with an
            # inf warns on the way depends on the BLAS kernel, so NumPy's own warning is silenced.
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                delta = self.get_delta_weight(name)
                if name in self.lora_magnitude_vector:
                    norms[name] = dora.weight_norm(self._unmerged_weight(), delta)
                    magnitude = self.lora_magnitude_vector[name].weight.data
                    merged = dora.merge_weight(merged, delta, magnitude, norms[name])
                else:
                    merged += delta
            if np.all(np.isfinite(merged)):
                continue
            if check_finite:
                raise ValueError(f"safe_merge: merging adapter {name!r} would put NaN or inf into the base weight "
                                 f"(have the adapter's weights diverged?); nothing was merged")
            warnings.warn(f"merge: adapter {name!r} put NaN or inf into the base weight (have the adapter's "
                          f"weights diverged?); unmerge() cannot undo that, safe_merge=True refuses it", stacklevel=3)
        return merged, norms

    def _adapters_to_merge(self, adapter_names: Optional[Names]) -> list:
        names = list(self.active_adapters) if adapter_names is None else (
            [adapter_names] if isinstance(adapter_names, str) else list(adapter_names))
        for name in names:
            if name not in self.lora_A:
                raise ValueError(f"adapter_names: {name!r} is not an adapter of this layer; adapters: {list(self.lora_A)}")
        already = [name for name in names if name in self.merged_adapters]
        if already:
            warnings.warn(f"adapter(s) {already} already merged into this layer; merging again would add them twice, so they are skipped", stacklevel=3)
        return [name for name in names if name not in self.merged_adapters]

    def _unmerged_weight(self) -> np.ndarray:
        """A copy of W with the merged adapters taken out, last merged first: the weight forward computes with."""
        weight = self.base_layer.weight.data.copy()
        for name in reversed(self.merged_adapters):
            delta = self.get_delta_weight(name)
            if name in self.lora_magnitude_vector:
                magnitude = self.lora_magnitude_vector[name].weight.data
                weight = dora.unmerge_weight(weight, delta, magnitude, self._merged_norms[name])
            else:
                weight -= delta
        return weight

    def unmerge(self) -> None:
        """Undo merge(): take every merged adapter out of W, last merged first."""
        if not self.merged_adapters:
            warnings.warn("unmerge: no adapter is merged into this layer; nothing to do", stacklevel=2)
            return
        _write(self.base_layer.weight, self._unmerged_weight())
        for name in self.merged_adapters:
            self._merged_norms.pop(name, None)
        self.merged_adapters = []

    def extra_repr(self) -> str:
        ranks = ", ".join(f"{name}: r={r}" + (", DoRA" if name in self.lora_magnitude_vector else "")
                          for name, r in self.r.items())
        return f"in_features={self.in_features}, out_features={self.out_features}, adapters {{{ranks}}}"


def _write(param, value) -> None:
    """param.data[...] = value, in place, and tell the engine: a graph that saved the old values refuses backward."""
    param.data[...] = value
    param.bump_version()
