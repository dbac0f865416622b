"""Rank analysis of weight matrices and updates, in NumPy and SciPy.

Everything here works on plain arrays (anything `np.asarray` accepts),
outside any autograd graph, and computes in float64. Shapes follow PyTorch
and PEFT: a weight W is (out, in), lora_A (r, in), lora_B (out, r),
delta W = lora_B @ lora_A.

- spectra:       singular_values, energy_curve, energy_rank, effective_rank, stable_rank
- lowrank:       low_rank_approx, svd_factors (Eckart-Young)
- gavish_donoho: suggest_rank (optimal hard threshold for noisy data)
- subspace:      subspace_similarity(_grid), random_subspace_baseline, principal_angles
- update:        amplification_factor, intruder_dimensions, extract_lora
- nmf:           nmf (Lee-Seung multiplicative updates)
- regression:    reduced_rank_regression (best rank-r least-squares update)
- adapters:      read_lora_factors (any PEFT adapter folder -> per-layer A, B, scaling)
- nuclear:       nuclear_norm, singular_value_threshold, balanced_factors, variational_bound,
                 proximal_nuclear_step (the nuclear-norm penalty and its proximal map)
"""
from lorabook.analysis.adapters import LoraFactors, read_lora_factors
from lorabook.analysis.gavish_donoho import suggest_rank
from lorabook.analysis.lowrank import low_rank_approx, svd_factors
from lorabook.analysis.nmf import nmf
from lorabook.analysis.nuclear import (
    balanced_factors,
    nuclear_norm,
    proximal_nuclear_step,
    singular_value_threshold,
    variational_bound,
)
from lorabook.analysis.regression import reduced_rank_regression
from lorabook.analysis.spectra import effective_rank, energy_curve, energy_rank, singular_values, stable_rank
from lorabook.analysis.subspace import (
    principal_angles,
    random_subspace_baseline,
    subspace_similarity,
    subspace_similarity_grid,
)
from lorabook.analysis.update import IntruderDimensions, amplification_factor, extract_lora, intruder_dimensions

__all__ = [
    "singular_values",
    "energy_curve",
    "energy_rank",
    "effective_rank",
    "stable_rank",
    "low_rank_approx",
    "svd_factors",
    "suggest_rank",
    "subspace_similarity",
    "subspace_similarity_grid",
    "random_subspace_baseline",
    "principal_angles",
    "amplification_factor",
    "intruder_dimensions",
    "IntruderDimensions",
    "extract_lora",
    "nmf",
    "reduced_rank_regression",
    "LoraFactors",
    "read_lora_factors",
    "nuclear_norm",
    "singular_value_threshold",
    "balanced_factors",
    "variational_bound",
    "proximal_nuclear_step",
]
