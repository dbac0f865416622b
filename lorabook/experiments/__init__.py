"""Experiments that return tidy records (lists of plain dicts) for tables and lorabook.plots.

    finetune       train_source_model, adapt (one method), compare_adaptation (issue 5),
                   compare_finetuning (issue 3: full fine-tuning against LoRA at several ranks)
    memory         memory_ledger: bytes of weights, gradients, Adam moments, activations,
                   predicted against measured
    sweeps         planted_rank_sweep, rank_sweep (error against rank), label_budget_sweep
    domains        adapters_per_domain (one adapter per domain), data_space_baseline (SA, CORAL vs LoRA)
    rank_analysis  notebook 04's experiments (digit mosaic, rank rules, NMF against SVD)
    records        format_table, select, to_columns
"""
from .domains import adapters_per_domain, data_space_baseline, fit_linear_classifier, linear_predict
from .finetune import (
    DEFAULT_LR, DEFAULT_RANKS, METHODS, RECORD_KEYS, TABLE_COLUMNS, adapt, check_ranks, compare_adaptation,
    compare_finetuning, epochs_for_steps, layer_ranks, prepare_model, rank_caps, train_source_model,
)
from .memory import COMPONENTS, PEAK, measure_training_step, memory_ledger, predicted_ledger
from .rank_analysis import digit_mosaic, nmf_vs_svd, planted_rank_matrix, rank_rule_records, rank_rules
from .records import format_table, select, to_columns
from .sweeps import (
    PLANTED_RANKS, check_budgets, label_budget_sweep, planted_rank_sweep, rank_sweep, rank_sweep_summary,
)

__all__ = [
    "train_source_model", "adapt", "prepare_model", "rank_caps", "layer_ranks", "compare_adaptation",
    "compare_finetuning", "epochs_for_steps",
    "METHODS", "DEFAULT_LR", "DEFAULT_RANKS", "RECORD_KEYS", "TABLE_COLUMNS", "check_ranks",
    "memory_ledger", "predicted_ledger", "measure_training_step", "COMPONENTS", "PEAK",
    "planted_rank_sweep", "rank_sweep", "label_budget_sweep", "rank_sweep_summary", "check_budgets",
    "PLANTED_RANKS", "adapters_per_domain", "data_space_baseline", "fit_linear_classifier", "linear_predict",
    "digit_mosaic", "planted_rank_matrix", "rank_rules", "rank_rule_records", "nmf_vs_svd",
    "format_table", "select", "to_columns",
]
