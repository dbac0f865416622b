"""Figures for training: learning curves, decision boundaries, digit grids, computation graphs.

Each function returns the matplotlib Figure it drew on. pyplot is only used
to create figures, so the notebook's backend (inline) stays in charge; in a
notebook write `fig = plot_...(...)` (or end the line with `;`) so the
figure is shown once.
"""
from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.ticker import MaxNLocator

from lorabook._checks import check_int, check_matrix
from lorabook.autograd.graph import walk
from lorabook.plots.rank import plot_image_grid
from lorabook.train import History, predict

CLASS_COLORS = plt.get_cmap("tab10").colors


def _new_axes(ax, figsize):
    if ax is None:
        return plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


# ----- learning curves ------------------------------------------------------------------
def plot_learning_curves(histories, log_loss=False):
    """Loss (left) and accuracy (right, when measured) per epoch; train solid, validation dashed.

    histories: a History from `fit`, or a dict name -> History to compare runs
    (one colour per run). log_loss: logarithmic loss axis, which shows how
    fast each run keeps improving once the losses are small.
    """
    if isinstance(histories, History):
        histories = {"": histories}
    if not isinstance(histories, Mapping) or not histories:
        raise TypeError(f"histories must be a History or a non-empty dict name -> History, got {type(histories).__name__}")
    for name, history in histories.items():
        if not isinstance(history, History):
            raise TypeError(f"histories[{name!r}] must be a History (what fit returns), got {type(history).__name__}")
        if not history.epochs:
            raise ValueError(f"histories[{name!r}] has no epochs to draw")

    with_accuracy = any(h.train_accuracy or h.val_accuracy for h in histories.values())
    fig, axes = plt.subplots(1, 2 if with_accuracy else 1, figsize=(10 if with_accuracy else 5.5, 3.8),
                             layout="constrained", squeeze=False)
    panels = [("loss", axes[0, 0])] + ([("accuracy", axes[0, 1])] if with_accuracy else [])
    for index, (name, history) in enumerate(histories.items()):
        color = CLASS_COLORS[index % len(CLASS_COLORS)]
        prefix = f"{name} " if name else ""
        for metric, axis in panels:
            for part, style in (("train", "-"), ("val", "--")):
                values = getattr(history, f"{part}_{metric}")
                if values:
                    axis.plot(history.epochs, values, style, color=color, label=f"{prefix}{part}")
    for metric, axis in panels:
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 2.5
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    if log_loss:
        axes[0, 0].set_yscale("log")
    return fig


# ----- decision boundary -------------------------------------------------------------------
def _labels(name, y, n_rows):
    y = np.asarray(y)
    if y.shape != (n_rows,) or y.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integer class labels of shape ({n_rows},), got shape {y.shape} and dtype {y.dtype}")
    return y


def plot_decision_boundary(model, X, y, ax=None, resolution=200, padding=0.5, title=None):
    """The class `model` predicts at every point of the plane, with the data on top.

    X (n, 2) points, y (n,) their labels. The background image holds
    predict(model, grid) on a resolution x resolution grid covering the data
    plus `padding`; its colours are pale versions of the points' colours.
    The title reports the model's accuracy on these points.
    """
    X = check_matrix("X", X)
    if X.shape[1] != 2:
        raise ValueError(f"X must have 2 columns (points in the plane), got shape {X.shape}")
    y = _labels("y", y, len(X))
    resolution = check_int("resolution", resolution, low=2)

    low, high = X.min(axis=0) - padding, X.max(axis=0) + padding
    xs, ys = np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)  # row j of the image is ys[j]
    regions = predict(model, grid).reshape(resolution, resolution)
    n_classes = int(max(y.max(), regions.max())) + 1
    colors = [CLASS_COLORS[c % len(CLASS_COLORS)] for c in range(n_classes)]
    pale = ListedColormap([to_rgba(c, 0.25) for c in colors])

    fig, ax = _new_axes(ax, (5, 4.2))
    ax.imshow(regions, origin="lower", extent=(low[0], high[0], low[1], high[1]), cmap=pale,
              vmin=-0.5, vmax=n_classes - 0.5, interpolation="nearest", aspect="auto")
    ax.scatter(X[:, 0], X[:, 1], c=[colors[c] for c in y], s=12, edgecolors="k", linewidths=0.3)
    hits = float(np.mean(predict(model, X) == y))
    ax.set_title(title if title is not None else f"decision regions (accuracy on these points {hits:.3f})")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    return fig


# ----- digits ----------------------------------------------------------------------------------
def plot_digits(X, y=None, predictions=None, n=16, ncols=8, image_shape=(8, 8)):
    """The first n rows of X as small images, titled with label and/or prediction.

    X (count, 64) pixel rows. With both y and predictions, titles read
    "pred p / true t" and wrong predictions are drawn in red.
    """
    X = check_matrix("X", X)
    n = check_int("n", n, low=1, high=len(X))
    titles = None
    if y is not None:
        y = _labels("y", y, len(X))
    if predictions is not None:
        predictions = _labels("predictions", predictions, len(X))
    if y is not None and predictions is not None:
        titles = [f"pred {p} / true {t}" for p, t in zip(predictions[:n], y[:n])]
    elif y is not None:
        titles = [str(t) for t in y[:n]]
    elif predictions is not None:
        titles = [f"pred {p}" for p in predictions[:n]]
    fig = plot_image_grid(X[:n], image_shape=image_shape, ncols=ncols, titles=titles, cmap="gray_r")
    if y is not None and predictions is not None:
        image_axes = [axis for axis in fig.axes if axis.images]
        for axis, p, t in zip(image_axes, predictions[:n], y[:n]):
            if p != t:
                axis.title.set_color("red")
    return fig


# ----- computation graph ----------------------------------------------------------------
def _graph(root):
    """Tensors reachable from root through the _ctx links, inputs before outputs."""
    order = walk(root)
    if any(node._ctx is not None and not node._ctx.inputs for node in order):
        raise ValueError("this graph was freed by backward(), as in PyTorch; draw it before backward, "
                         "or call backward(retain_graph=True) to keep it")
    return order


def _columns(order):
    """Layer of each tensor (even columns) and op (odd columns), left to right.

    A computed tensor sits right after its op, the op right after its latest
    input; a leaf sits just before the first op that uses it.
    """
    column = {}
    for node in order:  # inputs come first in `order`, so their columns are known
        if node._ctx is not None:
            op_column = 1 + max(column.get(id(p), 0) for p in node._ctx.inputs)
            column[id(node)] = op_column + 1
    for node in order:
        if node._ctx is not None:
            for parent in node._ctx.inputs:
                if parent._ctx is None:
                    column[id(parent)] = min(column.get(id(parent), column[id(node)] - 2), column[id(node)] - 2)
    column.setdefault(id(order[-1]), 0)  # a root that is itself a leaf
    return column


def _tensor_label(node, is_root, show_values, names):
    if id(node) in names:
        role = names[id(node)]
    elif node.name:
        role = node.name
    elif is_root:
        role = "output"
    elif node._ctx is None:
        role = "parameter" if node.requires_grad else "input"
    else:
        role = ""
    shape = "scalar" if node.shape == () else str(node.shape)
    lines = [line for line in (role, shape) if line]
    if show_values and node.size == 1:
        lines.append(f"= {node.data.item():.4g}")
        if node.grad is not None:
            lines.append(f"grad {np.asarray(node.grad).item():.4g}")
    return "\n".join(lines)


def plot_graph(tensor, names=None, show_values=True, max_nodes=150):
    """Draw the computation graph that produced `tensor`, left (inputs) to right (output).

    Boxes are tensors (name or role, shape; value, and .grad once backward
    has filled it in, when it is a single number); blue boxes are leaves that require grad, i.e. the ones whose
    .grad backward() fills in. Rounded yellow boxes are operations (the
    Function's name). Arrows follow the forward pass; backward walks them
    in reverse. For big graphs use lorabook.to_dot instead.

    names: optional dict name -> Tensor used to label leaves, e.g.
    dict(model.named_parameters()) shows "0.weight" instead of "parameter".
    """
    if names is not None and not isinstance(names, Mapping):
        raise TypeError(f"names must be a dict name -> Tensor (e.g. dict(model.named_parameters())), got {type(names).__name__}")
    names = {id(t): str(name) for name, t in (names or {}).items()}
    order = _graph(tensor)
    n_ops = sum(node._ctx is not None for node in order)
    if len(order) + n_ops > max_nodes:
        raise ValueError(
            f"the graph has {len(order)} tensors and {n_ops} operations, more than max_nodes={max_nodes} "
            f"can show legibly; draw a smaller part, raise max_nodes, or use lorabook.to_dot(tensor)"
        )
    column = _columns(order)
    # op of node t is drawn at column[t] - 1
    slots = {}
    for node in order:
        if node._ctx is not None:
            slots.setdefault(column[id(node)] - 1, []).append(("op", node))
        slots.setdefault(column[id(node)], []).append(("tensor", node))
    for col, items in slots.items():  # computed tensors in the middle, the leaves feeding in around them
        leaves = [item for item in items if item[0] == "tensor" and item[1]._ctx is None]
        others = [item for item in items if not (item[0] == "tensor" and item[1]._ctx is None)]
        half = len(leaves) // 2
        slots[col] = leaves[:half] + others + leaves[half:]
    height = max(len(items) for items in slots.values())
    n_columns = max(slots) + 1
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * n_columns), max(2.0, 0.9 * height + 0.6)), layout="constrained")

    artists = {}
    for col, items in slots.items():
        for row, (kind, node) in enumerate(items):
            y = (len(items) - 1) / 2 - row
            if kind == "op":
                text = ax.text(col, y, node._ctx.function.__name__, ha="center", va="center", fontsize=9,
                               gid="op", bbox=dict(boxstyle="round,pad=0.4", fc="#fff2b3", ec="#b38f00"))
            else:
                fill = "#cfe2f3" if node._ctx is None and node.requires_grad else "white"
                text = ax.text(col, y, _tensor_label(node, node is tensor, show_values, names), ha="center",
                               va="center", fontsize=8, gid="tensor",
                               bbox=dict(boxstyle="square,pad=0.35", fc=fill, ec="#444444"))
            artists[(kind, id(node))] = text

    arrow = dict(arrowstyle="->", color="#555555", lw=0.9, shrinkA=2, shrinkB=2)
    for node in order:
        if node._ctx is None:
            continue
        op_text = artists[("op", id(node))]
        for parent in node._ctx.inputs:
            ax.annotate("", xy=(0, 0.5), xycoords=op_text, xytext=(1, 0.5),
                        textcoords=artists[("tensor", id(parent))], arrowprops=arrow, gid="edge")
        ax.annotate("", xy=(0, 0.5), xycoords=artists[("tensor", id(node))], xytext=(1, 0.5),
                    textcoords=op_text, arrowprops=arrow, gid="edge")
    ax.set_xlim(-0.6, n_columns - 0.4)
    ax.set_ylim(-height / 2, height / 2)
    ax.set_axis_off()
    return fig
