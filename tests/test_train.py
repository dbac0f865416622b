"""fit / evaluate / predict: reproducibility, the divergence guard, modes, argument checks, and
that an MLP actually learns the two built-in tasks."""
import numpy as np
import pytest

from lorabook import nn, optim
from lorabook.data import load_digits, make_moons, train_test_split
from lorabook.nn import functional as F
from lorabook.train import History, TrainingDivergedError, accuracy, evaluate, fit, predict


def small_classification(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    return X, y


def train_small(seed, model_seed=0, epochs=3):
    X, y = small_classification()
    model = nn.MLP([4, 16, 3], generator=model_seed)
    history = fit(model, (X[:90], y[:90]), F.cross_entropy, optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                  epochs=epochs, batch_size=16, val_data=(X[90:], y[90:]), seed=seed, progress=False)
    return history, model


# ----- reproducibility ---------------------------------------------------------------
def test_same_seed_gives_bit_identical_history_and_weights():
    first, model_a = train_small(seed=7)
    second, model_b = train_small(seed=7)
    assert first == second
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert getattr(first, name) == getattr(second, name)  # exact float equality
    for (name, a), (_, b) in zip(model_a.named_parameters(), model_b.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_another_seed_shuffles_differently():
    first, _ = train_small(seed=7)
    other, _ = train_small(seed=8)
    assert first.train_loss != other.train_loss


def test_history_layout_and_printing():
    history, _ = train_small(seed=0, epochs=4)
    assert history.epochs == [1, 2, 3, 4]
    assert len(history.time) == 4 and all(b >= a for a, b in zip(history.time, history.time[1:]))
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert len(getattr(history, name)) == 4
    assert all(0.0 <= a <= 1.0 for a in history.train_accuracy + history.val_accuracy)
    assert history.final()["val_loss"] == history.val_loss[-1]
    assert "4 epochs" in repr(history) and f"val_accuracy={history.val_accuracy[-1]:.4f}" in repr(history)
    lines = history.summary().splitlines()
    assert len(lines) == 5 and "train_loss" in lines[0]
    # nothing that changes from run to run unless asked for: a notebook printing it stays the same
    assert "time" not in lines[0] and " s;" not in repr(history)
    timed = history.summary(times=True).splitlines()
    assert "time (s)" in timed[0] and timed[-1].endswith(f"{history.time[-1]:.2f}")


def test_regression_targets_give_no_accuracy_and_no_val_without_val_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3)).astype(np.float32)
    Y = X @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
    model = nn.Linear(3, 1, generator=0)
    history = fit(model, (X, Y), F.mse_loss, optim.SGD(model.parameters(), lr=0.1), epochs=30, batch_size=10,
                  progress=False)
    assert history.train_accuracy is None and history.val_loss is None and history.val_accuracy is None
    assert history.train_loss[-1] < 1e-3 * history.train_loss[0]
    assert evaluate(model, (X, Y), F.mse_loss)["accuracy"] is None


# ----- divergence ------------------------------------------------------------------------
def test_non_finite_loss_stops_with_epoch_and_step_named():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 8)).astype(np.float32) * 10
    Y = rng.standard_normal((64, 1)).astype(np.float32)
    model = nn.MLP([8, 32, 1], generator=0)
    model.eval()
    with pytest.raises(TrainingDivergedError) as caught:
        fit(model, (X, Y), F.mse_loss, optim.SGD(model.parameters(), lr=1e4), epochs=50, batch_size=8,
            progress=False)
    error = caught.value
    assert isinstance(error, RuntimeError)
    assert error.step >= 1 and error.epoch >= 1 and not np.isfinite(error.loss)
    message = str(error)
    assert f"epoch {error.epoch} of 50" in message and f"step {error.step} of 8" in message
    assert "lower learning rate" in message and "10000" in message
    assert len(error.history.train_loss) == error.epoch - 1  # the completed epochs
    assert model.training is False  # the caller's mode is restored even after an error


@pytest.mark.parametrize(
    "where, pattern",
    [
        ("train X", r"^train_data: X\[17, 2\] is nan"),
        ("train y", r"^train_data: y\[5, 0\] is inf"),
        ("val X", r"^val_data: X\[3, 1\] is -inf"),
    ],
)
def test_non_finite_data_is_named_with_its_first_bad_index_before_training(where, pattern):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4)).astype(np.float32)
    Y = rng.standard_normal((40, 1)).astype(np.float32)
    X_val, Y_val = X[:10].copy(), Y[:10].copy()
    if where == "train X":
        X[17, 2] = X[30, 0] = np.nan  # the first one is named
    elif where == "train y":
        Y[5, 0] = np.inf
    else:
        X_val[3, 1] = -np.inf
    model = nn.Linear(4, 1, generator=0)
    before = model.weight.data.copy()
    with pytest.raises(ValueError, match=pattern):
        fit(model, (X, Y), F.mse_loss, optim.SGD(model.parameters(), lr=0.1), epochs=2, batch_size=8,
            val_data=(X_val, Y_val), progress=False)
    np.testing.assert_array_equal(model.weight.data, before)  # refused before the first step


def test_inputs_too_large_for_the_model_dtype_are_refused_not_turned_into_inf():
    X, y = small_classification(20)
    X = X.astype(np.float64)
    X[4, 1] = 1e300  # finite in float64, inf in the model's float32
    model = nn.MLP([4, 8, 3], generator=0)
    with pytest.raises(ValueError, match=r"train_data: X\[4, 1\] is 1e\+300, too large for the model's float32"):
        fit(model, (X, y), F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), epochs=1, batch_size=4,
            progress=False)


@pytest.mark.parametrize("with_val_data, epochs", [(True, 3), (False, 1)])
def test_a_model_whose_outputs_overflow_is_never_returned(with_val_data, epochs):
    # lr = 1e36 keeps every weight finite in float32 (its largest is 3.4e38), but the outputs overflow:
    # the epoch's only step had a finite loss, so the check after the epoch must catch it (after every
    # epoch with val_data, after the last one without).
    X, y = small_classification(40)
    model = nn.MLP([4, 8, 3], generator=0)
    val_data = (X, y) if with_val_data else None
    with pytest.raises(TrainingDivergedError) as caught:
        fit(model, (X, y), F.cross_entropy, optim.SGD(model.parameters(), lr=1e36), epochs=epochs, batch_size=40,
            val_data=val_data, progress=False)
    error = caught.value
    assert (error.epoch, error.step) == (1, 1) and not np.isfinite(error.loss)
    assert ("validation loss" if with_val_data else "last batch") in str(error)
    assert "1e+36" in str(error) and error.history.epochs == []


def test_without_val_data_outputs_gone_non_finite_stop_training_at_the_next_step():
    # The same overflow in an epoch that is not the last: the next step's loss is the first to see it.
    X, y = small_classification(40)
    model = nn.MLP([4, 8, 3], generator=0)
    with pytest.raises(TrainingDivergedError, match=r"loss became \S+ at epoch 2 of 3, step 1 of 1") as caught:
        fit(model, (X, y), F.cross_entropy, optim.SGD(model.parameters(), lr=1e36), epochs=3, batch_size=40,
            progress=False)
    assert not np.isfinite(caught.value.loss) and caught.value.history.epochs == [1]


class BreakingSGD(optim.SGD):
    """SGD that writes an infinity into the first weight on its fourth step (a bug a student might write)."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.steps = 0

    def step(self):
        super().step()
        self.steps += 1
        if self.steps == 4:  # the last step of epoch 2, so no loss sees it
            self.param_groups[0]["params"][0].data[1, 2] = np.inf


def test_non_finite_parameters_stop_training_at_the_end_of_the_epoch():
    X, y = small_classification(40)
    model = nn.MLP([4, 8, 3], generator=0)
    with pytest.raises(TrainingDivergedError, match=r"parameter 0\.weight\[1, 2\] is inf at the end of epoch 2 of 4"):
        fit(model, (X, y), F.cross_entropy, BreakingSGD(model.parameters(), lr=0.1), epochs=4, batch_size=20,
            progress=False)


def test_a_loss_fn_returning_a_float_gets_an_error_about_the_loss():
    X, y = small_classification(20)
    model = nn.MLP([4, 8, 3], generator=0)

    def float_loss(output, targets):
        return float(F.cross_entropy(output, targets).item())

    with pytest.raises(TypeError, match=r"loss_fn must return the batch's mean loss as a scalar Tensor.*returned \d\.\d+ of type float"):
        fit(model, (X, y), float_loss, optim.SGD(model.parameters(), lr=0.1), epochs=1, batch_size=4, progress=False)
    with pytest.raises(ValueError, match=r"shape \(4,\): take its \.mean\(\)"):
        fit(model, (X, y), lambda out, t: (out * out).sum(axis=1), optim.SGD(model.parameters(), lr=0.1), epochs=1,
            batch_size=4, progress=False)


# ----- modes ----------------------------------------------------------------------------
class ModeRecorder(nn.Module):
    """Linear layer that records whether it ran in training mode and with a graph."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3, generator=0)
        self.seen = []

    def forward(self, x):
        out = self.fc(x)
        self.seen.append((self.training, out.requires_grad))
        return out


def test_train_mode_while_stepping_eval_and_no_grad_while_evaluating_then_modes_restored():
    X, y = small_classification(40)
    model = nn.Sequential(ModeRecorder(), nn.Dropout(0.5))
    model.eval()
    model[0].train()  # a mixed state the caller chose must come back exactly
    fit(model, (X, y), F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), epochs=2, batch_size=20,
        val_data=(X, y), progress=False)
    seen = model[0].seen
    # per epoch: 2 training steps, then 1 evaluation batch
    assert seen == [(True, True), (True, True), (False, False)] * 2
    assert model.training is False and model[0].training is True and model[1].training is False


# ----- evaluate, predict, accuracy -----------------------------------------------------------
def test_evaluate_matches_a_manual_full_batch_computation():
    X, y = small_classification(103)
    model = nn.MLP([4, 16, 3], generator=1, dtype=np.float64)
    result = evaluate(model, (X, y), F.cross_entropy, batch_size=10)  # 11 batches, the last one of 3
    from lorabook import Tensor, no_grad

    with no_grad():
        logits = model(Tensor(X.astype(np.float64)))
        manual_loss = F.cross_entropy(logits, y).item()
    assert result["loss"] == pytest.approx(manual_loss, rel=1e-12)
    assert result["accuracy"] == np.mean(logits.data.argmax(axis=1) == y)
    np.testing.assert_array_equal(predict(model, X, batch_size=7), logits.data.argmax(axis=1))
    assert accuracy(model, X, y) == result["accuracy"]
    assert evaluate(model, (X, y))["loss"] is None


def test_fit_casts_inputs_to_the_model_dtype():
    X, y = small_classification(32)
    model = nn.MLP([4, 8, 3], generator=0)
    fit(model, (X.astype(np.float64), y), F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), epochs=1,
        batch_size=8, progress=False)
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_progress_bar_shows_steps_and_loss(capsys):
    X, y = small_classification(40)
    model = nn.MLP([4, 8, 3], generator=0)
    fit(model, (X, y), F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), epochs=2, batch_size=10,
        progress=True)
    err = capsys.readouterr().err
    assert "8/8" in err and "loss=" in err


# ----- bad arguments --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, error, words",
    [
        (dict(epochs=0), ValueError, ["epochs", ">= 1", "0"]),
        (dict(epochs=2.5), TypeError, ["epochs", "integer", "2.5"]),
        (dict(batch_size=-3), ValueError, ["batch_size", "-3"]),
        (dict(train_data=np.zeros((4, 4))), TypeError, ["train_data", "(X, y) pair"]),
        (dict(train_data=(np.zeros((4, 4)), np.zeros(3, dtype=np.int64))), ValueError, ["train_data", "4 rows", "3"]),
        (dict(val_data=(np.zeros((5, 4)), np.zeros(2, dtype=np.int64))), ValueError, ["val_data", "5 rows", "2"]),
        (dict(loss_fn="cross_entropy"), TypeError, ["loss_fn", "callable"]),
        (dict(optimizer=0.1), TypeError, ["optimizer"]),
        (dict(progress="yes"), TypeError, ["progress", "'yes'"]),
        (dict(seed=1.5), TypeError, ["seed"]),
    ],
)
def test_bad_arguments_name_the_argument(change, error, words):
    X, y = small_classification(20)
    model = nn.MLP([4, 8, 3], generator=0)
    arguments = dict(model=model, train_data=(X, y), loss_fn=F.cross_entropy,
                     optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=1, batch_size=4, progress=False)
    arguments.update(change)
    with pytest.raises(error) as caught:
        fit(**arguments)
    for word in words:
        assert word in str(caught.value)


def test_evaluate_and_accuracy_reject_bad_input():
    model = nn.MLP([4, 8, 3], generator=0)
    with pytest.raises(ValueError, match="data: X has 3 rows but y has 2"):
        evaluate(model, (np.zeros((3, 4)), np.zeros(2, dtype=np.int64)))
    with pytest.raises(TypeError, match="integer class labels"):
        accuracy(model, np.zeros((3, 4)), np.zeros(3))
    with pytest.raises(TypeError, match="model must be a lorabook.nn.Module"):
        evaluate("model", (np.zeros((3, 4)), np.zeros(3)))


# ----- it learns -----------------------------------------------------------------------------
def test_mlp_reaches_97_percent_on_two_moons():
    X, y = make_moons(1000, noise=0.15, seed=0)
    split = train_test_split(X, y, test_fraction=0.25, seed=0)
    model = nn.MLP([2, 32, 32, 2], generator=0)
    history = fit(model, (split.X_train, split.y_train), F.cross_entropy, optim.Adam(model.parameters(), lr=1e-2),
                  epochs=20, batch_size=32, val_data=(split.X_test, split.y_test), seed=0, progress=False)
    test_accuracy = accuracy(model, split.X_test, split.y_test)
    assert test_accuracy == history.val_accuracy[-1]
    assert test_accuracy >= 0.97, history.summary()


def test_mlp_reaches_95_percent_on_digits():
    X, y = load_digits()
    split = train_test_split(X, y, test_fraction=0.25, seed=0)
    model = nn.MLP([64, 128, 10], generator=0)
    history = fit(model, (split.X_train, split.y_train), F.cross_entropy, optim.Adam(model.parameters(), lr=1e-3),
                  epochs=20, batch_size=32, val_data=(split.X_test, split.y_test), seed=0, progress=False)
    test_accuracy = accuracy(model, split.X_test, split.y_test)
    assert test_accuracy >= 0.95, history.summary()
    assert isinstance(history, History)


# ----- found by fuzzing ----------------------------------------------------------------------
def test_predict_on_a_single_row_says_how_to_pass_one_example():
    model = nn.MLP([4, 8, 3], generator=0)
    with pytest.raises(ValueError, match=r"shape \(N, features\).*got shape \(4,\): for a single example pass X\[None\]"):
        predict(model, np.zeros(4, dtype=np.float32))
    assert predict(model, np.zeros(4, dtype=np.float32)[None]).shape == (1,)


def test_a_non_finite_loss_before_any_update_does_not_blame_the_learning_rate():
    X, y = small_classification(20)
    model = nn.MLP([4, 8, 3], generator=0)
    with pytest.raises(TrainingDivergedError, match=r"^the loss of the very first batch is nan, before any update") as caught:
        fit(model, (X, y), lambda out, t: F.cross_entropy(out, t) * float("nan"), optim.SGD(model.parameters(), lr=0.1),
            epochs=1, batch_size=4, progress=False)
    assert "learning rate" not in str(caught.value).split("not the")[0]


def test_a_loss_that_does_not_depend_on_the_parameters_is_named():
    X, y = small_classification(20)
    model = nn.MLP([4, 8, 3], generator=0)
    from lorabook import Tensor

    with pytest.raises(TypeError, match=r"^loss_fn returned a Tensor that does not depend on the model's trainable"):
        fit(model, (X, y), lambda out, t: Tensor(np.float32(1.0)), optim.SGD(model.parameters(), lr=0.1), epochs=1,
            batch_size=4, progress=False)
