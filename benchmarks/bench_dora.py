"""What does DoRA cost over LoRA? One Adam step of an MLP: full fine-tuning, LoRA, DoRA.

    python benchmarks/bench_dora.py [--repeats 15]

MLP 512-512-512-512 (ReLU), float32, batch 256, r = 8 on every Linear.
The three steps run in one process on the same data, interleaved, and the
script prints ratios of medians (the milliseconds themselves mean little on
a shared machine). It asserts nothing.

DoRA is computed with its reference formula (lora.dora.dora_term), which
per layer and step also forms W + s B A (out x in) for the row norms. Like
PEFT, it takes x W^T for the (m/n - 1) term from the base output when there
is no dropout. The last line measures what that reuse saves: the same step
with x W^T computed a second time (what happens with dropout), done here by
patching the forward, not in the library.

When torch and peft can be imported, the same three steps are timed with
PyTorch + PEFT as well (torch single-threaded if OPENBLAS_NUM_THREADS=1),
for PEFT's own DoRA / LoRA ratio; otherwise the script says so.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from lorabook import nn, optim  # noqa: E402
from lorabook.lora import LoraConfig, LoraLinear, get_peft_model  # noqa: E402
from lorabook.nn import functional as F  # noqa: E402

SIZES, BATCH, RANK = [512, 512, 512, 512], 256, 8


def setups(base):
    full = copy.deepcopy(base)
    lora = get_peft_model(copy.deepcopy(base), LoraConfig(r=RANK, target_modules="all-linear"), generator=0)
    dora_model = get_peft_model(copy.deepcopy(base), LoraConfig(r=RANK, target_modules="all-linear", use_dora=True),
                                generator=0)
    return {name: (model, optim.Adam(model.parameters(), lr=1e-3))
            for name, model in (("full", full), ("lora", lora), ("dora", dora_model))}


def step(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()


def computing_x_W_again(self, x, adapter_names):
    """reference_forward without handing the base output to the DoRA term: x W^T is computed twice."""
    result = self.base_layer(x)
    for name in adapter_names:
        result = result + self.adapter_term(x, name)
    return result


def peft_ratios(repeats):
    """PEFT's (LoRA / full, DoRA / full, DoRA / LoRA) step-time ratios, or None without torch and peft."""
    try:
        import torch
        from peft import LoraConfig as PeftLoraConfig
        from peft import get_peft_model as peft_get_peft_model
    except ImportError:
        return None
    if os.environ.get("OPENBLAS_NUM_THREADS") == "1":
        torch.set_num_threads(1)
    torch.manual_seed(0)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers += [torch.nn.Linear(n_in, n_out)] + ([torch.nn.ReLU()] if i < len(SIZES) - 2 else [])
    base = torch.nn.Sequential(*layers)
    targets = [str(i) for i in range(0, len(layers), 2)]
    models = {"full": copy.deepcopy(base),
              "lora": peft_get_peft_model(copy.deepcopy(base), PeftLoraConfig(r=RANK, target_modules=targets)),
              "dora": peft_get_peft_model(copy.deepcopy(base), PeftLoraConfig(r=RANK, target_modules=targets,
                                                                               use_dora=True))}
    optimizers = {name: torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-3)
                  for name, m in models.items()}
    x, y = torch.randn(BATCH, SIZES[0]), torch.randint(0, SIZES[-1], (BATCH,))
    times = {name: [] for name in models}
    for repeat in range(repeats + 2):
        for name, model in models.items():
            start = time.perf_counter()
            optimizers[name].zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizers[name].step()
            if repeat >= 2:
                times[name].append(time.perf_counter() - start)
    median = {name: float(np.median(t)) for name, t in times.items()}
    return median["lora"] / median["full"], median["dora"] / median["full"], median["dora"] / median["lora"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    runs = setups(nn.MLP(SIZES, generator=0))
    times = {name: [] for name in list(runs) + ["dora, x W^T again"]}
    original = LoraLinear.reference_forward
    for repeat in range(args.repeats + 2):  # two warm-up rounds
        for name, (model, optimizer) in runs.items():
            start = time.perf_counter()
            step(model, optimizer, x, y)
            if repeat >= 2:
                times[name].append(time.perf_counter() - start)
        LoraLinear.reference_forward = computing_x_W_again
        try:
            start = time.perf_counter()
            step(*runs["dora"], x, y)
            if repeat >= 2:
                times["dora, x W^T again"].append(time.perf_counter() - start)
        finally:
            LoraLinear.reference_forward = original
    median = {name: float(np.median(t)) for name, t in times.items()}
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, r={RANK}, float32, Adam; medians of {args.repeats} steps")
    print(f"  LoRA step / full fine-tuning step       {median['lora'] / median['full']:.2f}")
    print(f"  DoRA step / full fine-tuning step       {median['dora'] / median['full']:.2f}")
    print(f"  DoRA step / LoRA step                   {median['dora'] / median['lora']:.2f}")
    print(f"  DoRA step / the same computing x W^T again   {median['dora'] / median['dora, x W^T again']:.2f}")
    ratios = peft_ratios(args.repeats)
    if ratios is None:
        print("  PEFT: torch and peft are not installed, no PEFT column")
    else:
        print("  PEFT 0.21 on PyTorch: LoRA / full {:.2f}, DoRA / full {:.2f}, DoRA / LoRA {:.2f}".format(*ratios))
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
