"""Several seeds: mean ± standard deviation, paired differences, and when a difference is a finding.

    by_seed = values(records, "test_accuracy", label="LoRA r=4")     # [0.928, 0.931, ...], one per seed
    mean, std = mean_std(by_seed)
    d = paired_difference(records, "test_accuracy", {"label": "LoRA r=4"}, {"label": "full fine-tuning"})
    d.verdict                  # "higher", "lower" or "tie"
    d.wins, d.n                # in how many of the n seeds the first was higher

One run is one draw. Two methods that differ by one or two test images in
one seed may swap places in the next, so a comparison here is made seed by
seed (the same split, source model and batch order for both, a paired
difference) and stated only when the mean of the differences exceeds their
standard deviation (|mean| > std, ddof = 1): a t statistic above sqrt(n),
2.2 for 5 seeds. Otherwise the two tie within seed noise.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from .forked import map_forked
from .records import check_records


def values(records: Iterable[dict], key: str, seed_key: str = "seed", **criteria: Any) -> list:
    """record[key] of the records matching every criterion, in order of seed_key; one per seed.

    ValueError if a seed appears twice (the criteria do not pick one run per seed) or none match.
    """
    records = check_records("records", records, required=(key, seed_key))
    rows = [r for r in records if all(r.get(k) == v for k, v in criteria.items())]
    if not rows:
        raise ValueError(f"no record matches {criteria}")
    seeds = [r[seed_key] for r in rows]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the records matching {criteria} repeat a seed ({seeds}): add criteria that pick one run per seed")
    return [float(r[key]) for r in sorted(rows, key=lambda r: r[seed_key])]


def mean_std(numbers: Iterable[float]) -> tuple:
    """(mean, standard deviation with ddof = 1) of a list of numbers; std is 0.0 for a single number."""
    numbers = np.asarray(numbers, dtype=np.float64)
    if numbers.size == 0:
        raise ValueError("mean_std needs at least one number, got none")
    return float(numbers.mean()), float(numbers.std(ddof=1)) if numbers.size > 1 else 0.0


def format_mean_std(numbers: Iterable[float], digits: int = 3, percent: bool = False) -> str:
    """ "0.926 ± 0.008" (or "92.6 ± 0.8%" with percent=True) for a list of per-seed numbers."""
    mean, std = mean_std(numbers)
    if percent:
        return f"{100 * mean:.{digits}f} ± {100 * std:.{digits}f}%"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


@dataclass
class Difference:
    """A paired comparison of A and B over seeds: differences = A - B per seed.

    mean, std: of the differences (ddof = 1). wins: seeds where A > B; ties: seeds
    where A == B; n: seeds. verdict: "higher" (A above B by more than the spread,
    mean > std), "lower" (mean < -std) or "tie".
    """

    differences: list
    mean: float
    std: float
    wins: int
    ties: int
    n: int

    @property
    def verdict(self):
        if self.n >= 2 and abs(self.mean) > self.std:
            return "higher" if self.mean > 0 else "lower"
        return "tie"

    @property
    def margin(self):
        """|mean| - std: how far the difference is from the line between a finding and a tie (> 0: a finding)."""
        return abs(self.mean) - self.std

    def describe(self, digits=3, percent=False, counts=False):
        """ "+0.004 ± 0.010" (percent: "+0.4 ± 1.0 points"); counts adds ", higher in 3 of 5 seeds"."""
        scale, unit = (100, " points") if percent else (1, "")
        text = f"{scale * self.mean:+.{digits}f} ± {scale * self.std:.{digits}f}{unit}"
        return text + (f", higher in {self.wins} of {self.n} seeds" if counts else "")


def difference(a: Sequence[float], b: Sequence[float]) -> Difference:
    """Difference of two equally long per-seed lists (paired by position)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"a and b must be non-empty lists of the same length (one number per seed), "
                         f"got {a.size} and {b.size} numbers")
    diffs = a - b
    mean, std = mean_std(diffs)
    if math.isnan(std):
        std = 0.0
    return Difference([float(x) for x in diffs], mean, std, int(np.sum(diffs > 0)), int(np.sum(diffs == 0)),
                      int(diffs.size))


def paired_difference(records: Iterable[dict], key: str, a: dict, b: dict, seed_key: str = "seed") -> Difference:
    """Difference of record[key] between the runs matching criteria `a` and `b`, seed by seed.

    a, b: dicts of criteria, e.g. {"label": "LoRA r=4"} and {"label": "full fine-tuning"}.
    The seeds of a and b must be the same.
    """
    a_rows = [r for r in records if all(r.get(k) == v for k, v in a.items())]
    b_rows = [r for r in records if all(r.get(k) == v for k, v in b.items())]
    if sorted(r[seed_key] for r in a_rows) != sorted(r[seed_key] for r in b_rows):
        raise ValueError(f"the runs matching {a} and {b} have different seeds: they cannot be paired")
    return difference(values(records, key, seed_key, **a), values(records, key, seed_key, **b))


def over_seeds(experiment: Callable[..., Any], seeds: Iterable[int], processes: int = 1, **options: Any) -> list:
    """experiment(seed=s, **options) for every s in seeds, its records joined into one list.

    experiment returns a list of record dicts (or (records, anything) as adapt
    does); each record gets the key "seed" (overwritten if it had one).
        records = over_seeds(lambda seed: my_runs(seed), seeds=range(5))
    processes: how many seeds run at once, each in a process forked from this
    one (lorabook.experiments.forked; on Linux, elsewhere one after another).
    The records are the same as with processes=1, in the order of `seeds`.

    Each seed runs on one BLAS thread, whatever this process was started
    with: the models here are small, so more threads only cost (and several
    processes with several threads each would fight over the cores), and the
    last digits of a result depend on the thread count. One thread is what
    the tests, the tour and the committed notebooks use, so a re-run in any
    kernel gives their numbers.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed, got none")
    per_seed = map_forked(functools.partial(_records_of_one_seed, experiment, options), seeds, processes)
    return [record for records in per_seed for record in records]


def _records_of_one_seed(experiment, options, seed):
    with threadpool_limits(limits=1, user_api="blas"):
        result = experiment(seed=seed, **options)
    records = result[0] if isinstance(result, tuple) else result  # the records, never the model beside them
    if isinstance(records, dict):
        records = [records]
    return [dict(record, seed=seed) for record in records]


def summarise(records: Iterable[dict], by: Any, keys: Sequence[str], digits: int = 3, percent: bool = False) -> list:
    """One row per distinct value of the `by` keys: each of `keys` as "mean ± std" over the seeds.

    by: a key or a list of keys naming a run (e.g. "label", or ["domain", "init"]);
    rows keep the order of first appearance and get "seeds" (how many runs).
    Ready for format_table: summarise(records, "label", ["test_accuracy"]).
    """
    by = [by] if isinstance(by, str) else list(by)
    records = check_records("records", records, required=tuple(by) + tuple(keys))
    groups = {}
    for record in records:
        groups.setdefault(tuple(record[k] for k in by), []).append(record)
    rows = []
    for name, members in groups.items():
        row = dict(zip(by, name))
        for key in keys:
            row[key] = format_mean_std([m[key] for m in members], digits, percent)
        row["seeds"] = len(members)
        rows.append(row)
    return rows
