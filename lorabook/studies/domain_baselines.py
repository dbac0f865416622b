"""Notebook 05's larger studies: one adapter per domain, and aligning data instead of weights.

    records, peft_model = adapters_per_domain(model, {"rotated": (train, test), "inverted": (train, test)})
    records = data_space_baseline(split.source_train, split.target_train, split.target_test, base_model=model)
    records = data_space_vs_lora(X, y, {"invert": 1.0, "contrast": 0.3}, model)   # per shift

adapters_per_domain keeps ONE copy of the base weights and a small named
adapter per domain (PEFT's add_adapter / set_adapter): switching domains
switches a few thousand numbers, and the base model is still there
(`disable_adapter`). Every adapter is then tried on every domain, so the
table shows that each adapter is good at its own domain only.

data_space_baseline compares the older meaning of low-rank adaptation
(lorabook.domain: Subspace Alignment and CORAL change the data, using the
target's unlabelled inputs only) with LoRA, which changes the weights and
needs some target labels.
"""
from __future__ import annotations

import copy

import numpy as np

from lorabook._checks import _show, check_bool, check_data, check_float, check_int
from lorabook.data import make_domain_split
from lorabook.domain import coral, subspace_alignment
from lorabook.experiments import adapt, epochs_for_steps, train_source_model
from lorabook.experiments.finetune import DEFAULT_EPOCHS, DEFAULT_LR, check_fits
from lorabook.experiments.records import plain
from lorabook.lora import LoraConfig, get_peft_model
from lorabook.nn import functional as F
from lorabook.optim import Adam
from lorabook.train import evaluate, fit, predict, progress_bar

BASE = "base model"


def adapters_per_domain(base_model, domains, rank=4, lora_alpha=None, target_modules="all-linear", epochs=None,
                        lr=None, batch_size=32, seed=0, progress=False):
    """Train one LoRA adapter per domain on one copy of base_model; test every adapter on every domain.

    domains: {name: (train_data, test_data)}, each an (X, y) pair; the names
    become the adapter names (non-empty, no dots). rank, lora_alpha (default
    2 * rank), target_modules, epochs, lr (default DEFAULT_LR["lora"]),
    batch_size: as in adapt. base_model is not changed.
    Returns (records, peft_model): one record per (adapter, domain) with
    adapter (a domain name, or "base model" for the adapters disabled),
    domain, test_accuracy, own_domain (adapter == domain), trainable_params;
    and the PeftModel holding every adapter (the last one active).
    """
    if not isinstance(domains, dict) or not domains:
        raise TypeError(f"domains must be a non-empty dict {{name: (train_data, test_data)}}, got {_show(domains)}")
    checked = {}
    for name, pair in domains.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"domains[{name!r}] must be a (train_data, test_data) pair, got {_show(pair)}")
        checked[name] = (check_fits(base_model, f"domains[{name!r}] train_data", pair[0]),
                         check_fits(base_model, f"domains[{name!r}] test_data", pair[1]))
    rank = check_int("rank", rank, low=1)
    lora_alpha = 2 * rank if lora_alpha is None else lora_alpha
    epochs = check_int("epochs", DEFAULT_EPOCHS if epochs is None else epochs, low=1)
    lr = check_float("lr", DEFAULT_LR["lora"] if lr is None else lr, low=0.0, low_open=True)
    seed = check_int("seed", seed, low=0)
    check_bool("progress", progress)

    config = LoraConfig(r=rank, lora_alpha=lora_alpha, target_modules=target_modules)
    rng = np.random.default_rng(seed)
    peft_model = None
    with progress_bar(progress, len(checked), "adapters", unit="adapter") as bar:
        for name, (train_data, _) in checked.items():
            if peft_model is None:
                peft_model = get_peft_model(copy.deepcopy(base_model), config, adapter_name=name, generator=rng)
            else:
                peft_model.add_adapter(name, config, generator=rng)
            peft_model.set_adapter(name)  # only this adapter's A and B train
            params = [p for p in peft_model.parameters() if p.requires_grad]
            fit(peft_model, train_data, F.cross_entropy, Adam(params, lr=lr), epochs=epochs, batch_size=batch_size,
                seed=seed, progress=False)
            bar.update(1)

    trainable = peft_model.get_nb_trainable_parameters()[0]
    records = []
    with peft_model.disable_adapter():
        for domain, (_, test_data) in checked.items():
            records.append(_pair_record(BASE, domain, evaluate(peft_model, test_data)["accuracy"], 0))
    last = list(checked)[-1]
    for adapter in checked:
        peft_model.set_adapter(adapter)
        for domain, (_, test_data) in checked.items():
            records.append(_pair_record(adapter, domain, evaluate(peft_model, test_data)["accuracy"], trainable))
    peft_model.set_adapter(last)
    return records, peft_model


def _pair_record(adapter, domain, accuracy, trainable):
    return {"adapter": adapter, "domain": domain, "test_accuracy": plain(accuracy),
            "own_domain": adapter == domain, "trainable_params": plain(trainable)}


# ----- aligning the data instead of the weights -------------------------------------------------
def fit_linear_classifier(X, y, ridge=1e-3):
    """One-vs-rest least squares with a bias: W ((features + 1), classes) minimising
    ||[X 1] W - onehot(y)||^2 + ridge ||W||^2. Predict with linear_predict(W, X)."""
    features = np.column_stack([np.asarray(X, dtype=np.float64), np.ones(len(X))])
    targets = np.eye(int(np.max(y)) + 1)[np.asarray(y)]
    gram = features.T @ features + ridge * np.eye(features.shape[1])
    return np.linalg.solve(gram, features.T @ targets)


def linear_predict(W, X):
    """argmax over classes of [X 1] W, shape (n,)."""
    return (np.column_stack([np.asarray(X, dtype=np.float64), np.ones(len(X))]) @ W).argmax(axis=1)


def data_space_baseline(source_train, target_train, target_test, d=20, base_model=None, rank=4, n_labels=None,
                        seed=0, coral_eps=0.01, epochs=None):
    """Target test accuracy of data-space adaptation (no target labels) against LoRA (a few labels).

    A linear classifier (fit_linear_classifier) is trained on the source and
    tested on the target: as is ("linear, source only"), after Subspace
    Alignment with d components ("linear + subspace alignment"), and after
    CORAL with means matched ("linear + CORAL"; coral_eps = 0.01 because
    pixel values in [0, 1] vary by about 0.01 to 0.1, which the paper's eps = 1,
    meant for standardised features, would swamp). The unlabelled target inputs both methods may
    look at are those of target_train and target_test (transductive).
    With base_model (an MLP trained on the source) it is also tested as is
    ("MLP, source only"), on CORAL's terms ("MLP retrained on CORAL source",
    same sizes and seed) and adapted with LoRA of `rank` on the first
    `n_labels` (default: all) target_train examples ("MLP + LoRA r=...");
    epochs: for both MLP trainings (default: train_source_model's and adapt's, 60).
    Records: method, target_labels (how many target labels it used), test_accuracy.
    """
    Xs, ys = check_data("source_train", source_train, labels=True, x_ndim=2)
    Xtr, ytr = check_data("target_train", target_train, labels=True, x_ndim=2)
    Xte, yte = check_data("target_test", target_test, labels=True, x_ndim=2)
    if not Xs.shape[1] == Xtr.shape[1] == Xte.shape[1]:
        raise ValueError(f"source_train, target_train and target_test must have the same number of features, "
                         f"got {Xs.shape[1]}, {Xtr.shape[1]} and {Xte.shape[1]}")
    n_labels = len(ytr) if n_labels is None else check_int("n_labels", n_labels, low=1, high=len(ytr))
    unlabelled = np.concatenate([Xtr, Xte])
    records = []

    def add(method, labels, predictions):
        records.append({"method": method, "target_labels": labels,
                        "test_accuracy": float(np.mean(predictions == yte))})

    add("linear, source only", 0, linear_predict(fit_linear_classifier(Xs, ys), Xte))
    Xs_aligned, Xt_projected = subspace_alignment(Xs, unlabelled, d)
    add(f"linear + subspace alignment (d={d})", 0,
        linear_predict(fit_linear_classifier(Xs_aligned, ys), Xt_projected[len(Xtr):]))
    Xs_coral = coral(Xs, unlabelled, eps=check_float("coral_eps", coral_eps, low=0.0, low_open=True), match_means=True)
    add("linear + CORAL", 0, linear_predict(fit_linear_classifier(Xs_coral, ys), Xte))
    if base_model is not None:
        for name, data in (("source_train", (Xs, ys)), ("target_train", (Xtr, ytr)), ("target_test", (Xte, yte))):
            check_fits(base_model, name, data)
        add("MLP, source only", 0, predict(base_model, Xte))
        coral_model = train_source_model((Xs_coral, ys), sizes=tuple(base_model.sizes), seed=seed,
                                         epochs=DEFAULT_EPOCHS if epochs is None else epochs)
        add("MLP retrained on CORAL source", 0, predict(coral_model, Xte))
        record, _ = adapt(base_model, "lora", (Xtr[:n_labels], ytr[:n_labels]), (Xte, yte), rank=rank, seed=seed,
                          epochs=epochs, measure_memory=False)
        records.append({"method": f"MLP + LoRA r={rank}", "target_labels": n_labels,
                        "test_accuracy": record["test_accuracy"]})
    return records


# ----- aligning the data (no labels) against LoRA (a few labels), shift by shift --------------------
def data_space_vs_lora(X, y, shifts, base_model, n_labels=50, d=20, rank=4, steps=800, coral_eps=0.01, seed=0,
                       image_shape=(8, 8)):
    """Target test accuracy without target labels (data-space) and with n_labels of them (LoRA), per shift.

    For each {name: strength} a make_domain_split(X, y, name, strength,
    n_labels, seed) is drawn; base_model must be trained on its source part
    (the source part depends on the seed only, so one model serves every
    shift). Methods:
      data_space_baseline's linear rows (source only, subspace alignment, CORAL);
      "MLP, source only";
      "MLP on CORAL'd target": CORAL the other way round, the target's unlabelled
        inputs recoloured with the source's statistics (coral(Xt, Xs,
        match_means=True)), then fed to the source model unchanged (no retraining);
      "MLP + LoRA r=...": adapt on the n_labels target labels for about `steps` steps.
    Records: shift ("name strength"), method, target_labels, test_accuracy.
    """
    if not isinstance(shifts, dict) or not shifts:
        raise TypeError(f"shifts must be a non-empty dict {{name: strength}}, got {_show(shifts)}")
    n_labels = check_int("n_labels", n_labels, low=1)
    steps = check_int("steps", steps, low=1)
    records = []
    for name, strength in shifts.items():
        split = make_domain_split(X, y, name, strength, n_labels, seed=seed, image_shape=image_shape)
        Xs, _ = check_data("source_train", split.source_train, labels=True, x_ndim=2)
        Xtr, Xte, yte = split.target_train[0], *split.target_test
        label = f"{name} {strength:g}"
        rows = data_space_baseline(split.source_train, split.target_train, split.target_test, d=d,
                                   coral_eps=coral_eps)
        recoloured = coral(np.concatenate([Xtr, Xte]), Xs, eps=coral_eps, match_means=True)[len(Xtr):]
        rows.append({"method": "MLP, source only", "target_labels": 0,
                     "test_accuracy": evaluate(base_model, (Xte, yte))["accuracy"]})
        rows.append({"method": "MLP on CORAL'd target", "target_labels": 0,
                     "test_accuracy": evaluate(base_model, (recoloured, yte))["accuracy"]})
        record, _ = adapt(base_model, "lora", split.target_train, split.target_test, rank=rank, seed=seed,
                          epochs=epochs_for_steps(steps, n_labels, 32), measure_memory=False)
        rows.append({"method": f"MLP + LoRA r={rank}", "target_labels": n_labels,
                     "test_accuracy": record["test_accuracy"]})
        records += [{"shift": label, **row} for row in rows]
    return records
