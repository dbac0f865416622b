"""The reusable experiment drivers: they return tidy records (lists of plain dicts) for tables and plots.

    finetune  train_source_model, adapt (one method), compare_adaptation (every method on one target),
              compare_finetuning (full fine-tuning against LoRA at several ranks)
    memory    memory_ledger: bytes of weights, gradients, Adam moments, activations, predicted and measured
    sweeps    planted_rank_sweep, rank_sweep (error against rank), label_budget_sweep
    seeds     several seeds: mean ± std, paired differences and when one is a finding
    forked    map_forked, run_forked: seeds side by side in forked processes (over_seeds(..., processes=2))
    records   format_table, select, to_columns, pivot

What one notebook alone needs lives in lorabook.studies.
"""
from .finetune import (
    DEFAULT_LR, DEFAULT_RANKS, METHODS, RECORD_KEYS, TABLE_COLUMNS, adapt, check_ranks, compare_adaptation,
    compare_finetuning, epochs_for_steps, layer_ranks, prepare_model, rank_caps, train_source_model,
)
from .forked import map_forked, run_forked
from .memory import COMPONENTS, PEAK, measure_training_step, memory_ledger, predicted_ledger
from .records import format_table, pivot, select, to_columns
from .seeds import (
    Difference, difference, format_mean_std, mean_std, over_seeds, paired_difference, summarise, values,
)
from .sweeps import (
    PLANTED_RANKS, check_budgets, label_budget_sweep, planted_rank_sweep, rank_sweep, rank_sweep_summary,
)

__all__ = [
    "train_source_model", "adapt", "prepare_model", "rank_caps", "layer_ranks", "compare_adaptation",
    "compare_finetuning", "epochs_for_steps",
    "METHODS", "DEFAULT_LR", "DEFAULT_RANKS", "RECORD_KEYS", "TABLE_COLUMNS", "check_ranks",
    "memory_ledger", "predicted_ledger", "measure_training_step", "COMPONENTS", "PEAK",
    "planted_rank_sweep", "rank_sweep", "label_budget_sweep", "rank_sweep_summary", "check_budgets",
    "PLANTED_RANKS", "format_table", "select", "to_columns", "pivot",
    "values", "mean_std", "format_mean_std", "difference", "paired_difference", "Difference", "over_seeds", "summarise",
    "map_forked", "run_forked",
]
