"""The tables and sentences that `python -m lorabook tour` prints and `figures` writes into the README.

Both commands run lorabook.studies.headline and describe its records with
the functions here, so the terminal and the front page say the same thing.
Every comparative word ("beats", "ties", "lowest at") is chosen by the
numbers, seed by seed (lorabook.experiments.seeds): a difference is stated
only where its mean over the seeds exceeds its standard deviation.

Digits: accuracies are printed as mean ± std in whole percent, and
differences in whole points. The standard error of a 5-seed mean is about
half a point, and between machines (other BLAS kernels, whose different
summation order sends float32 training elsewhere) a mean moved by up to
0.6 points when measured, so a decimal would be noise. The planted-rank
task runs in float64 and is shown to two decimals. Counts "k of n seeds"
are shown only where a count does not hinge on near-ties (the planted
task's best ranks and suggestions).

    replace_block(path, name, text)   rewrite the block between <!-- name:start --> and <!-- name:end -->
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

from .experiments.seeds import difference, format_mean_std, mean_std, paired_difference, values
from .io import atomic_write

PERCENT_DIGITS = 0
ERROR_DIGITS = 2


# ----- the README's marked blocks --------------------------------------------------------------
def replace_block(path, name, text):
    """Replace what stands between `<!-- name:start -->` and `<!-- name:end -->` in the file at `path`.

    The rest of the file is kept byte for byte; the write is atomic (a crash
    leaves the old file or the new one). ValueError naming the file and the
    block when the markers are missing.
    """
    with open(path, encoding="utf-8") as file:
        content = file.read()
    pattern = re.compile(rf"(<!-- {re.escape(name)}:start -->\n).*?(<!-- {re.escape(name)}:end -->)", re.S)
    if not pattern.search(content):
        raise ValueError(f"{path!r} has no block <!-- {name}:start --> ... <!-- {name}:end -->")
    content = pattern.sub(lambda m: m.group(1) + text.rstrip("\n") + "\n" + m.group(2), content)
    atomic_write(path, lambda file: file.write(content.encode("utf-8")))


# ----- reading the records -----------------------------------------------------------------------
def _pct(numbers):
    return format_mean_std(numbers, PERCENT_DIGITS, percent=True)


def _labels(results):
    return list(dict.fromkeys(r["label"] for r in results.adaptation))


def _acc(results, label, key="test_accuracy"):
    return values(results.adaptation, key, label=label)


def _lora(results):
    return sorted({r["rank"] for r in results.adaptation if r["method"] == "lora"})


def _params(results, label):
    return next(r["trainable_params"] for r in results.adaptation if r["label"] == label)


def _gap(results, label):
    return np.subtract(_acc(results, label, "train_accuracy"), _acc(results, label)).tolist()


def _seeds_phrase(results):
    return f"{len(results.settings['seeds'])} seeds"


def featured_rank(results):
    """The smallest LoRA rank whose mean target accuracy is within 2 points of full fine-tuning's
    (the largest rank if none is)."""
    full, _ = mean_std(_acc(results, "full fine-tuning"))
    ranks = _lora(results)
    return next((r for r in ranks if mean_std(_acc(results, f"LoRA r={r}"))[0] >= full - 0.02), ranks[-1])


def rank_verdicts(results):
    """{rank: Difference of LoRA at that rank minus full fine-tuning in target test accuracy}."""
    return {rank: paired_difference(results.adaptation, "test_accuracy", {"label": f"LoRA r={rank}"},
                                    {"label": "full fine-tuning"}) for rank in _lora(results)}


def comparisons(results):
    """The paired comparisons the sentences rest on, by name (each a seeds.Difference)."""
    r = featured_rank(results)
    records = results.adaptation
    lora, full = {"label": f"LoRA r={r}"}, {"label": "full fine-tuning"}
    return {
        "featured_vs_full": paired_difference(records, "test_accuracy", lora, full),
        "source_kept_featured_vs_full": paired_difference(records, "source_accuracy", lora, full),
        "gap_featured_vs_full": difference(_gap(results, f"LoRA r={r}"), _gap(results, "full fine-tuning")),
        "head_vs_featured": paired_difference(records, "test_accuracy", {"label": "head only"}, lora),
    }


def _relation(diff, higher, lower, tie):
    return {"higher": higher, "lower": lower, "tie": tie}[diff.verdict]


def planted_best_ranks(results):
    """Per seed, the rank with the lowest test error on the planted-rank task."""
    best = {}
    for record in results.planted:
        seed = record["seed"]
        if seed not in best or record["test_error"] < best[seed]["test_error"]:
            best[seed] = record
    return [best[seed]["rank"] for seed in sorted(best)]


def planted_suggestions(results, key="suggested_rank"):
    """Per seed, Gavish-Donoho's suggestion (whitened, or key="suggested_rank_unwhitened")."""
    first = {}
    for record in results.planted:
        first.setdefault(record["seed"], record[key])
    return [first[seed] for seed in sorted(first)]


def _counted(ranks):
    """[3, 3, 3, 3, 3] -> "r=3 in 5 of 5 seeds"; [6, 7, 6] -> "r=6 in 2, r=7 in 1 of 3 seeds"."""
    counts = sorted(Counter(ranks).items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"r={rank} in {count}" for rank, count in counts) + f" of {len(ranks)} seeds"


def similarity_values(results):
    """phi(1, high) and phi(low, high) per seed, from the analysis grids (seeds without both ranks left out)."""
    grids = [g for g in results.analysis["grids"].values() if g is not None]
    return [float(g[0, -1]) for g in grids], [float(g[-1, -1]) for g in grids]


# ----- tables ------------------------------------------------------------------------------------
def _table(header, rows, markdown):
    if markdown:
        lines = [header, ["---:"] * len(header)] + rows
        return "\n".join("| " + " | ".join(row) + " |" for row in lines)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def adaptation_table(results, markdown=False):
    """One row per method: trainable parameters, then train, target-test and source-test accuracy (mean ± std)."""
    header = ["method", "trainable params", "train accuracy", "target test accuracy", "source test accuracy"]
    rows = [[label, f"{_params(results, label):,}", _pct(_acc(results, label, "train_accuracy")),
             _pct(_acc(results, label)), _pct(_acc(results, label, "source_accuracy"))]
            for label in _labels(results)]
    return _table(header, rows, markdown)


def planted_table(results, markdown=False):
    """One row per rank: train and test error (mean ± std over seeds), and in how many seeds it was lowest."""
    ranks = sorted({r["rank"] for r in results.planted})
    best = planted_best_ranks(results)
    header = ["rank", "train error", "test error", "lowest test error in"]
    rows = []
    for rank in ranks:
        rows.append([str(rank), format_mean_std(values(results.planted, "train_error", rank=rank), ERROR_DIGITS),
                     format_mean_std(values(results.planted, "test_error", rank=rank), ERROR_DIGITS),
                     f"{best.count(rank)} of {len(best)} seeds"])
    return _table(header, rows, markdown)


def rank_cap_note(results):
    """Which LoRA runs had a layer's rank capped at min(out, in), read off the records' layer_ranks;
    None if no run was capped."""
    capped = {}
    for record in results.adaptation:
        for layer, used in (record.get("layer_ranks") or {}).items():
            if used < record["rank"]:
                capped.setdefault((layer, used), []).append(f"r={record['rank']}")
    if not capped:
        return None
    parts = [f"layer \"{layer}\" gets rank {used} at {', '.join(dict.fromkeys(runs))}"
             for (layer, used), runs in capped.items()]
    return ("A layer cannot use a rank above min(out, in), so the experiments cap it there: "
            + "; ".join(parts) + " (the other layers get r; trainable params counts the capped adapters).")


# ----- sentences ---------------------------------------------------------------------------------
def _ranks_phrase(verdicts, verdict):
    ranks = [str(rank) for rank, diff in verdicts.items() if diff.verdict == verdict]
    return f"r={', '.join(ranks)}" if ranks else None


def rank_sentence(results):
    """Which LoRA ranks trail, tie with or beat full fine-tuning on the target, beyond the seed spread."""
    verdicts = rank_verdicts(results)
    parts = []
    for words, verdict in (("trails", "lower"), ("ties", "tie"), ("is ahead", "higher")):
        phrase = _ranks_phrase(verdicts, verdict)
        if phrase:
            parts.append(f"{words} at {phrase}")
    return ("Rank by rank, LoRA minus full fine-tuning: "
            + "; ".join(f"r={rank} {d.describe(PERCENT_DIGITS, percent=True)}" for rank, d in verdicts.items())
            + ". So LoRA " + ", and ".join(parts) + ".")


def headline_sentences(results):
    """The findings in words, every number and every comparative word read off the records."""
    s = results.settings
    c = comparisons(results)
    r = featured_rank(results)
    featured, full = f"LoRA r={r}", "full fine-tuning"
    share = _params(results, featured) / _params(results, full)
    source = "source only"
    points = dict(digits=PERCENT_DIGITS, percent=True)
    suggested, unwhitened = planted_suggestions(results), planted_suggestions(results, "suggested_rank_unwhitened")
    return [
        f"Every number is a mean ± standard deviation over {_seeds_phrase(results)}; a seed draws the split "
        f"of the digits, the source model, the adapter's start and the batch order. A difference between two "
        f"methods is taken seed by seed and stated only where its mean exceeds its standard deviation.",
        f"On upright digits the source model scores {_pct(_acc(results, source, 'source_accuracy'))}; on "
        f"digits rotated by {s['strength']:g} degrees it falls to {_pct(_acc(results, source))}.",
        f"With {s['label_budget']} labelled rotated images, full fine-tuning ({_params(results, full):,} "
        f"trainable parameters) reaches {_pct(_acc(results, full))}, and LoRA on every layer at r={r} "
        f"({_params(results, featured):,} parameters, {share:.1%} of full fine-tuning's) reaches "
        f"{_pct(_acc(results, featured))}: LoRA minus full is {c['featured_vs_full'].describe(**points)}, "
        + _relation(c["featured_vs_full"], "so LoRA is ahead.", "so full fine-tuning is ahead.",
                    "a tie within seed noise.") + " " + rank_sentence(results),
        f"Adapting costs the upright digits: their accuracy falls to "
        f"{_pct(_acc(results, full, 'source_accuracy'))} after full fine-tuning and "
        f"{_pct(_acc(results, featured, 'source_accuracy'))} after LoRA r={r} (LoRA minus full: "
        f"{c['source_kept_featured_vs_full'].describe(**points)}), "
        + _relation(c["source_kept_featured_vs_full"], "so LoRA keeps more of the source domain.",
                    "so LoRA loses more of the source domain.", "a tie within seed noise.")
        + " With LoRA the source model itself is still there: disabling the adapter gives it back exactly.",
        f"Overfitting: both fit their training images (train accuracy {_pct(_acc(results, full, 'train_accuracy'))} "
        f"for full fine-tuning, {_pct(_acc(results, featured, 'train_accuracy'))} for LoRA r={r}); the gap "
        f"between train and test accuracy, LoRA's minus full's, is "
        f"{c['gap_featured_vs_full'].describe(**points)}. "
        + _relation(c["gap_featured_vs_full"],
                    "So here LoRA overfits more than full fine-tuning, against the common claim that LoRA "
                    "avoids overfitting better.",
                    "So here LoRA overfits less, as the common claim that LoRA avoids overfitting better "
                    "has it.",
                    "The gaps tie within seed noise: on this task LoRA does not overfit less than full "
                    "fine-tuning, so the common claim that LoRA avoids overfitting better is not borne out here."),
        f"Planted-rank task (true rank k={s['planted']['k']}, n={s['planted']['n']} examples): LoRA's test "
        f"error is lowest at {_counted(planted_best_ranks(results))}. The Gavish-Donoho threshold on the full "
        f"fine-tune's update, whitened by the inputs (X = QR, so the noise in R dW^T is white, as the rule "
        f"assumes), suggests {_counted(suggested)}; on the raw update, whose noise is not white, it suggests "
        f"{_counted(unwhitened)}.",
    ]


def similarity_sentence(results):
    """The subspace-similarity finding of the README's last figure, over the seeds that have both ranks."""
    low, high = results.analysis["ranks"]
    top, whole = similarity_values(results)
    baseline = results.analysis["baseline"]
    above = sum(value > baseline for value in whole)
    return (f"Between the A matrices of the first layer learned at r={low} and r={high} (same seed), the top "
            f"direction is shared to phi(1, {high}) = {format_mean_std(top, 2)} and all {low} directions to "
            f"phi({low}, {high}) = {format_mean_std(whole, 2)} over {len(whole)} seeds, above the "
            f"{baseline:.2f} of random subspaces of the {results.analysis['d']} input dimensions in "
            f"{above} of {len(whole)} seeds (the LoRA paper's Figure 3 asks the same question of GPT-3).")


def results_markdown(results):
    """The README's results section: findings, the two tables, the figures."""
    s = results.settings
    cap_note = rank_cap_note(results)
    planted = s["planted"]
    how = (f"{s['planted_steps']} full-batch Adam steps at lr {s['planted_lr']:g}"
           if s["planted_method"] == "lora" else "the closed-form optimum")
    lines = [
        "## What the tour finds",
        "",
        f"Written by `python -m lorabook figures` from the tour's runs over {_seeds_phrase(results)} "
        f"(seeds {', '.join(map(str, s['seeds']))}; the tour prints the same tables):",
        "",
        *("- " + sentence for sentence in headline_sentences(results)),
        "",
        "![A source model collapses on rotated digits; head-only, LoRA and full fine-tuning recover]"
        "(figures/source_collapse.png)",
        "",
        f"Adapting to digits rotated by {s['strength']:g} degrees with {s['label_budget']} labelled target "
        "images, each method for the same number of epochs (target test accuracy on held-out rotated images; "
        f"source test accuracy on upright test images, to see what adapting costs there; mean ± std over "
        f"{_seeds_phrase(results)}):",
        "",
        adaptation_table(results, markdown=True),
        "",
        *([cap_note, ""] if cap_note else []),
        "![Target accuracy against trainable parameters](figures/accuracy_vs_params.png)",
        "",
        f"The rank trade-off on the planted-rank task (d={planted['d']}, true rank k={planted['k']}, "
        f"n={planted['n']} examples, noise {planted['noise']}; LoRA trained by {how}; error is the MSE "
        f"against noise-free targets, mean ± std over {_seeds_phrase(results)}): too low a rank underfits, "
        "too high a rank fits the noise.",
        "",
        planted_table(results, markdown=True),
        "",
        "![Train and test error against rank](figures/rank_curve.png)",
        "",
        "What the updates look like (seed 0): a full fine-tune's update of the first layer spreads over many "
        "directions, LoRA's has rank at most r. " + similarity_sentence(results),
        "",
        "![Singular values of the weight updates](figures/spectrum.png)",
        "![Subspace similarity of LoRA's A matrices at two ranks](figures/subspace_similarity.png)",
    ]
    return "\n".join(lines)
