"""`python -m lorabook tour`: the headline experiments over several seeds, as tables, findings and figures.

1. A 64-128-128-10 MLP learns upright 8x8 digits (the source domain).
2. The same digits rotated by 45 degrees (the target domain) make it collapse.
3. It is adapted with 400 labelled target images: head only, LoRA at
   several ranks on every Linear layer, and full fine-tuning.
4. The planted-rank task: a teacher whose update has rank exactly 3, learned
   by LoRA at each rank from 40 noisy examples, and the rank the
   Gavish-Donoho rule reads off the full fine-tune's update.
5. Chapter 07 in two lines: the best lambda of L + lambda ||dW||_* against
   the best rank on the planted task, and the ranks AdaLoRA gives each layer
   of the rotated-digits model (lorabook.studies.regularisation_digits).

All of it runs for 5 seeds (3 with --quick) and is reported as mean ±
standard deviation (lorabook.studies.headline runs it, lorabook.results_text
words it). Every number comes from running the code with fixed seeds.
"""
from __future__ import annotations

import time

from .figures import write_tour_figures
from .results_text import adaptation_table, headline_sentences, planted_table, rank_cap_note
from .studies.headline import run_headline
from .studies.regularisation_digits import SEEDS as CHAPTER07_SEEDS
from .studies.regularisation_digits import chapter07_sentences, chapter07_summary


def run_tour(quick=False, progress=True, figures_dir=None):
    """Run the headline experiments, print the tables and findings; returns the HeadlineResults.

    figures_dir: the folder to write the tour's three figures to, or None for
    none (the tour never writes into the current folder by itself).
    quick: 3 seeds, fewer ranks and epochs, the planted task's closed form.
    """
    start = time.perf_counter()
    print("lorabook tour: full fine-tuning vs LoRA on a shifted domain, and the rank trade-off")
    if quick:
        print("(quick run: 3 seeds, fewer ranks and epochs; the findings need the full run's 5 seeds)")
    results = run_headline(quick=quick, progress=progress)
    s = results.settings
    print(f"\nAdapting to digits rotated by {s['strength']:g} degrees with {s['label_budget']} target labels, "
          f"mean ± std over {len(s['seeds'])} seeds (target = held-out rotated images, source = upright "
          f"test images):\n")
    print(adaptation_table(results))
    note = rank_cap_note(results)
    if note:
        print("\n" + note)
    planted = s["planted"]
    print(f"\nPlanted-rank task: d={planted['d']}, true rank k={planted['k']}, n={planted['n']}, "
          f"noise {planted['noise']}; error = MSE against the noise-free targets:\n")
    print(planted_table(results))
    print()
    for sentence in headline_sentences(results):
        print("- " + sentence)
    seeds = CHAPTER07_SEEDS[:3] if quick else CHAPTER07_SEEDS
    print(f"\nChapter 07 over {len(seeds)} seeds (notebook 07 has the whole story; the quick run leaves AdaLoRA out):")
    summary = chapter07_summary(seeds, adalora_seeds=()) if quick else chapter07_summary(seeds)
    for sentence in chapter07_sentences(summary):
        print("- " + sentence)
    if figures_dir is not None:
        paths = write_tour_figures(results, figures_dir)
        print(f"\nFigures written: {', '.join(paths)}")
    else:
        print("\nNo figures written (give --figures-dir to write them).")
    print(f"\nTour finished in {time.perf_counter() - start:.0f} s.")
    return results
