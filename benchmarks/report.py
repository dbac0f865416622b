"""Run every benchmark and write the ratios into the README's benchmarks block.

    python benchmarks/report.py              # print, and update README.md
    python benchmarks/report.py --dry-run    # print only
    python benchmarks/report.py --threads 1  # one BLAS thread: steadier on a busy machine

Ratios, not times: each ratio compares two runs in the same process, so a
slower or busier machine changes both sides alike. Run it on a quiet
machine all the same: under heavy load many small matrix products (LoRA's
thin ones) suffer more than a few large ones. DeZero and PyTorch columns
appear when those libraries are importable by the Python running this
script (e.g. a separate environment with torch installed); the report says
which were not, and why.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

import _path  # noqa: F401  (the lorabook next to this folder)
import bench_lora
import bench_overhead
import bench_train_step

HERE = os.path.dirname(os.path.abspath(__file__))
IMPORT_TARGET = 0.2  # seconds for `import lorabook` in a fresh process


def import_seconds(runs=15):
    """Median time of `import lorabook` in a fresh process (the interpreter's own start not counted).

    As a user sees it from the second import on: Python keeps every module
    it has compiled in a bytecode cache. The cache goes to a scratch folder
    here (filled by one import first), and PYTHONDONTWRITEBYTECODE, which
    some environments set, is lifted for these runs: with it, every run
    would compile all of lorabook from source again (about 0.1 s more).
    """
    code = "import time; t = time.perf_counter(); import lorabook; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": os.path.dirname(HERE)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def one_import():
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        return float(done.stdout)

    with tempfile.TemporaryDirectory() as cache:
        env["PYTHONPYCACHEPREFIX"] = cache
        one_import()  # fills the cache
        times = [one_import() for _ in range(runs)]
    return statistics.median(times)


def lora_in_fresh_process(threads=None):
    """bench_lora's results, run in a new process (so that --threads can apply to its BLAS)."""
    env = bench_train_step.thread_env(threads)
    done = subprocess.run([sys.executable, os.path.join(HERE, "bench_lora.py"), "--json"], capture_output=True,
                          text=True, env=env, check=True)
    *shown, last = done.stdout.strip().splitlines()
    print("\n".join(shown))
    return json.loads(last)


def _peer(row, library):
    value = row[library]
    return f"{row['lorabook'] / value:.2f}x" if isinstance(value, float) else "n/a"


def _verdict(value, target):
    """'met' or 'not met', for a value that must stay at or under its target."""
    return "met" if value <= target else "not met"


def _floor_sentence(steps, overhead):
    """Whether the small MLPs' targets are within reach of the design: the bare engine plus what a user's code adds.

    A user writes modules, cross_entropy and an optimizer; what those cost
    (lorabook minus Functions) comes on top of any engine. So the bare
    engine, which has no checks at all, plus that cost is the least a
    lorabook step could take while keeping its API (bench_overhead's
    "floor", measured in each process). A verdict is given only where the
    whole spread over the processes lies on one side of the target.
    """
    parts, over, within = [], [], []
    for label, row in overhead.items():
        mlp, (low, high) = label.split(",")[0], row["floor spread"]
        target = steps[label]["target"] if label in steps else None
        parts.append(f"{row['floor']:.2f}x at {mlp} ({low:.2f}-{high:.2f}" + (f"; target {target:.2f}x)" if target else ")"))
        if target and low > target:
            over.append(mlp)
        elif target and high <= target:
            within.append(mlp)
    sentences = [f"The bare engine plus what the modules, cross_entropy and the optimizer add (*bare engine* + "
                 f"*lorabook* - *Functions*, per process), the least a step of this design could take with "
                 f"lorabook's API, comes to {' and '.join(parts)}."]
    if over:
        sentences.append(f"At {' and '.join(over)} that is over the target in every process, with none of the "
                         f"engine's checks, so trimming checks cannot meet {'it' if len(over) == 1 else 'them'}: "
                         f"it would take less work per operation than a Context, a Tensor and a Function call, "
                         f"or cheaper modules, loss and optimizer.")
    if within:
        sentences.append(f"At {' and '.join(within)} it is within the target in every process: the engine's "
                         f"checks are what stands between lorabook and it.")
    return " ".join(sentences)


def markdown(steps, overhead, lora, import_time, threads):
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    threading = f", {threads} BLAS thread(s)" if threads else ""
    lines = [
        "## Speed and memory",
        "",
        f"Measured by `python benchmarks/report.py{f' --threads {threads}' if threads else ''}` on "
        f"{datetime.date.today().isoformat()} ({platform.machine()}, {os.cpu_count()} cores, load average "
        f"{load:.1f}, NumPy {__import__('numpy').__version__}{threading}). Each MLP runs in a fresh process "
        f"that imports only NumPy and the library measured; ratios of medians within that process, lower is "
        f"better, the median of {bench_train_step.PROCESSES} such processes (lowest-highest in brackets). "
        f"The DeZero and PyTorch "
        f"columns are lorabook's time over theirs.",
        "",
        "| SGD training step, MLP | lorabook / hand-written NumPy | target | lorabook / DeZero | lorabook / PyTorch |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, row in steps.items():
        low, high = row["spread"]
        lines.append(f"| {label} | {row['lorabook']:.2f}x ({low:.2f}-{high:.2f}) | at most {row['target']:.2f}x: "
                     f"{_verdict(row['lorabook'], row['target'])} | "
                     f"{_peer(row, 'dezero')} | {_peer(row, 'torch')} |")
    for library, name in (("dezero", "DeZero"), ("torch", "PyTorch")):
        reasons = sorted({row[library] for row in steps.values() if not isinstance(row[library], float)})
        if reasons:
            lines += ["", f"{name}: {reasons[0]}."]
    lines += [
        "",
        "Where the small MLPs' time goes (`python benchmarks/bench_overhead.py`): the same step with one layer "
        "of lorabook peeled off at a time, each against the hand-written step. *Functions* calls the autograd "
        "Functions directly on Tensors (no Module, argument checks or optimizer); *bare engine* runs the same "
        "Functions on `benchmarks/bare_engine.py`, the leanest engine of lorabook's design (a Context and a "
        "Tensor per operation, a graph walk) with none of its checks; *arithmetic* calls each "
        "Function's forward and backward on plain arrays in the right order by hand (no Tensor, graph or engine).",
        "",
        "| SGD training step, MLP | lorabook | Functions | bare engine | arithmetic |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, row in overhead.items():
        lines.append(f"| {label} | {row['lorabook']:.2f}x | {row['Functions']:.2f}x | {row['bare engine']:.2f}x | "
                     f"{row['arithmetic']:.2f}x |")
    mlps = [label.split(",")[0] for label in overhead]

    def shares(high, low):
        return " and ".join(f"{row[high] - row[low]:.2f}{' of a hand-written step' if i == 0 else ''} at {mlp}"
                            for i, (row, mlp) in enumerate(zip(overhead.values(), mlps)))

    lines += [
        "",
        f"The design itself, one Context and one Tensor per operation and a graph walk (*bare engine* minus "
        f"*arithmetic*), costs {shares('bare engine', 'arithmetic')}. The engine's checks and guarantees "
        f"(*Functions* minus *bare engine*: in-place changes, what each backward returned, shapes, dtypes, "
        f"shared gradient arrays, no_grad) cost {shares('Functions', 'bare engine')}; the modules, the "
        f"argument checks and the optimizer (*lorabook* minus *Functions*) {shares('lorabook', 'Functions')}. "
        f"These costs are fixed per operation, so they weigh on small MLPs only; at 784-512-512-10 and above "
        f"the arithmetic dominates.",
    ]
    lines += ["", _floor_sentence(steps, overhead)]
    sizes = "-".join(map(str, bench_lora.SIZES))
    lines += [
        "",
        "| what | ratio or value | target |",
        "|---|---:|---:|",
        f"| LoRA r={bench_lora.RANK} step / full fine-tuning step, MLP {sizes}, batch {bench_lora.BATCH}, Adam | "
        f"{lora['time ratio']:.2f}x | at most {bench_lora.TARGETS['time ratio']:.2f}x: "
        f"{_verdict(lora['time ratio'], bench_lora.TARGETS['time ratio'])} |",
        f"| peak traced memory over two steps, LoRA / full fine-tuning | "
        f"{lora['peak memory ratio']:.2f}x | at most {bench_lora.TARGETS['peak memory ratio']:.2f}x: "
        f"{_verdict(lora['peak memory ratio'], bench_lora.TARGETS['peak memory ratio'])} |",
        f"| `import lorabook`, fresh process (bytecode cached, as from the second import on) | "
        f"{import_time:.2f} s | at most {IMPORT_TARGET:.1f} s: {_verdict(import_time, IMPORT_TARGET)} |",
    ]
    equal = lora["grad+adam bytes"] == lora["3 x trainable x itemsize"]
    lines += [
        "",
        f"LoRA's gradients plus Adam state hold {lora['grad+adam bytes']:,d} bytes: "
        f"{'exactly' if equal else 'NOT'} 3 x {lora['trainable']:,d} trainable parameters x 4 bytes "
        f"(full fine-tuning trains {lora['all']:,d}).",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print only, leave README.md alone")
    parser.add_argument("--threads", type=int, help="BLAS (and PyTorch) threads, passed to every benchmark process")
    parser.add_argument("--readme", default=os.path.join(os.path.dirname(HERE), "README.md"))
    args = parser.parse_args(argv)
    steps = bench_train_step.main(["--threads", str(args.threads)] if args.threads else [])
    print()
    overhead = bench_overhead.main(["--threads", str(args.threads)] if args.threads else [])
    print()
    lora = lora_in_fresh_process(args.threads)
    import_time = import_seconds()
    print(f"\nimport lorabook: {import_time:.2f} s (target at most {IMPORT_TARGET} s)")
    text = markdown(steps, overhead, lora, import_time, args.threads)
    print("\n" + text)
    if not args.dry_run:
        try:  # here, not at the top: it loads matplotlib, which the timings do not need
            from lorabook.results_text import replace_block
        except ModuleNotFoundError as error:
            print(f"\n{args.readme} NOT updated: lorabook.figures needs {error.name}, missing here")
            return
        replace_block(args.readme, "benchmarks", text)
        print(f"\nupdated the benchmarks block of {args.readme}")


if __name__ == "__main__":
    main()
