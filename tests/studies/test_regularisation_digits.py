"""Notebook 07's claims on rotated digits (5 training seeds), each held at its margin."""
import pytest

from lorabook.lora import LoraConfig
from lorabook.studies import regularisation as reg
from lorabook.studies import regularisation_digits as rd


@pytest.fixture(scope="module")
def digit_paths():
    return rd.digits_paths()


def test_the_penalty_lowers_the_rank_of_the_update_on_every_seed(digit_paths):
    soft, _ = digit_paths
    for seed in rd.SEEDS:
        rows = sorted((r for r in soft if r["seed"] == seed), key=lambda r: r["lam"])
        ranks = [r["effective_rank"] for r in rows]
        assert all(later < earlier for earlier, later in zip(ranks, ranks[1:]))
        assert ranks[0] > 16 and ranks[-1] < 2.5


def test_on_digits_the_penalty_only_costs_accuracy(digit_paths):
    """No U here: every seed's error at lambda = 10 is above every seed's error at lambda = 0, and so on up the path."""
    soft, _ = digit_paths
    table = reg.summarise(soft, "lam")
    lams = sorted(table)
    for smaller, larger in zip(lams, lams[1:]):
        assert table[smaller][2] < table[larger][1]  # max at the smaller lambda < min at the larger
    assert table[lams[0]][2] < 0.16 and table[lams[-1]][1] > 0.45


def test_at_similar_effective_rank_lora_beats_the_penalty(digit_paths):
    soft, hard = digit_paths
    soft_table = reg.summarise(soft, "lam", "effective_rank")
    hard_table = reg.summarise(hard, "r", "effective_rank")
    assert abs(soft_table[3.0][0] - hard_table[8][0]) < 1.0            # about 5 to 5.6 both
    errors_soft = [r["test_error"] for r in soft if r["lam"] == 3.0]
    errors_hard = [r["test_error"] for r in hard if r["r"] == 8]
    assert max(errors_hard) + 0.08 < min(errors_soft)


def test_adalora_puts_most_of_the_budget_in_the_first_layer_but_does_not_beat_uniform_lora():
    adalora = [rd.adalora_run(seed) for seed in rd.SEEDS]
    uniform = [rd.lora_run(seed, r=2) for seed in rd.SEEDS]
    for record in adalora:
        ranks = record["layer_ranks"]
        assert sum(ranks.values()) == 2 * 3                            # target_r per layer on average
        assert ranks["0"] >= 4 and ranks["0"] > ranks["2"] and ranks["4"] == 0
        # the same 6 triplets; the layers' widths differ, so the parameter counts differ by up to 10%
        assert abs(record["trainable"] - uniform[0]["trainable"]) < 0.10 * uniform[0]["trainable"]
    # notebook 07's verdict: the ranges overlap, so no claim (with 3 seeds and 300 steps, an earlier version
    # claimed AdaLoRA lower on every seed). The overlap is wide: one side's best seed beats the other's worst.
    errors_adalora, errors_uniform = [r["test_error"] for r in adalora], [r["test_error"] for r in uniform]
    assert reg.seed_verdict("AdaLoRA", errors_adalora, "LoRA", errors_uniform).startswith("no claim")
    assert min(errors_uniform) + 0.03 < max(errors_adalora)


def test_loraplus_beats_adam_at_the_small_learning_rate_only():
    small, large = rd.LORAPLUS_LRS
    plus = [rd.lora_run(s, lr=small, loraplus_lr_ratio=rd.LORAPLUS_RATIO)["test_error"] for s in rd.SEEDS]
    adam = [rd.lora_run(s, lr=small)["test_error"] for s in rd.SEEDS]
    assert max(plus) + 0.08 < min(adam)  # the margin: 0.089
    plus = [rd.lora_run(s, lr=large, loraplus_lr_ratio=rd.LORAPLUS_RATIO)["test_error"] for s in rd.SEEDS]
    adam = [rd.lora_run(s, lr=large)["test_error"] for s in rd.SEEDS]
    assert reg.seed_verdict("LoRA+", plus, "LoRA", adam).startswith("no claim")


def test_dora_does_not_beat_lora_r2_beyond_the_spread():
    if "use_dora" not in LoraConfig.__dataclass_fields__:
        pytest.skip("LoraConfig has no use_dora in this checkout (DoRA not merged yet)")
    dora = [rd.lora_run(seed, r=2, use_dora=True) for seed in rd.SEEDS]
    lora = [rd.lora_run(seed, r=2) for seed in rd.SEEDS]
    assert all(r["method"] == "DoRA" and r["trainable"] == lora[0]["trainable"] + 128 + 128 + 10 for r in dora)
    # notebook 07's verdict: no claim (with 3 seeds and 300 steps, an earlier version claimed DoRA lower
    # on every seed). The overlap is wide: one side's best seed beats the other's worst.
    errors_dora, errors_lora = [r["test_error"] for r in dora], [r["test_error"] for r in lora]
    assert reg.seed_verdict("DoRA", errors_dora, "LoRA", errors_lora).startswith("no claim")
    assert min(errors_lora) + 0.01 < max(errors_dora)


def test_a_huge_penalty_keeps_the_source_weight_exactly():
    """Every proximal step thresholds the whole update away: W = W0 after training, the source model's error."""
    split, source = rd.digits_problem()
    record = rd.prox_finetune(1e6, seed=0, steps=5)
    assert record["rank"] == 0 and record["effective_rank"] == 0.0
    assert record["test_error"] == rd._test_error(source, split)


def test_negative_lambda_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^lam must be in \[0.0, inf\), got -1.0"):
        rd.prox_finetune(-1.0)
