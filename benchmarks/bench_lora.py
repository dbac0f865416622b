"""What does LoRA save? One Adam training step of an MLP, LoRA (r=8 on every Linear) vs full fine-tuning.

    python benchmarks/bench_lora.py [--repeats 15]

The model is an MLP 1024-1024-1024-1024 (ReLU), float32, batch 512, with a
softmax cross-entropy loss. A step is: forward, loss, backward, Adam update.
Both sides run in the same process on the same data, and their steps are
interleaved, so a burst of load on a shared machine hits both alike; times
are medians after a warm-up. The ratio is what matters, not the milliseconds.

Where LoRA's saving comes from:
  time    backward never computes the frozen weights' gradients dW = g^T x,
          the largest products of the step, and Adam updates 0.8% of the values;
  memory  no gradient and no Adam state for frozen weights (full fine-tuning
          holds 3 copies of the model on top of it: grad, m, v), and the LoRA
          layer keeps only one (batch, out) array per layer for backward.

Targets: time ratio <= 0.65; gradient + Adam bytes during LoRA training
== 3 x trainable x itemsize; peak traced memory ratio <= 0.45.
This script reports; it asserts nothing.

Time needs a quiet machine. When other processes compete for the cores,
every multi-threaded BLAS product waits for its threads to be scheduled;
a LoRA step makes more, thinner products (17 of them next to 5 large
ones, against 8 large ones for full fine-tuning), so it suffers more and
its ratio climbs. The script prints the load average so you can tell;
OPENBLAS_NUM_THREADS=1 gives a single-threaded comparison that load
disturbs much less. Memory does not depend on load at all.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import time
import tracemalloc

import _path  # noqa: F401  (the lorabook next to this folder)
import numpy as np

from lorabook import nn, optim
from lorabook.lora import LoraConfig, get_peft_model
from lorabook.nn import functional as F

SIZES = [1024, 1024, 1024, 1024]
BATCH = 512
RANK = 8
TARGETS = {"time ratio": 0.65, "peak memory ratio": 0.45}


def make_batch(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((BATCH, SIZES[0])).astype(np.float32), rng.integers(0, SIZES[-1], BATCH)


def full_setup(base):
    model = copy.deepcopy(base)
    return model, optim.Adam(model.parameters(), lr=1e-3)


def lora_setup(base):
    model = get_peft_model(copy.deepcopy(base), LoraConfig(r=RANK, lora_alpha=RANK, target_modules="all-linear"), generator=1)
    return model, optim.Adam(model.parameters(), lr=1e-3)  # Adam keeps only what requires grad


def train_step(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


def step_times(base, x, y, repeats, warmup=3):
    setups = {"full": full_setup(base), "lora": lora_setup(base)}
    for _ in range(warmup):
        for model, optimizer in setups.values():
            train_step(model, optimizer, x, y)
    times = {name: [] for name in setups}
    for _ in range(repeats):
        for name, (model, optimizer) in setups.items():
            start = time.perf_counter()
            train_step(model, optimizer, x, y)
            times[name].append(time.perf_counter() - start)
    return ({name: float(np.median(values)) for name, values in times.items()},
            {name: float(np.min(values)) for name, values in times.items()})


def gradient_and_adam_bytes(base, x, y):
    """(bytes in .grad arrays + Adam state after a LoRA step, 3 x trainable x itemsize, trainable count)."""
    model, optimizer = lora_setup(base)
    train_step(model, optimizer, x, y)
    params = list(model.parameters())
    held = sum(p.grad.nbytes for p in params if p.grad is not None) + optimizer.state_nbytes()
    trainable = sum(p.size for p in params if p.requires_grad)
    return held, 3 * trainable * params[0].dtype.itemsize, trainable


def peak_traced_bytes(setup, base, x, y, steps=2):
    """Peak bytes traced by tracemalloc over `steps` training steps, started after the model is built."""
    model, optimizer = setup(base)
    tracemalloc.start()
    try:
        for _ in range(steps):
            train_step(model, optimizer, x, y)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure(repeats=15):
    base = nn.MLP(SIZES, generator=0)
    x, y = make_batch()
    times, fastest = step_times(base, x, y, repeats)
    held, expected, trainable = gradient_and_adam_bytes(base, x, y)
    peaks = {name: peak_traced_bytes(setup, base, x, y) for name, setup in (("full", full_setup), ("lora", lora_setup))}
    total = sum(p.size for p in base.parameters())
    return {
        "times": times, "time ratio": times["lora"] / times["full"],
        "fastest": fastest, "fastest ratio": fastest["lora"] / fastest["full"],
        "grad+adam bytes": held, "3 x trainable x itemsize": expected, "trainable": trainable, "all": total,
        "peaks": peaks, "peak memory ratio": peaks["lora"] / peaks["full"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON line, last")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cores = os.cpu_count() or 1
    r = measure(args.repeats)
    busy = "  (busy: times are unreliable, see the docstring)" if load > 0.5 * cores else ""
    print(f"load average {load:.2f} on {cores} cores{busy}")
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, Adam; LoRA r={RANK} on every Linear")
    print(f"trainable parameters: LoRA {r['trainable']:,d}, full fine-tuning {r['all']:,d}")
    print(f"{'':28s} {'full FT':>12s} {'LoRA':>12s} {'ratio':>7s} {'target':>8s}")
    t, f, p = r["times"], r["fastest"], r["peaks"]
    rows = (("median step time (ms)", t["full"] * 1e3, t["lora"] * 1e3, r["time ratio"], TARGETS["time ratio"]),
            ("fastest step (ms)", f["full"] * 1e3, f["lora"] * 1e3, r["fastest ratio"], None),
            ("peak traced memory (MB)", p["full"] / 1e6, p["lora"] / 1e6, r["peak memory ratio"], TARGETS["peak memory ratio"]))
    for label, full, lora, ratio, target in rows:
        verdict = "(least disturbed by load)" if target is None else f"{target:7.2f}x {'ok' if ratio <= target else 'OVER'}"
        print(f"{label:28s} {full:12.2f} {lora:12.2f} {ratio:7.3f} {verdict}")
    equal = r["grad+adam bytes"] == r["3 x trainable x itemsize"]
    print(f"LoRA gradient + Adam state bytes: {r['grad+adam bytes']:,d}; 3 x trainable x itemsize: "
          f"{r['3 x trainable x itemsize']:,d}; equal: {equal}")
    if args.json:
        print(json.dumps(r))
    return r


if __name__ == "__main__":
    main()
