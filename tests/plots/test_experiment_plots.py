"""The experiment figures, checked on the data they draw (not on pixels)."""
import matplotlib

matplotlib.use("Agg")  # tests only; the library never forces a backend

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from lorabook.experiments import COMPONENTS, PEAK
from lorabook.plots.experiments import (
    plot_accuracy_vs_params, plot_adapter_matrix, plot_baselines, plot_label_budget, plot_memory_ledger,
    plot_rank_curve, plot_source_collapse,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def run(method, label, rank, params, test, source=0.3):
    return {"method": method, "label": label, "rank": rank, "trainable_params": params, "test_accuracy": test,
            "train_accuracy": 1.0, "source_accuracy": source, "n_train": 400}


COMPARISON = [
    run("source-only", "source only", None, 0, 0.19, source=0.96),
    run("head-only", "head only", None, 1290, 0.82),
    run("lora", "LoRA r=4", 4, 2344, 0.93),
    run("lora", "LoRA r=1", 1, 586, 0.86),
    run("full", "full fine-tuning", None, 26122, 0.92),
]


def test_accuracy_vs_params_joins_lora_by_rank_on_a_log_axis():
    fig = plot_accuracy_vs_params(COMPARISON)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    lines = lines_by_label(ax)
    np.testing.assert_array_equal(lines["LoRA"].get_xdata(), [586, 2344])  # sorted by rank
    np.testing.assert_array_equal(lines["LoRA"].get_ydata(), [0.86, 0.93])
    np.testing.assert_array_equal(lines["full fine-tuning"].get_xdata(), [26122])
    np.testing.assert_array_equal(lines["head only"].get_ydata(), [0.82])
    np.testing.assert_array_equal(lines["source only"].get_ydata(), [0.19, 0.19])  # a horizontal line
    assert [t.get_text() for t in ax.texts] == ["r=1", "r=4"]
    assert lines["LoRA"].get_marker() != lines["full fine-tuning"].get_marker()


def test_source_collapse_draws_source_and_target_bars_per_run():
    fig = plot_source_collapse(COMPARISON)
    ax = fig.axes[0]
    source_bars, target_bars = ax.containers
    assert [b.get_height() for b in source_bars] == [0.96, 0.3, 0.3, 0.3, 0.3]
    assert [b.get_height() for b in target_bars] == [0.19, 0.82, 0.93, 0.86, 0.92]
    assert [t.get_text() for t in ax.get_xticklabels()] == [r["label"] for r in COMPARISON]


def test_source_collapse_needs_source_accuracy():
    records = [dict(COMPARISON[0], source_accuracy=None)]
    with pytest.raises(ValueError, match="source_data="):
        plot_source_collapse(records)


def ledger_records():
    records = []
    for method, scale in (("full", 3), ("lora", 1)):
        for index, component in enumerate(COMPONENTS):
            records.append({"method": method, "component": component, "predicted_bytes": 1024 * (index + 1) * scale,
                            "measured_bytes": 1024 * (index + 1) * scale + 100})
        records.append({"method": method, "component": PEAK, "predicted_bytes": 0, "measured_bytes": 50 * 1024})
    return records


def test_memory_ledger_stacks_predicted_and_measured_components():
    fig = plot_memory_ledger(ledger_records())
    ax = fig.axes[0]
    assert ax.get_ylabel() == "memory (KiB)"
    bars = [patch for container in ax.containers for patch in container]
    assert len(bars) == 2 * 2 * len(COMPONENTS)
    # The first method's predicted bar: components 1, 2, ..., 5 KiB times 3, each starting where the last ended.
    predicted_full = [b for b in bars if abs(b.get_x() + b.get_width() / 2 - (0 - 0.19)) < 1e-9]
    assert [b.get_height() for b in predicted_full] == [3.0, 6.0, 9.0, 12.0, 15.0]
    assert [b.get_y() for b in predicted_full] == [0.0, 3.0, 9.0, 18.0, 30.0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(legend) == sorted(list(COMPONENTS) + ["traced peak (+ weights)"])
    # The peak mark sits at weights + LoRA parameters + the traced peak: (3 + 6 + 2 * 100 / 1024) + 50 KiB.
    peak_lines = ax.collections[0].get_segments()
    assert peak_lines[0][0][1] == pytest.approx(3 + 6 + 200 / 1024 + 50)


def rank_records():
    records = []
    for n, errors in ((40, [1.6, 0.1, 0.9]), (400, [1.5, 0.01, 0.05])):
        for rank, error in zip((1, 3, 32), errors):
            records.append({"rank": rank, "n_train": n, "test_error": error, "train_error": error / 2, "k": 3,
                            "suggested_rank": 3})
    return records


def test_rank_curve_has_one_test_and_one_train_line_per_budget_and_marks_k():
    fig = plot_rank_curve(rank_records())
    ax = fig.axes[0]
    lines = lines_by_label(ax)
    np.testing.assert_array_equal(lines["test, n=40"].get_xdata(), [1, 3, 32])
    np.testing.assert_array_equal(lines["test, n=40"].get_ydata(), [1.6, 0.1, 0.9])
    np.testing.assert_array_equal(lines["train, n=400"].get_ydata(), [0.75, 0.005, 0.025])
    assert lines["train, n=400"].get_linestyle() == "--"
    np.testing.assert_array_equal(lines["planted rank k=3"].get_xdata(), [3, 3])
    np.testing.assert_array_equal(lines["suggested rank, n=40"].get_ydata(), [0.1])
    assert ax.get_xscale() == "log"
    no_train = plot_rank_curve(rank_records(), show_train=False, mark_suggested=False).axes[0]
    assert not any(label.startswith(("train", "suggested")) for label in lines_by_label(no_train))


def test_rank_curve_without_k_draws_no_marker():
    records = [{k: v for k, v in r.items() if k not in ("k", "suggested_rank")} for r in rank_records()]
    labels = lines_by_label(plot_rank_curve(records).axes[0])
    assert not any("planted" in label or "suggested" in label for label in labels)


def test_label_budget_draws_one_line_per_run_label():
    records = [dict(run("lora", "LoRA r=4", 4, 2344, acc), n_train=n) for n, acc in ((400, 0.92), (25, 0.62))]
    records += [dict(run("full", "full fine-tuning", None, 26122, acc), n_train=n) for n, acc in ((25, 0.7), (400, 0.94))]
    ax = plot_label_budget(records).axes[0]
    lines = lines_by_label(ax)
    np.testing.assert_array_equal(lines["LoRA r=4"].get_xdata(), [25, 400])
    np.testing.assert_array_equal(lines["LoRA r=4"].get_ydata(), [0.62, 0.92])
    np.testing.assert_array_equal(lines["full fine-tuning"].get_ydata(), [0.7, 0.94])
    assert ax.get_xscale() == "log"


def test_adapter_matrix_puts_each_accuracy_in_its_cell():
    records = [{"adapter": a, "domain": d, "test_accuracy": acc}
               for a, d, acc in (("base model", "rot", 0.2), ("base model", "inv", 0.0),
                                 ("rot", "rot", 0.9), ("rot", "inv", 0.05))]
    ax = plot_adapter_matrix(records).axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), [[0.2, 0.0], [0.9, 0.05]])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["base model", "rot"]


def test_baselines_draw_one_bar_per_method_with_its_label_count():
    records = [{"method": "linear + CORAL", "target_labels": 0, "test_accuracy": 0.93},
               {"method": "MLP + LoRA r=4", "target_labels": 50, "test_accuracy": 0.91}]
    ax = plot_baselines(records).axes[0]
    assert [b.get_width() for b in ax.containers[0]] == [0.93, 0.91]
    ticks = {t.get_text(): t.get_position()[1] for t in ax.get_yticklabels()}
    # Read top to bottom in the order of the records.
    assert ticks == {"linear + CORAL  (0 labels)": 1, "MLP + LoRA r=4  (50 labels)": 0}


@pytest.mark.parametrize("plot", [plot_accuracy_vs_params, plot_memory_ledger, plot_rank_curve, plot_label_budget,
                                  plot_source_collapse, plot_adapter_matrix, plot_baselines])
def test_records_missing_keys_are_named(plot):
    with pytest.raises(ValueError, match=r"records\[0\] lacks the key"):
        plot([{"something": 1}])
    with pytest.raises(ValueError, match="at least one record"):
        plot([])


def test_drawing_into_given_axes():
    fig, ax = plt.subplots()
    assert plot_rank_curve(rank_records(), ax=ax) is fig
    assert len(fig.axes) == 1


def test_runs_of_several_seeds_are_drawn_as_means_with_error_bars():
    two_seeds = [dict(r, seed=0) for r in COMPARISON] + [
        dict(r, seed=1, test_accuracy=r["test_accuracy"] - 0.02, source_accuracy=r["source_accuracy"] + 0.04)
        for r in COMPARISON]
    ax = plot_accuracy_vs_params(two_seeds).axes[0]
    lora = lines_by_label(ax)["LoRA"]
    np.testing.assert_allclose(lora.get_ydata(), [0.85, 0.92])  # means of r=1 and r=4 over the two seeds
    assert "2 seeds" in ax.get_title()
    assert len(ax.collections) >= 1  # the error bars
    bars = plot_source_collapse(two_seeds).axes[0]
    heights = [patch.get_height() for patch in bars.patches]
    np.testing.assert_allclose(heights[:5], [0.98, 0.32, 0.32, 0.32, 0.32])  # source domain, means
    planted = [{"rank": r, "n_train": 40, "train_error": 1.0 / r + s, "test_error": abs(r - 3) + s, "seed": s}
               for r in (1, 3, 8) for s in (0, 1)]
    curve = plot_rank_curve(planted).axes[0]
    np.testing.assert_allclose(lines_by_label(curve)["test, n=40"].get_ydata(), [2.5, 0.5, 5.5])
