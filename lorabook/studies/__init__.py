"""Studies: the experiments one notebook or one page alone needs, apart from the reusable library.

    headline           the tour's and the README's experiments over five seeds
    rank_analysis      notebook 04: the SVD, rank rules, and the LoRA paper's analyses at classroom scale
    domain_adaptation  notebook 05: which shift needs which rank (rotations, pixel shifts as matrices,
                       alignment with W), PiSSA's start against the default
    domain_baselines   notebook 05: one adapter per domain, aligning the data instead of the weights
    domain_seeds       notebook 05's runs on one seed each, shared by the notebook and its tests
    regularisation     notebook 07: L + lambda R, the lambda path against the rank path (planted task),
                       the lambda slider
    regularisation_digits  notebook 07 on rotated digits: the lambda path, AdaLoRA's allocation,
                       LoRA+ and DoRA

lorabook.experiments holds what several of them reuse (adapt, sweeps, the
memory ledger, records, seed statistics). Import a study by its module,
e.g. `from lorabook.studies.rank_analysis import fine_tune_study`.
"""
