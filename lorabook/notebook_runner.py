"""Re-execute the notebooks in place, from a fresh kernel, so the committed copies are true.

    python -m lorabook notebooks                     # every notebooks/*.ipynb, in order
    python -m lorabook notebooks notebooks/02_mlp_training.ipynb

Each notebook runs top to bottom on a new "python3" kernel whose working
directory is the notebook's folder, so its execution counts read 1..N. A
notebook whose execution raised is NOT written: the committed copy stays as
it was, the failing cell is reported, and run_notebooks raises at the end.
Successful notebooks are written atomically (temporary file, then rename).

`notebook_problems(path)` checks a committed notebook the same way the tests do.
"""
from __future__ import annotations

import os
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
# ipywidgets then sometimes blocks nbclient until its timeout (jupyter/nbclient
# issue 312); lorabook.widgets builds no sliders when this is set.
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
    """This process's environment with BLAS limited to one thread (unless already set), headless."""
    return {**SINGLE_THREAD, **os.environ, **HEADLESS}


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
    return notebook, time.perf_counter() - start


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
