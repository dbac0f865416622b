"""Re-execute the notebooks in place, from a fresh kernel, so the committed copies are true.

    python -m lorabook notebooks                     # every notebooks/*.ipynb, in order
    python -m lorabook notebooks notebooks/02_mlp_training.ipynb

Each notebook runs top to bottom on a new "python3" kernel whose working
directory is the notebook's folder, so its execution counts read 1..N. A
notebook whose execution raised is NOT written: the committed copy stays as
it was, the failing cell is reported, and run_notebooks raises at the end.
Successful notebooks are written atomically (temporary file, then rename).

`notebook_problems(path)` checks a committed notebook the same way the tests do;
`number_drift(committed, fresh)` lists the numbers of a fresh run that moved
from the committed copy by more than the stated tolerance.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
import uuid
from pathlib import Path

from .paths import find_root

KERNEL_NAME = "python3"


class NotebookExecutionError(RuntimeError):
    """A cell raised while a notebook was executed; the file on disk was left unchanged."""


def default_notebooks(root=None):
    """notebooks/*.ipynb of the repository (lorabook.paths.find_root(root)), in name order."""
    folder = find_root(root) / "notebooks"
    paths = sorted(folder.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks found: {folder} holds no *.ipynb")
    return paths


def _first_error(notebook):
    """(cell index, execution count, ename, evalue) of the first error output, or None."""
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return index, cell.get("execution_count"), output.get("ename"), output.get("evalue")
    return None


# The notebooks' matrices are small (a 64-128-128-10 MLP): a second BLAS thread
# gains nothing there, and on a busy 2-core machine the threads fight for the
# cores, making a cell up to ten times slower. Results can differ in the last
# digits between thread counts, so the committed outputs use one thread too.
SINGLE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# No browser is attached to these kernels, and executing cells that open
# ipywidgets then sometimes blocks nbclient until its timeout
# (github.com/jupyter/nbclient/issues/312); lorabook.widgets builds no sliders when this is set.
HEADLESS = {"LORABOOK_HEADLESS": "1"}


def _kernel_config():
    """Kernel-manager settings: the kernel talks over local sockets (IPC) where the system has them.

    Over TCP, ipykernel warns on every start that it runs "without encryption";
    the warning's own advice is IPC transport, which keeps the traffic off
    the network. Windows has no IPC transport, so it keeps TCP there. The
    socket files go to Jupyter's runtime folder under a fresh name (by
    default they would be made relative to the kernel's working folder);
    the kernel manager removes them when the kernel shuts down.
    """
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets.config import Config

    if os.name != "posix":
        return Config()
    os.makedirs(jupyter_runtime_dir(), exist_ok=True)
    sockets = os.path.join(jupyter_runtime_dir(), f"lorabook-{uuid.uuid4().hex}")
    return Config({"KernelManager": {"transport": "ipc", "ip": sockets}})


def kernel_environment():
    """This process's environment with BLAS limited to one thread (unless already set), headless.

    MPLBACKEND is left out: a kernel must draw with Jupyter's inline backend,
    and a backend chosen for this process (the tests draw with Agg) would
    leave every figure out of the notebook.
    """
    environment = {**SINGLE_THREAD, **os.environ, **HEADLESS}
    environment.pop("MPLBACKEND", None)
    return environment


def execute_notebook(path, timeout=600):
    """Run the notebook at `path` on a fresh kernel, in memory; returns (notebook, seconds).

    Never writes the file. Raises NotebookExecutionError naming the cell
    that failed (its index counts every cell from 0, markdown included).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path}")
    notebook = nbformat.read(path, as_version=4)
    # Widget state saved by an earlier run in a live front end; a headless run makes no widgets, so it
    # would stay behind, stale (nbclient writes it afresh whenever a run does make widgets).
    notebook.metadata.pop("widgets", None)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(path.parent.resolve())}},
        record_timing=False,  # no timestamps in cell metadata: reruns give clean diffs
        config=_kernel_config(),
    )
    start = time.perf_counter()
    try:
        client.execute(env=kernel_environment())
    except (CellExecutionError, CellTimeoutError) as error:
        where = _first_error(notebook)
        if where is None:
            detail = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            raise NotebookExecutionError(f"{path}: execution failed ({detail})") from None
        index, count, ename, evalue = where
        raise NotebookExecutionError(
            f"{path}: cell {index} (execution count {count}) raised {ename}: {evalue}"
        ) from None
    seconds = time.perf_counter() - start
    _make_reproducible(notebook)
    return notebook, seconds


def _make_reproducible(notebook):
    """Make what a run wrote the same on every run, so regenerating leaves git clean.

    - Consecutive prints of one cell arrive as one stream output or as several,
      depending on when the kernel flushed them (a busy machine splits more):
      join neighbouring outputs of the same stream into one.
    - A headless run shows no widget, but a cell that builds one (an IntSlider
      handed to `interact`) makes nbclient save its state under fresh random ids:
      drop that state, which nothing displays.
    """
    notebook.metadata.pop("widgets", None)
    notebook.metadata["lorabook"] = {"blas_kernel": blas_kernel()}
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        joined = []
        for output in cell.get("outputs", []):
            previous = joined[-1] if joined else None
            if (output.get("output_type") == "stream" and previous is not None
                    and previous.get("output_type") == "stream" and previous.get("name") == output.get("name")):
                previous["text"] = previous["text"] + output["text"]
            else:
                joined.append(output)
        cell["outputs"] = joined


def _write_atomically(notebook, path):
    import nbformat

    path = Path(path)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".ipynb.tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            nbformat.write(notebook, file)
        os.chmod(temporary, mode)  # mkstemp makes 0600 files; keep the notebook's own permissions
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def run_notebooks(paths=None, timeout=600, verbose=True):
    """Execute each notebook in place (default: every notebooks/*.ipynb, in order).

    Prints each notebook's run time (unless verbose=False). Notebooks that fail are left untouched;
    after trying them all, raises NotebookExecutionError listing the failures.
    Returns {path: seconds} for the notebooks that ran cleanly.
    """
    paths = [Path(p) for p in paths] if paths else default_notebooks()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"notebook(s) not found: {', '.join(missing)}")
    times, failures = {}, []
    for path in paths:
        if verbose:
            print(f"running {path} ...", flush=True)
        try:
            notebook, seconds = execute_notebook(path, timeout=timeout)
        except NotebookExecutionError as error:
            print(f"  FAILED, file left unchanged: {error}", flush=True)
            failures.append(str(error))
            continue
        _write_atomically(notebook, path)
        times[path] = seconds
        if verbose:
            print(f"  done in {seconds:.1f} s", flush=True)
    if failures:
        raise NotebookExecutionError(
            f"{len(failures)} of {len(paths)} notebook(s) failed and were not written:\n  " + "\n  ".join(failures)
        )
    return times


def notebook_problems(notebook):
    """What is wrong with an executed notebook (a path or a loaded notebook), as sentences; [] if fine.

    Checks: the code cells that have source were executed in order, with
    execution counts exactly 1, 2, ..., N, and no output is an error.
    """
    import nbformat

    if isinstance(notebook, (str, os.PathLike)):
        notebook = nbformat.read(notebook, as_version=4)
    problems = []
    code_cells = [(i, c) for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.source.strip()]
    counts = [cell.get("execution_count") for _, cell in code_cells]
    if counts != list(range(1, len(code_cells) + 1)):
        problems.append(f"execution counts are {counts}, expected 1..{len(code_cells)} (re-run it from a fresh kernel)")
    where = _first_error(notebook)
    if where is not None:
        index, count, ename, evalue = where
        problems.append(f"cell {index} (execution count {count}) has an error output: {ename}: {evalue}")
    return problems


# ----- drift: do the committed numbers come back? --------------------------------------------------------
# Numbers in text outputs, as a reader sees them: 0.585, -0.0122923, 1.27e-10, 15,716 (thousands separators).
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")
# Accuracies are counts of test images (about 900 here, 0.001 each); a different BLAS summation order
# changes float32 training enough to move a few images, so 0.02 absolute allows about 18 images and
# still catches a finding that flips. The relative part covers large numbers (errors, singular values,
# parameter counts); integers below 50 (ranks, counts) must match exactly.
DRIFT_ABS_TOL = 0.02
DRIFT_REL_TOL = 0.02


def text_outputs(notebook):
    """[(cell index, execution count, text)] of every code cell: its streams and text/plain results joined."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        parts = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
            elif "data" in output and "text/plain" in output["data"]:
                parts.append(output["data"]["text/plain"])
        found.append((index, cell.get("execution_count"), "".join(parts)))
    return found


def numbers_in(text):
    """Every number in `text`, as floats, in order."""
    return [float(match.replace(",", "")) for match in NUMBER.findall(text)]


def blas_kernel():
    """The kernel NumPy's BLAS runs here, e.g. "OpenBLAS SkylakeX" or "OpenBLAS Haswell".

    Recorded in every notebook the runner writes: float32 training sums in the
    kernel's order, so its per-seed numbers are comparable only between runs
    on the same kernel (the README says how far they move between kernels).
    """
    from threadpoolctl import threadpool_info

    for library in threadpool_info():
        if library.get("user_api") == "blas":
            return f"{library.get('internal_api', 'blas')} {library.get('architecture', 'unknown')}"
    return "unknown"


def committed_kernel(notebook):
    """The BLAS kernel recorded in a committed notebook, or None for a notebook run before it was recorded."""
    return notebook.metadata.get("lorabook", {}).get("blas_kernel")


def number_drift(committed, fresh, abs_tol=DRIFT_ABS_TOL, rel_tol=DRIFT_REL_TOL):
    """Where the numbers of a fresh run differ from the committed notebook's, as sentences; [] if none.

    committed, fresh: the same notebook, loaded (nbformat) or as paths. A number
    has drifted when |committed - fresh| > abs_tol + rel_tol * max(|committed|, |fresh|).
    A cell whose output holds a different count of numbers is reported whole.
    """
    import nbformat

    committed, fresh = (nbformat.read(nb, as_version=4) if isinstance(nb, (str, os.PathLike)) else nb
                        for nb in (committed, fresh))
    old, new = text_outputs(committed), text_outputs(fresh)
    if [index for index, _, _ in old] != [index for index, _, _ in new]:
        return ["the two notebooks have different code cells"]
    problems = []
    for (index, count, old_text), (_, _, new_text) in zip(old, new):
        old_numbers, new_numbers = numbers_in(old_text), numbers_in(new_text)
        where = f"cell {index} (execution count {count})"
        if len(old_numbers) != len(new_numbers):
            problems.append(f"{where}: {len(old_numbers)} numbers committed, {len(new_numbers)} now; "
                            f"committed {old_text.strip()[:200]!r}, now {new_text.strip()[:200]!r}")
            continue
        for position, (a, b) in enumerate(zip(old_numbers, new_numbers)):
            if abs(a - b) > abs_tol + rel_tol * max(abs(a), abs(b)):
                problems.append(f"{where}, number {position + 1}: committed {a:g}, now {b:g}")
    return problems
