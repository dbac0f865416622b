"""Every figure the notebooks, the tour and the README show.

Each function takes the data (or records) to draw and returns a
matplotlib Figure; none of them chooses a backend, so they work inline in
Jupyter and headless (Agg) in the tour and the tests.
"""
from .rank import plot_image_grid, plot_spectrum, plot_subspace_similarity, plot_truncation_error
from .training import plot_decision_boundary, plot_digits, plot_graph, plot_learning_curves

__all__ = [
    "plot_spectrum", "plot_subspace_similarity", "plot_truncation_error", "plot_image_grid",
    "plot_learning_curves", "plot_decision_boundary", "plot_digits", "plot_graph",
]
