"""The headline experiments behind `python -m lorabook tour`, `figures` and the README, over several seeds.

    results = run_headline()            # 5 seeds; run_headline(quick=True): 3 seeds, fewer ranks
    results.adaptation                  # one record per (seed, method), adapt's keys
    results.planted                     # one record per (seed, rank), planted_rank_sweep's keys

A seed s draws everything that is left to chance in one run:
make_domain_split(seed=s) chooses which digits are source and which target
and which 400 target images are labelled, train_source_model(seed=s) the
source model's start and batch order, adapt(seed=s) the adapter's start
and batch order, and the planted-rank task is drawn with seed s. A claim
that holds over these seeds holds over everything a re-run could change.

Rotated digits: every method adapts a copy of the same source model of its
seed (cached in memory, so a second call in one process does not retrain
it). The first layer's updates and LoRA's A matrices at ranks 4 and 16 are
kept for the README's spectrum and subspace-similarity figures, so those
need no training of their own.

The planted-rank task trains LoRA with 600 full-batch Adam steps at
lr = 3e-2 (2000 at 1e-2, the sweep's default, take three times as long):
the test errors land within 0.03 of the closed-form optimum (reduced-rank
regression), and the lowest is at the same rank in every seed; the quick
run uses the closed form itself.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from lorabook.analysis import random_subspace_baseline, subspace_similarity_grid
from lorabook.data import load_digits, make_domain_split
from lorabook.experiments import adapt, map_forked, planted_rank_sweep, train_source_model
from lorabook.nn import MLP
from lorabook.train import progress_bar

SHIFT, STRENGTH, LABEL_BUDGET = "rotate", 45.0, 400
PLANTED = dict(d=32, k=3, n=40, noise=0.5)
ANALYSIS_RANKS, ANALYSIS_LAYER = (4, 16), "0"
FULL_RUN = dict(seeds=(0, 1, 2, 3, 4), ranks=(1, 2, 4, 8, 16, 32), epochs=60, source_epochs=60,
                planted_ranks=(1, 2, 3, 4, 6, 8, 16, 32), planted_method="lora", planted_steps=600,
                planted_lr=3e-2)
QUICK_RUN = dict(seeds=(0, 1, 2), ranks=(1, 4, 16), epochs=30, source_epochs=30, planted_ranks=(1, 2, 3, 4, 8, 32),
                 planted_method="closed-form", planted_steps=600, planted_lr=3e-2)


@dataclass
class HeadlineResults:
    """What run_headline measured.

    adaptation: adapt's records, one per (seed, method), seeds in order.
    planted: planted_rank_sweep's records, one per (seed, rank).
    analysis: first-layer updates of seed 0 ({"full fine-tuning": dW, "LoRA r=4": ..., "LoRA r=16": ...}),
    and per seed the subspace similarity grid of LoRA's A at ranks 4 and 16 (None when the
    run has not both ranks). settings: what ran. seconds: wall time (for the terminal only).
    """

    adaptation: list
    planted: list
    analysis: dict
    settings: dict
    seconds: float = 0.0
    source_models: dict = field(default_factory=dict, repr=False)


_sources = {}  # (seed, epochs) -> (split, source model): see source_domain


def source_domain(seed, epochs=60):
    """(split, source model) for one seed: the rotated-digits split and the MLP trained on its source half.

    Cached in memory: the tour, the figures and the tests of one process share
    them. Callers must not change the model (adapt works on a copy).
    """
    if (seed, epochs) not in _sources:
        split = _split(seed)
        _sources[seed, epochs] = split, train_source_model(split.source_train, epochs=epochs, seed=seed)
    return _sources[seed, epochs]


def cache_source_domains(seeds, epochs=60, processes=2):
    """Train the source models of `seeds` that are not cached yet, `processes` at a time, and cache them here.

    Each is trained in a process forked from this one (lorabook.experiments.forked)
    and its weights come back: the same model, weight for weight, as
    source_domain trains here. Processes forked later (over_seeds(...,
    processes=2)) then start with every source model already trained.
    """
    missing = [seed for seed in seeds if (seed, epochs) not in _sources]
    trained = map_forked(lambda seed: _sizes_and_weights(source_domain(seed, epochs)[1]), missing, processes)
    for seed, (sizes, weights) in zip(missing, trained):
        if (seed, epochs) not in _sources:  # (where map_forked ran here, source_domain cached it already)
            model = MLP(sizes)
            model.load_state_dict(weights)
            _sources[seed, epochs] = _split(seed), model


def _split(seed):
    X, y = load_digits()
    return make_domain_split(X, y, SHIFT, STRENGTH, n_target_train=LABEL_BUDGET, seed=seed, image_shape=(8, 8))


def _sizes_and_weights(model):
    return model.sizes, model.state_dict()


def _first_layer_update(method, model, source_model):
    """delta W of layer ANALYSIS_LAYER in float64: W - W_source (full) or scaling * B @ A (LoRA)."""
    if method == "lora":
        layer = model.get_base_model().get_submodule(ANALYSIS_LAYER)
        A = layer.lora_A["default"].weight.data.astype(np.float64)
        B = layer.lora_B["default"].weight.data.astype(np.float64)
        return layer.scaling["default"] * (B @ A), A
    tuned = model.get_submodule(ANALYSIS_LAYER).weight.data.astype(np.float64)
    return tuned - source_model.get_submodule(ANALYSIS_LAYER).weight.data, None


def adaptation_runs(seed, ranks, epochs, source_epochs=60, bar=None):
    """Every method on one seed's rotated digits: (records, {label: (first-layer update, A or None)})."""
    split, source_model = source_domain(seed, source_epochs)
    runs = [("source-only", None), ("head-only", None)] + [("lora", r) for r in ranks] + [("full", None)]
    records, kept = [], {}
    for method, rank in runs:
        record, model = adapt(source_model, method, split.target_train, split.target_test, rank=rank,
                              epochs=epochs, seed=seed, source_data=split.source_test, measure_memory=False)
        records.append(record)
        if method == "full" or (method == "lora" and rank in ANALYSIS_RANKS):
            kept[record["label"]] = _first_layer_update(method, model, source_model)
        if bar is not None:
            bar.set_postfix_str(f"seed {seed}, {record['label']}", refresh=False)
            bar.update(1)
    return records, kept


def _analysis(kept_by_seed, seeds):
    low, high = ANALYSIS_RANKS
    grids = {}
    for seed in seeds:
        kept = kept_by_seed[seed]
        names = (f"LoRA r={low}", f"LoRA r={high}")
        grids[seed] = subspace_similarity_grid(kept[names[0]][1], kept[names[1]][1]) if all(
            n in kept for n in names) else None
    first = kept_by_seed[seeds[0]]
    d = first["full fine-tuning"][0].shape[1]
    return {"updates": {label: update for label, (update, _) in first.items()}, "grids": grids,
            "ranks": ANALYSIS_RANKS, "layer": ANALYSIS_LAYER, "d": d,
            "baseline": random_subspace_baseline(low, high, d)}


def run_headline(quick=False, progress=False):
    """Run the headline experiments over the seeds of FULL_RUN (or QUICK_RUN); returns HeadlineResults."""
    settings = dict(QUICK_RUN if quick else FULL_RUN, shift=SHIFT, strength=STRENGTH, label_budget=LABEL_BUDGET,
                    planted=PLANTED, quick=bool(quick))
    start = time.perf_counter()
    seeds, ranks = settings["seeds"], settings["ranks"]
    adaptation, kept = [], {}
    with progress_bar(progress, len(seeds) * (len(ranks) + 3), "adaptation runs", unit="run") as bar:
        for seed in seeds:
            records, kept[seed] = adaptation_runs(seed, ranks, settings["epochs"], settings["source_epochs"], bar)
            adaptation += records
    planted = []
    for seed in seeds:
        planted += planted_rank_sweep(**PLANTED, ranks=settings["planted_ranks"], seed=seed,
                                      method=settings["planted_method"],
                                      **({"steps": settings["planted_steps"], "lr": settings["planted_lr"]}
                                         if settings["planted_method"] == "lora" else {}))
    return HeadlineResults(adaptation, planted, _analysis(kept, seeds), settings, time.perf_counter() - start,
                           {seed: source_domain(seed, settings["source_epochs"])[1] for seed in seeds})
