"""Every figure the notebooks, the tour and the README show.

Each function takes the data (or records) to draw and returns a
matplotlib Figure; none of them chooses a backend, so they work inline in
Jupyter and headless (Agg) in the tour and the tests.
"""
from .rank import plot_image_grid, plot_spectrum, plot_subspace_similarity, plot_truncation_error
from .training import plot_decision_boundary, plot_digits, plot_graph, plot_learning_curves
from .experiments import (
    plot_accuracy_vs_params, plot_adapter_matrix, plot_baselines, plot_label_budget, plot_memory_ledger,
    plot_rank_curve, plot_source_collapse,
)
from .analysis_widgets import (
    plot_classroom_digits, plot_classroom_planted, plot_planted_rank, plot_rank_approximation, plot_rank_budget_grid,
    plot_rank_selection, plot_similarity_row,
)
from .regularisation import (
    plot_allocation, plot_lambda_path, plot_lambda_view, plot_method_errors, plot_rank_paths,
)

__all__ = [
    "plot_spectrum", "plot_subspace_similarity", "plot_truncation_error", "plot_image_grid",
    "plot_learning_curves", "plot_decision_boundary", "plot_digits", "plot_graph",
    "plot_accuracy_vs_params", "plot_source_collapse", "plot_memory_ledger", "plot_rank_curve",
    "plot_label_budget", "plot_adapter_matrix", "plot_baselines", "plot_rank_approximation",
    "plot_similarity_row", "plot_rank_selection", "plot_planted_rank", "plot_classroom_digits",
    "plot_classroom_planted", "plot_rank_budget_grid",
    "plot_lambda_path", "plot_rank_paths", "plot_allocation", "plot_method_errors", "plot_lambda_view",
]
