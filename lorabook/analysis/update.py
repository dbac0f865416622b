"""Looking at a weight update: how it relates to W, and what LoRA would keep of it.

- amplification_factor: the LoRA paper's Table 7 quantity (Hu et al. 2021,
  Section 7.3). Does the update amplify directions W already uses strongly,
  or directions W barely uses?
- intruder_dimensions: Shuttleworth et al. 2024 ("LoRA vs full fine-tuning:
  an illusion of equivalence"). Top singular vectors of the fine-tuned W that
  look like none of the pre-trained W0's singular vectors.
- extract_lora: the best rank-r LoRA factors of a full fine-tune's update.

Shapes as in PyTorch and PEFT: W is (out, in), lora_B (out, r), lora_A (r, in).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from lorabook._checks import check_choice, check_float, check_same_shape
from lorabook.analysis._validate import as_matrix, check_not_zero, check_rank, scale_back, scale_out
from lorabook.analysis.lowrank import svd_factors, top_singular_triplets


def amplification_factor(delta_W: ArrayLike, W: ArrayLike, r: int) -> float:
    """||delta_W||_F / ||U_r^T W V_r||_F, U_r and V_r the top-r singular vectors of delta_W.

    delta_W and W: same shape (out, in); r in 1..min(out, in), normally the
    rank of delta_W. The denominator is how much of W lies in the r
    directions the update uses. A large factor means the update boosts
    directions W hardly had (the paper's finding: about 21.5 at r = 4);
    a rank-1 update c u_1 v_1^T along W's own top singular pair gives c / s_1.
    Returns inf if W has nothing in those directions; a zero delta_W is refused.
    """
    delta_W = as_matrix("delta_W", delta_W)
    W = as_matrix("W", W)
    check_same_shape("delta_W", delta_W, "W", W)
    r = check_rank("r", r, delta_W.shape)
    check_not_zero("delta_W", delta_W, "a zero update uses no directions, so it amplifies none")
    U_r, _, Vt_r = top_singular_triplets(delta_W, r, name="delta_W")
    # Norms of the exactly scaled matrices (entries below 1) cannot overflow; the powers of two come back at the end.
    (delta_scaled, delta_exponent), (W_scaled, W_exponent) = scale_out(delta_W), scale_out(W)
    projected = np.linalg.norm(U_r.T @ W_scaled @ Vt_r.T)
    if projected == 0.0:
        return float("inf")
    with np.errstate(over="ignore"):  # a ratio beyond float64's range is inf, as for a zero projection
        return float(np.ldexp(np.linalg.norm(delta_scaled) / projected, delta_exponent - W_exponent))


@dataclass(frozen=True, eq=False)
class IntruderDimensions:
    """What `intruder_dimensions` found.

    indices:            positions of the intruders among W's singular vectors,
                        0 = the one with the largest singular value.
    best_cosines:       for each intruder, its largest |cos| with any singular
                        vector of W0 (all below eps, by definition).
    singular_values:    W's singular values at those positions (how much they matter).
    top_k_best_cosines: the largest |cos| for each of the top k singular vectors
                        of W, intruders or not (length k), for plotting.
    k, eps, side:       the settings used.

    len(result) is the number of intruders; print(result) gives a summary.
    """

    indices: np.ndarray
    best_cosines: np.ndarray
    singular_values: np.ndarray
    top_k_best_cosines: np.ndarray
    k: int
    eps: float
    side: str

    def __len__(self):
        return len(self.indices)

    def __str__(self):
        head = (
            f"{len(self)} intruder dimension(s) among the top {self.k} {self.side} singular "
            f"vectors of W (eps = {self.eps})"
        )
        rows = [
            f"  index {i}: singular value {s:.4g}, best |cos| with W0 = {c:.3f}"
            for i, s, c in zip(self.indices, self.singular_values, self.best_cosines)
        ]
        return "\n".join([head + (":" if rows else "")] + rows)


def intruder_dimensions(W0: ArrayLike, W: ArrayLike, k: int = 10, eps: float = 0.5, side: str = "left",
                        ) -> IntruderDimensions:
    """Singular vectors among the top k of W whose best |cos| to any singular vector of W0 is < eps.

    W0: the pre-trained matrix, W: the fine-tuned one, same shape (out, in).
    k in 1..min(out, in); eps in (0, 1].
    side: "left" compares the left singular vectors (columns of U, in the
    output space R^out), "right" the right ones (in R^in). The
    comparison uses |cos| because a singular vector's sign is arbitrary, and
    W0's min(out, in) singular vectors of the thin SVD (those with a singular
    value), not an arbitrary completion of the basis.

    Returns an IntruderDimensions (see its docstring).
    """
    W0 = as_matrix("W0", W0)
    W = as_matrix("W", W)
    check_same_shape("W0", W0, "W", W)
    k = check_rank("k", k, W.shape)
    eps = check_float("eps", eps, low=0.0, high=1.0, low_open=True)
    check_choice("side", side, ("left", "right"))

    U0, _, Vt0 = np.linalg.svd(scale_out(W0)[0], full_matrices=False)  # scaled: see _validate.scale_out
    W_scaled, exponent = scale_out(W)
    U, s, Vt = np.linalg.svd(W_scaled, full_matrices=False)
    s = scale_back("W", s, exponent, "singular values of W")
    if side == "left":
        old, new = U0, U[:, :k]
    else:
        old, new = Vt0.T, Vt[:k].T
    # Both sets of vectors are unit length, so the dot products are the cosines.
    best = np.max(np.abs(new.T @ old), axis=1)
    indices = np.flatnonzero(best < eps)
    return IntruderDimensions(
        indices=indices,
        best_cosines=best[indices],
        singular_values=s[indices],
        top_k_best_cosines=best,
        k=k,
        eps=eps,
        side=side,
    )


def extract_lora(W_finetuned: ArrayLike, W_base: ArrayLike, r: int) -> tuple[np.ndarray, np.ndarray]:
    """The best rank-r LoRA factors (lora_B, lora_A) of delta W = W_finetuned - W_base.

    Both weights (out, in); r in 1..min(out, in). Returns lora_B (out, r) and
    lora_A (r, in), balanced as in `svd_factors`, with lora_B @ lora_A the
    Eckart-Young best rank-r approximation of delta W: Frobenius error
    sqrt(s_{r+1}^2 + ...), spectral error s_{r+1}.

    They load straight into a LoRA layer whose scaling is 1. A layer computes
    delta W = scaling * B @ A (scaling = lora_alpha / r), so for a layer with
    scaling s load lora_B / s (and lora_A unchanged).
    """
    W_finetuned = as_matrix("W_finetuned", W_finetuned)
    W_base = as_matrix("W_base", W_base)
    check_same_shape("W_finetuned", W_finetuned, "W_base", W_base)
    r = check_rank("r", r, W_base.shape)
    return svd_factors(W_finetuned - W_base, r)
