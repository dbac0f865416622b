"""Run every benchmark and write the ratios into the README's benchmarks block.

    python benchmarks/report.py            # print, and update README.md
    python benchmarks/report.py --dry-run  # print only

Ratios, not times: each ratio compares two runs in the same process, so a
slower or busier machine changes both sides alike. Run it on a quiet
machine all the same: under heavy load many small matrix products (LoRA's
thin ones) suffer more than a few large ones.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import bench_lora  # noqa: E402
import bench_train_step  # noqa: E402

from lorabook.figures import replace_block  # noqa: E402


def markdown(step_ratios, lora):
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "## Speed and memory",
        "",
        f"Measured by `python benchmarks/report.py` on {datetime.date.today().isoformat()} "
        f"({platform.machine()}, {os.cpu_count()} cores, load average {load:.1f}, "
        f"NumPy {__import__('numpy').__version__}); ratios of two runs in the same process, lower is better.",
        "",
        "| what | ratio | target |",
        "|---|---:|---:|",
    ]
    for label, _, _, target in bench_train_step.CASES:
        lines.append(f"| training step, lorabook / hand-written NumPy, MLP {label} | "
                     f"{step_ratios[label]:.2f}x | at most {target:.2f}x |")
    sizes = "-".join(map(str, bench_lora.SIZES))
    lines.append(f"| LoRA r={bench_lora.RANK} step / full fine-tuning step, MLP {sizes}, batch {bench_lora.BATCH}, Adam | "
                 f"{lora['time ratio']:.2f}x | at most {bench_lora.TARGETS['time ratio']:.2f}x |")
    lines.append(f"| peak traced memory over two steps, LoRA / full fine-tuning | "
                 f"{lora['peak memory ratio']:.2f}x | at most {bench_lora.TARGETS['peak memory ratio']:.2f}x |")
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
    parser.add_argument("--readme", default=os.path.join(os.path.dirname(HERE), "README.md"))
    args = parser.parse_args(argv)
    step_ratios = bench_train_step.main([])
    print()
    lora = bench_lora.main([])
    text = markdown(step_ratios, lora)
    print("\n" + text)
    if not args.dry_run:
        replace_block(args.readme, "benchmarks", text)
        print(f"\nupdated the benchmarks block of {args.readme}")


if __name__ == "__main__":
    main()
