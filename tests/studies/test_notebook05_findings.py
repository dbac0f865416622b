"""Notebook 05's findings, each held at its margin over the notebook's five seeds.

The notebook states a difference only where the mean of the seed-by-seed
differences exceeds their standard deviation ("higher"/"lower"), and a tie
otherwise; these tests run the same functions (lorabook.studies.domain_seeds)
and fail when a verdict the prose relies on changes.
"""
import pytest

from lorabook.experiments import over_seeds, paired_difference
from lorabook.studies import domain_seeds

SEEDS = range(5)


def verdict(records, key, a, b, by="label"):
    return paired_difference(records, key, {by: a}, {by: b})


@pytest.fixture(scope="module")
def recovery():
    return over_seeds(domain_seeds.recovery, SEEDS)


def test_lora_r4_ties_with_full_fine_tuning_and_the_head_trails(recovery):
    tie = verdict(recovery, "test_accuracy", "LoRA r=4", "full fine-tuning")
    assert tie.verdict == "tie" and abs(tie.mean) <= tie.std
    head = verdict(recovery, "test_accuracy", "head only", "LoRA r=4")
    assert head.verdict == "lower" and head.wins == 0


def test_lora_keeps_less_of_the_source_domain_than_full_fine_tuning(recovery):
    kept = verdict(recovery, "source_accuracy", "LoRA r=4", "full fine-tuning")
    assert kept.verdict == "lower" and -kept.mean > kept.std


def test_with_25_labels_lora_does_not_overfit_less_than_full_fine_tuning():
    records = over_seeds(domain_seeds.few_labels, SEEDS)
    assert all(r["n_train"] == 25 and r["train_accuracy"] == 1.0 for r in records if r["method"] != "head-only")
    assert verdict(records, "test_accuracy", "LoRA r=4", "full fine-tuning").verdict == "tie"
    assert verdict(records, "gap", "LoRA r=4", "full fine-tuning").verdict == "tie"
    assert verdict(records, "test_accuracy", "head only", "LoRA r=4").verdict == "lower"


def test_a_rotation_of_the_moons_needs_rank_two():
    records = over_seeds(domain_seeds.rotation, SEEDS)
    planted = verdict(records, "test_accuracy", "exact fix, planted (rank 2)", "exact fix cut to rank 1")
    assert planted.verdict == "higher" and planted.wins == 5
    trained = verdict(records, "test_accuracy", "LoRA r=1 on layer 0", "exact fix cut to rank 1")
    assert trained.verdict == "higher" and trained.wins == 5
    two = verdict(records, "test_accuracy", "LoRA r=2 on layer 0", "LoRA r=1 on layer 0")
    assert two.verdict == "higher" and two.wins == 5  # the thinnest margin: +0.03 against a spread of 0.02
    assert verdict(records, "test_accuracy", "LoRA r=2 on layer 0", "head only").verdict == "higher"


def test_pissa_helps_on_the_inversion_only():
    records = over_seeds(domain_seeds.inits, SEEDS)
    found = {domain: verdict([r for r in records if r["domain"] == domain], "test_accuracy", "PiSSA",
                             "default (B = 0)", by="init") for domain in domain_seeds.INIT_SHIFTS}
    assert found["invert"].verdict == "higher" and found["invert"].wins == 5
    assert found["rotate"].verdict == "tie" and found["contrast"].verdict == "tie"


def test_each_adapter_wins_on_its_own_domain_except_the_noisy_one_which_needs_none():
    records = over_seeds(domain_seeds.adapters, SEEDS)
    for domain in domain_seeds.DOMAINS:
        rows = [r for r in records if r["domain"] == domain]
        own = [dict(r, role="own") for r in rows if r["adapter"] == domain]
        base = [dict(r, role="base") for r in rows if r["adapter"] == "base model"]
        others = [r for r in rows if r["adapter"] not in (domain, "base model")]
        best_other = [dict(max((r for r in others if r["seed"] == s), key=lambda r: r["test_accuracy"]),
                           role="other") for s in SEEDS]
        against_base = verdict(own + base, "test_accuracy", "own", "base", by="role")
        against_others = verdict(own + best_other, "test_accuracy", "own", "other", by="role")
        if domain == "noisy":
            assert against_base.verdict == "tie"
        else:
            assert against_base.verdict == "higher" and against_base.wins == 5
            assert against_others.verdict == "higher" and against_others.wins == 5


def test_coral_beats_lora_on_statistics_shifts_ties_on_affine_and_the_inversion_is_invisible():
    records = over_seeds(domain_seeds.data_space, SEEDS)

    def coral_vs_lora(shift):
        return verdict([r for r in records if r["shift"] == shift], "test_accuracy", "MLP on CORAL'd target",
                       "MLP + LoRA r=4", by="method")

    for shift in ("contrast 0.3", "brightness 0.3"):
        assert coral_vs_lora(shift).verdict == "higher" and coral_vs_lora(shift).wins == 5
    assert coral_vs_lora("affine 0.5").verdict == "tie"
    assert coral_vs_lora("rotate 45").verdict == "lower"
    label_free = [r["test_accuracy"] for r in records if r["shift"] == "invert 1" and r["target_labels"] == 0]
    assert max(label_free) <= 0.11  # chance is 0.1
