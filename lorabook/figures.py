"""`python -m lorabook figures`: regenerate every PNG in figures/ and the README's results.

The README shows figures and a results block between the markers
`<!-- results:start -->` and `<!-- results:end -->`; both are written here
from one run of the tour's experiments (fixed seeds), so no number on the
front page is typed by hand. `replace_block` is also used by the
benchmarks to write their ratios into their own block.
"""
from __future__ import annotations

import os
import re
import warnings

import matplotlib

from .io import _atomic_write

FIGURE_DPI = 110


def _save(fig, folder, name):
    import matplotlib.pyplot as plt

    path = os.path.join(folder, name)
    _atomic_write(path, lambda file: fig.savefig(file, format="png", dpi=FIGURE_DPI))
    plt.close(fig)
    return path


def write_tour_figures(results, folder):
    """The tour's three figures: source collapse and recovery, accuracy vs parameters, rank U-curve."""
    from . import plots

    matplotlib.use("Agg")  # files only: no window, also on machines without a display
    os.makedirs(folder, exist_ok=True)
    return [
        _save(plots.plot_source_collapse(results.adaptation), folder, "source_collapse.png"),
        _save(plots.plot_accuracy_vs_params(results.adaptation), folder, "accuracy_vs_params.png"),
        _save(plots.plot_rank_curve(results.planted), folder, "rank_curve.png"),
    ]


def analysis_results(results, ranks=(4, 16), layer="0"):
    """A full fine-tune and LoRA at two ranks on the tour's shift: the first layer's
    updates, and the subspace similarity grid of the two A matrices (the LoRA paper's Figure 3)."""
    from .analysis import random_subspace_baseline, subspace_similarity_grid
    from .experiments.rank_analysis import fine_tune_study

    split, seed = results.split, results.settings["seed"]
    study = fine_tune_study(results.source_model, split.target_train, split.target_test, ranks=ranks, seeds=(seed,))
    updates = {"full fine-tuning": study.full.updates[layer]}
    for rank in ranks:
        updates[f"LoRA r={rank}"] = study.lora_run(rank, seed).updates[layer]
    low, high = (study.lora_run(r, seed).lora_A[layer] for r in ranks)
    d = low.shape[1]
    return dict(updates=updates, grid=subspace_similarity_grid(low, high), ranks=ranks, layer=layer, d=d,
                baseline=random_subspace_baseline(ranks[0], ranks[1], d))


def write_analysis_figures(analysis, folder):
    """spectrum.png (singular values of the updates) and subspace_similarity.png."""
    from . import plots

    matplotlib.use("Agg")
    low, high = analysis["ranks"]
    title = f"layer {analysis['layer']}: similarity of LoRA's A at r={low} and r={high}"
    return [
        _save(plots.plot_spectrum(analysis["updates"]), folder, "spectrum.png"),
        _save(plots.plot_subspace_similarity(analysis["grid"], names=(f"r={low}", f"r={high}"), title=title),
              folder, "subspace_similarity.png"),
    ]


def replace_block(path, name, text):
    """Replace what stands between `<!-- name:start -->` and `<!-- name:end -->` in a file."""
    with open(path, encoding="utf-8") as file:
        content = file.read()
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(content):
        raise ValueError(f"{path!r} has no block <!-- {name}:start --> ... <!-- {name}:end -->")
    content = pattern.sub(lambda m: m.group(1) + text.rstrip("\n") + "\n" + m.group(2), content)
    _atomic_write(path, lambda file: file.write(content.encode("utf-8")))


def results_markdown(results, analysis):
    """The README's results section: findings, the two tables, the figures."""
    from .tour import PLANTED, adaptation_table, headline_sentences, planted_table, rank_cap_note

    s = results.settings
    low, high = analysis["ranks"]
    grid = analysis["grid"]
    cap_note = rank_cap_note(results)
    lines = [
        "## What the tour finds",
        "",
        "Written by `python -m lorabook figures` from one run with seed "
        f"{s['seed']} (the tour prints the same tables):",
        "",
        *("- " + sentence for sentence in headline_sentences(results)),
        "",
        "![A source model collapses on rotated digits; head-only, LoRA and full fine-tuning recover]"
        "(figures/source_collapse.png)",
        "",
        f"Adapting to digits rotated by {s['strength']:g} degrees with {s['label_budget']} labelled target "
        "images (accuracies on held-out target images; `source_accuracy` on upright test images, "
        "to see what adapting costs there; the tour also prints training times, left out here because "
        "they depend on the machine and its load):",
        "",
        adaptation_table(results, markdown=True, with_time=False),
        "",
        *([cap_note, ""] if cap_note else []),
        "![Target accuracy against trainable parameters](figures/accuracy_vs_params.png)",
        "",
        f"The rank trade-off on the planted-rank task (d={PLANTED['d']}, true rank k={PLANTED['k']}, "
        f"n={PLANTED['n']} examples, noise {PLANTED['noise']}; error is the MSE against noise-free "
        "targets): too low a rank underfits, too high a rank fits the noise.",
        "",
        planted_table(results, markdown=True),
        "",
        "![Train and test error against rank](figures/rank_curve.png)",
        "",
        "What the updates look like: a full fine-tune's update of the first layer spreads over many "
        "directions, LoRA's has rank at most r. Between the A matrices learned at "
        f"r={low} and r={high}, the top direction is shared to phi(1, {high}) = {grid[0, -1]:.2f}, and all "
        f"{low} directions to phi({low}, {high}) = {grid[-1, -1]:.2f}, against {analysis['baseline']:.2f} "
        f"for random subspaces of the {analysis['d']} input dimensions (the LoRA paper's Figure 3 asks "
        "the same question of GPT-3).",
        "",
        "![Singular values of the weight updates](figures/spectrum.png)",
        "![Subspace similarity of LoRA's A matrices at two ranks](figures/subspace_similarity.png)",
    ]
    return "\n".join(lines)


def make_figures(out="figures", readme="README.md", progress=True):
    """Run the tour's experiments in full, write every figure to `out`, refresh the README block."""
    from .tour import run_experiments

    results = run_experiments(quick=False, progress=progress)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        analysis = analysis_results(results)
    paths = write_tour_figures(results, out) + write_analysis_figures(analysis, out)
    for path in paths:
        print(f"wrote {path}")
    if readme and os.path.exists(readme):
        replace_block(readme, "results", results_markdown(results, analysis))
        print(f"updated the results block of {readme}")
    return paths
