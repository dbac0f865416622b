"""The classroom rank-selection demo (notebook 06): slider functions and the sliders around them.

Every slider position is one call of a plain function that returns the
figure it drew and the numbers it drew from, so tests (and a notebook
without widgets) call exactly what the sliders call:

    fig, numbers = rank_selection_view(rank=4, lora_alpha=8, use_rslora=False,
                                       label_budget=100, noise=0.0, shift_strength=45)
    fig, numbers = planted_rank_view(rank=3, n=40, noise=0.5)

    rank_selection_demo()      # the same, with ipywidgets sliders (in Jupyter)
    planted_rank_demo()

    numbers = rank_selection_numbers(**U_CURVE_PRESET, rank=8)   # the numbers only, remembered
    ranks_seen(**U_CURVE_PRESET)        # {rank: test accuracy} of the remembered runs at these settings
    rank_budget_grid(ranks=(1, 8, 64), label_budgets=(20, 40, 100))   # notebook 06's small multiples

U_CURVE_PRESET is a setting on the real digits where both sides of the rank
trade-off show with few labels (r = 1 underfits, r = 64 overfits; checked
over 5 seeds in the tests). The classroom app (lorabook.classroom) serves
these functions as a web page.

rank_selection_view trains LoRA (every Linear layer) on rotated digits: the
source model is upright digits (lorabook.experiments.train_source_model),
the target the same digits turned by `shift_strength` degrees, with pixel
noise of standard deviation `noise` on top, and `label_budget` labelled
target images to train on. It trains exactly as lorabook.experiments.adapt
does (its defaults: Adam, lr DEFAULT_LR["lora"], DEFAULT_EPOCHS epochs,
batch 32), and also records the accuracy after every epoch.

planted_rank_view solves the planted-rank regression in closed form at
every rank (lorabook.experiments.planted_rank_sweep, method "closed-form"),
so it redraws instantly; it shows the over/underfitting U-curve.

Speed: the source model is trained once per seed and kept (lru_cache), and
each run's numbers are kept too, so going back to a slider position is
instant. A new position trains on one BLAS thread whatever the kernel's
thread count (threadpoolctl): these matrices are small, and on a busy
2-core machine a second thread made a run several times slower. A new
rank_selection_view position takes 0.2-1 s (benchmarks/bench_sliders.py).
"""
from __future__ import annotations

import copy
import functools
import os

import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits

from lorabook._checks import check_float, check_int, make_rng
from lorabook.analysis import reduced_rank_regression
from lorabook.data import load_digits, make_domain_split, make_planted_rank_task
from lorabook.experiments import DEFAULT_LR, planted_rank_sweep, train_source_model
from lorabook.experiments.finetune import DEFAULT_EPOCHS
from lorabook.experiments.finetune import layer_ranks, prepare_model
from lorabook.lora import LoraLinear, lora_scaling
from lorabook.nn import functional as F
from lorabook.optim import Adam
from lorabook.plots.analysis_widgets import plot_planted_rank, plot_rank_selection
from lorabook.train import evaluate, fit

IMAGE_SHAPE = (8, 8)
BATCH_SIZE = 32
MAX_RANK = 64
MAX_NOISE = 1.0  # pixel values live in [0, 1]; noise of std 1 already drowns the digits


# ----- the task behind the sliders -------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _digits():
    return load_digits()


def _pool_size():
    """Rows of the target half of the digits: label budgets must leave at least one for testing."""
    X, y = _digits()
    return len(X) - int(round(0.5 * len(X)))


def _check_seed(seed):
    return check_int("seed", seed, low=0)


@functools.lru_cache(maxsize=8)  # notebook 06 and the tests check claims over 5 seeds
def source_model(seed=0):
    """The MLP 64-128-128-10 trained on upright source digits (train_source_model), one per seed, kept.

    The source half of make_domain_split depends on the seed only, not on
    the shift or the label budget, so one model serves every slider position.
    Do not change the model you get: it is shared (adapting works on copies).
    """
    seed = _check_seed(seed)
    X, y = _digits()
    split = make_domain_split(X, y, "rotate", 0.0, 1, seed=seed, image_shape=IMAGE_SHAPE)
    return train_source_model(split.source_train, seed=seed)


@functools.lru_cache(maxsize=8)
def _noise_field(seed):
    """One N(0, 1) value per pixel of every image, drawn once per seed.

    Noise is added by image (the row of the original pool), so an image keeps
    its noise when the label budget moves it between training and test.
    """
    X, _ = _digits()
    return make_rng(seed).standard_normal(X.shape).astype(X.dtype)


def _check_task(label_budget, noise, shift_strength, seed):
    return dict(
        label_budget=check_int("label_budget", label_budget, low=1, high=_pool_size() - 1),
        noise=check_float("noise", noise, low=0.0, high=MAX_NOISE),
        shift_strength=check_float("shift_strength", shift_strength, low=-360.0, high=360.0),
        seed=_check_seed(seed),
    )


def _check_settings(rank, lora_alpha, use_rslora, label_budget, noise, shift_strength, seed):
    """Every slider value checked (errors name the slider), as a dict in the order of the arguments."""
    if not isinstance(use_rslora, (bool, np.bool_)):
        raise TypeError(f"use_rslora must be True or False, got {use_rslora!r}")
    return dict(
        rank=check_int("rank", rank, low=1, high=MAX_RANK),
        lora_alpha=check_float("lora_alpha", lora_alpha, low=0.0, low_open=True),
        use_rslora=bool(use_rslora),
        **_check_task(label_budget, noise, shift_strength, seed),
    )


def rank_selection_task(label_budget, noise, shift_strength, seed=0):
    """The target domain of rank_selection_view: ((X_train, y_train), (X_test, y_test)).

    make_domain_split of the digits with a rotation by shift_strength degrees
    and label_budget labelled target images; then pixel noise of standard
    deviation `noise` (a fixed N(0, 1) field per image, from the seed) on
    every target image. The rest of the target half is the test set.
    """
    settings = _check_task(label_budget, noise, shift_strength, seed)
    X, y = _digits()
    split = make_domain_split(X, y, "rotate", settings["shift_strength"], settings["label_budget"],
                              seed=settings["seed"], image_shape=IMAGE_SHAPE)
    field = _noise_field(settings["seed"])
    parts = []
    for name in ("target_train", "target_test"):
        X_part, y_part = getattr(split, name)
        noisy = X_part + settings["noise"] * field[split.indices[name]]
        parts.append((noisy.astype(X.dtype), y_part))
    return tuple(parts)


RANK_SELECTION_DEFAULTS = dict(rank=4, lora_alpha=8, use_rslora=False, label_budget=100, noise=0.0,
                               shift_strength=45.0, seed=0)
# A position on the real digits where both sides of the rank trade-off show with few labels
# (found by a search over budgets, rotations, noise and alpha; tests/test_widgets.py holds it over 5 seeds).
U_CURVE_PRESET = dict(lora_alpha=32, use_rslora=True, label_budget=40, noise=0.3, shift_strength=30.0)
U_CURVE_RANKS = (1, 8, 64)  # too low, about right, too high at the preset


# ----- one slider position: the numbers ---------------------------------------------------------
def rank_selection_run(rank, lora_alpha, use_rslora, label_budget, noise, shift_strength, seed=0):
    """Train LoRA (all Linear layers) at these settings; returns the numbers rank_selection_view draws.

    Training is adapt's recipe (see the module docstring; ranks above a
    layer's min(out, in) are capped there as adapt caps them), so train_accuracy
    and test_accuracy equal adapt(source_model(seed), "lora", *task, rank=rank,
    lora_alpha=lora_alpha, use_rslora=use_rslora, seed=seed) for the task of
    rank_selection_task. Keys (plain Python values):
      the settings; scaling (lora_alpha / r, or / sqrt(r) with rsLoRA);
      layer_ranks ({layer name: r used}: the 10-output head never gets more
      than 10, the first layer never more than 64); trainable_params; source_accuracy (the source model on upright test
      digits); source_only_accuracy (the source model on the target test set);
      train_accuracy, test_accuracy (after training, eval mode);
      epochs, train_curve, test_curve (accuracy per epoch; the training
      accuracy is measured while the weights change, as fit records it);
      singular_values {layer name: singular values of that layer's
      update delta W = scaling B A, largest first}.
    """
    settings = _check_settings(rank, lora_alpha, use_rslora, label_budget, noise, shift_strength, seed)
    train_data, test_data = rank_selection_task(settings["label_budget"], settings["noise"],
                                                settings["shift_strength"], settings["seed"])
    base = source_model(settings["seed"])
    X, y = _digits()
    source_test = make_domain_split(X, y, "rotate", 0.0, 1, seed=settings["seed"],
                                    image_shape=IMAGE_SHAPE).source_test

    # adapt's own model preparation (a copy of base, ranks capped at each layer's min(out, in)),
    # so that this run and adapt(...) train the very same parameters from the very same start.
    model = prepare_model(base, "lora", settings["rank"], settings["lora_alpha"], settings["use_rslora"],
                          True, "all-linear", settings["seed"])
    params = [p for p in model.parameters() if p.requires_grad]
    history = fit(model, train_data, F.cross_entropy, Adam(params, lr=DEFAULT_LR["lora"]), epochs=DEFAULT_EPOCHS,
                  batch_size=BATCH_SIZE, val_data=test_data, seed=settings["seed"], progress=False)

    layers = [(name, m) for name, m in model.get_base_model().named_modules() if isinstance(m, LoraLinear)]
    return {
        **settings,
        "scaling": lora_scaling(settings["lora_alpha"], settings["rank"], settings["use_rslora"]),
        "layer_ranks": layer_ranks(model),
        "trainable_params": int(sum(p.size for p in params)),
        "source_accuracy": evaluate(base, source_test)["accuracy"],
        "source_only_accuracy": evaluate(base, test_data)["accuracy"],
        "train_accuracy": evaluate(model, train_data)["accuracy"],
        "test_accuracy": evaluate(model, test_data)["accuracy"],
        "epochs": list(history.epochs),
        "train_curve": [float(v) for v in history.train_accuracy],
        "test_curve": [float(v) for v in history.val_accuracy],
        "singular_values": {name: [float(s) for s in np.linalg.svd(layer.get_delta_weight().astype(np.float64),
                                                                      compute_uv=False)]
                            for name, layer in layers},
    }


# Every run made so far, by its settings (plain dicts: a run is a few kilobytes of numbers).
_RUNS = {}
_MAX_RUNS = 512


def _cached_run(rank, lora_alpha, use_rslora, label_budget, noise, shift_strength, seed):
    key = (rank, lora_alpha, use_rslora, label_budget, noise, shift_strength, seed)
    if key not in _RUNS:
        if len(_RUNS) >= _MAX_RUNS:
            _RUNS.pop(next(iter(_RUNS)))  # the oldest run goes first
        with threadpool_limits(limits=1, user_api="blas"):
            _RUNS[key] = rank_selection_run(*key)
    return _RUNS[key]


def rank_selection_view(rank=4, lora_alpha=8, use_rslora=False, label_budget=100, noise=0.0, shift_strength=45.0,
                        seed=0):
    """One position of the rank-selection sliders: (Figure, numbers).

    numbers is rank_selection_run's dict (a copy: changing it changes
    nothing here); the figure is plot_rank_selection(numbers). Runs are
    remembered, so a position seen before redraws at once.
    """
    settings = _check_settings(rank, lora_alpha, use_rslora, label_budget, noise, shift_strength, seed)
    numbers = copy.deepcopy(_cached_run(**settings))
    return plot_rank_selection(numbers), numbers


def rank_selection_numbers(**settings):
    """rank_selection_run's numbers for these settings (keywords as rank_selection_view), remembered; a copy."""
    settings = _check_settings(**{**RANK_SELECTION_DEFAULTS, **settings})
    return copy.deepcopy(_cached_run(**settings))


def ranks_seen(**settings):
    """{rank: test accuracy} of every remembered run that differs from `settings` in its rank only.

    What the classroom app draws as the rank curve built up so far.
    """
    settings = _check_settings(**{**RANK_SELECTION_DEFAULTS, **settings})
    others = {k: v for k, v in settings.items() if k != "rank"}
    return {run["rank"]: run["test_accuracy"] for run in _RUNS.values()
            if {k: run[k] for k in others} == others}


def rank_budget_grid(ranks, label_budgets, **settings):
    """rank_selection_run at every (label budget, rank) pair: a list of rows, one per budget, of numbers dicts.

    The other settings are rank_selection_view's keywords (default: the
    U-curve preset). Notebook 06 draws it with plot_rank_budget_grid, the
    slider positions a reader without a kernel would otherwise not see.
    """
    settings = {**U_CURVE_PRESET, **settings}
    return [[rank_selection_numbers(**dict(settings, rank=rank, label_budget=budget)) for rank in ranks]
            for budget in label_budgets]


# ----- the planted-rank U-curve -------------------------------------------------------------------
def planted_rank_view(rank=3, n=40, noise=0.5, k=3, d=32, seed=0):
    """The planted-rank task (d x d, true rank k, n examples) at every rank, with `rank` picked out: (Figure, numbers).

    The records are planted_rank_sweep(d, k, n, noise, ranks=1..d,
    method="closed-form"): reduced-rank least squares, the best any rank-r
    update can fit. The figure is lorabook.plots.plot_planted_rank(numbers).
    numbers: the settings, ranks, train_errors, test_errors (one per rank),
    train_error and test_error at `rank`, best_rank (lowest test error),
    suggested_rank (Gavish-Donoho on the least-squares update whitened by the
    inputs, Q^T (Y - X W0^T) for X = QR, as planted_rank_sweep computes it;
    see lorabook.experiments.sweeps), records (the sweep's records), and the
    singular values of the planted update (planted_singular_values) and of
    the rank-`rank` estimate (estimate_singular_values).
    """
    d = check_int("d", d, low=2, high=MAX_RANK)
    rank = check_int("rank", rank, low=1, high=d)
    n = check_int("n", n, low=1)
    with threadpool_limits(limits=1, user_api="blas"):
        return _planted_rank_view(rank, n, noise, k, d, seed)


def _planted_rank_view(rank, n, noise, k, d, seed):
    records = planted_rank_sweep(d=d, k=k, n=n, noise=noise, ranks=tuple(range(1, d + 1)), seed=seed,
                                 method="closed-form")
    chosen = records[rank - 1]
    best = min(records, key=lambda r: r["test_error"])
    numbers = {
        "rank": rank, "n": chosen["n_train"], "noise": chosen["noise"], "k": chosen["k"], "d": d, "seed": seed,
        "ranks": [r["rank"] for r in records],
        "train_errors": [r["train_error"] for r in records],
        "test_errors": [r["test_error"] for r in records],
        "train_error": chosen["train_error"], "test_error": chosen["test_error"],
        "best_rank": best["rank"], "suggested_rank": chosen["suggested_rank"], "records": records,
    }

    task = make_planted_rank_task(d, d, numbers["k"], numbers["n"], numbers["noise"], seed=seed, dtype=np.float64)
    estimate = reduced_rank_regression(task.X_train, task.Y_train, rank, W0=task.base_weight)
    numbers["planted_singular_values"] = np.linalg.svd(task.true_update, compute_uv=False)
    numbers["estimate_singular_values"] = np.linalg.svd(estimate, compute_uv=False)
    return plot_planted_rank(numbers), numbers


# ----- the sliders ----------------------------------------------------------------------------------
HEADLESS = "LORABOOK_HEADLESS"
HEADLESS_NOTE = ("(The sliders appear when this notebook runs in Jupyter; `python -m lorabook classroom` serves "
                 "them as a web page. This copy was executed headless: the next cells draw the same functions "
                 "at fixed settings.)")


def sliders_available():
    """False when LORABOOK_HEADLESS=1, which the notebook runner sets for its kernels.

    Executing a cell that opens widgets with no browser attached sometimes
    blocks nbclient until its timeout (github.com/jupyter/nbclient/issues/312), so headless
    runs skip building them; the sliders call plain functions that the
    notebooks also call directly and that the tests check.
    """
    return os.environ.get(HEADLESS) != "1"


def interact(function, **controls):
    """ipywidgets.interact(function, **controls), or a short note in a headless run."""
    if not sliders_available():
        print(HEADLESS_NOTE)
        return None
    import ipywidgets as widgets

    return widgets.interact(function, **controls)


def _show_in(view, summary):
    """A slider callback: draw view(**settings), show it, print the summary line, close the figure."""
    from IPython.display import display

    def callback(**settings):
        fig, numbers = view(**settings)
        display(fig)
        plt.close(fig)  # shown once; closed figures do not pile up while sliding
        print(summary(numbers))

    return callback


def rank_selection_demo(seed=0):
    """ipywidgets sliders around rank_selection_view; returns the widget (display it in Jupyter).

    Training starts when a slider is released (continuous_update=False), so
    dragging does not queue up runs.
    """
    if not sliders_available():
        print(HEADLESS_NOTE)
        return None
    import ipywidgets as widgets

    style = {"description_width": "110px"}
    layout = widgets.Layout(width="420px")
    common = dict(continuous_update=False, style=style, layout=layout)
    controls = {
        "rank": widgets.IntSlider(value=4, min=1, max=32, description="rank r", **common),
        "lora_alpha": widgets.FloatLogSlider(value=8, base=2, min=-2, max=7, step=1, description="lora_alpha",
                                             **common),
        "use_rslora": widgets.Checkbox(value=False, description="rsLoRA: alpha / sqrt(r)", indent=False),
        "label_budget": widgets.IntSlider(value=100, min=10, max=400, step=10, description="label budget", **common),
        "noise": widgets.FloatSlider(value=0.0, min=0.0, max=0.5, step=0.05, description="pixel noise", **common),
        "shift_strength": widgets.FloatSlider(value=45.0, min=0.0, max=90.0, step=5.0, description="rotation (deg)",
                                              **common),
    }

    def summary(n):
        return (f"train {n['train_accuracy']:.3f}, test {n['test_accuracy']:.3f} "
                f"(source model on this target: {n['source_only_accuracy']:.3f}), scaling {n['scaling']:.3g}")

    output = widgets.interactive_output(_show_in(functools.partial(rank_selection_view, seed=seed), summary),
                                        controls)
    return widgets.VBox([widgets.HBox([widgets.VBox(list(controls.values())[:3]),
                                       widgets.VBox(list(controls.values())[3:])]), output])


def planted_rank_demo(seed=0):
    """ipywidgets sliders around planted_rank_view (rank, n, noise, planted k); returns the widget."""
    if not sliders_available():
        print(HEADLESS_NOTE)
        return None
    import ipywidgets as widgets

    common = dict(continuous_update=False, style={"description_width": "110px"}, layout=widgets.Layout(width="420px"))
    controls = {
        "rank": widgets.IntSlider(value=3, min=1, max=32, description="rank r", **common),
        "n": widgets.IntSlider(value=40, min=10, max=400, step=10, description="examples n", **common),
        "noise": widgets.FloatSlider(value=0.5, min=0.0, max=2.0, step=0.1, description="noise", **common),
        "k": widgets.IntSlider(value=3, min=1, max=16, description="planted k", **common),
    }

    def summary(n):
        return (f"r = {n['rank']}: test error {n['test_error']:.3f}; best r = {n['best_rank']}; "
                f"Gavish-Donoho suggests r = {n['suggested_rank']}")

    output = widgets.interactive_output(_show_in(functools.partial(planted_rank_view, seed=seed), summary), controls)
    return widgets.VBox([widgets.HBox([widgets.VBox(list(controls.values())[:2]),
                                       widgets.VBox(list(controls.values())[2:])]), output])
