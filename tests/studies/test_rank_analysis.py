"""lorabook.studies.rank_analysis and lorabook.plots.analysis_widgets (notebook 04)."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from lorabook.analysis import amplification_factor, intruder_dimensions, low_rank_approx, singular_values
from lorabook.autograd import Tensor, no_grad
from lorabook.data import load_digits, make_domain_split
from lorabook.experiments import adapt
from lorabook.nn import MLP
from lorabook.studies.rank_analysis import (
    FineTuneRun,
    FineTuneStudy,
    amplification_records,
    digit_mosaic,
    extracted_lora_model,
    fine_tune_study,
    intruder_records,
    linear_weights,
    lora_config_for,
    lora_start,
    nmf_vs_svd,
    numerical_rank,
    planted_rank_matrix,
    rank_rule_records,
    rank_rule_summary,
    rank_rules,
    truncation_records,
    update_rank_records,
)
from lorabook.plots.analysis_widgets import plot_rank_approximation, plot_similarity_row, rank_approximation_summary


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ----- digit_mosaic ---------------------------------------------------------------------------
def test_mosaic_puts_image_i_j_in_block_i_j():
    images = np.arange(6 * 4).reshape(6, 4)  # six 2x2 "images", each holding distinct numbers
    mosaic = digit_mosaic(images, rows=2, cols=3, image_shape=(2, 2))
    assert mosaic.shape == (4, 6)
    for index in range(6):
        i, j = divmod(index, 3)
        np.testing.assert_array_equal(mosaic[2 * i:2 * i + 2, 2 * j:2 * j + 2], images[index].reshape(2, 2))


def test_mosaic_refuses_too_few_images_and_wrong_shapes():
    with pytest.raises(ValueError, match="needs 4 images, got 3"):
        digit_mosaic(np.zeros((3, 64)), 2, 2)
    with pytest.raises(ValueError, match=r"images must have shape \(count, 64\)"):
        digit_mosaic(np.zeros((4, 63)), 2, 2)


# ----- planted rank and the rank rules ----------------------------------------------------------
def test_planted_matrix_signal_has_the_planted_singular_values_and_is_seeded():
    M, X = planted_rank_matrix(40, 60, 3, noise=0.5, seed=7)
    assert M.shape == X.shape == (40, 60)
    s = singular_values(X)
    np.testing.assert_allclose(s[:3], np.array([6.0, 4.5, 3.0]) * np.sqrt(60))
    assert s[3] < 1e-9 * s[0]
    M2, _ = planted_rank_matrix(40, 60, 3, noise=0.5, seed=7)
    np.testing.assert_array_equal(M, M2)
    np.testing.assert_allclose(np.std(M - X), 0.5, rtol=0.05)


def test_rank_rules_on_a_noiseless_matrix_with_equal_singular_values_all_say_k():
    _, X = planted_rank_matrix(30, 30, 4, noise=0.0, strengths=(2.0, 2.0))
    rules = rank_rules(X)
    assert rules["energy_rank"] == 4
    assert rules["effective_rank"] == pytest.approx(4.0)
    assert rules["stable_rank"] == pytest.approx(4.0)
    assert "gavish_donoho_known_sigma" not in rules


def test_gavish_donoho_recovers_the_planted_rank_where_energy_and_effective_rank_overshoot():
    records = rank_rule_records(m=60, n=80, rank=4, noises=(1.0,), seeds=range(5))
    assert len(records) == 5
    assert set(records[0]) == {"noise", "seed", "planted_rank", "gavish_donoho_known_sigma", "gavish_donoho",
                               "energy_rank", "effective_rank", "stable_rank"}
    for record in records:
        assert record["gavish_donoho"] == record["gavish_donoho_known_sigma"] == 4
        assert record["energy_rank"] > 8
        assert record["effective_rank"] > 8


# ----- NMF against SVD -------------------------------------------------------------------------
def test_nmf_vs_svd_shapes_signs_and_eckart_young_order():
    rng = np.random.default_rng(0)
    V = rng.uniform(size=(50, 5)) @ rng.uniform(size=(5, 16))  # non-negative, rank 5
    result = nmf_vs_svd(V, k=3, iters=100, seed=0)
    assert result.nmf_components.shape == result.svd_components.shape == (3, 16)
    assert np.all(result.nmf_components >= 0)
    np.testing.assert_allclose(result.svd_components @ result.svd_components.T, np.eye(3), atol=1e-12)
    expected = np.linalg.norm(V - low_rank_approx(V, 3)) / np.linalg.norm(V)
    assert result.svd_error == pytest.approx(expected)
    assert result.svd_error <= result.nmf_error < 1.0
    again = nmf_vs_svd(V, k=3, iters=100, seed=0)
    np.testing.assert_array_equal(result.nmf_components, again.nmf_components)


def test_nmf_vs_svd_refuses_negative_data():
    with pytest.raises(ValueError, match="non-negative"):
        nmf_vs_svd(-np.ones((4, 4)), k=2)


# ----- the rank slider's figure ---------------------------------------------------------------
def test_rank_approximation_figure_shows_the_approximation_and_eckart_young_error():
    rng = np.random.default_rng(1)
    picture = rng.uniform(size=(12, 10))
    fig = plot_rank_approximation(picture, 3)
    original, approx, residual, bars = fig.axes[:4]
    np.testing.assert_allclose(original.images[0].get_array(), picture)
    np.testing.assert_allclose(approx.images[0].get_array(), low_rank_approx(picture, 3))
    np.testing.assert_allclose(residual.images[0].get_array(), picture - low_rank_approx(picture, 3))
    heights = [patch.get_height() for patch in bars.patches]
    np.testing.assert_allclose(heights, singular_values(picture))
    summary = rank_approximation_summary(picture, 3)
    assert summary["measured_error"] == pytest.approx(summary["eckart_young_error"])
    assert summary["numbers_factors"] == 3 * 22 and summary["numbers_full"] == 120
    assert f"{summary['measured_error']:.3f}" in fig._suptitle.get_text()


def test_rank_approximation_at_full_rank_loses_nothing_and_bad_rank_is_named():
    picture = np.arange(12.0).reshape(3, 4) ** 2
    assert rank_approximation_summary(picture, 3)["relative_error"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="r must be between 1 and min"):
        plot_rank_approximation(picture, 4)


# ----- the fine-tuning study (a tiny model, a few epochs: seconds) -----------------------------


def tiny_study(**overrides):
    X, y = load_digits()
    split = make_domain_split(X, y, "rotate", 45, n_target_train=60, seed=0, image_shape=(8, 8))
    base = MLP([64, 12, 10], generator=0)  # layers "0" (12, 64) and "2" (10, 12)
    settings = dict(ranks=(1, 4, 16), seeds=(0, 1), seed_ranks=(4,), epochs=3, batch_size=32)
    settings.update(overrides)
    test = (split.target_test[0][:200], split.target_test[1][:200])
    return base, fine_tune_study(base, split.target_train, test, **settings)


@pytest.fixture(scope="module")
def study_and_base():
    base, study = tiny_study()
    return base, study


def outputs(model, X):
    with no_grad():
        return model(Tensor(X.astype(np.float32))).data


def test_lora_config_caps_the_rank_at_each_layers_smallest_side():
    base = MLP([64, 12, 10], generator=0)
    assert lora_config_for(base, 4).rank_pattern == {}
    config = lora_config_for(base, 16)
    assert config.r == 16 and config.rank_pattern == {"0": 12, "2": 10}
    assert config.rank_for("0") == 12 and config.target_modules == "all-linear" and config.lora_alpha == 32


def test_lora_start_is_the_a_that_adapt_starts_from():
    X, y = load_digits()
    base = MLP([64, 12, 10], generator=0)
    # A learning rate of 1e-30 moves nothing that float32 can see: A after one epoch is A's start.
    _, peft_model = adapt(base, "lora", (X[:40], y[:40]), (X[40:60], y[40:60]), rank=3, seed=5, epochs=1,
                          lr=1e-30, measure_memory=False)
    start = lora_start(base, 3, seed=5)
    for name, layer in peft_model.base_model.lora_layers():
        np.testing.assert_array_equal(start[name], layer.lora_A["default"].weight.data)
    assert not np.array_equal(start["0"], lora_start(base, 3, seed=6)["0"])


def test_study_runs_the_planned_runs_and_leaves_the_base_model_alone(study_and_base):
    base, study = study_and_base
    assert [(run.rank, run.seed) for run in study.lora] == [(1, 0), (4, 0), (16, 0), (4, 1)]
    assert study.full.method == "full" and study.full.rank is None
    for name, W in linear_weights(base).items():
        np.testing.assert_array_equal(W, study.base_weights[name])
    assert study.lora_run(4, seed=1).seed == 1
    with pytest.raises(ValueError, match=r"no LoRA run with rank=8 and seed=0; the study has \(rank=1, seed=0\)"):
        study.lora_run(8)


def test_lora_updates_have_rank_at_most_r_and_a_matrices_the_right_shape(study_and_base):
    _, study = study_and_base
    for run in study.lora:
        for name, update in run.updates.items():
            W = study.base_weights[name]
            r = min(run.rank, min(W.shape))
            assert update.shape == W.shape
            assert numerical_rank(update) <= r
            # adapt caps r at the layer's smallest side, so A has min(r, out, in) rows.
            assert run.lora_A[name].shape == run.lora_A_start[name].shape == (r, W.shape[1])
            assert not np.array_equal(run.lora_A[name], run.lora_A_start[name])  # A trained
        assert 0.0 <= run.test_accuracy <= 1.0
    # The full fine-tune of a 12-unit layer from 60 examples is not low rank.
    assert numerical_rank(study.full.updates["0"]) > 4


def test_study_is_deterministic_for_a_seed():
    _, first = tiny_study(ranks=(2,), seeds=(0,), epochs=2)
    _, second = tiny_study(ranks=(2,), seeds=(0,), epochs=2)
    np.testing.assert_array_equal(first.full.updates["0"], second.full.updates["0"])
    np.testing.assert_array_equal(first.lora[0].updates["0"], second.lora[0].updates["0"])
    np.testing.assert_array_equal(first.lora[0].lora_A["2"], second.lora[0].lora_A["2"])


def test_extracted_model_holds_the_eckart_young_truncation_and_at_full_rank_equals_the_full_fine_tune(study_and_base):
    _, study = study_and_base
    peft_model = extracted_lora_model(study, 3)
    for name, layer in peft_model.base_model.lora_layers():
        update = layer.get_delta_weight().astype(np.float64)
        np.testing.assert_allclose(update, low_rank_approx(study.full.updates[name], 3), atol=1e-5)
    whole = extracted_lora_model(study, 12)  # 12 = the largest min(out, in): nothing cut
    X = study.test_data[0][:20]
    np.testing.assert_allclose(outputs(whole, X), outputs(study.full.model, X), atol=1e-4)


def test_truncation_records_compare_each_lora_rank_with_the_extracted_one(study_and_base):
    _, study = study_and_base
    records = truncation_records(study)
    assert [r["rank"] for r in records] == [1, 4, 16]
    assert set(records[0]) == {"rank", "lora_accuracy", "extracted_accuracy", "full_accuracy"}
    assert records[0]["lora_accuracy"] == study.lora_run(1).test_accuracy
    # rank 16 exceeds every layer's smallest side: the whole update is kept.
    assert records[-1]["extracted_accuracy"] == pytest.approx(study.full.test_accuracy)


def test_update_rank_records_list_full_then_lora_with_measures_that_agree_for_rank_one(study_and_base):
    _, study = study_and_base
    records = update_rank_records(study, "0")
    assert [(r["method"], r["rank"]) for r in records] == [("full", None), ("lora", 1), ("lora", 4), ("lora", 16)]
    rank_one = records[1]
    assert rank_one["energy_rank"] == rank_one["numerical_rank"] == 1
    assert rank_one["effective_rank"] == pytest.approx(1.0) and rank_one["stable_rank"] == pytest.approx(1.0)
    assert records[0]["norm"] == pytest.approx(np.linalg.norm(study.full.updates["0"]))


def test_amplification_records_are_the_papers_ratio(study_and_base):
    _, study = study_and_base
    records = amplification_records(study, "2")  # layer (10, 12): r = 16 is capped at 10
    assert [(r["rank"], r["seed"]) for r in records] == [(1, 0), (4, 0), (4, 1), (16, 0)]
    s_W = singular_values(study.base_weights["2"])
    for record in records:
        run = study.lora_run(record["rank"], record["seed"])
        r = min(record["rank"], 10)
        expected = amplification_factor(run.updates["2"], study.base_weights["2"], r)
        assert record["amplification"] == pytest.approx(expected)
        assert record["update_norm"] / record["projection_norm"] == pytest.approx(expected)
        assert record["W_top_norm"] == pytest.approx(np.sqrt(np.sum(s_W[:r] ** 2)))
        # No pair of r-dimensional subspaces holds more of W than W's own top singular vectors.
        assert record["projection_norm"] <= record["W_top_norm"] + 1e-9
        assert 0 < record["random_norm"] <= record["W_top_norm"] + 1e-9


def test_intruder_records_give_the_known_answer_on_planted_updates():
    # A hand-made study on W0 (20, 30) of full rank. Its 20 left singular vectors are a basis of R^20,
    # so the most unfamiliar direction is their even mixture x, with |cos| = 1/sqrt(20) ~ 0.22 to each.
    # The full "fine-tune" adds x strongly (W's top singular vector becomes nearly x: one intruder);
    # LoRA r=1 changes nothing; LoRA r=2 adds x weakly (W's singular vectors stay W0's: none).
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    V, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    W0 = (U * np.linspace(2.0, 0.2, 20)) @ V[:, :20].T
    new = np.outer(U.sum(axis=1) / np.sqrt(20), V[:, 25])  # V[:, 25]: a new input direction too
    run = lambda method, rank, update: FineTuneRun(method, rank, 0, 0.5, {"L": update})  # noqa: E731
    study = FineTuneStudy(None, {"L": W0}, run("full", None, 10.0 * new),
                          [run("lora", 1, np.zeros((20, 30))), run("lora", 2, 0.01 * new)], None)
    records = intruder_records(study, "L", k=5, eps=0.5)
    assert [(r["method"], r["rank"], r["intruders"]) for r in records] == [("full", None, 1), ("lora", 1, 0),
                                                                            ("lora", 2, 0)]
    assert records[0]["smallest_best_cosine"] < 0.3  # close to 1/sqrt(20)
    assert records[1]["smallest_best_cosine"] == pytest.approx(1.0)  # W = W0: every vector is one of W0's
    assert records[2]["smallest_best_cosine"] > 0.95


def test_intruder_records_are_intruder_dimensions_of_each_runs_weight(study_and_base):
    _, study = study_and_base
    records = intruder_records(study, "0", k=5)
    assert set(records[0]) == {"method", "rank", "intruders", "smallest_best_cosine"}
    assert [(r["method"], r["rank"]) for r in records] == [("full", None), ("lora", 1), ("lora", 4), ("lora", 16)]
    W0 = study.base_weights["0"]
    for record, run in zip(records, study.first_seed_runs()):
        found = intruder_dimensions(W0, W0 + run.updates["0"], k=5, eps=0.5)
        assert record["intruders"] == len(found)
        assert record["smallest_best_cosine"] == found.top_k_best_cosines.min()
        assert (record["intruders"] > 0) == (record["smallest_best_cosine"] < 0.5)
    # eps is passed on: at eps = 1 every top-5 direction that training moved at all is an intruder
    assert [r["intruders"] for r in intruder_records(study, "0", k=5, eps=1.0)] == [5, 5, 5, 5]


def test_rank_rule_summary_counts_exact_hits_and_averages():
    records = [
        {"noise": 0.5, "planted_rank": 3, "gavish_donoho": 3, "energy_rank": 5, "effective_rank": 6.0, "stable_rank": 2.0},
        {"noise": 0.5, "planted_rank": 3, "gavish_donoho": 4, "energy_rank": 7, "effective_rank": 8.0, "stable_rank": 3.0},
        {"noise": 0.1, "planted_rank": 3, "gavish_donoho": 3, "energy_rank": 3, "effective_rank": 3.5, "stable_rank": 2.5},
    ]
    summary = rank_rule_summary(records)
    assert [row["noise"] for row in summary] == [0.1, 0.5]
    assert summary[1] == {"noise": 0.5, "matrices": 2, "planted_rank": 3, "gavish_donoho_exact": 0.5,
                          "mean_gavish_donoho": 3.5, "mean_energy_rank": 6.0, "mean_effective_rank": 7.0,
                          "mean_stable_rank": 2.5}


def test_similarity_row_draws_row_i_of_each_grid_and_the_random_baseline():
    grid_a = np.array([[0.9, 0.8, 0.7], [0.5, 0.6, 0.65]])
    grid_b = np.array([[0.2, 0.3, 0.4]])
    fig = plot_similarity_row({"a": grid_a, "b": grid_b}, i=2, d=10)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"a", "random subspaces: max(i, j) / 10"}  # b has no row 2
    np.testing.assert_allclose(lines["a"].get_ydata(), grid_a[1])
    np.testing.assert_allclose(lines["random subspaces: max(i, j) / 10"].get_ydata(), [0.2, 0.2, 0.3])
    fig = plot_similarity_row(grid_b, i=1, d=3)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), grid_b[0])
    with pytest.raises(ValueError, match="i must be between 1 and"):
        plot_similarity_row(grid_a, i=3, d=10)
    with pytest.raises(ValueError, match="d must be >= 3"):
        plot_similarity_row(grid_a, i=1, d=2)
