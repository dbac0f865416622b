"""`python -m lorabook figures`: regenerate every PNG in figures/ and the README's results block.

The README shows figures and a results block between the markers
`<!-- results:start -->` and `<!-- results:end -->`; both are written here
from the tour's experiments (lorabook.studies.headline, fixed seeds) and
worded by lorabook.results_text, so no number on the front page is typed
by hand. The PNGs carry no date or version (savefig metadata), so running
the command twice on one machine gives the same bytes.
"""
from __future__ import annotations

import os

from .io import atomic_write
from .results_text import replace_block, results_markdown
from .studies.headline import run_headline

FIGURE_DPI = 110
# matplotlib writes its version into every PNG ("Software"); leave it out so that a
# figure's bytes depend on what it shows, not on which matplotlib drew it.
PNG_METADATA = {"Software": None}


def save_figure(fig, folder, name):
    """Write `fig` to folder/name as PNG (atomically, no version metadata), close it; returns the path."""
    import matplotlib.pyplot as plt

    path = os.path.join(folder, name)
    atomic_write(path, lambda file: fig.savefig(file, format="png", dpi=FIGURE_DPI, metadata=PNG_METADATA))
    plt.close(fig)
    return path


def _use_agg():
    import matplotlib

    matplotlib.use("Agg")  # files only: no window, also on machines without a display


def write_tour_figures(results, folder):
    """The tour's three figures: source collapse and recovery, accuracy vs parameters, rank U-curve."""
    from . import plots

    _use_agg()
    os.makedirs(folder, exist_ok=True)
    return [
        save_figure(plots.plot_source_collapse(results.adaptation), folder, "source_collapse.png"),
        save_figure(plots.plot_accuracy_vs_params(results.adaptation), folder, "accuracy_vs_params.png"),
        save_figure(plots.plot_rank_curve(results.planted), folder, "rank_curve.png"),
    ]


def write_analysis_figures(results, folder):
    """spectrum.png (singular values of seed 0's first-layer updates) and subspace_similarity.png."""
    from . import plots

    _use_agg()
    analysis = results.analysis
    low, high = analysis["ranks"]
    seed = results.settings["seeds"][0]
    title = f"LoRA's A at r={low} vs r={high}, layer {analysis['layer']}, seed {seed}"
    return [
        save_figure(plots.plot_spectrum(analysis["updates"]), folder, "spectrum.png"),
        save_figure(plots.plot_subspace_similarity(analysis["grids"][seed], names=(f"r={low}", f"r={high}"),
                                                   title=title), folder, "subspace_similarity.png"),
    ]


def make_figures(out, readme=None, progress=True):
    """Run the tour's experiments in full, write every figure to the folder `out`, and, when `readme`
    (a path) is given, rewrite its results block. Returns the paths of the figures."""
    results = run_headline(quick=False, progress=progress)
    paths = write_tour_figures(results, out) + write_analysis_figures(results, out)
    for path in paths:
        print(f"wrote {path}")
    if readme is not None:
        replace_block(readme, "results", results_markdown(results))
        print(f"updated the results block of {readme}")
    return paths
