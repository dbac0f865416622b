"""Training figures are checked on the data they draw, not on pixels."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import lorabook as lb  # noqa: E402
from lorabook import nn  # noqa: E402
from lorabook.nn import functional as F  # noqa: E402
from lorabook.plots.training import (  # noqa: E402
    plot_decision_boundary, plot_digits, plot_graph, plot_learning_curves,
)
from lorabook.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def history(offset=0.0, accuracy=True):
    return History(
        train_loss=[1.0 + offset, 0.5 + offset, 0.25 + offset],
        train_accuracy=[0.5, 0.7, 0.9] if accuracy else None,
        val_loss=[1.1 + offset, 0.6 + offset, 0.4 + offset],
        val_accuracy=[0.4, 0.6, 0.8] if accuracy else None,
        epochs=[1, 2, 3],
        time=[0.1, 0.2, 0.3],
    )


# ----- learning curves ------------------------------------------------------------------
def test_learning_curves_draw_the_history():
    h = history()
    fig = plot_learning_curves(h)
    loss_ax, acc_ax = fig.axes
    lines = {line.get_label(): line for line in loss_ax.lines}
    assert set(lines) == {"train", "val"}
    np.testing.assert_array_equal(lines["train"].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines["train"].get_ydata(), h.train_loss)
    np.testing.assert_array_equal(lines["val"].get_ydata(), h.val_loss)
    assert lines["val"].get_linestyle() == "--"
    acc = {line.get_label(): line.get_ydata() for line in acc_ax.lines}
    np.testing.assert_array_equal(acc["train"], h.train_accuracy)
    np.testing.assert_array_equal(acc["val"], h.val_accuracy)
    fig.canvas.draw()
    for axis in fig.axes:  # whole epochs only on the x axis
        assert all(float(tick).is_integer() for tick in axis.get_xticks())


def test_learning_curves_compare_runs_one_colour_each():
    runs = {"SGD": history(0.0), "Adam": history(-0.2)}
    fig = plot_learning_curves(runs, log_loss=True)
    loss_ax = fig.axes[0]
    labels = [line.get_label() for line in loss_ax.lines]
    assert labels == ["SGD train", "SGD val", "Adam train", "Adam val"]
    np.testing.assert_allclose(loss_ax.lines[2].get_ydata(), runs["Adam"].train_loss)
    assert loss_ax.lines[0].get_color() == loss_ax.lines[1].get_color() != loss_ax.lines[2].get_color()
    assert loss_ax.get_yscale() == "log"


def test_learning_curves_without_accuracy_have_one_panel():
    fig = plot_learning_curves(history(accuracy=False))
    assert len(fig.axes) == 1


def test_learning_curves_reject_non_histories():
    with pytest.raises(TypeError, match=r"histories\['a'\] must be a History"):
        plot_learning_curves({"a": [1, 2]})
    with pytest.raises(ValueError, match="no epochs"):
        plot_learning_curves(History())


# ----- decision boundary ------------------------------------------------------------------
def test_decision_boundary_image_is_the_prediction_on_the_grid():
    # a fixed linear classifier: class 1 where x1 > x2
    model = nn.Linear(2, 2, generator=0)
    model.weight.data[:] = [[0.0, 1.0], [1.0, 0.0]]
    model.bias.data[:] = 0.0
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 3.0], [3.0, 1.0]], dtype=np.float32)
    y = np.array([0, 1, 0, 0])
    fig = plot_decision_boundary(model, X, y, resolution=30, padding=0.5)
    ax = fig.axes[0]
    image = ax.images[0]
    regions = np.asarray(image.get_array())
    assert regions.shape == (30, 30)
    xs, ys = np.linspace(-0.5, 3.5, 30), np.linspace(-0.5, 3.5, 30)
    expected = (xs[None, :] > ys[:, None]).astype(int)  # row j is y = ys[j] (origin lower)
    on_diagonal = np.isclose(xs[None, :], ys[:, None])
    np.testing.assert_array_equal(regions[~on_diagonal], expected[~on_diagonal])
    assert image.get_extent() == pytest.approx([-0.5, 3.5, -0.5, 3.5])
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), X)
    assert "0.750" in ax.get_title()  # the point (3, 1) is on the class-1 side but labelled 0


def test_decision_boundary_draws_into_given_axes_and_checks_input():
    fig, axes = plt.subplots(1, 2)
    model = nn.MLP([2, 4, 3], generator=0)
    X = np.random.default_rng(0).standard_normal((20, 2))
    y = np.arange(20) % 3
    assert plot_decision_boundary(model, X, y, ax=axes[1], resolution=10) is fig
    assert len(axes[1].images) == 1 and not axes[0].images
    with pytest.raises(ValueError, match="X must have 2 columns"):
        plot_decision_boundary(model, np.zeros((5, 3)), np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="y must be integer class labels"):
        plot_decision_boundary(model, X, np.zeros(20))


# ----- digits -----------------------------------------------------------------------------------
def test_digits_grid_shows_n_images_with_titles_and_red_mistakes():
    rng = np.random.default_rng(0)
    X = rng.random((30, 64)).astype(np.float32)
    y = np.arange(30) % 10
    predictions = y.copy()
    predictions[[1, 4]] = 7
    fig = plot_digits(X, y, predictions, n=12, ncols=6)
    image_axes = [axis for axis in fig.axes if axis.images]
    assert len(image_axes) == 12
    np.testing.assert_allclose(image_axes[3].images[0].get_array(), X[3].reshape(8, 8))
    titles = [axis.get_title() for axis in image_axes]
    assert titles[1] == "pred 7 / true 1" and titles[0] == "pred 0 / true 0"
    red = [i for i, axis in enumerate(image_axes) if axis.title.get_color() == "red"]
    assert red == [1, 4]


def test_digits_grid_with_labels_only():
    X = np.zeros((5, 64))
    fig = plot_digits(X, y=np.array([3, 1, 4, 1, 5]), n=5)
    assert [axis.get_title() for axis in fig.axes if axis.images] == ["3", "1", "4", "1", "5"]
    with pytest.raises(ValueError, match="n must be <= 5"):
        plot_digits(X, n=6)


# ----- computation graph -----------------------------------------------------------------------
def drawn(fig, gid):
    return [text for text in fig.axes[0].texts if text.get_gid() == gid]


def test_graph_draws_every_tensor_and_op_once_with_shapes():
    x = lb.Tensor(np.ones((2, 3), dtype=np.float32), name="x")
    w = lb.Tensor(np.ones((3, 1), dtype=np.float32), requires_grad=True, name="w")
    b = lb.Tensor(np.zeros(1, dtype=np.float32), requires_grad=True, name="b")
    h = x @ w + b          # MatMul, Add
    loss = (h * h).mean()  # Mul (h used twice, drawn once), Mean
    fig = plot_graph(loss)
    tensors, ops = drawn(fig, "tensor"), drawn(fig, "op")
    assert len(tensors) == 7  # x, w, b, x @ w, h, h * h and loss
    assert sorted(t.get_text() for t in ops) == ["Add", "MatMul", "Mean", "Mul"]
    labels = [t.get_text() for t in tensors]
    assert "x\n(2, 3)" in labels and "w\n(3, 1)" in labels
    assert any(label.startswith("output\nscalar\n= ") for label in labels)
    edges = [text for text in fig.axes[0].texts if text.get_gid() == "edge"]
    assert len(edges) == 2 + 2 + 2 + 1 + 4  # inputs of each op, plus one arrow from each op to its output
    fig.canvas.draw()  # the arrows are anchored to the boxes: resolving them must work


def test_graph_of_an_mlp_counts_tensors_plus_ops_and_uses_parameter_names():
    model = nn.MLP([4, 8, 3], generator=0)
    loss = F.cross_entropy(model(lb.Tensor(np.ones((5, 4), dtype=np.float32))), np.array([0, 1, 2, 0, 1]))
    fig = plot_graph(loss, names=dict(model.named_parameters()))
    # tensors: input, 4 parameters, 3 computed (linear, relu, linear) + the loss; ops: Linear, ReLU, Linear, CrossEntropy
    assert len(drawn(fig, "tensor")) == 9 and len(drawn(fig, "op")) == 4
    labels = [t.get_text() for t in drawn(fig, "tensor")]
    assert "0.weight\n(8, 4)" in labels and "2.bias\n(3,)" in labels


def test_graph_too_big_is_refused_with_advice():
    x = lb.Tensor(np.ones(2), requires_grad=True)
    for _ in range(100):
        x = x * 1.0
    with pytest.raises(ValueError, match="to_dot"):
        plot_graph(x)


def test_graph_shows_values_and_gradients_of_single_numbers():
    x = lb.Tensor(2.0, requires_grad=True, dtype=np.float64, name="x")
    y = x * x
    y.backward(retain_graph=True)  # a plain backward frees the graph, as in PyTorch
    labels = [t.get_text() for t in drawn(plot_graph(y), "tensor")]
    assert "x\nscalar\n= 2\ngrad 4" in labels and "output\nscalar\n= 4" in labels
    labels = [t.get_text() for t in drawn(plot_graph(y, show_values=False), "tensor")]
    assert "x\nscalar" in labels
    y.backward()
    with pytest.raises(ValueError, match=r"freed by backward\(\).*retain_graph=True"):
        plot_graph(y)
