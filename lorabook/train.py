"""Training loop: `fit`, `evaluate`, `predict`, `accuracy`, and the `History` they record.

    history = fit(model, (X_train, y_train), F.cross_entropy, Adam(model.parameters(), lr=1e-3),
                  epochs=20, batch_size=64, val_data=(X_test, y_test), seed=0)
    history.val_accuracy[-1]

One step is the same four lines as in PyTorch, written out in `fit` below:

    optimizer.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); optimizer.step()

Conventions (all as in Keras and the usual PyTorch tutorials):
- An epoch visits every training example once, in an order drawn from
  `np.random.default_rng(seed)`; the last mini-batch may be smaller.
  Same seed (and same model initialisation), same History, bit for bit.
- `train_loss[e]` is the mean loss over epoch e's mini-batches, measured
  *while the weights were changing* (weighted by batch size); `val_loss[e]`
  is measured with the weights at the end of epoch e, in eval mode. So early
  on, train_loss lags behind and can sit above val_loss.
- Accuracy is recorded when the targets are integer class labels and the
  model outputs scores of shape (N, C): the predicted class is the argmax.
- `loss_fn(output, targets)` must return the *mean* loss of the batch as a
  scalar Tensor (the default reduction of F.cross_entropy and F.mse_loss).
"""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Callable, Tuple

import numpy as np
from numpy.typing import ArrayLike

from ._checks import _show, check_bool, check_data, check_int, first_non_finite
from .autograd import Tensor, no_grad
from .history import History
from .nn import Module
from .optim import Optimizer
from .random import Seed, get_generator

if TYPE_CHECKING:  # for the annotation only: tqdm itself is imported when a bar is made
    from tqdm.auto import tqdm

Data = Tuple[ArrayLike, ArrayLike]
"""An (X, y) pair with one row per example: NumPy arrays, Tensors or anything np.asarray takes."""
LossFn = Callable[[Tensor, np.ndarray], Tensor]
"""loss_fn(output, targets) -> the batch's mean loss as a scalar Tensor, e.g. F.cross_entropy."""


class TrainingDivergedError(RuntimeError):
    """The loss, the validation loss or a parameter became NaN or infinite; `epoch` and `step` (1-based) say when.

    `history` holds the epochs completed before it happened.
    """

    def __init__(self, message, epoch, step, loss, history):
        super().__init__(message)
        self.epoch, self.step, self.loss, self.history = epoch, step, loss, history


# ----- argument checks ---------------------------------------------------------------
def _check_model(model):
    if not callable(model) or not hasattr(model, "modules"):
        raise TypeError(f"model must be a lorabook.nn.Module, got {_show(model)}")


def _input_dtype(model):
    """Inputs are cast to the model's parameter dtype, so float64 data does not silently
    turn a float32 model's computation into float64 (and back)."""
    for param in model.parameters():
        return param.dtype
    return np.dtype(np.float32)


def _is_class_labels(y):
    return y.ndim == 1 and y.dtype.kind in "iu"


def _modes(model):
    """Each submodule's training flag, to restore exactly what the caller had."""
    return [(module, module.training) for module in model.modules()]


def _restore(modes):
    for module, training in modes:
        object.__setattr__(module, "training", training)


def _batches(n, batch_size):
    return [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


# ----- evaluation ---------------------------------------------------------------------
def _as_model_input(name, X, model):
    """X in the model's parameter dtype. NaN, infinite entries, and entries too large for that
    dtype (1e300 would become inf in float32) are refused, naming the first one."""
    dtype = _input_dtype(model)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported just below, by index
        cast = X.astype(dtype, copy=False)
    index = first_non_finite(cast) if cast.dtype.kind == "f" else None
    if index is not None:
        where = f"{name}[{', '.join(str(i) for i in index)}]"
        value = X[index]
        if np.isfinite(value):
            raise ValueError(f"{where} is {value}, too large for the model's {dtype} "
                             f"(largest {np.finfo(dtype).max:.4g}); rescale the inputs")
        raise ValueError(f"{where} is {value}; inputs must be finite")
    return cast


def _forward_batched(model, X, batch_size):
    """model(X) in slices of batch_size rows, eval mode and no_grad; yields (start, stop, output array).

    X must already be in the model's dtype and checked (_as_model_input).
    """
    modes = _modes(model)
    model.eval()
    try:
        with no_grad():
            for start, stop in _batches(len(X), batch_size):
                yield start, stop, model(Tensor(X[start:stop])).data
    finally:
        _restore(modes)


def _loss_value(loss, training=False):
    """The float value of what loss_fn returned, which must be a one-element Tensor (backward starts
    there) and, in training, part of a graph that reaches trainable parameters."""
    if not isinstance(loss, Tensor):
        raise TypeError(
            f"loss_fn must return the batch's mean loss as a scalar Tensor computed from the model's output "
            f"(e.g. F.cross_entropy(output, targets)), so that backward can run through it; it returned "
            f"{_show(loss)} of type {type(loss).__name__}")
    if loss.size != 1:
        raise ValueError(f"loss_fn must return the batch's mean loss as a scalar Tensor, got a Tensor of shape "
                         f"{loss.shape}: take its .mean()")
    if training and not loss.requires_grad:
        raise TypeError("loss_fn returned a Tensor that does not depend on the model's trainable parameters "
                        "(requires_grad is False), so backward has nothing to compute: build the loss from "
                        "`output` with lorabook operations")
    return loss.item()


def evaluate(model: Module, data: Data, loss_fn: LossFn | None = None, batch_size: int = 1024,
             ) -> dict[str, float | None]:
    """Mean loss and accuracy of `model` on data = (X, y), in eval mode without a graph.

    Returns {"loss": float or None (no loss_fn), "accuracy": float or None
    (targets not class labels)}. The loss is the batch losses' mean weighted
    by batch size, i.e. the mean over all examples.
    """
    _check_model(model)
    X, y = check_data("data", data)
    batch_size = check_int("batch_size", batch_size, low=1)
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (e.g. F.cross_entropy) or None, got {_show(loss_fn)}")
    return _evaluate(model, _as_model_input("data: X", X, model), y, loss_fn, batch_size)


def _evaluate(model, X, y, loss_fn, batch_size=1024):
    """evaluate() on data already checked, X cast to the model's dtype: `fit` calls this after every
    epoch, on data it checked once before the first."""
    total_loss, correct, classes = 0.0, 0, _is_class_labels(y)
    for start, stop, output in _forward_batched(model, X, batch_size):
        targets = y[start:stop]
        if loss_fn is not None:
            with no_grad():
                total_loss += _loss_value(loss_fn(Tensor(output), targets)) * (stop - start)
        if classes:
            correct += _count_correct(output, targets)
    return {
        "loss": total_loss / len(X) if loss_fn is not None else None,
        "accuracy": correct / len(X) if classes and _are_class_scores(output) else None,
    }


def _are_class_scores(output):
    """Outputs of shape (N, C) with C >= 2 are class scores; their argmax is the prediction."""
    return output.ndim == 2 and output.shape[1] >= 2


def _count_correct(scores, targets):
    return int(np.count_nonzero(scores.argmax(axis=1) == targets)) if _are_class_scores(scores) else 0


def predict(model: Module, X: ArrayLike, batch_size: int = 1024) -> np.ndarray:
    """Predicted class of each row of X: argmax of model(X) over the last axis, (N,) int64."""
    _check_model(model)
    X = np.asarray(X.data if isinstance(X, Tensor) else X)
    batch_size = check_int("batch_size", batch_size, low=1)
    if X.ndim < 2 or len(X) == 0:
        raise ValueError(f"X must hold one row per example, shape (N, features) with N >= 1, got shape {X.shape}"
                         + (": for a single example pass X[None]" if X.ndim == 1 else ""))
    X = _as_model_input("X", X, model)
    parts = [output.argmax(axis=-1) for _, _, output in _forward_batched(model, X, batch_size)]
    return np.concatenate(parts).astype(np.int64)


def accuracy(model: Module, X: ArrayLike, y: ArrayLike, batch_size: int = 1024) -> float:
    """Fraction of rows of X whose predicted class equals the label in y."""
    X, y = check_data("(X, y)", (X, y))
    if not _is_class_labels(y):
        raise TypeError(f"y must be integer class labels of shape (N,), got shape {y.shape} and dtype {y.dtype}")
    return float(np.mean(predict(model, X, batch_size) == y))


# ----- training -----------------------------------------------------------------------
def _learning_rate_hint(optimizer):
    lr = getattr(optimizer, "param_groups", [{}])[0].get("lr")
    hint = f" (it is {lr:g} now)" if lr is not None else ""
    return f"The updates are too large: try a lower learning rate{hint}, e.g. 10 times smaller, or normalise the inputs."


def _diverged(epoch, epochs, step, steps, loss, optimizer, history):
    if (epoch, step) == (1, 1):
        # No update has happened yet and the data are finite: the learning rate cannot be the cause.
        return TrainingDivergedError(
            f"the loss of the very first batch is {loss}, before any update: the model's outputs or "
            f"loss_fn produce it (the data were checked and are finite), not the learning rate",
            epoch, step, loss, history,
        )
    return TrainingDivergedError(
        f"training diverged: the loss became {loss} at epoch {epoch} of {epochs}, step {step} of "
        f"{steps} in that epoch. {_learning_rate_hint(optimizer)}",
        epoch, step, loss, history,
    )


def _check_finite_parameters(named_parameters, epoch, epochs, steps, loss, optimizer, history):
    """Non-finite weights give NaN for every later input: stop at the end of the epoch that made them.

    (The loss of the last step can still be finite: it was computed before that step's update.)
    named_parameters: the model's (name, parameter) pairs, listed once when fit starts.
    """
    for name, param in named_parameters:
        if np.isfinite(param.data).all():  # the common case, with one temporary instead of first_non_finite's three
            continue
        index = first_non_finite(param.data)
        if index is not None:
            where = ", ".join(str(i) for i in index)
            raise TrainingDivergedError(
                f"training diverged: parameter {name}[{where}] is {param.data[index]} at the end of epoch "
                f"{epoch} of {epochs}. {_learning_rate_hint(optimizer)}",
                epoch, steps, loss, history,
            )


def _check_outputs(model, loss_fn, val_data, last_batch, epoch, epochs, steps, optimizer, history):
    """evaluate() on val_data (returned), or on the epoch's last batch without val_data (None returned);
    both already checked and cast by fit.

    Finite weights can still give non-finite outputs (1e36 * x overflows float32), so the model
    is run once after each epoch's updates, and a non-finite loss there stops training.
    """
    after = _evaluate(model, *(val_data if val_data is not None else last_batch), loss_fn)
    if not math.isfinite(after["loss"]):
        measured = "validation loss" if val_data is not None else "loss on the epoch's last batch"
        raise TrainingDivergedError(
            f"training diverged: the {measured} became {after['loss']} at the end of epoch {epoch} of {epochs}. "
            f"{_learning_rate_hint(optimizer)}",
            epoch, steps, after["loss"], history,
        )
    return after if val_data is not None else None


def progress_bar(enabled: bool, total: int, description: str, unit: str = "step") -> tqdm:
    """A tqdm bar of `total` units (in a terminal or a notebook); a silent one when enabled is False.

    The one progress bar of the package: `fit` counts steps with it, the
    experiments count runs (unit="run"). Use it as a context manager, so
    that it is closed even when training fails:

        with progress_bar(progress, len(runs), "adaptation runs", unit="run") as bar:
            ...; bar.update(1)
    """
    enabled = check_bool("progress", enabled)
    total = check_int("total", total, low=0)
    from tqdm.auto import tqdm  # imported here, not with the package: `import lorabook` stays quick

    return tqdm(total=total, desc=description, unit=unit, disable=not enabled, leave=True)


def fit(model: Module, train_data: Data, loss_fn: LossFn, optimizer: Optimizer, epochs: int, batch_size: int,
        val_data: Data | None = None, seed: Seed = 0, progress: bool = True) -> History:
    """Train `model` with mini-batches drawn from train_data; returns a `History`.

    train_data, val_data: (X, y) pairs of arrays with one row per example.
    X is cast to the model's parameter dtype. loss_fn(output, y_batch) -> the
    batch's mean loss (a scalar Tensor). optimizer: e.g. lorabook.optim.Adam.
    seed: the shuffling order (an int, a numpy Generator, or None for lorabook's
    default generator). progress: show a
    tqdm bar over the steps (in a terminal or a notebook).

    The model trains in train() mode and is evaluated in eval() mode without
    a graph; afterwards every submodule is back in the mode it had before.

    Bad data is refused before the first step: a NaN or infinite entry (or
    one too large for the model's dtype) raises ValueError naming the array
    and its first bad index. Training stops with TrainingDivergedError, naming
    epoch and step, when a training loss is NaN or infinite, and at the end
    of an epoch when a parameter is, or the loss after the epoch's updates
    on val_data (without val_data: on the last batch, after the last epoch):
    `fit` never returns a model whose weights or outputs are non-finite.
    """
    _check_model(model)
    X, y = check_data("train_data", train_data)
    if val_data is not None:
        val_data = check_data("val_data", val_data)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, e.g. lorabook.nn.functional.cross_entropy, got {_show(loss_fn)}")
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
        raise TypeError(f"optimizer must have step() and zero_grad() (e.g. lorabook.optim.Adam), got {_show(optimizer)}")
    epochs = check_int("epochs", epochs, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    progress = check_bool("progress", progress)
    rng = get_generator(seed, "seed")

    X = _as_model_input("train_data: X", X, model)
    if val_data is not None:  # checked and cast once, now, not after every epoch
        val_data = (_as_model_input("val_data: X", val_data[0], model), val_data[1])
    classes = _is_class_labels(y)
    history = History(
        train_accuracy=[] if classes else None,
        val_loss=[] if val_data is not None else None,
        val_accuracy=[] if val_data is not None and _is_class_labels(val_data[1]) else None,
    )
    n = len(X)
    batches = _batches(n, batch_size)
    modes = _modes(model)
    named_parameters = list(model.named_parameters())
    start_time = time.perf_counter()
    try:
        # Overflow warnings would only repeat, less clearly, what the divergence checks report.
        with progress_bar(progress, epochs * len(batches), "training") as bar, \
                np.errstate(over="ignore", invalid="ignore"):
            model.train()  # once: the evaluations after an epoch put back the modes they found
            for epoch in range(1, epochs + 1):
                order = rng.permutation(n)
                X_epoch, y_epoch = X[order], y[order]  # one shuffled copy; batches are views
                loss_sum, correct = 0.0, 0
                for step, (start, stop) in enumerate(batches, 1):
                    targets = y_epoch[start:stop]
                    optimizer.zero_grad()
                    output = model(Tensor(X_epoch[start:stop]))
                    loss = loss_fn(output, targets)
                    loss_value = _loss_value(loss, training=True)
                    if not math.isfinite(loss_value):
                        raise _diverged(epoch, epochs, step, len(batches), loss_value, optimizer, history)
                    loss.backward()
                    optimizer.step()
                    loss_sum += loss_value * (stop - start)
                    if classes:
                        if not _are_class_scores(output.data):
                            classes, history.train_accuracy = False, None
                        correct += _count_correct(output.data, targets)
                    bar.update(1)
                    # Let this step's graph go now, not when the next step reassigns the
                    # names: otherwise two steps' activations are alive at once.
                    del output, loss
                _check_finite_parameters(named_parameters, epoch, epochs, len(batches), loss_value, optimizer, history)
                val = None
                if val_data is not None or epoch == epochs:
                    # Without val_data only the last epoch needs this extra forward pass: after any
                    # other epoch, outputs gone non-finite stop training at the next step's loss.
                    val = _check_outputs(model, loss_fn, val_data, (X_epoch[start:stop], targets), epoch, epochs,
                                         len(batches), optimizer, history)
                _record_epoch(history, epoch, loss_sum / n, correct / n, val)
                history.time.append(time.perf_counter() - start_time)
                if progress:  # (formatting the numbers costs time in runs of many short epochs)
                    bar.set_postfix_str(_postfix(history), refresh=False)
    finally:
        _restore(modes)
    return history


def _record_epoch(history, epoch, train_loss, train_accuracy, val):
    """Append one epoch's numbers; val is evaluate's result on val_data, or None."""
    history.epochs.append(epoch)
    history.train_loss.append(train_loss)
    if history.train_accuracy is not None:
        history.train_accuracy.append(train_accuracy)
    if val is not None:
        history.val_loss.append(val["loss"])
        if val["accuracy"] is None:
            history.val_accuracy = None
        elif history.val_accuracy is not None:
            history.val_accuracy.append(val["accuracy"])


def _postfix(history):
    short = {"train_loss": "loss", "train_accuracy": "acc", "val_loss": "val_loss", "val_accuracy": "val_acc"}
    return f"epoch {history.epochs[-1]}, " + ", ".join(f"{short[k]}={v:.4f}" for k, v in history.final().items())
