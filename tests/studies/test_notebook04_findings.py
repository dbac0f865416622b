"""Notebook 04's findings about runs, each held at its margin over the notebook's five seeds."""
import pytest

from lorabook.analysis import subspace_similarity_grid
from lorabook.experiments import difference
from lorabook.studies.headline import source_domain
from lorabook.studies.rank_analysis import (
    amplification_records, fine_tune_study, intruder_records, seed_studies, truncation_records,
    update_rank_records,
)


@pytest.fixture(scope="module")
def studies():
    split, source = source_domain(0)
    first = fine_tune_study(source, split.target_train, split.target_test, ranks=(1, 2, 4, 8, 16, 32),
                            seeds=(0, 1, 2, 3, 4), seed_ranks=(16,))
    return seed_studies(first, seeds=(1, 2, 3, 4), ranks=(2, 16))


def per_seed(studies, records_of, pick):
    return [pick(records_of(study)) for study in studies]


def test_the_full_update_spreads_over_more_directions_than_lora_r16(studies):
    for measure in ("energy_rank", "effective_rank"):
        full = per_seed(studies, lambda st: update_rank_records(st, "0"),
                        lambda rs: next(r[measure] for r in rs if r["method"] == "full"))
        lora = per_seed(studies, lambda st: update_rank_records(st, "0"),
                        lambda rs: next(r[measure] for r in rs if r["rank"] == 16))
        d = difference(full, lora)
        assert d.verdict == "higher" and d.wins == 5, measure


def test_lora_trained_at_rank_r_beats_the_full_update_cut_to_r(studies):
    cut = [{r["rank"]: r for r in truncation_records(st)} for st in studies]
    small = difference([c[2]["lora_accuracy"] for c in cut], [c[2]["extracted_accuracy"] for c in cut])
    assert small.verdict == "higher" and small.wins == 5
    large = difference([c[16]["lora_accuracy"] for c in cut], [c[16]["extracted_accuracy"] for c in cut])
    # at r=16 LoRA is level with the cut update or a little ahead: "higher" with OpenBLAS's SkylakeX kernel,
    # a tie with its Haswell kernel, so the notebook states no finding there; it is never behind
    assert large.verdict in ("higher", "tie") and large.wins >= 3
    caught_up = difference([c[16]["extracted_accuracy"] for c in cut], [c[16]["full_accuracy"] for c in cut])
    assert caught_up.verdict == "tie"
    lora_vs_full = difference([c[16]["lora_accuracy"] for c in cut], [c[16]["full_accuracy"] for c in cut])
    assert lora_vs_full.verdict in ("higher", "tie") and lora_vs_full.wins >= 3  # likewise


def test_trained_subspaces_are_shared_far_beyond_their_start(studies):
    for j in (1, 2):
        trained, start = [], []
        for st in studies:
            low, high = st.lora_run(2, st.full.seed), st.lora_run(16, st.full.seed)
            trained.append(subspace_similarity_grid(low.lora_A["0"], high.lora_A["0"])[0, j - 1])
            start.append(subspace_similarity_grid(low.lora_A_start["0"], high.lora_A_start["0"])[0, j - 1])
        d = difference(trained, start)
        assert d.verdict == "higher" and d.wins == 5
    first = studies[0]
    for k in (1, 2, 4, 16):
        pairs = [(a, (a + 1) % 5) for a in range(5)]
        trained = [subspace_similarity_grid(first.lora_run(16, a).lora_A["0"],
                                            first.lora_run(16, b).lora_A["0"])[k - 1, k - 1] for a, b in pairs]
        start = [subspace_similarity_grid(first.lora_run(16, a).lora_A_start["0"],
                                          first.lora_run(16, b).lora_A_start["0"])[k - 1, k - 1] for a, b in pairs]
        d = difference(trained, start)
        assert d.verdict == "higher" and d.wins == 5, k


def test_amplification_falls_with_rank_and_lora_directions_sit_between_random_and_w_top(studies):
    def at(rank, key):
        return per_seed(studies, lambda st: amplification_records(st, "0"),
                        lambda rs: next(r[key] for r in rs if r["rank"] == rank and r["seed"] == rs[0]["seed"]))

    for a, b in ((at(2, "amplification"), at(16, "amplification")),
                 (at(16, "amplification"), at(16, "full_amplification")),
                 (at(16, "projection_norm"), at(16, "random_norm")),
                 (at(16, "W_top_norm"), at(16, "projection_norm"))):
        d = difference(a, b)
        assert d.verdict == "higher" and d.wins == 5


def test_intruders_in_lora_grow_with_rank_and_full_fine_tuning_has_few(studies):
    def count(layer, key):
        return per_seed(studies, lambda st: intruder_records(st, layer, k=10, eps=0.5),
                        lambda rs: next(r["intruders"] for r in rs if (r["method"], r["rank"]) == key))

    assert count("0", ("full", None)) == [0] * 5
    assert min(count("0", ("lora", 2)) + count("2", ("lora", 2)) + count("0", ("lora", 16)) + count("2", ("lora", 16))) >= 1
    layer2 = difference(count("2", ("lora", 16)), count("2", ("lora", 2)))
    assert layer2.verdict == "higher" and layer2.wins == 5
    layer0 = difference(count("0", ("lora", 16)), count("0", ("lora", 2)))
    assert layer0.wins >= 3  # the notebook calls this one barely beyond its spread
