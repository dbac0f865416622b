"""Where the memory of a training step goes: the ledger, predicted and measured.

For an MLP with layer sizes d_0, d_1, ..., d_L (L Linear layers, ReLU between
them), batch size N, itemsize s bytes (4 for float32) and P parameters in all,
a step of Adam holds:

    component          full fine-tuning            LoRA, rank r on every Linear
    base weights       P s                         P s  (frozen)
    LoRA parameters    0                           Q s,  Q = r * sum_i (d_{i-1} + d_i)
    gradients          P s                         Q s   (frozen weights get none)
    Adam moments       2 P s  (m and v)            2 Q s
    activations        (N (2 D + 1) + 1) s         (N (2 D + L r + 1) + 1) s

with D = d_1 + ... + d_L. The activations are what the autograd keeps alive
between forward and backward (read lorabook/autograd/nn_ops.py, ops.py and
lorabook/lora/functional.py): every recorded operation keeps its inputs, so
per Linear layer its (N, d_i) output stays (it is the input of the ReLU or of
the loss); each ReLU keeps its (N, d_i) output, the next layer's input; the
cross-entropy keeps exp(logits) (N, d_L) and the row sums (N, 1), and returns
the loss (one value). A LoRA layer is one fused operation that keeps the same (N, d_i) output plus its thin
(N, r) array h = s x A^T. The input batch exists before the step and is not
counted. So LoRA does not save activation memory (it needs slightly more);
it saves the gradients and optimizer state of the frozen weights, 3 P s
bytes, which for a big model is most of the total.

Measured: gradients are the bytes of every `.grad` after backward, Adam
moments are `optimizer.state_nbytes()`, activations are what tracemalloc sees
allocated by the forward pass (graph bookkeeping included, so slightly above
the prediction), and the peak is tracemalloc's over two whole steps.
tracemalloc counts what every thread of the process allocates, and a
Jupyter kernel runs threads of its own (sending output, answering the
notebook), so inside a kernel the numbers would move by a few hundred bytes
from run to run. Where lorabook forks (on Linux: lorabook.experiments.forked)
and other threads run, the steps are therefore measured in a forked child
process (run_forked), which has only the thread that forked it. The
peak is more than what is held: backward makes a few (N, d_i) temporaries,
and Adam's update makes about three temporaries the size of the largest
trainable parameter (for full fine-tuning of a wide model, the biggest extra).
"""
from __future__ import annotations

import gc
import threading
import time
import tracemalloc
from typing import Any, Callable, Sequence

import numpy as np

from lorabook._checks import check_int
from lorabook.autograd import Tensor
from lorabook.lora import LoraConfig, get_peft_model
from lorabook.nn import MLP
from lorabook.nn import functional as F
from lorabook.optim import Adam
from lorabook.random import get_generator

from .forked import run_forked
from .records import plain

COMPONENTS = ("base weights", "LoRA parameters", "gradients", "Adam moments", "activations")
PEAK = "peak of two steps"


def _check_sizes(model_sizes):
    sizes = list(model_sizes) if hasattr(model_sizes, "__iter__") else [model_sizes]
    if len(sizes) < 2:
        raise ValueError(f"model_sizes must list at least an input and an output size, got {model_sizes!r}")
    return [check_int(f"model_sizes[{i}]", size, low=1) for i, size in enumerate(sizes)]


def predicted_ledger(model_sizes: Sequence[int], rank: int, batch_size: int, dtype: Any = np.float32) -> dict:
    """{method: {component: bytes}} for "full" and "lora" from the formulas in the module docstring."""
    sizes = _check_sizes(model_sizes)
    rank = check_int("rank", rank, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    itemsize = np.dtype(dtype).itemsize
    pairs = list(zip(sizes[:-1], sizes[1:]))
    P = sum(d_in * d_out + d_out for d_in, d_out in pairs)       # weights and biases
    Q = sum(rank * (d_in + d_out) for d_in, d_out in pairs)      # A (r, in) and B (out, r)
    D, L, N = sum(sizes[1:]), len(pairs), batch_size
    return {
        "full": {"base weights": P * itemsize, "LoRA parameters": 0, "gradients": P * itemsize,
                 "Adam moments": 2 * P * itemsize, "activations": (N * (2 * D + 1) + 1) * itemsize},
        "lora": {"base weights": P * itemsize, "LoRA parameters": Q * itemsize, "gradients": Q * itemsize,
                 "Adam moments": 2 * Q * itemsize, "activations": (N * (2 * D + L * rank + 1) + 1) * itemsize},
    }


class _Traced:
    """tracemalloc over a block; keeps a tracing the caller started running (and its numbers)."""

    def __enter__(self):
        self.was_tracing = tracemalloc.is_tracing()
        gc.collect()  # garbage from earlier work must not be freed, and counted, inside the block
        if not self.was_tracing:
            tracemalloc.start()
        self.baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        return self

    def current(self):
        return tracemalloc.get_traced_memory()[0] - self.baseline

    def peak(self):
        return tracemalloc.get_traced_memory()[1] - self.baseline

    def __exit__(self, *exc_info):
        if not self.was_tracing:
            tracemalloc.stop()
        return False


def measure_training_step(model: Any, batch: tuple, lr: float = 1e-3, loss_fn: Callable = F.cross_entropy,
                          steps: int = 2) -> dict:
    """Run `steps` Adam steps on one batch and measure where the memory went.

    model: a Module; pass a copy (the steps change it, unless they run in a
    forked child: see the module docstring).
    batch: (X, y) with X cast to the model's dtype. Tracing starts after the
    model and the batch exist, so their bytes are not in the numbers.
    Returns {"activations": bytes allocated by the first forward pass (the
    graph kept for backward), "gradients": bytes of every .grad after the
    first backward, "Adam moments": optimizer.state_nbytes() after the last
    step, "peak": tracemalloc's peak over all steps, "step_time_s": mean
    wall time of a step (slowed by tracing; compare runs with each other)}.
    """
    steps = check_int("steps", steps, low=1)
    if threading.active_count() > 1:
        return run_forked(lambda: _measure_steps(model, batch, lr, loss_fn, steps))
    return _measure_steps(model, batch, lr, loss_fn, steps)


def _measure_steps(model, batch, lr, loss_fn, steps):
    """measure_training_step's work, in this process."""
    params = [p for p in model.parameters() if p.requires_grad]
    dtype = params[0].dtype if params else np.float32
    X = Tensor(np.asarray(batch[0], dtype=dtype))
    y = np.asarray(batch[1])
    model.train()
    result = {}
    with _Traced() as trace:
        optimizer = Adam(params, lr=lr)
        start = time.perf_counter()
        for step in range(steps):
            optimizer.zero_grad()
            before = trace.current()
            loss = loss_fn(model(X), y)
            if step == 0:
                result["activations"] = trace.current() - before
            loss.backward()
            if step == 0:
                result["gradients"] = sum(p.grad.nbytes for p in params if p.grad is not None)
            optimizer.step()
            del loss  # drop the graph now, as a training loop that ends its step here does
        result["step_time_s"] = (time.perf_counter() - start) / steps
        result["Adam moments"] = optimizer.state_nbytes()
        result["peak"] = trace.peak()
    return result


def _ledger_model(method, sizes, rank, dtype, seed):
    rng = get_generator(seed, "seed")
    model = MLP(sizes, generator=rng, dtype=dtype)
    if method == "lora":
        model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=rank, target_modules="all-linear"), generator=rng)
    return model


def memory_ledger(model_sizes: Sequence[int] = (64, 128, 128, 10), rank: int = 4, batch_size: int = 64,
                  dtype: Any = np.float32, seed: int = 0) -> list:
    """The memory ledger of full fine-tuning and LoRA (rank on every Linear), predicted and measured.

    Builds MLP(model_sizes) of `dtype` twice (full, and LoRA via get_peft_model),
    runs two Adam steps on a random batch of `batch_size` rows and compares
    with `predicted_ledger`. Returns records, one per (method, component):
    method, component, predicted_bytes, measured_bytes, plus rank,
    batch_size, itemsize, trainable_params. Components are COMPONENTS and
    PEAK ("peak of two steps": predicted as gradients + Adam moments +
    activations, the memory tracing sees at once; backward's temporary arrays
    come on top, so the measured peak is higher).
    """
    sizes = _check_sizes(model_sizes)
    rank = check_int("rank", rank, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating-point type such as numpy.float32, got {dtype}")
    predicted = predicted_ledger(sizes, rank, batch_size, dtype)
    rng = get_generator(seed, "seed")
    X = rng.standard_normal((batch_size, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=batch_size)

    records = []
    for method in ("full", "lora"):
        model = _ledger_model(method, sizes, rank, dtype, seed)
        named = list(model.named_parameters())
        measured = measure_training_step(model, (X, y))
        measured["base weights"] = sum(p.data.nbytes for name, p in named if "lora_" not in name)
        measured["LoRA parameters"] = sum(p.data.nbytes for name, p in named if "lora_" in name)
        trainable = sum(p.size for _, p in named if p.requires_grad)
        predicted[method][PEAK] = sum(predicted[method][c] for c in ("gradients", "Adam moments", "activations"))
        measured[PEAK] = measured["peak"]
        for component in COMPONENTS + (PEAK,):
            records.append({
                "method": method, "component": component,
                "predicted_bytes": plain(predicted[method][component]),
                "measured_bytes": plain(measured[component]),
                "rank": rank if method == "lora" else None, "batch_size": batch_size,
                "itemsize": dtype.itemsize, "trainable_params": plain(trainable),
            })
    return records
