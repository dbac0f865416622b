"""Notebook 05's runs on one seed each, so that the notebook and its tests run exactly the same thing.

    records = over_seeds(recovery, range(5))     # lorabook.experiments.over_seeds

Every function takes a seed and returns records (lists of plain dicts). The
seed draws the split of the digits (make_domain_split), the source model
(lorabook.studies.headline.source_domain, cached in memory: one source
model per seed serves every shift, since the source half of a split depends
on the seed only), the adapter's start and the batch order.
"""
from __future__ import annotations

import functools

from lorabook.data import load_digits, make_domain_split
from lorabook.experiments import compare_adaptation, label_budget_sweep

from .domain_adaptation import compare_inits, rotation_rank_study
from .domain_baselines import adapters_per_domain, data_space_vs_lora
from .headline import source_domain

DOMAINS = {"rotated": ("rotate", 45.0), "inverted": ("invert", 1.0), "low_contrast": ("contrast", 0.3),
           "noisy": ("gaussian_noise", 0.3)}
INIT_SHIFTS = {"rotate": 45.0, "invert": 1.0, "contrast": 0.3}
DATA_SPACE_SHIFTS = {"rotate": 45.0, "invert": 1.0, "contrast": 0.3, "brightness": 0.3, "affine": 0.5}


def target_data(shift, strength, n_target_train, seed):
    """(target_train, target_test) of make_domain_split on the digits."""
    X, y = load_digits()
    split = make_domain_split(X, y, shift, strength, n_target_train=n_target_train, seed=seed, image_shape=(8, 8))
    return split.target_train, split.target_test


def recovery(seed):
    """Source only, head only, LoRA r=4 and full fine-tuning on 400 rotated digits, 60 epochs (the tour's)."""
    split, source = source_domain(seed)
    return compare_adaptation(source, split.target_train, split.target_test, ranks=(4,),
                              source_data=split.source_test, seed=seed, measure_memory=False)


def few_labels(seed):
    """Head only, LoRA r=4 and full fine-tuning from 25 rotated digits, 400 steps each; adds "gap"
    = train_accuracy - test_accuracy."""
    split, source = source_domain(seed)
    records = label_budget_sweep(source, split.target_train, split.target_test, budgets=(25,), rank=4, steps=400,
                                 seed=seed)
    return [dict(r, gap=r["train_accuracy"] - r["test_accuracy"]) for r in records]


@functools.lru_cache(maxsize=None)
def rotation_study(seed):
    """rotation_rank_study(degrees=90.0, seed=seed): two moons turned by 90 degrees.

    Cached in memory, as source_domain is: the notebook draws seed 0's models
    and then tabulates every seed's records, and seed 0 need not train twice.
    Callers must not change the models.
    """
    return rotation_rank_study(degrees=90.0, seed=seed)


def rotation(seed):
    """rotation_study's records."""
    return rotation_study(seed).records


def inits(seed):
    """LoRA r=8 from the default start and from PiSSA's on 200 labelled images of each INIT_SHIFTS shift,
    30 epochs."""
    domains = {name: target_data(name, strength, 200, seed) for name, strength in INIT_SHIFTS.items()}
    return compare_inits(source_domain(seed)[1], domains, ranks=(8,), seed=seed, epochs=30)


def domain_data(seed):
    """{domain name: (target_train, target_test)} for DOMAINS, 200 labels each."""
    return {name: target_data(shift, strength, 200, seed) for name, (shift, strength) in DOMAINS.items()}


@functools.lru_cache(maxsize=None)
def adapters_run(seed, epochs=30):
    """adapters_per_domain on DOMAINS: one rank-4 adapter per domain, every adapter tested on every domain.

    Returns (records, the PeftModel holding the four adapters). Cached in
    memory like rotation_study: the notebook switches seed 0's adapters and
    then tabulates every seed. Callers may switch adapters but must not train.
    """
    return adapters_per_domain(source_domain(seed)[1], domain_data(seed), rank=4, epochs=epochs, seed=seed)


def adapters(seed, epochs=30):
    """adapters_run's records."""
    return adapters_run(seed, epochs)[0]


def data_space(seed):
    """data_space_vs_lora on DATA_SPACE_SHIFTS: label-free alignment against LoRA r=4 on 50 labels (200 steps)."""
    X, y = load_digits()
    return data_space_vs_lora(X, y, DATA_SPACE_SHIFTS, source_domain(seed)[1], n_labels=50, steps=200, seed=seed)
