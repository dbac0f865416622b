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
    """What the app does for one slider position (lorabook.classroom.app.digits_png); returns
    (wall seconds, CPU seconds of this process)."""
    from lorabook.classroom.app import digits_png

    start, cpu = time.perf_counter(), time.process_time()
    digits_png(position)
    return time.perf_counter() - start, time.process_time() - cpu


def child():
    import matplotlib

    matplotlib.use("Agg")
    from lorabook.widgets import source_model

    source_model(0)  # the app trains it before showing its first page
    positions = walk()
    new = [answer(p) for p in positions]
    repeated = [answer(p) for p in positions]
    setting = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    for name, column in (("wall", 0), ("CPU", 1)):
        times = sorted(t[column] for t in new)
        again = sorted(t[column] for t in repeated)
        print(f"OPENBLAS_NUM_THREADS={setting:5} {name:4}: {len(times)} new positions: median {times[len(times) // 2]:.2f} s, "
              f"slowest {times[-1]:.2f} s, over 1 s: {sum(t > 1.0 for t in times)}; "
              f"repeated: median {again[len(again) // 2] * 1000:.0f} ms, slowest {again[-1] * 1000:.0f} ms "
              f"(a repeat redraws only when new ranks joined its rank curve)")
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
