"""lorabook.experiments.rank_analysis and lorabook.plots.analysis_widgets (notebook 04)."""
import matplotlib

matplotlib.use("Agg")  # tests only; the library never forces a backend

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lorabook.analysis import low_rank_approx, singular_values
from lorabook.experiments.rank_analysis import (
    digit_mosaic,
    format_table,
    nmf_vs_svd,
    planted_rank_matrix,
    rank_rule_records,
    rank_rules,
)
from lorabook.plots.analysis_widgets import plot_rank_approximation, rank_approximation_summary


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


# ----- table ----------------------------------------------------------------------------------
def test_format_table_aligns_columns_and_rounds_floats():
    text = format_table([{"r": 1, "acc": 0.5}, {"r": 16, "acc": 0.91234}], digits=2)
    assert text.splitlines() == [" r   acc", "--  ----", " 1  0.50", "16  0.91"]
    assert format_table([{"a": 1, "b": 2}], columns=["b"]).splitlines()[2] == "2"
    with pytest.raises(ValueError, match="at least one row"):
        format_table([])


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
