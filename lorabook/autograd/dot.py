"""Draw the computation graph: a Graphviz DOT description of how a tensor was made.

Boxes are tensors (name or role, shape), ellipses are the operations
(Function names). Paste the text into any Graphviz viewer, or call
`render_dot`, which needs the `dot` program installed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from .graph import inputs_of, walk


def _label(tensor, is_root):
    role = tensor.name or ("output" if is_root else ("parameter" if tensor.requires_grad and tensor.is_leaf else ("input" if tensor.is_leaf else "")))
    shape = "x".join(str(n) for n in tensor.shape) or "scalar"
    return f"{role}\\n{shape}" if role else shape


def to_dot(tensor):
    """The graph that produced `tensor`, as a DOT string (tensors and operations as nodes).

    Nodes are numbered from the output back to the inputs (the output is
    t0), so the same computation always gives the same text.
    """
    lines = ["digraph lorabook {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    nodes = walk(tensor)[::-1]
    number = {id(node): index for index, node in enumerate(nodes)}
    for node in nodes:
        name = f"t{number[id(node)]}"
        style = "filled" if node.requires_grad and node.is_leaf else "solid"
        label = _label(node, node is tensor).replace('"', '\\"')
        lines.append(f'  {name} [shape=box, style={style}, fillcolor="#dbe9f6", label="{label}"];')
        if node._ctx is not None:
            op = "f" + name[1:]
            lines.append(f'  {op} [shape=ellipse, label="{node._ctx.function.__name__}"];')
            lines.append(f"  {op} -> {name};")
            for parent in inputs_of(node):
                lines.append(f"  t{number[id(parent)]} -> {op};")
    lines.append("}")
    return "\n".join(lines)


def render_dot(tensor, path, format="png"):
    """Write the graph of `tensor` to `path` with Graphviz's `dot` program."""
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            "render_dot needs the Graphviz 'dot' program, which is not installed. "
            "Install Graphviz (e.g. 'apt-get install graphviz'), or print to_dot(tensor) and paste "
            "it into an online Graphviz viewer, or use lorabook.plots.plot_graph(tensor)."
        )
    with tempfile.NamedTemporaryFile("w", suffix=".dot", delete=False) as source:
        source.write(to_dot(tensor))
    try:
        subprocess.run([dot, f"-T{format}", source.name, "-o", os.fspath(path)], check=True)
    finally:
        os.unlink(source.name)
    return path
