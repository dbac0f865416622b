"""The classroom app's page: controls on the left, one projector-sized figure on the right (fits 1280x720).

    app = build_app()        # an ipywidgets box; Voila (or a notebook) displays it

The tasks share the page (the third where notebook 07's studies are installed):
- digits: LoRA on every layer of the digits MLP, trained on a few
  labelled rotated digits (lorabook.widgets.rank_selection_numbers). Each new
  position trains for 0.2-1 s; positions seen before come back at once, and
  the right panel collects the ranks tried so far into the rank curve. It
  opens on the U-curve preset (lorabook.widgets.U_CURVE_PRESET), where r = 1
  underfits and r = 64 overfits.
- planted: the regression whose true update has rank k, solved in
  closed form at every rank (lorabook.widgets.planted_rank_view).
- penalty λ (with notebook 07's lorabook.studies.regularisation): the
  same kind of task with a nuclear-norm penalty lambda ||D||_* instead of a
  rank limit (lambda_view); the rank the penalty leaves shrinks as lambda grows.
"""
from __future__ import annotations

import importlib
import io
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import matplotlib.text
from threadpoolctl import threadpool_limits

from lorabook.plots.analysis_widgets import PROJECTOR_FONT_PT, plot_classroom_digits, plot_classroom_planted
from lorabook.widgets import U_CURVE_PRESET, U_CURVE_RANKS, planted_rank_view, rank_selection_numbers, ranks_seen


def _chapter_07():
    """Notebook 07's (lambda_view, plot_lambda_view), or (None, None) where that chapter is not installed.

    Installed means: its module sits in this copy of the package. Only its
    absence means "no lambda task"; a chapter that is there but fails to
    import raises, so the app never hides a broken chapter.
    """
    if not (Path(__file__).resolve().parents[1] / "studies" / "regularisation.py").is_file():
        return None, None
    regularisation = importlib.import_module("lorabook.studies.regularisation")
    plots = importlib.import_module("lorabook.plots")
    return regularisation.lambda_view, plots.plot_lambda_view


lambda_view, plot_lambda_view = _chapter_07()

FIGURE_DPI = 100
FIGURE_INCHES = (8.4, 5.6)
DIGITS_RANKS = (1, 2, 4, 8, 16, 32, 64)
LAMBDAS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
TASKS = ("digits", "planted", "penalty λ")  # short: three buttons share the 390 px of the controls

# Projector mode: every text on the page at least 16 pt; controls 400 px wide beside an 840 px figure.
PROJECTOR_CSS = f"""
<style>
.lorabook-app, .lorabook-app .widget-label, .lorabook-app .widget-readout, .lorabook-app .widget-toggle-button,
.lorabook-app .widget-button, .lorabook-app .widget-checkbox, .lorabook-app .widget-label-basic,
.lorabook-app .widget-checkbox label, .lorabook-app .widget-html-content {{
  font-size: {PROJECTOR_FONT_PT}pt !important; line-height: 1.4 !important; }}
.lorabook-app .widget-slider, .lorabook-app .widget-checkbox {{ height: 40px !important; }}
body {{ margin: 0 !important; }}
</style>
"""


# One line under each task's controls, for a class that has just walked in.
DIGITS_HINT = "Move the rank: at the preset, r = 1 cannot express the rotation and r = 64 fits the noise."
PLANTED_HINT = "The true update has rank k: past it, a larger rank only fits noise."
PENALTY_HINT = "A larger λ shrinks the update's singular values, some to zero: a rank chosen by the data."


def _hint(text):
    return widgets.HTML(f"<i>{text}</i>", layout=widgets.Layout(width="390px"))


def _projector_sized(fig):
    """A figure drawn for a notebook, enlarged for the app: its size, and every text at least 16 pt."""
    fig.set_size_inches(*FIGURE_INCHES)
    for text in fig.findobj(matplotlib.text.Text):
        if text.get_text():
            text.set_fontsize(max(text.get_fontsize(), PROJECTOR_FONT_PT))
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.16, top=0.88)
    return fig


def _png(fig):
    """The figure as PNG bytes; the figure is closed (so it never also shows up as a cell output)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
    plt.close(fig)
    return buffer.getvalue()


def _slider(kind, description, **options):
    style = {"description_width": "130px"}
    return kind(description=description, continuous_update=False, style=style,
                layout=widgets.Layout(width="390px"), **options)


def digits_controls():
    """The controls of the rotated-digits task, opening on the U-curve preset."""
    preset = U_CURVE_PRESET
    return {
        "rank": _slider(widgets.SelectionSlider, "rank r", options=DIGITS_RANKS, value=8),
        "lora_alpha": _slider(widgets.SelectionSlider, "alpha", options=(1, 2, 4, 8, 16, 32, 64),
                              value=preset["lora_alpha"]),
        "use_rslora": widgets.Checkbox(value=preset["use_rslora"], description="rsLoRA: alpha / sqrt(r)",
                                       indent=False),
        "label_budget": _slider(widgets.SelectionSlider, "labels", options=(10, 20, 40, 100, 200),
                                value=preset["label_budget"]),
        "noise": _slider(widgets.SelectionSlider, "noise", options=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
                         value=preset["noise"]),
        "shift_strength": _slider(widgets.SelectionSlider, "rotation", options=(0.0, 15.0, 30.0, 45.0, 60.0, 90.0),
                                  value=preset["shift_strength"]),
    }


def planted_controls():
    """The controls of the planted-rank task."""
    return {
        "rank": _slider(widgets.IntSlider, "rank r", value=3, min=1, max=32),
        "n": _slider(widgets.SelectionSlider, "examples", options=(20, 40, 80, 160, 400), value=40),
        "noise": _slider(widgets.SelectionSlider, "noise", options=(0.0, 0.25, 0.5, 1.0, 2.0), value=0.5),
        "k": _slider(widgets.IntSlider, "planted k", value=3, min=1, max=8),
    }


def lambda_controls():
    """The control of the nuclear-norm penalty task: lambda on a log scale."""
    return {"lam": _slider(widgets.SelectionSlider, "penalty λ", options=LAMBDAS, value=1e-2)}


def available_tasks():
    """The tasks this installation can show (the lambda task needs notebook 07's studies)."""
    return TASKS if lambda_view is not None else TASKS[:2]


_DIGITS_PNGS = {}


def digits_png(settings, seed=0):
    """(PNG bytes, numbers) of the digits task at these settings (rank_selection_numbers' keywords).

    The run is remembered by lorabook.widgets; the picture too, as long as no
    new rank has joined the rank curve drawn beside it (drawing takes as long
    as a small training run).
    """
    numbers = rank_selection_numbers(**settings, seed=seed)
    seen = ranks_seen(**settings, seed=seed)
    key = (tuple(sorted(settings.items())), seed, tuple(sorted(seen.items())))
    if key not in _DIGITS_PNGS:
        if len(_DIGITS_PNGS) >= 256:  # about 50 kB each; the oldest goes first
            _DIGITS_PNGS.pop(next(iter(_DIGITS_PNGS)))
        _DIGITS_PNGS[key] = _png(plot_classroom_digits(numbers, seen, figsize=FIGURE_INCHES))
    return _DIGITS_PNGS[key], numbers


_LAMBDA_VIEWS = {}


def lambda_numbers(lam, seed=0):
    """lambda_view(lam, seed) on one BLAS thread, remembered (a position seen before comes back at once)."""
    if (lam, seed) not in _LAMBDA_VIEWS:
        with threadpool_limits(limits=1, user_api="blas"):
            _LAMBDA_VIEWS[(lam, seed)] = lambda_view(lam, seed=seed)
    return _LAMBDA_VIEWS[(lam, seed)]


class ClassroomApp:
    """The page and its behaviour; `box` is the widget to display."""

    def __init__(self, seed=0):
        self.seed = seed
        self.quiet = False  # True while several controls are set at once: one redraw at the end
        tasks = available_tasks()
        self.task = widgets.ToggleButtons(options=tasks, value=TASKS[0],
                                          style={"button_width": f"{380 // len(tasks)}px"})
        self.digits = digits_controls()
        self.planted = planted_controls()
        self.penalty = lambda_controls()
        self.preset = widgets.Button(description="U-curve preset", layout=widgets.Layout(width="390px"))
        self.status = widgets.HTML(layout=widgets.Layout(width="390px"))
        self.figure = widgets.Image(format="png", layout=widgets.Layout(width="840px"))
        self.digits_box = widgets.VBox([*self.digits.values(), self.preset, _hint(DIGITS_HINT)])
        self.planted_box = widgets.VBox([*self.planted.values(), _hint(PLANTED_HINT)])
        self.penalty_box = widgets.VBox([*self.penalty.values(), _hint(PENALTY_HINT)])
        self.boxes = {TASKS[0]: (self.digits, self.digits_box), TASKS[1]: (self.planted, self.planted_box),
                      TASKS[2]: (self.penalty, self.penalty_box)}
        self.controls = widgets.VBox([self.task, self.digits_box, self.status],
                                     layout=widgets.Layout(width="410px"))
        self.box = widgets.VBox([widgets.HTML(PROJECTOR_CSS),
                                 widgets.HBox([self.controls, self.figure])])
        self.box.add_class("lorabook-app")

        for control in [*self.digits.values(), *self.planted.values(), *self.penalty.values(), self.task]:
            control.observe(lambda change: self.redraw() if not self.quiet else None, names="value")
        self.preset.on_click(lambda button: self.apply_preset())
        for rank in U_CURVE_RANKS:  # the class opens on a rank curve with both ends already drawn
            rank_selection_numbers(**U_CURVE_PRESET, rank=rank, seed=seed)
        self.redraw()

    def apply_preset(self):
        """Back to the U-curve preset (the rank slider stays where it is)."""
        self.quiet = True
        try:
            for name, value in U_CURVE_PRESET.items():
                self.digits[name].value = value
        finally:
            self.quiet = False
        self.redraw()

    def settings(self):
        """The current task's control values, as keywords of its lorabook.widgets function."""
        controls, _ = self.boxes[self.task.value]
        return {name: control.value for name, control in controls.items()}

    def redraw(self):
        """Compute the current position (remembered ones at once) and show its figure and summary."""
        task = self.task.value
        self.controls.children = [self.task, self.boxes[task][1], self.status]
        settings = self.settings()
        if task == TASKS[0]:
            self.status.value = "<i>training ...</i>"
            png, numbers = digits_png(settings, seed=self.seed)
            summary = (f"r = {numbers['rank']}: train {numbers['train_accuracy']:.2f}, "
                       f"test <b>{numbers['test_accuracy']:.2f}</b><br>"
                       f"{numbers['trainable_params']:,} trainable parameters")
        elif task == TASKS[1]:
            fig, numbers = planted_rank_view(**settings, seed=self.seed)
            plt.close(fig)
            png = _png(plot_classroom_planted(numbers, figsize=FIGURE_INCHES))
            summary = (f"r = {numbers['rank']}: test error <b>{numbers['test_error']:.3f}</b><br>"
                       f"lowest at r = {numbers['best_rank']}")
        else:
            view = lambda_numbers(settings["lam"], seed=self.seed)
            png = _png(_projector_sized(plot_lambda_view(view)))
            summary = (f"λ = {view['lam']:g}: test error <b>{view['test_error']:.3f}</b><br>"
                       f"rank {view['rank']}, effective rank {view['effective_rank']:.2f}")
        self.figure.value = png
        self.status.value = summary


def build_app(seed=0):
    """The classroom page as an ipywidgets box (Voila serves it; in Jupyter, display it)."""
    return ClassroomApp(seed=seed).box
