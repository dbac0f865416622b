"""`python -m lorabook tour`: the headline experiments, as a table and figures.

1. A 64-128-128-10 MLP learns upright 8x8 digits (the source domain).
2. The same digits rotated by 45 degrees (the target domain) make it collapse.
3. It is adapted with 400 labelled target images: head only, LoRA at
   several ranks on every Linear layer, and full fine-tuning.
4. The planted-rank task: a teacher whose update has rank exactly 3, learned
   by LoRA at each rank from 40 noisy examples. Test error is lowest at the
   planted rank, and the Gavish-Donoho rule on the full fine-tune's
   (whitened) update suggests the same rank.

Every number comes from running the code with fixed seeds.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from .data import load_digits, make_domain_split
from .experiments import (
    TABLE_COLUMNS, compare_adaptation, format_table, planted_rank_sweep, rank_sweep_summary,
    train_source_model,
)

SHIFT, STRENGTH, LABEL_BUDGET, SEED = "rotate", 45.0, 400, 0
PLANTED = dict(d=32, k=3, n=40, noise=0.5)


@dataclass
class TourResults:
    """What the tour measured: the adaptation records, the planted-rank sweep and its summary."""

    adaptation: list
    planted: list
    planted_summary: list
    settings: dict
    seconds: float = 0.0
    split: object = field(default=None, repr=False)
    source_model: object = field(default=None, repr=False)


def run_experiments(quick=False, progress=True):
    """Run the headline experiments; returns TourResults (records are lists of dicts).

    quick: fewer LoRA ranks and training steps, for a run of under a minute.
    """
    start = time.perf_counter()
    ranks = (1, 4, 16) if quick else (1, 2, 4, 8, 16, 32)
    planted_ranks = (1, 2, 3, 4, 8, 32) if quick else (1, 2, 3, 4, 6, 8, 16, 32)
    epochs = 30 if quick else 60
    steps = 800 if quick else 2000

    X, y = load_digits()
    split = make_domain_split(X, y, SHIFT, STRENGTH, n_target_train=LABEL_BUDGET, seed=SEED, image_shape=(8, 8))
    source_model = train_source_model(split.source_train, seed=SEED)
    adaptation = compare_adaptation(
        source_model, split.target_train, split.target_test, ranks=ranks, source_data=split.source_test,
        epochs=epochs, seed=SEED, progress=progress,
    )
    planted = planted_rank_sweep(**PLANTED, ranks=planted_ranks, seed=SEED, steps=steps, progress=progress)
    settings = dict(shift=SHIFT, strength=STRENGTH, label_budget=LABEL_BUDGET, seed=SEED, epochs=epochs,
                    planted=PLANTED, planted_steps=steps, quick=quick)
    return TourResults(adaptation, planted, rank_sweep_summary(planted), settings,
                       time.perf_counter() - start, split, source_model)


def adaptation_table(results, markdown=False, with_time=True):
    """Method, rank, trainable parameters, accuracies (and time) of each adaptation run."""
    dropped = {"optimizer_state_bytes"} | (set() if with_time else {"wall_time_s"})
    columns = [c for c in TABLE_COLUMNS if c not in dropped]
    return format_table(results.adaptation, columns, markdown=markdown)


def planted_table(results, markdown=False):
    columns = ["rank", "train_error", "test_error"]
    return format_table(results.planted, columns, markdown=markdown)


def rank_cap_note(results):
    """Which LoRA runs had a layer's rank capped at min(out, in), read off the records' layer_ranks
    (the experiments cap it: a larger rank cannot help there); None if no run was capped."""
    capped = {}
    for record in results.adaptation:
        for layer, used in (record.get("layer_ranks") or {}).items():
            if used < record["rank"]:
                capped.setdefault((layer, used), []).append(f"r={record['rank']}")
    if not capped:
        return None
    parts = [f"layer \"{layer}\" gets rank {used} at {', '.join(runs)}" for (layer, used), runs in capped.items()]
    return ("A layer cannot use a rank above min(out, in), so the experiments cap it there: "
            + "; ".join(parts) + " (the other layers get r; trainable_params counts the capped adapters).")


def headline_sentences(results):
    """The findings in words, each number read off the records."""
    by_label = {r["label"]: r for r in results.adaptation}
    source, full = by_label["source only"], by_label["full fine-tuning"]
    lora = sorted((r for r in results.adaptation if r["method"] == "lora"), key=lambda r: r["rank"])
    best_lora = max(lora, key=lambda r: r["test_accuracy"])
    # the smallest rank that comes within 2 points of full fine-tuning (or the best one)
    enough = next((r for r in lora if r["test_accuracy"] >= full["test_accuracy"] - 0.02), best_lora)
    share = enough["trainable_params"] / full["trainable_params"]
    summary = results.planted_summary[0]
    s = results.settings
    return [
        f"On upright digits the source model scores {source['source_accuracy']:.1%}; on digits rotated by "
        f"{s['strength']:g} degrees it falls to {source['test_accuracy']:.1%}.",
        f"With {s['label_budget']} labelled rotated images, full fine-tuning ({full['trainable_params']:,} "
        f"trainable parameters) reaches {full['test_accuracy']:.1%}; LoRA on every layer reaches "
        f"{enough['test_accuracy']:.1%} at r={enough['rank']} with {enough['trainable_params']:,} parameters "
        f"({share:.1%} of full fine-tuning's), and {best_lora['test_accuracy']:.1%} at its best "
        f"(r={best_lora['rank']}).",
        f"Planted-rank task (true rank k={summary['k']}, n={summary['n_train']} examples): LoRA's test error "
        f"is lowest at r={summary['best_rank']}. The Gavish-Donoho threshold on the full fine-tune's update "
        f"suggests r={summary['suggested_rank']} once the update is whitened by the inputs (X = QR, so the "
        f"noise in R dW^T is white, as the rule assumes), and r={summary['suggested_rank_unwhitened']} on "
        f"the raw update, whose noise is not.",
    ]


def run_tour(quick=False, progress=True, figures_dir=None):
    """Run, print the tables and findings, and write the tour's figures.

    figures_dir: where the figures go. When not given, a full run writes them
    to ./figures if that folder exists (the repository's figures, which a full
    run reproduces exactly); a quick run writes none, so that it never puts its
    smaller experiment's pictures beside the README's full-run numbers.
    """
    print("lorabook tour: full fine-tuning vs LoRA on a shifted domain, and the rank trade-off")
    print("(quick run: fewer ranks and steps)\n" if quick else "")
    results = run_experiments(quick=quick, progress=progress)
    s = results.settings
    print(f"\nAdapting to digits rotated by {s['strength']:g} degrees with {s['label_budget']} target labels "
          f"(accuracies on held-out target images; source = upright test images):\n")
    print(adaptation_table(results))
    note = rank_cap_note(results)
    if note:
        print("\n" + note)
    print(f"\nPlanted-rank task: d={PLANTED['d']}, true rank k={PLANTED['k']}, n={PLANTED['n']}, "
          f"noise {PLANTED['noise']}; error = MSE against the noise-free targets:\n")
    print(planted_table(results))
    print()
    for sentence in headline_sentences(results):
        print("- " + sentence)
    if figures_dir is None and not quick and os.path.isdir("figures"):
        figures_dir = "figures"
    if figures_dir is None and quick:
        print("\nQuick run: no figures written (give --figures-dir to write them; the full tour "
              "rewrites figures/ with the README's numbers).")
    elif figures_dir is not None:
        from .figures import write_tour_figures

        paths = write_tour_figures(results, figures_dir)
        print(f"\nFigures written: {', '.join(paths)}")
    print(f"\nTour finished in {results.seconds:.0f} s.")
    return results
