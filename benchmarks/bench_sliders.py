"""How fast does the classroom app answer a slider move? Seconds per new position, and per repeated one.

    python benchmarks/bench_sliders.py            # each BLAS thread setting in its own process
    python benchmarks/bench_sliders.py --child    # one process, the current environment only

A teacher's kernel may run with any BLAS thread count: unset (OpenBLAS
uses every core), 1, or 2. The script runs the same walk over slider
positions in a fresh process for each setting. Each answer is what the
app does on a move: lorabook.widgets.rank_selection_numbers (training, or
the remembered run), ranks_seen, and lorabook.plots.plot_classroom_digits
rendered to PNG. The walk starts after the source model is trained (the
app trains it before its first page), visits new positions (every rank,
then other budgets, noise, rotation and alpha), then revisits them.

Target: every new position answers within 1 s on a 2-core machine, whatever
the thread count (the slider functions limit BLAS to one thread themselves);
a repeated one at once. Load from other processes slows every number here:
the script prints the load average. It reports; it asserts nothing.
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
THREAD_SETTINGS = (None, "1", "2")  # OPENBLAS_NUM_THREADS for the child: unset, 1, 2


def walk():
    """The slider positions visited: every rank at the preset, then the other sliders one at a time."""
    from lorabook.widgets import U_CURVE_PRESET

    positions = [dict(U_CURVE_PRESET, rank=r) for r in (1, 2, 4, 8, 16, 32, 64)]
    for name, values in (("label_budget", (10, 20, 100, 200)), ("noise", (0.0, 0.1, 0.5)),
                         ("shift_strength", (0.0, 45.0, 90.0)), ("lora_alpha", (1, 8, 64))):
        positions += [dict(U_CURVE_PRESET, rank=8, **{name: value}) for value in values]
    return positions


def answer(position):
    """What the app computes and draws for one slider position; returns seconds."""
    import matplotlib.pyplot as plt

    from lorabook.plots import plot_classroom_digits
    from lorabook.widgets import rank_selection_numbers, ranks_seen

    start = time.perf_counter()
    numbers = rank_selection_numbers(**position)
    fig = plot_classroom_digits(numbers, ranks_seen(**position))
    fig.savefig(io.BytesIO(), format="png", dpi=100)
    plt.close(fig)
    return time.perf_counter() - start


def child():
    import matplotlib

    matplotlib.use("Agg")
    from lorabook.widgets import source_model

    source_model(0)  # the app trains it before showing its first page
    positions = walk()
    new = [(p, answer(p)) for p in positions]
    repeated = [answer(p) for p in positions]
    setting = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    worst_position, worst = max(new, key=lambda item: item[1])
    times = sorted(t for _, t in new)
    print(f"OPENBLAS_NUM_THREADS={setting}: {len(new)} new positions: median {times[len(times) // 2]:.2f} s, "
          f"slowest {worst:.2f} s (labels {worst_position['label_budget']}, r={worst_position['rank']}), "
          f"over 1 s: {sum(t > 1.0 for t in times)}; repeated positions: slowest {max(repeated) * 1000:.0f} ms")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", action="store_true", help="run the walk in this process only")
    args = parser.parse_args()
    if args.child:
        return child()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min) {load:.1f} on {os.cpu_count()} cores")
    for threads in THREAD_SETTINGS:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
        if threads is not None:
            env["OPENBLAS_NUM_THREADS"] = threads
        subprocess.run([sys.executable, os.path.abspath(__file__), "--child"], env=env, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
