"""Sweeps: error against rank (the over/underfitting trade-off) and accuracy against label budget.

    planted_rank_sweep(n=40)                  # the U-curve on a task whose true rank is known
    rank_sweep(model, pool, test, budgets=(50, 400))           # the same on rotated digits
    label_budget_sweep(model, pool, test, budgets=(25, 100, 400))

The planted-rank task (lorabook.data.make_planted_rank_task): targets
Y = X (W0 + dW)^T + noise, dW of rank k. A LoRA adapter of rank r on one
Linear layer holding W0 (frozen, no bias) is trained with Adam on the full
batch and the mean squared error until it has converged (the default 2000
steps reach the closed-form optimum, reduced-rank regression, to about 3
digits). Too low a rank cannot express dW (underfitting); too high a rank
with few examples also fits the noise (overfitting); with few examples the
test error is lowest at r = k.

Which rank would a rule have picked without the test set? The summary key
`suggested_rank` is Gavish-Donoho (lorabook.analysis.suggest_rank) on the
full fine-tune's update D (least squares, every direction free) seen through
the data: with X = Q R_x (QR), M = R_x D^T = Q^T (Y - X W0^T). Its noise is
i.i.d. with the target noise's level, as Gavish-Donoho assumes. On D itself
(`suggested_rank_unwhitened`) the noise is not i.i.d. (its covariance is
noise^2 (X^T X)^-1, large along input directions the few examples barely
cover), and the rule overshoots: 6 to 8 instead of 3 at n = 40, d = 32.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from lorabook._checks import check_choice, check_float, check_int
from lorabook.analysis import reduced_rank_regression, suggest_rank
from lorabook.autograd import Tensor
from lorabook.data import make_planted_rank_task, planted_test_error, split_indices
from lorabook.lora import LoraConfig, get_peft_model
from lorabook.nn import Linear, Sequential
from lorabook.nn import functional as F
from lorabook.optim import Adam
from lorabook.train import progress_bar

from .finetune import (
    DEFAULT_RANKS, METHODS, adapt, check_fits, check_positive_ints, check_ranks, epochs_for_steps,
)
from .records import plain

PLANTED_RANKS = (1, 2, 3, 4, 6, 8, 16, 32)
PLANTED_METHODS = ("lora", "closed-form")


def check_budgets(name, budgets, pool_size):
    """Label budgets: a non-empty list of integers in [1, pool_size]; errors name the bad entry."""
    budgets = check_positive_ints(name, budgets, "label budget")
    for i, n in enumerate(budgets):
        if n > pool_size:
            raise ValueError(f"{name}[{i}] = {n} is larger than the pool of {pool_size} labelled target examples "
                             f"it is drawn from")
    return budgets


# ----- the planted-rank task ------------------------------------------------------------------
def _whitened_update(X, Y, W0):
    """Q^T (Y - X W0^T) = R_x D^T for X = Q R_x: the least-squares update with i.i.d. noise (module doc)."""
    Q, _ = np.linalg.qr(X)
    return Q.T @ (Y - X @ W0.T)


def _train_planted_lora(task, rank, steps, lr, weight_decay, update_penalty, seed):
    """LoRA of rank `rank` (lora_alpha = rank, so delta W = B A) on W0; returns delta W (d_out, d_in)."""
    d_out, d_in = task.base_weight.shape
    layer = Linear(d_in, d_out, bias=False, dtype=np.float64)
    layer.weight.data[...] = task.base_weight
    model = get_peft_model(Sequential(layer), LoraConfig(r=rank, lora_alpha=rank, target_modules=["0"]),
                           generator=np.random.default_rng(seed))
    lora = model.get_base_model()[0]
    A, B = lora.lora_A["default"].weight, lora.lora_B["default"].weight
    optimizer = Adam([A, B], lr=lr, weight_decay=weight_decay)
    X, Y = Tensor(task.X_train), task.Y_train
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.mse_loss(model(X), Y)
        if update_penalty:
            delta = B @ A
            loss = loss + update_penalty * (delta * delta).sum()
        loss.backward()
        optimizer.step()
    return lora.get_delta_weight()


def planted_rank_sweep(d: int = 32, k: int = 3, n: Any = 40, noise: float = 0.5, ranks: Sequence[int] = PLANTED_RANKS,
                       seed: int = 0, method: str = "lora", steps: int = 2000, lr: float = 1e-2,
                       weight_decay: float = 0.0, update_penalty: float = 0.0, progress: bool = False) -> list:
    """Train and test error against rank on the planted-rank task (d_in = d_out = d, true rank k).

    n: the number of training examples, or a list of them (one curve each;
    the same W0 and dW for all). method: "lora" (trained, see the module
    doc; steps, lr of full-batch Adam; weight_decay on A and B; update_penalty
    lambda adds lambda ||B A||_F^2) or "closed-form" (reduced-rank
    regression, the exact optimum without penalties).
    Records, one per (n, rank): task, method, d, k, noise, n_train, rank,
    train_error (MSE on the noisy training targets), test_error
    (planted_test_error: noise-free, so 0 is perfect), suggested_rank and
    suggested_rank_unwhitened (module doc; the same for every rank of one n),
    seed, steps, lr, weight_decay, update_penalty.
    """
    d = check_int("d", d, low=1)
    k = check_int("k", k, low=1, high=d)
    budgets = check_positive_ints("n", n, "number of examples")
    ranks = check_ranks("ranks", ranks)
    for i, r in enumerate(ranks):
        if r > d:
            raise ValueError(f"ranks[{i}] = {r} is larger than d = {d}: a {d} x {d} update has rank at most {d}")
    noise = check_float("noise", noise, low=0.0)
    seed = check_int("seed", seed, low=0)
    check_choice("method", method, PLANTED_METHODS)
    steps = check_int("steps", steps, low=1)
    lr = check_float("lr", lr, low=0.0, low_open=True)
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    update_penalty = check_float("update_penalty", update_penalty, low=0.0)
    if method == "closed-form" and (weight_decay or update_penalty):
        raise ValueError("weight_decay and update_penalty apply to method='lora' only; "
                         "the closed form is the unpenalised optimum")

    records = []
    with progress_bar(progress, len(budgets) * len(ranks), "planted rank sweep", unit="run") as bar:
        for n_train in budgets:
            task = make_planted_rank_task(d, d, k, n_train, noise, seed=seed, dtype=np.float64)
            X, Y, W0 = task.X_train, task.Y_train, task.base_weight
            suggested = suggest_rank(_whitened_update(X, Y, W0))
            suggested_unwhitened = suggest_rank(reduced_rank_regression(X, Y, d, W0=W0))  # the full fine-tune's D
            for rank in ranks:
                if method == "lora":
                    delta_W = _train_planted_lora(task, rank, steps, lr, weight_decay, update_penalty, seed)
                else:
                    delta_W = reduced_rank_regression(X, Y, rank, W0=W0)
                records.append({
                    "task": "planted", "method": method, "d": d, "k": k, "noise": noise, "n_train": n_train,
                    "rank": rank, "train_error": float(np.mean((Y - X @ (W0 + delta_W).T) ** 2)),
                    "test_error": planted_test_error(task, delta_W), "suggested_rank": plain(suggested),
                    "suggested_rank_unwhitened": plain(suggested_unwhitened), "seed": seed,
                    "steps": steps if method == "lora" else None, "lr": lr if method == "lora" else None,
                    "weight_decay": weight_decay, "update_penalty": update_penalty,
                })
                bar.update(1)
    return records


def rank_sweep_summary(records: list) -> list:
    """One dict per (method, n_train) of a rank sweep: best_rank (lowest test error), its
    test_error, and k and suggested_rank when the records have them."""
    groups = {}
    for record in records:
        groups.setdefault((record["method"], record["n_train"]), []).append(record)
    summary = []
    for (method, n_train), group in groups.items():
        best = min(group, key=lambda r: r["test_error"])
        row = {"method": method, "n_train": n_train, "best_rank": best["rank"], "best_test_error": best["test_error"]}
        for key in ("k", "suggested_rank", "suggested_rank_unwhitened"):
            if key in best:
                row[key] = best[key]
        summary.append(row)
    return summary


# ----- classification: rank sweep and label budgets ---------------------------------------------
def _subset(pool, n, seed):
    """n labelled examples drawn from the pool (stratified by class, seeded)."""
    X, y = pool
    chosen, _ = split_indices(y, n, seed=seed)
    return X[chosen], y[chosen]


def rank_sweep(base_model: Any, train_pool: tuple, test_data: tuple, ranks: Sequence[int] = DEFAULT_RANKS,
               budgets: Sequence[int] = (50, 400), steps: int = 800, lr: Any = None, batch_size: int = 32,
               weight_decay: float = 0.0, update_penalty: float = 0.0, seed: int = 0, progress: bool = False,
               **lora_options: Any) -> list:
    """Train and test error of LoRA against rank, one curve per label budget, on a classification task.

    train_pool: the labelled target examples (X, y) that budgets are drawn
    from (stratified, seeded); test_data: (X, y) held out. Every run takes
    about `steps` optimizer steps, whatever the budget (epochs =
    ceil(steps / batches per epoch)), so small budgets are not under-trained.
    Records: adapt's records plus train_error = 1 - train_accuracy and
    test_error = 1 - test_accuracy, one per (budget, rank). A rank above a
    layer's min(out, in) is capped there as adapt caps it (the record's
    layer_ranks lists the ranks used).
    """
    X, y = check_fits(base_model, "train_pool", train_pool)
    check_fits(base_model, "test_data", test_data)
    budgets = check_budgets("budgets", budgets, len(y))
    ranks = check_ranks("ranks", ranks)
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    runs = [(n, r) for n in budgets for r in ranks]
    records = []
    with progress_bar(progress, len(runs), "rank sweep", unit="run") as bar:
        for n, rank in runs:
            record, _ = adapt(base_model, "lora", _subset((X, y), n, seed), test_data, rank=rank, lr=lr,
                              epochs=epochs_for_steps(steps, n, batch_size), batch_size=batch_size,
                              weight_decay=weight_decay, update_penalty=update_penalty, seed=seed,
                              measure_memory=False, **lora_options)
            record.update(train_error=1.0 - record["train_accuracy"], test_error=1.0 - record["test_accuracy"])
            records.append(record)
            bar.update(1)
    return records


def label_budget_sweep(base_model: Any, train_pool: tuple, test_data: tuple,
                       budgets: Sequence[int] = (25, 50, 100, 200, 400),
                       methods: Sequence[str] = ("head-only", "lora", "full"), rank: int = 4, steps: int = 800,
                       lr: Any = None, batch_size: int = 32, seed: int = 0, source_data: Any = None,
                       progress: bool = False, **lora_options: Any) -> list:
    """Target test accuracy against the number of labelled target examples, per method.

    budgets are drawn from train_pool as in rank_sweep (the same number of
    steps for each); "lora" uses `rank` (capped per layer as adapt caps it);
    "source-only" gives a flat line. Records: adapt's, one per (method, budget).
    Every argument is checked before the first run trains.
    """
    X, y = check_fits(base_model, "train_pool", train_pool)
    check_fits(base_model, "test_data", test_data)
    check_fits(base_model, "source_data", source_data)
    budgets = check_budgets("budgets", budgets, len(y))
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(check_choice(f"methods[{i}]", m, METHODS) for i, m in enumerate(methods))
    if not methods:
        raise ValueError("methods must name at least one of " + ", ".join(METHODS))
    if "lora" in methods:
        rank = check_int("rank", rank, low=1)
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    runs = [(m, n) for m in methods for n in budgets]
    records = []
    with progress_bar(progress, len(runs), "label budget sweep", unit="run") as bar:
        for method, n in runs:
            options = dict(lora_options, rank=rank) if method == "lora" else {}
            record, _ = adapt(base_model, method, _subset((X, y), n, seed), test_data, lr=lr,
                              epochs=epochs_for_steps(steps, n, batch_size), batch_size=batch_size, seed=seed,
                              source_data=source_data, measure_memory=False, **options)
            records.append(record)
            bar.update(1)
    return records
