"""Adapting a source-trained model to a target domain, one method at a time.

    split = make_domain_split(X, y, "rotate", 45, n_target_train=400, image_shape=(8, 8))
    model = train_source_model(split.source_train)
    records = compare_adaptation(model, split.target_train, split.target_test,
                                 source_data=split.source_test)
    print(format_table(records, TABLE_COLUMNS))

The methods (`METHODS`), each starting from a copy of the same source model:

    "source-only"  no training: how far the source model falls on the target
    "head-only"    a linear probe: only the last Linear layer trains
    "lora"         LoRA adapters (get_peft_model) on `target_modules`, the rest frozen
    "full"         full fine-tuning: every parameter trains

All train with Adam and cross-entropy for the same number of epochs. The
learning rates differ on purpose (`DEFAULT_LR`): full fine-tuning moves
every weight, so a small step (3e-3) is enough and larger ones forget the
source faster; LoRA and the head move few parameters starting from B = 0
and need a larger step (1e-2) to get as far in the same number of epochs
(with lora_alpha = 2 r, the default here, the update B A is also scaled by 2).

Ranks are capped per layer. A LoRA update of an (out, in) layer has rank at
most min(out, in), so every function here builds LoRA with r capped at that
(rank_caps, through LoraConfig's rank_pattern): rank=16 on the 64-128-128-10
MLP puts r = 16 on the two hidden layers but r = 10 on the 10-output head,
and the capped layer keeps the scaling the others have. No warning is raised
(a sweep would repeat it for every run; lorabook.lora's own warning about
r > min(out, in) is never triggered, because the cap comes first). Instead
each record keeps `rank` as the r asked for (so does the label, "LoRA r=16")
and lists the ranks actually used in `layer_ranks`, {"0": 16, "2": 16, "4": 10};
trainable_params counts the capped adapters (8,548 there, not 9,376).
"""
from __future__ import annotations

import copy
import math
import re
import time
from typing import Any, Optional, Sequence, Union

import numpy as np

from lorabook._checks import _show, check_bool, check_choice, check_data, check_float, check_int
from lorabook.lora import LoraConfig, LoraLinear, get_peft_model
from lorabook.nn import MLP, Linear
from lorabook.nn import functional as F
from lorabook.optim import Adam
from lorabook.train import evaluate, fit, progress_bar

from .memory import measure_training_step
from .records import plain

METHODS = ("source-only", "head-only", "lora", "full")
DEFAULT_LR = {"head-only": 1e-2, "lora": 1e-2, "full": 3e-3}
DEFAULT_EPOCHS = 60
DEFAULT_RANKS = (1, 2, 4, 8, 16, 32)
LABELS = {"source-only": "source only", "head-only": "head only", "full": "full fine-tuning"}
TABLE_COLUMNS = ["label", "trainable_params", "optimizer_state_bytes", "train_accuracy", "test_accuracy",
                 "source_accuracy", "wall_time_s"]
RECORD_KEYS = (
    "method", "label", "rank", "lora_alpha", "n_train", "epochs", "lr", "batch_size", "weight_decay",
    "update_penalty", "seed", "trainable_params", "total_params", "optimizer_state_bytes",
    "train_accuracy", "test_accuracy", "source_accuracy", "wall_time_s", "peak_memory_bytes", "layer_ranks",
)


# ----- checks ------------------------------------------------------------------------------
def check_positive_ints(name, values, what="rank"):
    """A non-empty sequence of integers >= 1 (one int is accepted too), as a tuple; errors name the bad entry."""
    if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
        values = (values,)
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list of {what}s (integers >= 1), got {_show(values)}")
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must hold at least one {what}, got an empty list")
    return tuple(check_int(f"{name}[{i}]", value, low=1) for i, value in enumerate(values))


def check_ranks(name, ranks):
    """LoRA ranks: a non-empty list of integers >= 1."""
    return check_positive_ints(name, ranks, "rank")


def _check_model(base_model, X, y, name):
    if not isinstance(base_model, MLP):
        raise TypeError(f"base_model must be a lorabook.nn.MLP (e.g. from train_source_model), got {_show(base_model)}")
    sizes = base_model.sizes
    if X.shape[1] != sizes[0]:
        raise ValueError(f"{name} has {X.shape[1]} features but base_model expects {sizes[0]} inputs (sizes {sizes})")
    if y.min() < 0 or y.max() >= sizes[-1]:
        raise ValueError(f"{name}: labels must be in [0, {sizes[-1]}) for base_model's {sizes[-1]} outputs, "
                         f"got values from {y.min()} to {y.max()}")


def check_fits(base_model, name, data):
    """`data` as (X, y) that base_model can take: X (n, sizes[0]), y (n,) labels in [0, sizes[-1]).

    Every experiment checks all of its data this way before the first run
    trains, so a bad test set fails at once, not after minutes of training.
    None passes through (an optional source_data).
    """
    if data is None:
        return None
    X, y = check_data(name, data, labels=True, x_ndim=2)
    _check_model(base_model, X, y, name)
    return X, y


def _per_method(name, value, method, defaults):
    """A setting given as one number for every method, a dict by method, or None (the default)."""
    if isinstance(value, dict):
        value = value.get(method)
    return defaults[method] if value is None else value


# ----- the source model ------------------------------------------------------------------
def train_source_model(data: tuple, sizes: Sequence[int] = (64, 128, 128, 10), epochs: int = 60, lr: float = 3e-3,
                       batch_size: int = 64, seed: int = 0, progress: bool = False) -> MLP:
    """An MLP trained on the source domain with Adam and cross-entropy.

    data: (X, y) with X (n, sizes[0]) and y (n,) labels in [0, sizes[-1]).
    The defaults reach about 96% on held-out upright digits in about a
    second (674 training images of make_domain_split's source half).
    Weights are drawn from `seed`, and so is the order of the examples.
    The model comes back with no gradients (.grad None), ready to adapt.
    """
    X, y = check_data("data", data, labels=True, x_ndim=2)
    model = MLP(sizes, generator=np.random.default_rng(check_int("seed", seed, low=0)))
    _check_model(model, X, y, "data")
    fit(model, (X, y), F.cross_entropy, Adam(model.parameters(), lr=check_float("lr", lr, low=0.0, low_open=True)),
        epochs=epochs, batch_size=batch_size, seed=seed, progress=progress)
    model.zero_grad()  # a finished model: the last step's gradients would only take memory (and mislead)
    return model


# ----- one adaptation run ------------------------------------------------------------------
def rank_caps(model: Any, rank: int, lora_alpha: float, use_rslora: bool = False) -> tuple:
    """rank_pattern and alpha_pattern capping r at min(out, in) for each Linear layer of `model`.

    An update of a (10, 128) head has rank at most 10, so a rank-32 adapter
    there would only add parameters that cannot help (LoRA warns about it).
    A capped layer keeps the scaling every other layer has: alpha / r becomes
    alpha_c / cap with alpha_c = alpha * cap / r, and with rsLoRA alpha / sqrt(r)
    becomes alpha_c / sqrt(cap) with alpha_c = alpha * sqrt(cap / r).
    """
    ranks, alphas = {}, {}
    for name, module in model.named_modules():
        if isinstance(module, Linear) and min(module.weight.shape) < rank:
            cap = min(module.weight.shape)
            ranks[re.escape(name)] = cap
            alphas[re.escape(name)] = lora_alpha * (math.sqrt(cap / rank) if use_rslora else cap / rank)
    return ranks, alphas


def layer_ranks(model: Any) -> dict:
    """{layer name: r of its active adapter} for every LoRA layer of a PeftModel, in module order.

    The ranks actually used, after rank_caps: {"0": 16, "2": 16, "4": 10} for
    rank=16 on the 64-128-128-10 MLP. Names are those of the base model.
    """
    adapter = model.active_adapter
    return {name: int(module.r[adapter])
            for name, module in model.get_base_model().named_modules() if isinstance(module, LoraLinear)}


def prepare_model(base_model, method, rank, lora_alpha, use_rslora, init_lora_weights, target_modules, seed):
    """A copy of base_model with only `method`'s parameters trainable, exactly as `adapt` trains it.

    For LoRA: get_peft_model with r capped per layer (rank_caps) and the
    adapters drawn from numpy.random.default_rng(seed).
    """
    model = copy.deepcopy(base_model)  # base_model itself is never changed
    if method == "lora":
        rank_pattern, alpha_pattern = rank_caps(model, rank, lora_alpha, use_rslora)
        config = LoraConfig(r=rank, lora_alpha=lora_alpha, target_modules=target_modules,
                            init_lora_weights=init_lora_weights, use_rslora=use_rslora,
                            rank_pattern=rank_pattern, alpha_pattern=alpha_pattern)
        return get_peft_model(model, config, generator=np.random.default_rng(seed))
    if method == "head-only":
        model.requires_grad_(False)
        last = [m for m in model.modules() if isinstance(m, Linear)][-1]
        last.requires_grad_(True)
    return model


def _update_penalty(model, reference):
    """sum over layers of ||delta W||_F^2 as a Tensor in the graph.

    LoRA layers: delta W = scaling * B @ A. Trainable plain Linear layers:
    delta W = W - W_source (the L2-SP penalty of Li et al. 2018).
    """
    terms = []
    source = dict(reference.named_parameters())
    for name, module in model.named_modules():
        if isinstance(module, LoraLinear):
            for adapter in module.active_adapters:
                delta = (module.lora_B[adapter].weight @ module.lora_A[adapter].weight) * module.scaling[adapter]
                terms.append((delta * delta).sum())
    for name, param in model.named_parameters():
        if param.requires_grad and name.endswith("weight") and "lora_" not in name:
            delta = param - source[name].data
            terms.append((delta * delta).sum())
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _loss_function(model, reference, update_penalty):
    if update_penalty == 0:
        return F.cross_entropy

    def loss_with_penalty(output, targets):
        return F.cross_entropy(output, targets) + update_penalty * _update_penalty(model, reference)

    return loss_with_penalty


def adapt(base_model: MLP, method: str, train_data: tuple, test_data: tuple, rank: Optional[int] = None,
          lora_alpha: Optional[float] = None, use_rslora: bool = False, init_lora_weights: Union[bool, str] = True,
          target_modules: Any = "all-linear", epochs: Optional[int] = None, lr: Any = None, batch_size: int = 32,
          weight_decay: float = 0.0, update_penalty: float = 0.0, seed: int = 0, source_data: Optional[tuple] = None,
          progress: bool = False, measure_memory: bool = True) -> tuple:
    """Adapt a copy of `base_model` to the target with one method; returns (record, adapted model).

    base_model: an MLP trained on the source (never changed). method: one of
    METHODS. train_data, test_data: (X, y) from the target domain.
    source_data: optionally (X, y) from the source, to see what adapting costs there.
    rank, lora_alpha (default 2 * rank), use_rslora, init_lora_weights,
    target_modules: LoraConfig's, for method="lora" only. rank is capped at
    min(out, in) on each layer, silently (module doc; rank_caps); the record's
    layer_ranks says which r each layer got.
    epochs (default 60), lr (default DEFAULT_LR[method]), batch_size: Adam's training.
    weight_decay: Adam's L2 term on the trainable parameters (on A and B for LoRA).
    update_penalty: lambda in  loss + lambda * sum ||delta W||_F^2, delta W = scaling B A
    (LoRA) or W - W_source (full, head-only).
    measure_memory: trace two extra steps on a copy for peak_memory_bytes (tracing
    is kept out of the timed run: it slows Python's allocations 3-4 times).

    The record (RECORD_KEYS): method, label, rank, lora_alpha, n_train (the label
    budget), epochs, lr, batch_size, weight_decay, update_penalty, seed,
    trainable_params, total_params, optimizer_state_bytes (Adam's m and v),
    train_accuracy and test_accuracy (after training, eval mode),
    source_accuracy (None without source_data), wall_time_s (training only),
    peak_memory_bytes (tracemalloc peak over two training steps, 0 for source-only),
    layer_ranks ({layer name: r used} for LoRA, e.g. {"0": 16, "2": 16, "4": 10}
    for rank=16 on a 64-128-128-10 MLP; None for the other methods). rank and
    label give the r asked for; trainable_params counts the capped adapters.
    The adapted model is the PeftModel for LoRA (unmerged), else the MLP copy.
    """
    check_choice("method", method, METHODS)
    X, y = check_fits(base_model, "train_data", train_data)
    test_data = check_fits(base_model, "test_data", test_data)
    source_data = check_fits(base_model, "source_data", source_data)
    seed = check_int("seed", seed, low=0)
    if method == "lora":
        if rank is None:
            raise ValueError("rank must be given for method='lora' (an integer >= 1), got None")
        rank = check_int("rank", rank, low=1)
        lora_alpha = 2 * rank if lora_alpha is None else lora_alpha
    elif rank is not None or lora_alpha is not None:
        raise ValueError(f"rank and lora_alpha apply to method='lora' only; got rank={rank!r}, "
                         f"lora_alpha={lora_alpha!r} for method={method!r}")
    epochs = check_int("epochs", DEFAULT_EPOCHS if epochs is None else epochs, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    update_penalty = check_float("update_penalty", update_penalty, low=0.0)
    lr = None if method == "source-only" else check_float("lr", _per_method("lr", lr, method, DEFAULT_LR),
                                                          low=0.0, low_open=True)

    model = prepare_model(base_model, method, rank, lora_alpha, use_rslora, init_lora_weights, target_modules, seed)
    params = [p for p in model.parameters() if p.requires_grad]
    record = {
        "method": method, "label": f"LoRA r={rank}" if method == "lora" else LABELS[method],
        "rank": rank, "lora_alpha": plain(lora_alpha), "n_train": len(X),
        "epochs": epochs if method != "source-only" else 0, "lr": lr, "batch_size": batch_size,
        "weight_decay": weight_decay, "update_penalty": update_penalty, "seed": seed,
        "trainable_params": 0 if method == "source-only" else sum(p.size for p in params),
        "total_params": sum(p.size for p in model.parameters()),
        "optimizer_state_bytes": 0, "wall_time_s": 0.0, "peak_memory_bytes": 0,
        "layer_ranks": layer_ranks(model) if method == "lora" else None,
    }
    if method != "source-only":
        if measure_memory:
            batch = (X[:batch_size], y[:batch_size])
            record["peak_memory_bytes"] = measure_training_step(copy.deepcopy(model), batch, lr=lr)["peak"]
        optimizer = Adam(params, lr=lr, weight_decay=weight_decay)
        loss_fn = _loss_function(model, base_model, update_penalty)
        start = time.perf_counter()
        fit(model, (X, y), loss_fn, optimizer, epochs=epochs, batch_size=batch_size, seed=seed, progress=progress)
        record["wall_time_s"] = time.perf_counter() - start
        record["optimizer_state_bytes"] = optimizer.state_nbytes()
    record["train_accuracy"] = evaluate(model, (X, y))["accuracy"]
    record["test_accuracy"] = evaluate(model, test_data)["accuracy"]
    record["source_accuracy"] = None if source_data is None else evaluate(model, source_data)["accuracy"]
    return {key: plain(record[key]) for key in RECORD_KEYS}, model


# ----- comparisons ---------------------------------------------------------------------------
def compare_adaptation(base_model: MLP, train_data: tuple, test_data: tuple, ranks: Sequence[int] = DEFAULT_RANKS,
                       methods: Sequence[str] = METHODS, source_data: Optional[tuple] = None,
                       epochs: Optional[int] = None, lr: Any = None, batch_size: int = 32, seed: int = 0,
                       progress: bool = False, measure_memory: bool = True, **lora_options: Any) -> list:
    """Each method in `methods` (LoRA once per rank) on the same target data.

    ranks: LoRA ranks (integers >= 1), each capped at min(out, in) per layer
    as adapt caps it (see layer_ranks in each record). lr: None (DEFAULT_LR), one number, or
    a dict by method. lora_options: lora_alpha, use_rslora, init_lora_weights,
    target_modules (passed to adapt for the LoRA runs), weight_decay and
    update_penalty (for every trained method). measure_memory: as in adapt
    (False skips the traced extra steps, and peak_memory_bytes is 0). Returns
    records (see adapt), in the order of `methods`, LoRA by increasing rank as given.
    """
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(check_choice(f"methods[{i}]", m, METHODS) for i, m in enumerate(methods))
    if not methods:
        raise ValueError("methods must name at least one of " + ", ".join(METHODS))
    ranks = check_ranks("ranks", ranks) if "lora" in methods else ()
    check_bool("progress", progress)
    for name, data in (("train_data", train_data), ("test_data", test_data), ("source_data", source_data)):
        check_fits(base_model, name, data)
    shared = {k: lora_options.pop(k) for k in ("weight_decay", "update_penalty") if k in lora_options}
    unknown = set(lora_options) - {"lora_alpha", "use_rslora", "init_lora_weights", "target_modules"}
    if unknown:
        raise TypeError(f"compare_adaptation got unexpected keyword argument(s) {sorted(unknown)}")
    common = dict(source_data=source_data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                  measure_memory=check_bool("measure_memory", measure_memory))
    runs = []
    for method in methods:
        if method == "lora":
            runs.extend(("lora", dict(lora_options, rank=rank)) for rank in ranks)
        else:
            runs.append((method, {}))
    records = []
    with progress_bar(progress, len(runs), "adaptation runs", unit="run") as bar:
        for method, options in runs:
            options = dict(options, **common, **(shared if method != "source-only" else {}))
            record, _ = adapt(base_model, method, train_data, test_data, **options)
            records.append(record)
            bar.set_postfix_str(f"{record['label']}: test accuracy {record['test_accuracy']:.3f}", refresh=False)
            bar.update(1)
    return records


def compare_finetuning(base_model: MLP, train_data: tuple, test_data: tuple, ranks: Sequence[int] = DEFAULT_RANKS,
                       source_data: Optional[tuple] = None, epochs: Optional[int] = None, lr: Any = None,
                       batch_size: int = 32, seed: int = 0, progress: bool = False, **lora_options: Any) -> list:
    """Full fine-tuning and LoRA at each rank, the same model and target data.

    Records as compare_adaptation's: method, rank, trainable_params,
    optimizer_state_bytes, train_accuracy, test_accuracy, wall_time_s,
    peak_memory_bytes and the rest of RECORD_KEYS. A rank above a layer's
    min(out, in) is capped there (the 10-output head of the digits MLP gets
    at most r = 10); layer_ranks in each record lists the ranks used.
    """
    return compare_adaptation(base_model, train_data, test_data, ranks=ranks, methods=("full", "lora"),
                              source_data=source_data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                              progress=progress, **lora_options)


def epochs_for_steps(steps: int, n_train: int, batch_size: int) -> int:
    """Epochs that give at least `steps` optimizer steps on n_train examples: ceil(steps / batches per epoch)."""
    return max(1, math.ceil(steps / math.ceil(n_train / batch_size)))
