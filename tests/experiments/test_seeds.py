"""lorabook.experiments.seeds: mean ± std over seeds, paired differences and their verdicts."""
import pytest

from lorabook.experiments import (
    difference, format_mean_std, mean_std, over_seeds, paired_difference, summarise, values,
)

RECORDS = [{"label": label, "seed": seed, "acc": acc}
           for seed, (a, b) in enumerate([(0.90, 0.88), (0.92, 0.91), (0.91, 0.87)])
           for label, acc in (("A", a), ("B", b))]


def test_values_are_one_per_seed_in_seed_order():
    shuffled = list(reversed(RECORDS))
    assert values(shuffled, "acc", label="A") == [0.90, 0.92, 0.91]
    with pytest.raises(ValueError, match="repeat a seed"):
        values(RECORDS, "acc")  # A and B share seeds: the criteria must pick one run per seed
    with pytest.raises(ValueError, match="no record matches"):
        values(RECORDS, "acc", label="C")


def test_mean_std_uses_the_sample_standard_deviation():
    mean, std = mean_std([1.0, 2.0, 3.0])
    assert mean == 2.0 and std == pytest.approx(1.0)
    assert mean_std([5.0]) == (5.0, 0.0)
    assert format_mean_std([0.9, 0.92], 2, percent=True) == "91.00 ± 1.41%"
    with pytest.raises(ValueError, match="at least one number"):
        mean_std([])


def test_a_difference_is_stated_only_beyond_its_spread():
    d = paired_difference(RECORDS, "acc", {"label": "A"}, {"label": "B"})
    assert d.differences == pytest.approx([0.02, 0.01, 0.04])
    assert d.wins == 3 and d.n == 3 and d.verdict == "higher" and d.margin > 0
    assert difference([1.0, 2.0], [2.0, 1.0]).verdict == "tie"  # +1 and -1: mean 0
    assert difference([0.0, 0.0, 0.3], [0.0, 0.0, 0.0]).verdict == "tie"  # mean 0.1 < std 0.17
    assert difference([0.1, 0.2, 0.3], [0.3, 0.4, 0.5]).verdict == "lower"
    assert difference([1.0], [0.0]).verdict == "tie"  # one seed settles nothing
    assert d.describe(2, percent=True, counts=True) == "+2.33 ± 1.53 points, higher in 3 of 3 seeds"
    with pytest.raises(ValueError, match="same length"):
        difference([1.0, 2.0], [1.0])


def test_paired_difference_refuses_runs_of_different_seeds():
    with pytest.raises(ValueError, match="different seeds"):
        paired_difference(RECORDS[:-1], "acc", {"label": "A"}, {"label": "B"})


def test_over_seeds_tags_records_and_summarise_folds_them():
    records = over_seeds(lambda seed, offset: [{"label": "A", "acc": seed + offset}], range(3), offset=0.5)
    assert [r["seed"] for r in records] == [0, 1, 2] and [r["acc"] for r in records] == [0.5, 1.5, 2.5]
    rows = summarise(RECORDS, "label", ["acc"], digits=3)
    assert rows == [{"label": "A", "acc": "0.910 ± 0.010", "seeds": 3}, {"label": "B", "acc": "0.887 ± 0.021", "seeds": 3}]
    with pytest.raises(ValueError, match="at least one seed"):
        over_seeds(lambda seed: [], [])
