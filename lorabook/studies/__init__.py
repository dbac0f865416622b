"""Studies: the experiments one notebook or one page alone needs, apart from the reusable library.

    headline          the tour's and the README's experiments over several seeds
    rank_analysis     notebook 04: the LoRA paper's analyses at classroom scale
    domain_adaptation notebook 05: which shift needs which rank, PiSSA's start, adapters per domain,
                      aligning the data instead of the weights
    regularisation    notebook 07: L + lambda R, the lambda path against the rank path, AdaLoRA's
                      allocation, LoRA+ and DoRA on rotated digits, the lambda slider

lorabook.experiments holds what several of them reuse (adapt, sweeps, the
memory ledger, records, seed statistics). Import a study by its module,
e.g. `from lorabook.studies.rank_analysis import fine_tune_study`.
"""
