"""Notebook 04's studies (rank analysis), as functions that return records.

The LoRA paper (Hu et al. 2021, Section 7) looks at the updates a fine-tune
learns; this module repeats its analyses on models that train in seconds.

- digit_mosaic:         tile digit images into one picture to take apart with the SVD
- planted_rank_matrix:  a rank-k signal plus noise, and rank_rule_records: which rank
                        each rule (Gavish-Donoho, energy, effective, stable) reads off it
- nmf_vs_svd:           parts (NMF) against eigen-digits (SVD) on the digit images
- fine_tune_study:      one full fine-tune and LoRA runs at several ranks and seeds on
                        the same shift, keeping every layer's update and A matrix
                        (seed_studies: the same on further source seeds);
                        then update_rank_records, truncation_records (extract_lora
                        against LoRA trained at rank r), amplification_records and
                        intruder_records read the paper's analyses off it

Records are lists of plain dicts, one row each, so they print with
lorabook.experiments.format_table and plot without further bookkeeping.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from lorabook._checks import check_float, check_int, check_matrix
from lorabook.analysis import (
    amplification_factor,
    effective_rank,
    energy_rank,
    extract_lora,
    intruder_dimensions,
    nmf,
    singular_values,
    stable_rank,
    suggest_rank,
)
from lorabook.analysis._validate import check_rank
from lorabook.experiments import adapt, prepare_model, rank_caps
from lorabook.lora import LoraConfig, get_peft_model
from lorabook.nn import Linear
from lorabook.random import get_generator
from lorabook.train import evaluate

from .headline import source_domain


# ----- pictures ----------------------------------------------------------------------------
def digit_mosaic(images, rows, cols, image_shape=(8, 8)):
    """The first rows * cols images laid out on a grid, as one (rows * h, cols * w) matrix.

    images: (count, h * w) flattened images (as load_digits returns them) or
    (count, h, w). A single 8x8 digit has rank at most 8; a 4 x 4 mosaic of
    them is a 32 x 32 picture with rank up to 32, more room for a rank slider.
    """
    rows, cols = check_int("rows", rows, low=1), check_int("cols", cols, low=1)
    h, w = (check_int("image_shape entry", size, low=1) for size in image_shape)
    images = np.asarray(images, dtype=np.float64)
    if images.shape[1:] not in ((h * w,), (h, w)):
        raise ValueError(f"images must have shape (count, {h * w}) or (count, {h}, {w}), got {images.shape}")
    images = images.reshape(-1, h, w)
    if len(images) < rows * cols:
        raise ValueError(f"a {rows} x {cols} mosaic needs {rows * cols} images, got {len(images)}")
    grid = images[: rows * cols].reshape(rows, cols, h, w)
    # (rows, cols, h, w) -> (rows, h, cols, w): pixel row y of image (i, j) lands on picture row i*h + y.
    return grid.transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


# ----- which rank does each rule read off a noisy matrix? ------------------------------------
def planted_rank_matrix(m, n, rank, noise, seed=0, strengths=(6.0, 3.0)):
    """M = X + noise * Z, shape (m, n), with X of rank exactly `rank`; returns (M, X).

    X = U diag(s) V^T with U (m, rank), V (n, rank) random orthonormal and
    singular values s evenly spaced from strengths[0] * sqrt(max(m, n)) down
    to strengths[1] * sqrt(max(m, n)). Z has i.i.d. N(0, 1) entries, whose
    singular values fill roughly [sqrt(n) - sqrt(m), sqrt(n) + sqrt(m)]
    (for m <= n): with the default strengths and noise up to 1 every planted
    direction stands above the noise, so the right answer is `rank`.
    Everything is float64.
    """
    m, n = check_int("m", m, low=1), check_int("n", n, low=1)
    rank = check_int("rank", rank, low=1, high=min(m, n))
    noise = check_float("noise", noise, low=0.0)
    largest = check_float("strengths[0]", strengths[0], low=0.0, low_open=True)
    smallest = check_float("strengths[1]", strengths[1], low=0.0, low_open=True, high=largest)
    rng = get_generator(seed, "seed")
    U = np.linalg.qr(rng.standard_normal((m, rank)))[0]
    V = np.linalg.qr(rng.standard_normal((n, rank)))[0]
    s = np.linspace(largest, smallest, rank) * np.sqrt(max(m, n))
    signal = (U * s) @ V.T
    return signal + noise * rng.standard_normal((m, n)), signal


def rank_rules(M, sigma=None, tau=0.9):
    """The rank that each rule reads off M (m, n), as a dict.

    gavish_donoho_known_sigma: suggest_rank(M, sigma) (only when sigma is given);
    gavish_donoho:  suggest_rank(M), noise level estimated from the median singular value;
    energy_rank:    smallest k holding a fraction tau of ||M||_F^2;
    effective_rank: exp of the entropy of s / sum(s) (a real number);
    stable_rank:    ||M||_F^2 / ||M||_2^2 (a real number).
    """
    M = check_matrix("M", M, dtype=np.float64)
    known = {} if sigma is None else {"gavish_donoho_known_sigma": suggest_rank(M, sigma=sigma)}
    return {**known, "gavish_donoho": suggest_rank(M), "energy_rank": energy_rank(M, tau=tau),
            "effective_rank": effective_rank(M), "stable_rank": stable_rank(M)}


def rank_rule_records(m=100, n=100, rank=5, noises=(0.25, 0.5, 1.0), seeds=range(10), tau=0.9):
    """One record per (noise, seed): the planted rank and what each rule of `rank_rules` says.

    Keys: noise, seed, planted_rank, then the keys of rank_rules (with the
    true sigma passed in). The matrices come from planted_rank_matrix.
    """
    records = []
    for noise in noises:
        for seed in seeds:
            M, _ = planted_rank_matrix(m, n, rank, noise, seed=seed)
            rules = rank_rules(M, sigma=noise if noise > 0 else None, tau=tau)
            records.append({"noise": float(noise), "seed": int(seed), "planted_rank": rank, **rules})
    return records


def rank_rule_summary(records):
    """Per noise level in rank_rule_records' output: how often Gavish-Donoho hits the planted rank,
    and the mean of every other rule. Keys: noise, matrices, planted_rank, gavish_donoho_exact
    (fraction of matrices where suggest_rank(M) == planted rank), then mean_<rule> for each rule.
    """
    summary = []
    for noise in sorted({record["noise"] for record in records}):
        rows = [record for record in records if record["noise"] == noise]
        row = {"noise": noise, "matrices": len(rows), "planted_rank": rows[0]["planted_rank"],
               "gavish_donoho_exact": float(np.mean([r["gavish_donoho"] == r["planted_rank"] for r in rows]))}
        for rule in ("gavish_donoho", "energy_rank", "effective_rank", "stable_rank"):
            row[f"mean_{rule}"] = float(np.mean([r[rule] for r in rows]))
        summary.append(row)
    return summary


# ----- NMF against the SVD on the digits ------------------------------------------------------
@dataclass
class PartsAndEigenDigits:
    """NMF and truncated SVD of the same non-negative data V (m, n), both with k components.

    nmf_components (k, n):  rows of H, non-negative (V ~ W H)
    svd_components (k, n):  top-k right singular vectors (rows of V_k^T), signed
    nmf_error, svd_error:   ||V - W H||_F / ||V||_F and ||V - V_k||_F / ||V||_F;
                            svd_error <= nmf_error always (Eckart-Young)
    nmf_zero_fraction, svd_zero_fraction: share of component entries below
                            1% of that component's largest |entry| (how sparse, part-like)
    """

    nmf_components: np.ndarray
    svd_components: np.ndarray
    nmf_error: float
    svd_error: float
    nmf_zero_fraction: float
    svd_zero_fraction: float


def _near_zero_fraction(components):
    largest = np.abs(components).max(axis=1, keepdims=True)
    return float(np.mean(np.abs(components) < 0.01 * largest))


def nmf_vs_svd(V, k, iters=300, seed=0):
    """Factor V (m, n) >= 0 with NMF (k parts) and with the truncated SVD (k eigen-components).

    The SVD is of V itself, not centred, so both approximate the same
    matrix and their errors compare. Returns a PartsAndEigenDigits.
    """
    V = check_matrix("V", V, dtype=np.float64)
    k = check_rank("k", k, V.shape)
    W, H = nmf(V, k, iters=iters, seed=seed)
    _, s, Vt = np.linalg.svd(V, full_matrices=False)
    norm = float(np.linalg.norm(V))
    return PartsAndEigenDigits(H, Vt[:k], float(np.linalg.norm(V - W @ H)) / norm,
                               float(np.sqrt(np.sum(s[k:] ** 2))) / norm,
                               _near_zero_fraction(H), _near_zero_fraction(Vt[:k]))


# ----- full fine-tuning and LoRA on one shift, every update kept ------------------------------
@dataclass
class FineTuneRun:
    """One run of `adapt` (lorabook.experiments) on a copy of the base model.

    method: "full" or "lora"; rank: LoRA's r (None for full); seed: of the
    adapter's start and the batch order. updates: Linear layer name -> delta W
    (out, in) in float64, the trained weight minus the base weight (for LoRA,
    scaling * B @ A). lora_A and lora_A_start: layer name -> A (r, in) after
    and before training (empty for full). test_accuracy: on the target test
    data. record: adapt's record. model: the trained model (a PeftModel for LoRA).
    """

    method: str
    rank: int | None
    seed: int
    test_accuracy: float
    updates: dict
    lora_A: dict = field(default_factory=dict)
    lora_A_start: dict = field(default_factory=dict)
    record: dict = field(default_factory=dict, repr=False)
    model: object = field(default=None, repr=False)


@dataclass
class FineTuneStudy:
    """What fine_tune_study ran: the base model and its weights, one full fine-tune, the LoRA runs."""

    base_model: object = field(repr=False)
    base_weights: dict = field(repr=False)
    full: FineTuneRun
    lora: list
    test_data: tuple = field(repr=False)

    def lora_run(self, rank, seed=0):
        """The LoRA run at this rank and seed (ValueError naming the runs there are if absent)."""
        for run in self.lora:
            if run.rank == rank and run.seed == seed:
                return run
        there = ", ".join(f"(rank={run.rank}, seed={run.seed})" for run in self.lora)
        raise ValueError(f"no LoRA run with rank={rank} and seed={seed}; the study has {there}")

    def first_seed_runs(self):
        """The full fine-tune, then the LoRA runs of the first seed (one per rank, in order)."""
        return [self.full] + [run for run in self.lora if run.seed == self.full.seed]


def linear_weights(model):
    """Name -> float64 copy of the weight (out, in), for every plain Linear layer of `model`."""
    return {name: module.weight.data.astype(np.float64) for name, module in model.named_modules()
            if isinstance(module, Linear)}


def lora_config_for(model, rank, lora_alpha=None):
    """LoraConfig(r=rank) on every Linear layer of `model`, r capped at min(out, in) per layer.

    A layer with 10 outputs cannot hold an update of rank above 10, so asking
    for more only wastes parameters; rank_pattern caps it (experiments.rank_caps,
    as adapt does). lora_alpha defaults to 2 r, as in `adapt`.
    """
    alpha = 2 * rank if lora_alpha is None else lora_alpha
    caps, alphas = rank_caps(model, rank, alpha)
    return LoraConfig(r=rank, lora_alpha=alpha, target_modules="all-linear", rank_pattern=caps, alpha_pattern=alphas)


def _lora_layers(peft_model):
    return dict(peft_model.base_model.lora_layers())


def _lora_A(peft_model):
    return {name: layer.lora_A["default"].weight.data.astype(np.float64)
            for name, layer in _lora_layers(peft_model).items()}


def _lora_update(layer):
    """scaling * B @ A in float64: a float32 product carries rounding noise in every direction,
    which would make a rank-r update look full rank to an SVD."""
    A = layer.lora_A["default"].weight.data.astype(np.float64)
    B = layer.lora_B["default"].weight.data.astype(np.float64)
    return layer.scaling["default"] * (B @ A)


def numerical_rank(update, dtype=np.float32):
    """Singular values of `update` above s_1 * max(m, n) * eps(dtype): its rank at the weights' precision.

    Weights are stored in float32, so differences smaller than float32 can
    resolve are rounding, not learning; NumPy's default (float64 eps) would
    count them.
    """
    s = singular_values(update)
    return int(np.count_nonzero(s > s[0] * max(np.shape(update)) * np.finfo(dtype).eps))


def lora_start(base_model, rank, seed):
    """Layer name -> A (r, in) as `adapt(method="lora", rank=rank, seed=seed)` starts it.

    Built on a fresh copy by the function adapt itself uses to set up its
    model (rank caps included), so the two cannot drift apart; a test checks
    that they agree.
    """
    peft_model = prepare_model(base_model, "lora", rank, 2 * rank, False, True, "all-linear", seed)
    return _lora_A(peft_model)


def fine_tune_study(base_model, train_data, test_data, ranks=(1, 2, 4, 8, 16, 32), seeds=(0,),
                    seed_ranks=(2, 16), epochs=60, batch_size=64):
    """Fine-tune copies of `base_model` with `adapt`: in full once, and with LoRA at each rank.

    LoRA runs: every rank in `ranks` with seeds[0], then every rank in
    `seed_ranks` with each further seed in `seeds` (runs that differ only in
    their random start). Everything else is adapt's default: LoRA on every
    Linear layer with lora_alpha = 2 r (r capped at a layer's min(out, in),
    e.g. 10 on the 10-output head), Adam at adapt's learning rates.
    `base_model` itself is never changed.
    Returns a FineTuneStudy; every run's updates are read off its weights.
    """
    ranks = [check_int("ranks entry", r, low=1) for r in ranks]
    seeds = [check_int("seeds entry", s, low=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed, got none")
    base_weights = linear_weights(base_model)
    settings = dict(epochs=epochs, batch_size=batch_size, measure_memory=False)

    record, full_model = adapt(base_model, "full", train_data, test_data, seed=seeds[0], **settings)
    full = FineTuneRun("full", None, seeds[0], record["test_accuracy"],
                       {name: W - base_weights[name] for name, W in linear_weights(full_model).items()},
                       record=record, model=full_model)

    plan = [(r, seeds[0]) for r in ranks] + [(r, s) for s in seeds[1:] for r in seed_ranks]
    runs = []
    for rank, seed in plan:
        record, peft_model = adapt(base_model, "lora", train_data, test_data, rank=rank, seed=seed, **settings)
        runs.append(FineTuneRun(
            "lora", rank, seed, record["test_accuracy"],
            {name: _lora_update(layer) for name, layer in _lora_layers(peft_model).items()},
            _lora_A(peft_model), lora_start(base_model, rank, seed), record=record, model=peft_model,
        ))
    return FineTuneStudy(base_model, base_weights, full, runs, test_data)


def update_rank_records(study, layer):
    """Per run (full, then LoRA with the first seed): the three rank measures of its update of `layer`.

    Keys: method, rank (None for full), norm = ||delta W||_F, energy_rank (90%),
    effective_rank, stable_rank, numerical_rank (at float32 precision).
    """
    records = []
    for run in study.first_seed_runs():
        update = run.updates[layer]
        records.append({
            "method": run.method, "rank": run.rank, "norm": float(np.linalg.norm(update)),
            "energy_rank": energy_rank(update, 0.9), "effective_rank": effective_rank(update),
            "stable_rank": stable_rank(update), "numerical_rank": numerical_rank(update),
        })
    return records


def extracted_lora_model(study, rank):
    """The base model with a LoRA adapter holding the best rank-r part of the full fine-tune's update.

    Each layer gets extract_lora(W_full, W_base, r) (r capped per layer as in
    lora_config_for), loaded with set_delta_factors; the biases are the full
    fine-tune's (a bias is a vector: there is no rank to cut). At the largest
    rank every layer's update is whole and the model equals the full fine-tune.
    """
    peft_model = get_peft_model(copy.deepcopy(study.base_model), lora_config_for(study.base_model, rank), generator=0)
    tuned = dict(study.full.model.named_modules())
    for name, layer in _lora_layers(peft_model).items():
        r = layer.r["default"]
        lora_B, lora_A = extract_lora(tuned[name].weight.data, study.base_weights[name], r)
        layer.set_delta_factors(lora_B, lora_A)
        if layer.base_layer.bias is not None:
            layer.base_layer.bias.data[...] = tuned[name].bias.data
    return peft_model


def truncation_records(study):
    """Per rank of the first seed's LoRA runs: LoRA trained at r against the full update cut to r.

    Keys: rank, lora_accuracy (trained directly at rank r), extracted_accuracy
    (extracted_lora_model), full_accuracy (the untruncated full fine-tune).
    """
    return [
        {"rank": run.rank, "lora_accuracy": run.test_accuracy,
         "extracted_accuracy": evaluate(extracted_lora_model(study, run.rank), study.test_data)["accuracy"],
         "full_accuracy": study.full.test_accuracy}
        for run in study.first_seed_runs()[1:]
    ]


def amplification_records(study, layer):
    """The LoRA paper's Table 7 quantities for `layer`, one record per LoRA run (by rank, then seed).

    W is the base weight, U_r and V_r the top-r singular vectors of the run's
    delta W (r capped at min(out, in)). Keys: rank, seed, update_norm =
    ||delta W||_F, projection_norm = ||U_r^T W V_r||_F, amplification = their
    ratio, full_amplification = that ratio for the full fine-tune's update in
    its own top-r directions, and the paper's two reference rows: W_top_norm =
    ||U^T W V||_F with W's own top-r singular vectors (= the root of the sum of
    W's top r squared singular values) and random_norm, the same for random
    orthonormal U, V (seeded by r).
    """
    W = study.base_weights[layer]
    s_W = singular_values(W)
    records = []
    for run in sorted(study.lora, key=lambda run: (run.rank, run.seed)):
        r = min(run.rank, min(W.shape))
        update = run.updates[layer]
        amplification = amplification_factor(update, W, r)
        rng = get_generator(r, "seed")
        U = np.linalg.qr(rng.standard_normal((W.shape[0], r)))[0]
        V = np.linalg.qr(rng.standard_normal((W.shape[1], r)))[0]
        records.append({
            "rank": run.rank, "seed": run.seed, "update_norm": float(np.linalg.norm(update)),
            "projection_norm": float(np.linalg.norm(update)) / amplification, "amplification": amplification,
            "full_amplification": amplification_factor(study.full.updates[layer], W, r),
            "W_top_norm": float(np.sqrt(np.sum(s_W[:r] ** 2))), "random_norm": float(np.linalg.norm(U.T @ W @ V)),
        })
    return records


def intruder_records(study, layer, k=10, eps=0.5):
    """Per run (full, then LoRA of the first seed): intruder dimensions of W_base + delta W in `layer`.

    Keys: method, rank, intruders (how many of the top k singular vectors of
    the fine-tuned weight have best |cos| < eps with every singular vector of
    the base weight), smallest_best_cosine (the least familiar of the top k).
    """
    W0 = study.base_weights[layer]
    records = []
    for run in study.first_seed_runs():
        found = intruder_dimensions(W0, W0 + run.updates[layer], k=k, eps=eps)
        records.append({"method": run.method, "rank": run.rank, "intruders": len(found),
                        "smallest_best_cosine": float(found.top_k_best_cosines.min())})
    return records


def seed_studies(first, seeds=(1, 2, 3, 4), ranks=(2, 16)):
    """`first` (a FineTuneStudy) and one fine_tune_study per further seed, for comparisons over seeds.

    Each further seed s has its own split and source model (lorabook.studies.headline.source_domain(s),
    the README tour's) and runs a full fine-tune and LoRA at `ranks` with adapter seed s.
    """
    studies = [first]
    for seed in seeds:
        split, source = source_domain(seed)
        studies.append(fine_tune_study(source, split.target_train, split.target_test, ranks=ranks, seeds=(seed,)))
    return studies
