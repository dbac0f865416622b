"""Notebook 07 on the planted-rank task: L + lambda R, the lambda path against the rank path.

The task (lorabook.data.make_planted_rank_task, PLANTED): Y = X (W0 + dW)^T
+ noise with dW of rank 3, d_in = d_out = 32 and only n = 40 examples. The
student keeps W0 and learns an update D by minimising

    L(D) + lambda ||D||_*,     L(D) = mean over rows and outputs of (Y - X (W0 + D)^T)^2

(L is lorabook's F.mse_loss). `nuclear_regression` solves it by proximal
gradient descent, accelerated (FISTA, Beck and Teboulle 2009): a gradient
step on L of size eta = 1 / (Lipschitz constant of grad L), then singular
value thresholding with tau = eta * lambda. That is full fine-tuning with a
nuclear-norm penalty; by the variational identity it is also what LoRA with
weight decay lambda on A and B and a rank r >= rank(D) converges to.

Two ways to choose the rank of D:

    the hard path   rank(D) <= r, nothing else: reduced-rank regression, r = 1 .. 32
    the soft path   lambda ||D||_*: lambda from LAMBDAS, every rank allowed, small
                    singular values cut to zero, the others shrunk by tau

Each record holds the test error (planted_test_error: noise-free, 0 is
perfect), the rank of D (singular values above 1e-9 s_1) and its effective
rank (Roy and Vetterli: exp of the entropy of s / sum(s)).

Also here: `lora_weight_decay` (the identity at work: LoRA with Adam's
weight decay lands on the same D), `identity_check`, `seed_verdict` (a
claim only where the seeds' ranges do not overlap) and the lambda slider
(`lambda_view`, `show_lambda`, `lambda_demo`). The digits studies (full
fine-tuning with the proximal step, AdaLoRA's allocation, LoRA+, DoRA) are
in lorabook.studies.regularisation_digits.
"""
from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from lorabook._checks import check_float, check_int
from lorabook.analysis import (
    balanced_factors, effective_rank, nuclear_norm, reduced_rank_regression, singular_value_threshold,
    variational_bound,
)
from lorabook.autograd import Tensor
from lorabook.data import make_planted_rank_task, planted_test_error
from lorabook.lora import LoraConfig, get_peft_model
from lorabook.nn import Linear, Sequential
from lorabook.nn import functional as F
from lorabook.optim import Adam
from lorabook.plots.regularisation import plot_lambda_view
from lorabook.widgets import HEADLESS_NOTE, sliders_available

PLANTED = dict(d_in=32, d_out=32, k=3, n=40, noise=0.5)
LAMBDAS = tuple(float(v) for v in np.round(np.logspace(-4, 0, 5), 6))   # 1e-4 .. 1, one per decade
RANKS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
STEPS = 200
SEEDS = (0, 1, 2, 3, 4)  # every comparison in notebook 07 (planted and digits) runs these five
RANK_TOL = 1e-9  # relative to s_1: SVT gives exact zeros, least squares tiny ones


def planted_task(seed=0):
    """The planted-rank task of PLANTED (float64), drawn from `seed`."""
    return make_planted_rank_task(**PLANTED, seed=check_int("seed", seed, low=0), dtype=np.float64)


def update_ranks(D, tol=RANK_TOL):
    """(rank, effective rank) of an update D; (0, 0.0) for D = 0, where the effective rank is undefined.

    rank counts singular values above tol * s_1: pass tol = 1e-4 for an update
    computed from float32 weights, whose rounding leaves every direction non-zero.
    """
    s = np.linalg.svd(D, compute_uv=False)
    if s[0] == 0:
        return 0, 0.0
    return int(np.sum(s > tol * s[0])), effective_rank(D)


def nuclear_regression(task, lam, steps=STEPS, start=None):
    """argmin over D of L(D) + lam ||D||_* by accelerated proximal gradient; D (d_out, d_in), float64.

    Each step: Z - eta * grad L(Z), then SVT with tau = eta * lam, then
    FISTA's extrapolation. grad L(D) = -(2 / (n d_out)) R^T X with
    R = Y - X (W0 + D)^T; eta = n d_out / (2 ||X||_2^2). start: a D to
    begin from (a neighbouring lambda's answer makes a path cheap).
    """
    lam = check_float("lam", lam, low=0.0)
    steps = check_int("steps", steps, low=1)
    X, Y, W0 = task.X_train, task.Y_train, task.base_weight
    n, d_out = Y.shape
    target = Y - X @ W0.T                        # what D has to explain
    eta = n * d_out / (2.0 * np.linalg.norm(X, 2) ** 2)
    D = np.zeros_like(W0) if start is None else np.array(start, dtype=np.float64)
    Z, t = D.copy(), 1.0
    with threadpool_limits(limits=1, user_api="blas"):  # small SVDs: threads only cost, and change the last digits
        for _ in range(steps):
            gradient = -(2.0 / (n * d_out)) * (target - X @ Z.T).T @ X
            D_next = singular_value_threshold(Z - eta * gradient, eta * lam)
            t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
            Z = D_next + ((t - 1.0) / t_next) * (D_next - D)
            D, t = D_next, t_next
    return D


def lora_weight_decay(task, lam, r=32, steps=3000, lr=3e-3, seed=0):
    """LoRA of rank r on W0, trained with Adam(weight_decay=lam) on L: returns (delta W, A, B) as arrays.

    Adam's weight decay adds lam * A and lam * B to the gradients, the gradient
    of L + lam (||A||_F^2 + ||B||_F^2) / 2. By the variational identity its
    optimum over the factors is the optimum of L + lam ||D||_* over updates of
    rank <= r: with r = 32 (every rank allowed) the same D as nuclear_regression.
    lora_alpha = r, so scaling = 1 and delta W = B A. Both factors start
    random and small (0.1 x Kaiming-uniform): with B = 0 and weight decay, the
    gradient of A would be 0 at the start and stay so.
    """
    lam = check_float("lam", lam, low=0.0)
    d_out, d_in = task.base_weight.shape
    layer = Linear(d_in, d_out, bias=False, dtype=np.float64)
    layer.weight.data = task.base_weight.copy()
    model = get_peft_model(Sequential(layer), LoraConfig(r=r, lora_alpha=r, target_modules=["0"],
                                                         init_lora_weights=False), generator=seed)
    lora = model.get_base_model()[0]
    A, B = lora.lora_A["default"].weight, lora.lora_B["default"].weight
    A.data, B.data = 0.1 * A.data, 0.1 * B.data
    optimizer = Adam([A, B], lr=lr, weight_decay=lam)
    X = Tensor(task.X_train)
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(check_int("steps", steps, low=1)):
            optimizer.zero_grad()
            F.mse_loss(model(X), task.Y_train).backward()
            optimizer.step()
    return lora.get_delta_weight(), A.data.copy(), B.data.copy()


def objective(task, D, lam):
    """L(D) + lam ||D||_* on the training data."""
    residual = task.Y_train - task.X_train @ (task.base_weight + D).T
    return float(np.mean(residual**2) + lam * np.linalg.svd(D, compute_uv=False).sum())


def _record(path, seed, setting, task, D):
    rank, eff = update_ranks(D)
    return {"path": path, "seed": seed, **setting, "test_error": planted_test_error(task, D), "rank": rank,
            "effective_rank": eff, "nuclear_norm": float(np.linalg.svd(D, compute_uv=False).sum())}


def lambda_path(lambdas=LAMBDAS, seeds=SEEDS, steps=STEPS):
    """The soft path: one record per (seed, lambda), keys path="lambda", seed, lam, test_error, rank,
    effective_rank, nuclear_norm. Solved from the largest lambda down, each start the previous answer."""
    records = []
    for seed in seeds:
        task = planted_task(seed)
        D = None
        for lam in sorted(lambdas, reverse=True):
            D = nuclear_regression(task, lam, steps, start=D)
            records.append(_record("lambda", seed, {"lam": float(lam)}, task, D))
    return sorted(records, key=lambda r: (r["seed"], r["lam"]))


def rank_path(ranks=RANKS, seeds=SEEDS):
    """The hard path: reduced-rank regression at each r; records as lambda_path's with path="rank", r."""
    records = []
    for seed in seeds:
        task = planted_task(seed)
        for r in ranks:
            D = reduced_rank_regression(task.X_train, task.Y_train, r, W0=task.base_weight)
            records.append(_record("rank", seed, {"r": int(r)}, task, D))
    return records


def summarise(records, key, value="test_error"):
    """{setting: (mean, min, max) of `value` over seeds} for each value of records[key], in order."""
    settings = sorted({record[key] for record in records})
    out = {}
    for setting in settings:
        values = np.array([record[value] for record in records if record[key] == setting], dtype=float)
        out[setting] = (float(values.mean()), float(values.min()), float(values.max()))
    return out


def seed_verdict(name_a, errors_a, name_b, errors_b):
    """A sentence on two methods' test errors over the same seeds, claiming only what the spread allows.

    A claim ("A below B on every seed") needs max(errors_a) < min(errors_b):
    the margin is min(errors_b) - max(errors_a). Otherwise the ranges overlap
    and the sentence says so, with both ranges.
    """
    a, b = np.asarray(errors_a, dtype=float), np.asarray(errors_b, dtype=float)
    ranges = f"{name_a} {a.min():.3f}-{a.max():.3f}, {name_b} {b.min():.3f}-{b.max():.3f} over {len(a)} seeds"
    for low, high, low_name, high_name in ((a, b, name_a, name_b), (b, a, name_b, name_a)):
        if low.max() < high.min():
            return (f"{low_name} has the lower test error on every seed, by at least "
                    f"{high.min() - low.max():.3f} ({ranges})")
    return f"no claim: the ranges overlap ({ranges})"


def best_settings(records, key):
    """{seed: (setting with the lowest test error, that error)} for each seed."""
    best = {}
    for record in records:
        seed = record["seed"]
        if seed not in best or record["test_error"] < best[seed][1]:
            best[seed] = (record[key], record["test_error"])
    return best


def identity_check(seed=0, rank=3, n_random=5):
    """The variational identity on the planted update dW (rank 3): numbers for a table.

    Returns {"nuclear_norm": ||dW||_*, "balanced": (||A||^2 + ||B||^2) / 2 at the balanced
    factors, "random": the same for n_random factorisations B G, G^-1 A with random G}.
    """
    dW = planted_task(seed).true_update
    B, A = balanced_factors(dW)
    rng = np.random.default_rng(seed)
    random = []
    for _ in range(n_random):
        G = rng.standard_normal((B.shape[1], B.shape[1]))
        random.append(variational_bound(np.linalg.solve(G, A), B @ G))
    return {"nuclear_norm": nuclear_norm(dW), "balanced": variational_bound(A, B), "random": random}


def lambda_view(lam, seed=0, steps=2 * STEPS):
    """What the lambda slider shows: the update learned at one lambda on the planted task.

    Returns plain numbers: lam, test_error, rank, effective_rank, nuclear_norm,
    singular_values (of D, largest first, a list), true_singular_values (of the
    planted dW), and zero_error (the test error of D = 0, where large lambdas end).
    """
    task = planted_task(seed)
    D = nuclear_regression(task, lam, steps)
    record = _record("lambda", seed, {"lam": float(lam)}, task, D)
    record["singular_values"] = [float(s) for s in np.linalg.svd(D, compute_uv=False)]
    record["true_singular_values"] = [float(s) for s in np.linalg.svd(task.true_update, compute_uv=False)]
    record["zero_error"] = planted_test_error(task, np.zeros_like(D))
    return record


def show_lambda(lam, seed=0):
    """Draw plot_lambda_view(lambda_view(lam)) and print its numbers in one line (a slider callback)."""
    view = lambda_view(lam, seed=seed)
    figure = plot_lambda_view(view)
    print(f"lambda = {view['lam']:.3g}: test error {view['test_error']:.3f}, rank {view['rank']}, "
          f"effective rank {view['effective_rank']:.2f}, ||D||_* = {view['nuclear_norm']:.2f}")
    return figure


def lambda_demo(seed=0):
    """A log-scale lambda slider around show_lambda (lambda from 1e-4 to 1); a note when run headless."""
    if not sliders_available():
        print(HEADLESS_NOTE)
        return None
    import ipywidgets as widgets  # only where a browser shows the slider

    slider = widgets.FloatLogSlider(value=0.01, base=10, min=-4, max=0, step=0.25, description="lambda",
                                    continuous_update=False)

    def redraw(lam):  # returns None, so Jupyter draws the figure once
        show_lambda(lam, seed)

    return widgets.interact(redraw, lam=slider)
