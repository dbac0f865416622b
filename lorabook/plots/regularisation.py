"""Figures of notebook 07: the lambda path, the two paths to a rank, AdaLoRA's allocation, the lambda slider.

- plot_lambda_path(records): test error and effective rank against lambda, one line per seed
- plot_rank_paths(lambda_records, rank_records): test error against effective rank, the soft
  path (lambda) and the hard path (r) on one axis, mean over seeds with min-max bars
- plot_allocation(adalora_records, uniform_r): the rank AdaLoRA kept in each layer, per seed,
  against a uniform r
- plot_method_errors(records): test error of each method, one dot per seed
- plot_lambda_view(view): the classroom's lambda slider: the learned update's singular
  values against the planted ones (numbers from studies.regularisation.lambda_view)

Records are the plain dicts of lorabook.studies.regularisation(_digits).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def _by_seed(records, key, value):
    seeds = sorted({r["seed"] for r in records})
    for seed in seeds:
        rows = sorted((r for r in records if r["seed"] == seed), key=lambda r: r[key])
        yield seed, [r[key] for r in rows], [r[value] for r in rows]


def _mean_min_max(records, key, values):
    settings = sorted({r[key] for r in records})
    table = {v: [] for v in values}
    for setting in settings:
        rows = [r for r in records if r[key] == setting]
        for v in values:
            column = np.array([r[v] for r in rows], dtype=float)
            table[v].append((column.mean(), column.min(), column.max()))
    return settings, {v: np.array(rows) for v, rows in table.items()}


def plot_lambda_path(records, title="the lambda path"):
    """Left: test error against lambda; right: effective rank of the update against lambda (log x; 0 at the left)."""
    fig, (ax_error, ax_rank) = plt.subplots(1, 2, figsize=(9, 3.4))
    positive = [r["lam"] for r in records if r["lam"] > 0]
    zero_at = min(positive) / 3 if positive else 1.0  # lambda = 0 drawn a little left of the smallest lambda
    for seed, lams, errors in _by_seed(records, "lam", "test_error"):
        x = [lam if lam > 0 else zero_at for lam in lams]
        ax_error.plot(x, errors, "o-", ms=3, label=f"seed {seed}")
    for seed, lams, ranks in _by_seed(records, "lam", "effective_rank"):
        x = [lam if lam > 0 else zero_at for lam in lams]
        ax_rank.plot(x, ranks, "o-", ms=3)
    for ax, label in ((ax_error, "test error"), (ax_rank, "effective rank of the update")):
        ax.set_xscale("log")
        ax.set_xlabel("lambda (leftmost point: lambda = 0)" if any(r["lam"] == 0 for r in records) else "lambda")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax_error.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_rank_paths(lambda_records, rank_records, title="two ways to a rank"):
    """Test error against the update's effective rank: the lambda path and the rank path, mean with min-max bars."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for records, key, label, marker in ((lambda_records, "lam", "soft: lambda ||dW||_*", "o-"),
                                        (rank_records, "r", "hard: rank <= r", "s-")):
        settings, table = _mean_min_max(records, key, ("effective_rank", "test_error"))
        x, y = table["effective_rank"], table["test_error"]
        ax.errorbar(x[:, 0], y[:, 0], yerr=[y[:, 0] - y[:, 1], y[:, 2] - y[:, 0]], fmt=marker, ms=4, capsize=2,
                    label=label)
        best = int(np.argmin(y[:, 0]))
        name = "lambda" if key == "lam" else "r"
        ax.annotate(f"best {name} = {settings[best]:g}", (x[best, 0], y[best, 0]), textcoords="offset points",
                    xytext=(6, 8), fontsize=8)
    ax.set_xlabel("effective rank of the update (mean over seeds)")
    ax.set_ylabel("test error")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_allocation(adalora_records, uniform_r, title="where AdaLoRA puts the rank"):
    """Bars: triplets AdaLoRA kept per layer (one bar per seed), the uniform r as a dashed line."""
    layers = list(adalora_records[0]["layer_ranks"])
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    width = 0.8 / len(adalora_records)
    for i, record in enumerate(adalora_records):
        ranks = [record["layer_ranks"][name] for name in layers]
        ax.bar(np.arange(len(layers)) + (i - (len(adalora_records) - 1) / 2) * width, ranks, width,
               label=f"AdaLoRA, seed {record['seed']}")
    ax.axhline(uniform_r, color="k", ls="--", lw=1, label=f"uniform LoRA, r = {uniform_r}")
    ax.set_xticks(np.arange(len(layers)), [f"layer {name}" for name in layers])
    ax.set_ylabel("rank kept")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_method_errors(records, title="test error by method"):
    """One column per method (in first-seen order), one dot per seed, the mean as a bar."""
    methods = list(dict.fromkeys(r["method"] for r in records))
    fig, ax = plt.subplots(figsize=(1.4 * len(methods) + 2, 3.4))
    for i, method in enumerate(methods):
        errors = [r["test_error"] for r in records if r["method"] == method]
        ax.bar(i, np.mean(errors), 0.6, alpha=0.3)
        ax.plot(np.full(len(errors), i), errors, "o", color="k", ms=4)
    ax.set_xticks(range(len(methods)), methods, rotation=15)
    ax.set_ylabel("test error")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def plot_lambda_view(view):
    """The lambda slider's figure: singular values of the learned update against the planted update's."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    learned, true = np.array(view["singular_values"]), np.array(view["true_singular_values"])
    index = np.arange(1, len(learned) + 1)
    ax.plot(index, true, "s", color="0.5", ms=4, label="planted update dW (rank 3)")
    ax.plot(index, learned, "o-", ms=4, label=f"learned update, rank {view['rank']}")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("index i")
    ax.set_ylabel("singular value s_i")
    ax.set_title(f"lambda = {view['lam']:.3g}: test error {view['test_error']:.3f} "
                 f"(D = 0: {view['zero_error']:.2f})", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
