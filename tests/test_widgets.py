"""The slider functions of notebook 06: what they draw is what a direct experiment call measures."""
import math

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from lorabook.data import load_digits, make_domain_split
from lorabook.experiments import adapt, planted_rank_sweep
from lorabook.plots import plot_classroom_digits, plot_classroom_planted, plot_rank_budget_grid
from lorabook.widgets import (
    U_CURVE_PRESET,
    U_CURVE_RANKS,
    planted_rank_demo,
    planted_rank_view,
    rank_budget_grid,
    rank_selection_demo,
    rank_selection_numbers,
    rank_selection_run,
    rank_selection_task,
    rank_selection_view,
    ranks_seen,
    source_model,
)

# A small label budget keeps each run to 60 optimizer steps (one batch per epoch).
FAST = dict(rank=2, lora_alpha=4, use_rslora=False, label_budget=30, noise=0.1, shift_strength=30.0, seed=0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fast_view():
    return rank_selection_view(**FAST)


def test_view_returns_a_figure_and_the_numbers_adapt_measures(fast_view):
    fig, numbers = fast_view
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    train, test = rank_selection_task(FAST["label_budget"], FAST["noise"], FAST["shift_strength"], seed=0)
    record, _ = adapt(source_model(0), "lora", train, test, rank=2, lora_alpha=4, seed=0, measure_memory=False)
    assert numbers["train_accuracy"] == record["train_accuracy"]
    assert numbers["test_accuracy"] == record["test_accuracy"]
    assert numbers["trainable_params"] == record["trainable_params"] == 2 * (64 + 128) + 2 * (128 + 128) + 2 * (128 + 10)
    # the curves end where the final numbers are (test: same weights, same data, eval mode both times)
    assert numbers["test_curve"][-1] == numbers["test_accuracy"]
    assert numbers["epochs"] == list(range(1, 61))


@pytest.mark.parametrize("rank, use_rslora", [(12, False), (12, True)])
def test_ranks_above_the_head_size_train_as_adapt_trains_them(rank, use_rslora):
    settings = dict(FAST, rank=rank, use_rslora=use_rslora)
    numbers = rank_selection_run(**settings)
    train, test = rank_selection_task(FAST["label_budget"], FAST["noise"], FAST["shift_strength"], seed=0)
    record, _ = adapt(source_model(0), "lora", train, test, rank=rank, lora_alpha=FAST["lora_alpha"],
                      use_rslora=use_rslora, seed=0, measure_memory=False)
    assert numbers["test_accuracy"] == record["test_accuracy"]
    assert numbers["trainable_params"] == record["trainable_params"]
    assert len(numbers["singular_values"]["4"]) == 10  # the 10-output head: rank 10 at most
    assert numbers["layer_ranks"] == record["layer_ranks"] == {"0": 12, "2": 12, "4": 10}


def test_the_update_of_each_layer_has_exactly_r_nonzero_singular_values(fast_view):
    _, numbers = fast_view
    assert set(numbers["singular_values"]) == {"0", "2", "4"}
    for name, size in (("0", 64), ("2", 128), ("4", 10)):
        values = np.array(numbers["singular_values"][name])
        assert len(values) == size
        assert np.all(values[:2] > 1e-3)
        assert np.all(values[2:] < 1e-5 * values[0])


def test_the_view_draws_its_numbers(fast_view):
    fig, numbers = fast_view
    curve_axis, spectrum_axis = fig.axes
    train_line, test_line = curve_axis.get_lines()[:2]
    assert list(train_line.get_ydata()) == numbers["train_curve"]
    assert list(test_line.get_ydata()) == numbers["test_curve"]
    assert f"test {numbers['test_accuracy']:.3f}" in curve_axis.get_title()
    first_layer = spectrum_axis.get_lines()[0]
    assert np.allclose(first_layer.get_ydata(), numbers["singular_values"]["0"][:12])


def test_scaling_follows_alpha_over_r_or_over_sqrt_r():
    _, plain = rank_selection_view(**dict(FAST, rank=4, lora_alpha=8))
    _, rs = rank_selection_view(**dict(FAST, rank=4, lora_alpha=8, use_rslora=True))
    assert plain["scaling"] == 2.0 and rs["scaling"] == 4.0
    # twice the scaling, a larger update: the first layer's top singular value grows
    assert rs["singular_values"]["0"][0] > plain["singular_values"]["0"][0]


def test_runs_are_deterministic_per_seed_and_depend_on_it():
    first = rank_selection_run(**FAST)
    again = rank_selection_run(**FAST)
    assert first == again
    other = rank_selection_run(**dict(FAST, seed=1))
    assert other["singular_values"] != first["singular_values"]


def test_the_view_hands_out_a_copy_of_its_remembered_numbers(fast_view):
    _, numbers = fast_view
    numbers["test_accuracy"] = -1.0
    numbers["singular_values"]["0"][0] = -1.0
    _, fresh = rank_selection_view(**FAST)
    assert fresh["test_accuracy"] >= 0.0 and fresh["singular_values"]["0"][0] > 0.0


def test_task_is_the_domain_split_plus_noise_that_follows_each_image():
    X, y = load_digits()
    split = make_domain_split(X, y, "rotate", 30.0, 30, seed=0, image_shape=(8, 8))
    (clean_train, _), _ = rank_selection_task(30, 0.0, 30.0, seed=0)
    assert np.array_equal(clean_train, split.target_train[0])
    (noisy_train, y_train), (noisy_test, _) = rank_selection_task(30, 0.2, 30.0, seed=0)
    assert np.array_equal(y_train, split.target_train[1])
    assert abs(np.std(noisy_train - clean_train) - 0.2) < 0.02
    # a larger budget moves test images into training; each image keeps its noise
    small, large = _noisy_images_by_row(30), _noisy_images_by_row(60)
    assert small.keys() == large.keys()
    assert all(np.array_equal(small[row], large[row]) for row in small)


def _noisy_images_by_row(budget):
    X, y = load_digits()
    split = make_domain_split(X, y, "rotate", 30.0, budget, seed=0, image_shape=(8, 8))
    (X_train, _), (X_test, _) = rank_selection_task(budget, 0.2, 30.0, seed=0)
    rows = np.concatenate([split.indices["target_train"], split.indices["target_test"]])
    return dict(zip(rows.tolist(), np.concatenate([X_train, X_test])))


@pytest.mark.parametrize("bad, name", [
    (dict(rank=0), "rank"), (dict(rank=65), "rank"), (dict(rank=2.5), "rank"),
    (dict(lora_alpha=0), "lora_alpha"), (dict(lora_alpha=float("nan")), "lora_alpha"),
    (dict(use_rslora="yes"), "use_rslora"),
    (dict(label_budget=0), "label_budget"), (dict(label_budget=10_000), "label_budget"),
    (dict(noise=-0.1), "noise"), (dict(noise=2.0), "noise"),
    (dict(shift_strength=float("inf")), "shift_strength"), (dict(seed=-1), "seed"),
])
def test_bad_slider_values_are_named(bad, name):
    with pytest.raises((ValueError, TypeError), match=name):
        rank_selection_view(**dict(FAST, **bad))


def test_planted_view_matches_the_closed_form_sweep():
    fig, numbers = planted_rank_view(rank=5, n=40, noise=0.5, k=3, d=32, seed=0)
    assert isinstance(fig, Figure)
    sweep = planted_rank_sweep(d=32, k=3, n=40, noise=0.5, ranks=range(1, 33), seed=0, method="closed-form")
    assert numbers["test_errors"] == [r["test_error"] for r in sweep]
    assert numbers["test_error"] == sweep[4]["test_error"]
    # the tour's planted task: lowest at the planted rank, far worse at r = 1 and r = 32
    assert numbers["best_rank"] == 3 and numbers["suggested_rank"] == 3
    errors = numbers["test_errors"]
    assert errors[2] < 0.2 and errors[0] > 1.0 and errors[31] > 0.5
    # training error only falls as the rank grows
    assert all(a >= b - 1e-12 for a, b in zip(numbers["train_errors"], numbers["train_errors"][1:]))
    # the figure draws these numbers: the circled rank, and k then exactly rank non-zero singular values
    curve_axis, spectrum_axis = fig.axes
    circled = [line for line in curve_axis.get_lines() if line.get_label() == "your r = 5"]
    assert circled and list(circled[0].get_ydata()) == [numbers["test_error"]]
    planted, estimate = spectrum_axis.get_lines()
    assert np.sum(planted.get_ydata() > 1e-9) == 3 and np.sum(estimate.get_ydata() > 1e-9) == 5


def test_planted_view_rejects_bad_values():
    with pytest.raises(ValueError, match="rank"):
        planted_rank_view(rank=33, d=32)
    with pytest.raises(ValueError, match="k"):
        planted_rank_view(k=40, d=32)
    with pytest.raises(ValueError, match="noise"):
        planted_rank_view(noise=-1.0)
    with pytest.raises(TypeError, match="n"):
        planted_rank_view(n=[40, 80])


def test_planted_demo_redraws_when_a_slider_moves(capsys):
    demo = planted_rank_demo()
    sliders = [child for box in demo.children[0].children for child in box.children]
    assert [s.description for s in sliders] == ["rank r", "examples n", "noise", "planted k"]
    assert "r = 3: test error" in capsys.readouterr().out  # the first drawing
    sliders[0].value = 6
    expected = planted_rank_view(rank=6)[1]["test_error"]
    assert f"r = 6: test error {expected:.3f}" in capsys.readouterr().out


def test_rank_demo_has_the_six_controls_and_draws_the_default_view(capsys):
    demo = rank_selection_demo()
    controls = [child for box in demo.children[0].children for child in box.children]
    assert [c.description for c in controls] == ["rank r", "lora_alpha", "rsLoRA: alpha / sqrt(r)", "label budget",
                                                  "pixel noise", "rotation (deg)"]
    assert all(getattr(c, "continuous_update", False) is False for c in controls if hasattr(c, "continuous_update"))
    _, numbers = rank_selection_view()
    assert f"test {numbers['test_accuracy']:.3f}" in capsys.readouterr().out
    assert math.isclose(numbers["scaling"], 8 / 4)


def test_headless_runs_print_a_note_instead_of_building_sliders(monkeypatch, capsys):
    from lorabook import widgets
    from lorabook.notebook_runner import kernel_environment

    monkeypatch.setenv(widgets.HEADLESS, "1")
    assert kernel_environment()[widgets.HEADLESS] == "1"  # what the runner gives its kernels
    assert widgets.rank_selection_demo() is None
    assert widgets.planted_rank_demo() is None
    assert widgets.interact(lambda r: r, r=(1, 4)) is None
    assert capsys.readouterr().out.count("sliders appear when this notebook runs in Jupyter") == 3
    monkeypatch.delenv(widgets.HEADLESS)
    assert widgets.sliders_available()


# ----- the U-curve preset, the remembered runs, the grid ---------------------------------------------
PRESET_SEEDS = range(5)


@pytest.fixture(scope="module")
def preset_runs():
    """{seed: {rank: test accuracy}} at the U-curve preset for the too-low, middle and too-high ranks."""
    return {seed: {rank: rank_selection_numbers(**U_CURVE_PRESET, rank=rank, seed=seed)["test_accuracy"]
                   for rank in U_CURVE_RANKS} for seed in PRESET_SEEDS}


def test_the_preset_shows_both_sides_of_the_rank_trade_off(preset_runs):
    # The claim made in notebook 06, the app and the README: at the preset the middle rank beats the lowest
    # in each of 5 seeds, and the highest in at least 4 of 5 (5 with OpenBLAS's SkylakeX kernel, 4 with its
    # Haswell kernel, where seed 3 goes the other way by 0.013), and on average.
    low, middle, high = U_CURVE_RANKS
    for seed, accuracy in preset_runs.items():
        assert accuracy[middle] > accuracy[low], f"seed {seed}: r={middle} does not beat r={low}: {accuracy}"
    wins = [seed for seed, accuracy in preset_runs.items() if accuracy[middle] > accuracy[high]]
    assert len(preset_runs) == 5 and len(wins) >= 4, f"r={middle} beats r={high} only in seeds {wins}"
    mean = {rank: sum(a[rank] for a in preset_runs.values()) / len(preset_runs) for rank in U_CURVE_RANKS}
    assert mean[middle] > max(mean[low], mean[high]), mean


def test_ranks_seen_collects_the_runs_that_differ_in_rank_only():
    settings = dict(FAST, rank=3)
    rank_selection_numbers(**settings)
    rank_selection_numbers(**dict(settings, rank=5))
    rank_selection_numbers(**dict(settings, rank=5, noise=0.2))  # other settings: not on this curve
    seen = ranks_seen(**settings)
    assert {3, 5} <= set(seen)
    assert seen[5] == rank_selection_numbers(**dict(settings, rank=5))["test_accuracy"]
    assert all(rank_selection_numbers(**dict(settings, rank=r))["test_accuracy"] == a for r, a in seen.items())
    assert ranks_seen(**dict(settings, noise=0.2)).keys() >= {5}
    assert 3 not in ranks_seen(**dict(settings, noise=0.2))


def test_the_grid_holds_one_run_per_budget_and_rank_and_the_plot_draws_it():
    grid = rank_budget_grid(ranks=(1, 2), label_budgets=(20, 30), **{k: FAST[k] for k in
                                                                      ("lora_alpha", "use_rslora", "noise", "shift_strength")})
    assert [[(n["label_budget"], n["rank"]) for n in row] for row in grid] == [[(20, 1), (20, 2)], [(30, 1), (30, 2)]]
    assert grid[1][1]["test_accuracy"] == rank_selection_numbers(**dict(FAST, rank=2, label_budget=30))["test_accuracy"]
    fig = plot_rank_budget_grid(grid)
    assert len(fig.axes) == 4
    for ax, numbers in zip(fig.axes, [n for row in grid for n in row]):
        train_line, test_line = ax.get_lines()[:2]
        assert list(test_line.get_ydata()) == numbers["test_curve"]
        assert f"test {numbers['test_accuracy']:.2f}" in [t.get_text() for t in ax.texts]
    for row_axes, row in zip((fig.axes[:2], fig.axes[2:]), grid):  # the best rank of each row is framed
        best = max(range(2), key=lambda j: row[j]["test_accuracy"])
        assert row_axes[best].spines["left"].get_linewidth() > row_axes[1 - best].spines["left"].get_linewidth()


@pytest.mark.parametrize("grid", [[], [[]], "ragged"])
def test_the_grid_plot_refuses_an_empty_or_ragged_grid(grid, fast_view):
    if grid == "ragged":
        grid = [[fast_view[1], fast_view[1]], [fast_view[1]]]
    with pytest.raises(ValueError, match="grid"):
        plot_rank_budget_grid(grid)


def test_classroom_figures_use_projector_fonts_and_draw_their_numbers(fast_view):
    _, numbers = fast_view
    fig = plot_classroom_digits(numbers, {1: 0.5, numbers["rank"]: numbers["test_accuracy"]})
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text()]
    assert min(t.get_fontsize() for t in texts) >= 16
    curve_axis, rank_axis = fig.axes
    assert list(curve_axis.get_lines()[1].get_ydata()) == numbers["test_curve"]
    assert list(rank_axis.get_lines()[0].get_xdata()) == sorted({1, numbers["rank"]})
    width, height = fig.get_size_inches() * 100
    assert width <= 1280 - 400 and height <= 720 - 100  # beside the controls on a 1280x720 screen
    planted = plot_classroom_planted(planted_rank_view(rank=4)[1])
    assert min(t.get_fontsize() for t in planted.findobj(matplotlib.text.Text) if t.get_text()) >= 16


# ----- the classroom app, in this process (tests/browser drives it in a real browser) -----------------
def test_the_app_redraws_when_the_rank_moves_and_switches_tasks(monkeypatch):
    from lorabook.classroom.app import TASKS, ClassroomApp

    monkeypatch.setattr("lorabook.classroom.app.U_CURVE_PRESET", dict(U_CURVE_PRESET, label_budget=20))
    app = ClassroomApp()
    first = bytes(app.figure.value)
    assert first.startswith(b"\x89PNG") and "r = 8" in app.status.value
    app.digits["rank"].value = 2
    assert bytes(app.figure.value) != first and "r = 2" in app.status.value
    expected = rank_selection_numbers(**dict(U_CURVE_PRESET, label_budget=20, rank=2))["test_accuracy"]
    assert f"test <b>{expected:.2f}</b>" in app.status.value
    app.task.value = TASKS[1]
    assert app.planted_box in app.controls.children and app.digits_box not in app.controls.children
    app.planted["rank"].value = 6
    assert f"test error <b>{planted_rank_view(rank=6)[1]['test_error']:.3f}</b>" in app.status.value


# ----- the other claims of notebook 06, over its five seeds ------------------------------------------
def test_rslora_fits_faster_at_rank_32_and_ends_within_the_spread_of_alpha_over_r():
    # notebook 06, section 2: alpha / sqrt(r) reaches 0.9 training accuracy earlier in 5 of 5 seeds (by 9
    # epochs or more); the final test accuracies differ by less than their spread (+0.008 +- 0.025)
    earlier, difference = [], []
    for seed in range(5):
        runs = {rs: rank_selection_numbers(rank=32, lora_alpha=8, use_rslora=rs, label_budget=100, noise=0.0,
                                           shift_strength=45.0, seed=seed) for rs in (False, True)}
        first = {rs: next(e for e, a in zip(n["epochs"], n["train_curve"]) if a >= 0.9) for rs, n in runs.items()}
        earlier.append(first[False] - first[True])
        difference.append(runs[True]["test_accuracy"] - runs[False]["test_accuracy"])
    assert min(earlier) > 0, earlier
    assert abs(np.mean(difference)) < np.std(difference), difference


@pytest.mark.parametrize("n", [40, 400])
def test_the_planted_u_curve_is_lowest_at_the_planted_rank_in_every_seed(n):
    # notebook 06, section 3: lowest test error at r = k = 3 for seeds 0-4; r = 32 at least 5 times worse
    for seed in range(5):
        records = planted_rank_sweep(d=32, k=3, n=n, noise=0.5, ranks=range(1, 33), seed=seed, method="closed-form")
        errors = {r["rank"]: r["test_error"] for r in records}
        assert min(errors, key=errors.get) == 3, (seed, errors)
        assert errors[32] > 5 * errors[3], (seed, errors[32], errors[3])


def test_the_preset_button_restores_the_preset_with_one_redraw(monkeypatch):
    from lorabook.classroom import app as classroom

    small = dict(U_CURVE_PRESET, label_budget=20)
    monkeypatch.setattr(classroom, "U_CURVE_PRESET", small)
    page = classroom.ClassroomApp()
    page.digits["noise"].value = 0.1
    page.digits["shift_strength"].value = 15.0
    draws = []
    monkeypatch.setattr(page, "redraw", lambda: draws.append(page.settings()))
    page.apply_preset()
    assert draws == [dict(small, rank=page.digits["rank"].value)]


def test_the_lambda_task_draws_notebook_07s_view_when_that_chapter_is_there(monkeypatch):
    from lorabook.classroom import app as classroom

    calls = []

    def fake_view(lam, seed=0):
        calls.append(lam)
        return {"lam": lam, "test_error": 0.25, "rank": 3, "effective_rank": 2.5}

    def fake_plot(view):
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        ax.set_title(f"lambda {view['lam']}")
        return fig

    monkeypatch.setattr(classroom, "lambda_view", fake_view)
    monkeypatch.setattr(classroom, "plot_lambda_view", fake_plot)
    monkeypatch.setattr(classroom, "U_CURVE_PRESET", dict(U_CURVE_PRESET, label_budget=20))
    classroom._LAMBDA_VIEWS.clear()
    page = classroom.ClassroomApp()
    assert page.task.options == classroom.TASKS
    page.task.value = classroom.TASKS[2]
    assert page.penalty_box in page.controls.children and "test error <b>0.250</b>" in page.status.value
    page.penalty["lam"].value = 0.1
    page.penalty["lam"].value = 1e-2  # seen before: remembered, not recomputed
    assert calls == [1e-2, 0.1]
    monkeypatch.setattr(classroom, "lambda_view", None)
    assert classroom.available_tasks() == classroom.TASKS[:2]
