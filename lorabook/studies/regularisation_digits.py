"""Notebook 07 on rotated digits: the lambda path, AdaLoRA's allocation, LoRA+ and DoRA.

The problem (`digits_problem`): an MLP 64-128-128-10 trained on upright
digits, to be adapted to digits turned by 45 degrees from 200 labelled
examples, the same split and source model for every run. What varies with
`seed` is the training: adapter starting values and the order of batches.
Every run takes STEPS Adam steps of batches of 32 through `train_steps`,
the loop written out, with a hook after each optimizer step.

    prox_finetune(lam)     full fine-tuning of layer "0" with lambda ||W - W0||_*: after
                           each Adam step, W <- W0 + SVT(W - W0, lr * lam) (proximal Adam:
                           Adam's step is not lr * gradient, so this is the heuristic form)
    lora_finetune(r)       LoRA of rank r on layer "0" alone: the hard path on the same layer
    adalora_run            AdaLoRA on all three layers, init_r -> target_r; its rank_pattern
    lora_run               LoRA on all three layers (uniform r), optionally LoRA+ or DoRA

Only layer "0" moves in the two paths: a rotation acts on the pixels, so the
first layer is where it is undone, and one SVD of a 128 x 64 update per step
keeps the notebook fast. Test error is 1 - accuracy on the held-out
rotated digits (target_test).
"""
from __future__ import annotations

import copy
import functools

import numpy as np
from threadpoolctl import threadpool_limits

from lorabook._checks import check_float, check_int
from lorabook.analysis import proximal_nuclear_step
from lorabook.data import DIGITS_IMAGE_SHAPE, load_digits, make_domain_split
from lorabook.experiments.finetune import train_source_model
from lorabook.lora import AdaLoraConfig, LoraConfig, create_loraplus_optimizer, get_peft_model
from lorabook.nn import functional as F
from lorabook.optim import Adam
from lorabook.train import evaluate

from .regularisation import SEEDS, best_settings, lambda_path, rank_path, seed_verdict, update_ranks

ROTATION = 45
N_TARGET_TRAIN = 200
STEPS = 200  # with 5 seeds of every run, notebook 07 stays within its 30 s on a fresh kernel
BATCH_SIZE = 32
LR_FULL = 3e-3
LR_LORA = 1e-2
DIGIT_LAMBDAS = (0.0, 1.0, 3.0, 10.0)
DIGIT_RANKS = (1, 2, 4, 8, 16)
FLOAT32_RANK_TOL = 1e-4  # float32 weights: rounding alone leaves singular values near 1e-7 s_1
LORAPLUS_LRS = (2e-3, 1e-2)
LORAPLUS_RATIO = 16


@functools.lru_cache(maxsize=1)
def digits_problem():
    """(split, source model): rotated digits and an MLP trained on the upright ones (seed 0). Never changed:
    every run below adapts a deep copy."""
    X, y = load_digits()
    split = make_domain_split(X, y, "rotate", ROTATION, n_target_train=N_TARGET_TRAIN, seed=0,
                              image_shape=DIGITS_IMAGE_SHAPE)
    with threadpool_limits(limits=1, user_api="blas"):
        source = train_source_model(split.source_train, seed=0)
    return split, source


def train_steps(model, data, optimizer, steps, batch_size=BATCH_SIZE, seed=0, extra_loss=None, after_step=None):
    """The training loop: `steps` Adam steps on shuffled batches of (X, y), cross-entropy loss.

    extra_loss(): a Tensor added to the loss (AdaLoRA's orthogonality penalty).
    after_step(step): called after optimizer.step(), before zero_grad (the
    proximal step, AdaLoRA's update_and_allocate).
    """
    X, y = data
    rng = np.random.default_rng(seed)
    order, position = rng.permutation(len(X)), 0
    model.train()
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices: threads only cost, and change last digits
        for step in range(steps):
            if position + batch_size > len(X):
                order, position = rng.permutation(len(X)), 0
            batch = order[position:position + batch_size]
            position += batch_size
            loss = F.cross_entropy(model(X[batch]), y[batch])
            if extra_loss is not None:
                loss = loss + extra_loss()
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step(step)
            optimizer.zero_grad()
    model.eval()
    return model


def _test_error(model, split):
    return 1.0 - evaluate(model, split.target_test)["accuracy"]


def prox_finetune(lam, seed=0, steps=STEPS, lr=LR_FULL):
    """Full fine-tuning of layer "0"'s weight with the nuclear penalty lam ||W - W0||_* (module docstring).

    Record: path="lambda", lam, seed, test_error, rank and effective_rank of W - W0.
    """
    lam = check_float("lam", lam, low=0.0)
    split, source = digits_problem()
    model = copy.deepcopy(source)
    model.requires_grad_(False)
    weight = model[0].weight
    weight.requires_grad = True
    reference = weight.data.copy()

    kept = []

    def proximal_step(step):
        if lam > 0:
            weight.data, singular_values = proximal_nuclear_step(weight.data, reference, lr * lam)
            kept[:] = [int(np.count_nonzero(singular_values))]  # exact zeros after SVT

    train_steps(model, split.target_train, Adam([weight], lr=lr), check_int("steps", steps, low=1), seed=seed,
                after_step=proximal_step)
    rank, eff = update_ranks(weight.data.astype(np.float64) - reference, tol=FLOAT32_RANK_TOL)
    rank = kept[0] if kept else rank
    return {"path": "lambda", "lam": lam, "seed": seed, "test_error": _test_error(model, split), "rank": rank,
            "effective_rank": eff}


def lora_finetune(r, seed=0, steps=STEPS, lr=LR_LORA):
    """LoRA of rank r (lora_alpha = 2 r) on layer "0" alone; record as prox_finetune's with path="rank", r."""
    split, source = digits_problem()
    model = get_peft_model(copy.deepcopy(source), LoraConfig(r=r, lora_alpha=2 * r, target_modules=["0"]),
                           generator=seed)
    params = [p for p in model.parameters() if p.requires_grad]
    train_steps(model, split.target_train, Adam(params, lr=lr), steps, seed=seed)
    rank, eff = update_ranks(model.get_base_model()[0].get_delta_weight().astype(np.float64), tol=FLOAT32_RANK_TOL)
    return {"path": "rank", "r": r, "seed": seed, "test_error": _test_error(model, split), "rank": rank,
            "effective_rank": eff}


def digits_paths(lambdas=DIGIT_LAMBDAS, ranks=DIGIT_RANKS, seeds=SEEDS):
    """(lambda records, rank records) over the seeds."""
    soft = [prox_finetune(lam, seed) for seed in seeds for lam in lambdas]
    hard = [lora_finetune(r, seed) for seed in seeds for r in ranks]
    return soft, hard


def adalora_run(seed=0, init_r=8, target_r=2, steps=STEPS, lr=LR_LORA, tinit=30, tfinal=60, deltaT=10):
    """AdaLoRA on every Linear layer; record with test_error, layer_ranks (final kept triplets per layer),
    trainable (A, E, B values of the kept triplets) and the rank_pattern."""
    split, source = digits_problem()
    config = AdaLoraConfig(init_r=init_r, target_r=target_r, tinit=tinit, tfinal=tfinal, deltaT=deltaT,
                           total_step=steps, lora_alpha=2 * init_r, target_modules="all-linear")
    model = get_peft_model(copy.deepcopy(source), config, generator=seed)
    params = [p for p in model.parameters() if p.requires_grad]
    train_steps(model, split.target_train, Adam(params, lr=lr), steps, seed=seed,
                extra_loss=model.base_model.orth_regularization, after_step=model.update_and_allocate)
    ranks = model.base_model.layer_ranks()
    layers = dict(model.base_model.svd_layers())
    kept = sum(r * (layers[name].in_features + layers[name].out_features + 1) for name, r in ranks.items())
    return {"method": "AdaLoRA", "seed": seed, "test_error": _test_error(model, split), "layer_ranks": ranks,
            "trainable": kept, "rank_pattern": model.peft_config["default"].rank_pattern}


def lora_run(seed=0, r=2, steps=STEPS, lr=LR_LORA, loraplus_lr_ratio=None, use_dora=False):
    """LoRA of rank r on every Linear layer, trained with Adam, or LoRA+ (B at lr * ratio), or DoRA.

    Record: method ("LoRA", "LoRA+ x<ratio>", "DoRA"), seed, r, test_error, trainable.
    """
    split, source = digits_problem()
    options = {"use_dora": True} if use_dora else {}
    config = LoraConfig(r=r, lora_alpha=2 * r, target_modules="all-linear", **options)
    model = get_peft_model(copy.deepcopy(source), config, generator=seed)
    if loraplus_lr_ratio is None:
        optimizer = Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    else:
        optimizer = create_loraplus_optimizer(model, Adam, lr=lr, loraplus_lr_ratio=loraplus_lr_ratio)
    train_steps(model, split.target_train, optimizer, steps, seed=seed)
    method = "DoRA" if use_dora else ("LoRA" if loraplus_lr_ratio is None else f"LoRA+ x{loraplus_lr_ratio:g}")
    return {"method": method, "seed": seed, "r": r, "test_error": _test_error(model, split),
            "trainable": sum(p.size for p in model.parameters() if p.requires_grad)}


def chapter07_summary(seeds=SEEDS, adalora_seeds=None):
    """What the tour says of chapter 07, as plain numbers.

    On the planted task, each seed's best setting on the soft path (lambda)
    and on the hard path (rank r), with its test error; on rotated digits,
    AdaLoRA's final rank per layer and its test error for each of
    `adalora_seeds` (default: `seeds`; () for no AdaLoRA run).
    """
    adalora_seeds = seeds if adalora_seeds is None else adalora_seeds
    return {
        "lambda_best": best_settings(lambda_path(seeds=seeds), "lam"),
        "rank_best": best_settings(rank_path(seeds=seeds), "r"),
        "adalora": [adalora_run(seed) for seed in adalora_seeds],
    }


def chapter07_sentences(summary):
    """The tour's lines on chapter 07, from `chapter07_summary`'s numbers; claims only where seeds allow."""
    soft, hard = summary["lambda_best"], summary["rank_best"]
    seeds = sorted(soft)
    verdict = seed_verdict("the rank path", [hard[s][1] for s in seeds], "the lambda path", [soft[s][1] for s in seeds])
    lines = [f"L + lambda R on the planted task: the lambda path is best at lambda = {_settings(soft)}, the rank "
             f"path at r = {_settings(hard)}; {verdict}."]
    runs = summary["adalora"]
    if runs:
        seeds_by_ranks = {}  # "0:5 2:1 4:0" -> the seeds that ended with those ranks
        for run in runs:
            ranks = " ".join(f"{layer}:{rank}" for layer, rank in run["layer_ranks"].items())
            seeds_by_ranks.setdefault(ranks, []).append(str(run["seed"]))
        allocations = "; ".join(f"{ranks} ({'seed' if len(seeds) == 1 else 'seeds'} {', '.join(seeds)})"
                                for ranks, seeds in seeds_by_ranks.items())
        errors = [run["test_error"] for run in runs]
        lines.append(f"AdaLoRA on rotated digits: final ranks per layer {allocations}; test error "
                     f"{min(errors):.3f}-{max(errors):.3f} (notebook 07 compares it with uniform LoRA).")
    return lines


def _settings(best):
    """The best settings of the seeds, each once, e.g. "0.01" or "3, 4"."""
    return ", ".join(f"{value:g}" for value in sorted({setting for setting, _ in best.values()}))
