"""How much does the autograd cost? One SGD training step of an MLP, lorabook vs hand-written NumPy.

    python benchmarks/bench_train_step.py [--repeats 60] [--processes 3] [--case 8-16-16-2 ...]

Every side does the same work: forward (Linear, ReLU, ..., Linear), a
softmax cross-entropy loss, backward (no gradient for the input batch) and
an SGD update in place, float32. The hand-written side is what a careful
NumPy programmer would write. The ratio is what matters, not the
milliseconds.

Each MLP is measured in a fresh Python process that imports NumPy and the
one library under test, nothing else: a library loaded earlier in the same
process changes how the C allocator hands out the step's large arrays
(whether they page-fault in again every step), and with it the timings.
In that process the library's steps and the hand-written steps run in
alternating blocks of BLOCK + 1 (the first step of a block, which pays for
the other side's heap state, is not counted), so a burst of load on a
shared machine hits both alike; the ratio is of the two medians.

Every library's step is written in PyTorch's usual order: zero_grad,
forward, backward, step. (That order used to cost lorabook 1.2x on the
784-1024-1024-1024-10 MLP at batch 512: zero_grad freed the 11 MB of
gradients right before forward, glibc handed that memory back to the
system, and ~6,000 pages faulted in again every step. `Tensor.clear_grad`
now lets an old gradient go only when backward stores the new one.)

Each MLP and library is measured in several fresh processes (--processes,
3 by default) and the median ratio is reported with the lowest and the
highest: on a shared machine the smallest MLPs' ratio moves by a few
tenths from one process to the next.

DeZero and PyTorch get the same treatment when they are importable (each
in its own fresh process, against the same hand-written NumPy step); their
columns are lorabook's ratio divided by theirs.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import types

import numpy as np

LEARNING_RATE = 0.01
BLOCK = 5  # counted steps per block; blocks of the two sides alternate

# (sizes, batch, target for lorabook / hand-written NumPy)
CASES = [
    ([8, 16, 16, 2], 8, 1.50),
    ([64, 128, 128, 10], 64, 1.20),
    ([784, 512, 512, 10], 256, 1.05),
    ([784, 1024, 1024, 1024, 10], 512, 1.05),
]
LIBRARIES = ("lorabook", "dezero", "torch")
# Counted steps per side where the default of 60 is too few: the small steps take microseconds, and
# on a shared machine their medians need many blocks to settle.
REPEATS = {"8-16-16-2": 600, "64-128-128-10": 300}
PROCESSES = 3  # fresh processes per MLP and library: the median ratio is reported, with the spread


def label(sizes, batch):
    return f"{'-'.join(map(str, sizes))}, batch {batch}"


def make_start(sizes, batch, seed=0):
    """The batch and PyTorch-style initial weights (out, in) and biases every side starts from."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    weights, biases = [], []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(n_in)
        weights.append(rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32))
        biases.append(rng.uniform(-bound, bound, n_out).astype(np.float32))
    return x, y, weights, biases


class HandWrittenMLP:
    """The same MLP written directly in NumPy, weights (out, in) as in lorabook."""

    def __init__(self, weights, biases):
        self.weights = [w.copy() for w in weights]
        self.biases = [b.copy() for b in biases]

    def step(self, x, y):
        # forward, keeping what backward needs
        inputs, h = [], x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            inputs.append(h)
            h = h @ w.T
            h += b
            if i < last:
                h = np.maximum(h, 0)
        logits = h
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        rows = np.arange(len(y))
        loss = np.mean(np.log(sum_exp[:, 0]) - shifted[rows, y])
        # backward
        grad = exp / sum_exp
        grad[rows, y] -= 1
        grad /= len(y)
        for i in range(last, -1, -1):
            a = inputs[i]
            grad_w = grad.T @ a
            grad_b = grad.sum(axis=0)
            if i > 0:
                grad = (grad @ self.weights[i]) * (a > 0)
            self.weights[i] -= LEARNING_RATE * grad_w
            self.biases[i] -= LEARNING_RATE * grad_b
        return float(loss)


# ----- one training step in each library -------------------------------------------------------
def lorabook_step(weights, biases):
    from lorabook import nn, optim
    from lorabook.nn import functional as F

    sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    model = nn.MLP(sizes, generator=0)
    for layer, w, b in zip([m for m in model if isinstance(m, nn.Linear)], weights, biases):
        layer.weight.data[...] = w
        layer.bias.data[...] = b
    optimizer = optim.SGD(model.parameters(), lr=LEARNING_RATE)

    def step(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


_STAND_INS = {"matplotlib": "pyplot", "PIL": "Image"}  # module -> the submodule DeZero takes from it


def _import_dezero():
    """DeZero, which imports matplotlib and Pillow for its datasets only: stand-ins do when they are missing.

    DeZero 0.0.13 (the latest release) also still names np.int, an alias NumPy
    removed in 1.24; it meant the built-in int, which is put back for it.
    """
    if not hasattr(np, "int"):
        np.int = int
    for _ in range(len(_STAND_INS) + 1):
        try:
            return importlib.import_module("dezero")
        except ModuleNotFoundError as error:
            if error.name not in _STAND_INS:
                raise
            for name in [name for name in sys.modules if name.split(".")[0] == "dezero"]:
                del sys.modules[name]  # the half-imported package
            stand_in = types.ModuleType(error.name)
            part = types.ModuleType(f"{error.name}.{_STAND_INS[error.name]}")
            part.__getattr__ = lambda name: None  # constants such as Image.BILINEAR, never used here
            setattr(stand_in, _STAND_INS[error.name], part)
            sys.modules.update({stand_in.__name__: stand_in, part.__name__: part})
    return importlib.import_module("dezero")


def dezero_step(weights, biases):
    dezero = _import_dezero()
    import dezero.functions as DF
    import dezero.layers as DL

    class Net(dezero.Model):
        def __init__(self):
            super().__init__()
            self.fcs = []
            for i, (w, b) in enumerate(zip(weights, biases)):
                layer = DL.Linear(w.shape[0], in_size=w.shape[1], dtype=np.float32)
                layer.W.data = w.T.copy()  # DeZero's weight is (in, out)
                layer.b.data = b.copy()
                setattr(self, f"l{i}", layer)
                self.fcs.append(layer)

        def forward(self, x):
            for layer in self.fcs[:-1]:
                x = DF.relu(layer(x))
            return self.fcs[-1](x)

    model = Net()
    optimizer = dezero.optimizers.SGD(LEARNING_RATE).setup(model)

    def step(x, y):
        model.cleargrads()
        loss = DF.softmax_cross_entropy(model(x), y)
        loss.backward()
        optimizer.update()
        return float(loss.data)

    return step


def torch_step(weights, biases):
    import torch

    if os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

    layers = []
    for i, (w, b) in enumerate(zip(weights, biases)):
        linear = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear] + ([torch.nn.ReLU()] if i < len(weights) - 1 else [])
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)

    def step(x, y):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


STEPS = {"lorabook": lorabook_step, "dezero": dezero_step, "torch": torch_step}


def measure(library, sizes, batch, repeats, warmup=5):
    """Median seconds per step: (library, hand-written NumPy), measured in this process."""
    x, y, weights, biases = make_start(sizes, batch)
    theirs = STEPS[library](weights, biases)
    hand = HandWrittenMLP(weights, biases)
    first_theirs, first_hand = theirs(x, y), hand.step(x, y)
    # Same start, same data: both must compute the same loss.
    assert abs(first_theirs - first_hand) <= 1e-4 * max(1.0, abs(first_hand)), (first_theirs, first_hand)
    for _ in range(warmup):
        theirs(x, y)
        hand.step(x, y)
    times = {"library": [], "numpy": []}
    sides = [("library", lambda: theirs(x, y)), ("numpy", lambda: hand.step(x, y))]
    for block in range(max(2, repeats // BLOCK)):
        for name, step in (sides if block % 2 == 0 else sides[::-1]):
            for index in range(BLOCK + 1):
                start = time.perf_counter()
                step()
                if index > 0:  # the first step of a block pays for the other side's heap state
                    times[name].append(time.perf_counter() - start)
    return float(np.median(times["library"])), float(np.median(times["numpy"]))


def thread_env(threads=None):
    """os.environ for a benchmark's fresh process, with BLAS and PyTorch limited to `threads` if given."""
    env = dict(os.environ)
    if threads:
        env.update({name: str(threads) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    return env


def run_fresh(library, case, repeats=None, threads=None):
    """measure() in a new Python process; a dict with the two times, or with the reason it failed."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", library, "--case", str(case)]
    if repeats:
        command += ["--repeats", str(repeats)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**thread_env(threads),
           "PYTHONPATH": os.pathsep.join([root] + os.environ.get("PYTHONPATH", "").split(os.pathsep))}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        errors = [line for line in done.stderr.splitlines() if line and not line.startswith(" ")]
        return {"error": (errors or ["no output"])[-1]}
    return json.loads(lines[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, help="counted steps per side (default: 60, more for the "
                        "small MLPs)")
    parser.add_argument("--processes", type=int, default=PROCESSES, help="fresh processes per MLP and library; "
                        "the ratio reported is their median, and the spread is shown")
    parser.add_argument("--case", action="append", help="e.g. 8-16-16-2 (default: every case)")
    parser.add_argument("--threads", type=int, help="BLAS and PyTorch threads in every process "
                        "(default: each library's own choice; 1 is steadier on a busy machine)")
    parser.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:  # the fresh process: one library, one case
        sizes, batch, _ = CASES[int(args.case[0])]
        try:
            importlib.import_module(args.worker) if args.worker != "dezero" else _import_dezero()
        except ImportError as error:
            print(json.dumps({"error": f"not importable ({error})"}))
            return None
        ours, numpy_time = measure(args.worker, sizes, batch, args.repeats or REPEATS.get("-".join(map(str, sizes)), 60))
        print(json.dumps({"library": ours, "numpy": numpy_time}))
        return None

    chosen = [i for i, (sizes, _, _) in enumerate(CASES)
              if not args.case or "-".join(map(str, sizes)) in args.case]
    results = {}
    print(f"{'MLP':34s} {'lorabook ms':>11s} {'NumPy ms':>9s} {'ratio':>6s} {'spread':>11s} {'target':>7s}"
          f" {'/ DeZero':>9s} {'/ PyTorch':>9s}")
    for case in chosen:
        sizes, batch, target = CASES[case]
        row = {"target": target}
        for library in LIBRARIES:
            outcomes = [run_fresh(library, case, args.repeats, args.threads) for _ in range(args.processes)]
            errors = [outcome["error"] for outcome in outcomes if "error" in outcome]
            if errors:
                if library == "lorabook":
                    raise RuntimeError(f"lorabook's benchmark failed: {errors[0]}")
                row[library] = errors[0]
                continue
            ratios = sorted(outcome["library"] / outcome["numpy"] for outcome in outcomes)
            row[library] = statistics.median(ratios)
            if library == "lorabook":
                row["spread"] = (ratios[0], ratios[-1])
                row["ms"] = tuple(statistics.median(outcome[side] for outcome in outcomes) * 1e3
                                  for side in ("library", "numpy"))
        results[label(sizes, batch)] = row
        peers = [f"{row['lorabook'] / row[p]:9.2f}" if isinstance(row[p], float) else f"{'n/a':>9s}"
                 for p in ("dezero", "torch")]
        verdict = "ok" if row["lorabook"] <= target else "OVER"
        low, high = row["spread"]
        print(f"{label(sizes, batch):34s} {row['ms'][0]:11.3f} {row['ms'][1]:9.3f} {row['lorabook']:6.2f}"
              f" {low:5.2f}-{high:<5.2f} {target:5.2f}x {verdict:4s} {' '.join(peers)}")
    for library, name in (("dezero", "DeZero"), ("torch", "PyTorch")):
        missing = {row[library] for row in results.values() if not isinstance(row[library], float)}
        if missing:
            print(f"{name}: {sorted(missing)[0]}")
    return results


if __name__ == "__main__":
    main()
