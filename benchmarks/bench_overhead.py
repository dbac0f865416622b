"""Where does an autograd's time go? The SGD step of bench_train_step, taken apart layer by layer.

    python benchmarks/bench_overhead.py [--repeats 600] [--case 8-16-16-2 ...]

The same training step (forward, cross-entropy, backward, SGD update in
place, float32) is run five ways, each peeling off one layer of lorabook:

  lorabook         nn.MLP, F.cross_entropy, loss.backward(), optim.SGD: what a user writes
  Functions        the same Functions called directly (Linear.apply, ReLU.apply,
                   CrossEntropy.apply) on Tensors, loss.backward(), the update
                   written out: no Module, no argument checks, no optimizer
  bare engine      the same Functions on bare_engine.py: one Context and one Tensor
                   per operation and a backward with no checks at all, the floor
                   of lorabook's design (no version counters, no shape, dtype or
                   aliasing checks, no modules, no optimizer)
  arithmetic       each Function's own forward and backward on plain arrays, with
                   a Context each, called in the right order by hand: no Tensor,
                   no graph, no engine
  hand NumPy       bench_train_step's hand-written step (the baseline)

So "lorabook - Functions" is what the modules, the argument checks and the
optimizer cost, "Functions - bare engine" what the engine's checks and
guarantees cost (versions, shapes, dtypes, aliasing, no_grad), "bare
engine - arithmetic" what the design itself costs (one Context and one
Tensor per operation, the graph walk, a Function call per node), and
"arithmetic - hand NumPy" what writing the step as separate operations
costs. All five run in one fresh process per MLP, in
alternating blocks; the ratios are medians against the hand-written step,
and the median of those over a few such processes.
This script reports; it asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import _path  # noqa: F401  (the lorabook next to this folder)
import bench_train_step as train_step

BLOCK = 5  # counted steps per block; the blocks of the ways alternate


def lorabook_step(weights, biases):
    return train_step.lorabook_step(weights, biases)


def functions_step(weights, biases):
    from lorabook.autograd import nn_ops, ops
    from lorabook.autograd.tensor import Tensor

    params = [(Tensor(w.copy(), requires_grad=True), Tensor(b.copy(), requires_grad=True))
              for w, b in zip(weights, biases)]
    last = len(params) - 1

    def step(x, y):
        h = Tensor(x)
        for i, (weight, bias) in enumerate(params):
            h = nn_ops.Linear.apply(h, weight, bias)
            if i < last:
                h = ops.ReLU.apply(h)
        loss = nn_ops.CrossEntropy.apply(h, targets=y)
        loss.backward()
        for pair in params:
            for param in pair:
                param.data -= train_step.LEARNING_RATE * param.grad
                param.bump_version()
                param.grad = None
        return loss.item()

    return step


def bare_engine_step(weights, biases):
    import bare_engine
    from lorabook.autograd import nn_ops, ops

    params = [(bare_engine.BareTensor(w.copy(), True), bare_engine.BareTensor(b.copy(), True))
              for w, b in zip(weights, biases)]
    last = len(params) - 1

    def step(x, y):
        h = bare_engine.BareTensor(x)
        for i, (weight, bias) in enumerate(params):
            h = bare_engine.apply(nn_ops.Linear, h, weight, bias)
            if i < last:
                h = bare_engine.apply(ops.ReLU, h)
        loss = bare_engine.apply(nn_ops.CrossEntropy, h, targets=y)
        bare_engine.backward(loss)
        for pair in params:
            for param in pair:
                param.data -= train_step.LEARNING_RATE * param.grad
                param.grad = None
        return float(loss.data)

    return step


def arithmetic_step(weights, biases):
    import numpy as np

    from lorabook.autograd import nn_ops, ops
    from lorabook.autograd.function import Context

    weights = [w.copy() for w in weights]
    biases = [b.copy() for b in biases]
    last = len(weights) - 1

    def step(x, y):
        contexts, h = [], x
        for i, (weight, bias) in enumerate(zip(weights, biases)):
            ctx = Context((i > 0, True, True))  # the batch itself needs no gradient
            h = nn_ops.Linear.forward(ctx, h, weight, bias)
            contexts.append((nn_ops.Linear, ctx))
            if i < last:
                ctx = Context((True,))
                h = ops.ReLU.forward(ctx, h)
                contexts.append((ops.ReLU, ctx))
        ctx = Context((True, False))
        loss = nn_ops.CrossEntropy.forward(ctx, h, y)
        grad = nn_ops.CrossEntropy.backward(ctx, np.ones((), loss.dtype))
        layer = last
        for function, ctx in reversed(contexts):
            if function is ops.ReLU:
                grad = function.backward(ctx, grad)
                continue
            grad, grad_weight, grad_bias = function.backward(ctx, grad)
            weights[layer] -= train_step.LEARNING_RATE * grad_weight
            biases[layer] -= train_step.LEARNING_RATE * grad_bias
            layer -= 1
        return float(loss)

    return step


WAYS = {"lorabook": lorabook_step, "Functions": functions_step, "bare engine": bare_engine_step,
        "arithmetic": arithmetic_step}


def measure(sizes, batch, repeats, warmup=5):
    """Median seconds per step of each way and of the hand-written step, in this process."""
    x, y, weights, biases = train_step.make_start(sizes, batch)
    steps = {name: make(weights, biases) for name, make in WAYS.items()}
    hand = train_step.HandWrittenMLP(weights, biases)
    steps["hand NumPy"] = hand.step
    first = {name: step(x, y) for name, step in steps.items()}
    for name, loss in first.items():  # same start, same data: the same loss
        assert abs(loss - first["hand NumPy"]) <= 1e-4 * max(1.0, abs(loss)), first
    for _ in range(warmup):
        for step in steps.values():
            step(x, y)
    names, times = list(steps), {name: [] for name in steps}
    for block in range(max(2, repeats // BLOCK)):
        for name in names if block % 2 == 0 else names[::-1]:
            for index in range(BLOCK + 1):
                start = time.perf_counter()
                steps[name](x, y)
                if index > 0:  # the first step of a block pays for the other ways' heap state
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=600, help="counted steps per way")
    parser.add_argument("--case", action="append", help="e.g. 8-16-16-2 (default: the two smallest MLPs)")
    parser.add_argument("--threads", type=int, help="BLAS threads in the measuring process (default: NumPy's own)")
    parser.add_argument("--processes", type=int, default=train_step.PROCESSES,
                        help="fresh processes per MLP; each ratio is their median")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:  # the fresh process
        sizes, batch, _ = train_step.CASES[args.worker]
        print(json.dumps(measure(sizes, batch, args.repeats)))
        return None
    wanted = args.case or ["8-16-16-2", "64-128-128-10"]
    results = {}
    for case, (sizes, batch, _) in enumerate(train_step.CASES):
        if "-".join(map(str, sizes)) not in wanted:
            continue
        env = train_step.thread_env(args.threads)
        runs = []
        for _ in range(args.processes):
            done = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", str(case), "--repeats",
                                   str(args.repeats)], capture_output=True, text=True, env=env, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        ratios = {name: statistics.median(run[name] / run["hand NumPy"] for run in runs) for name in WAYS}
        # The least a step with lorabook's API could take: the bare engine, plus what the modules, the loss's
        # checks and the optimizer add on top of the Functions. Per process, so that its spread is known.
        floors = sorted((run["bare engine"] + run["lorabook"] - run["Functions"]) / run["hand NumPy"] for run in runs)
        ratios["floor"] = statistics.median(floors)
        ratios["floor spread"] = (floors[0], floors[-1])
        seconds = {"hand NumPy": statistics.median(run["hand NumPy"] for run in runs)}
        results[train_step.label(sizes, batch)] = ratios
        print(f"{train_step.label(sizes, batch)}: hand-written step {seconds['hand NumPy'] * 1e6:.0f} us")
        for name in WAYS:
            print(f"  {name:11s} {ratios[name]:5.2f}x")
        print(f"  {'floor':11s} {ratios['floor']:5.2f}x ({floors[0]:.2f}-{floors[-1]:.2f}): bare engine + "
              f"(lorabook - Functions)")
    return results


if __name__ == "__main__":
    main()
