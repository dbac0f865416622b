"""Write the student versions of the exercise sheets with nbgrader's own preprocessors.

    python -m lorabook exercises        # notebooks/exercises/*.ipynb -> notebooks/exercises/student/

The sources hold the solutions between `### BEGIN SOLUTION` and
`### END SOLUTION`. nbgrader's ClearSolutions replaces each such region with
its stub (`raise NotImplementedError()` in code, "YOUR ANSWER HERE" in
markdown), and the rest of `nbgrader generate_assignment`'s chain clears
outputs, locks the check cells and records their checksums. Only the
database step (SaveCells) is left out: it needs a course directory, and a
teacher who has one runs `nbgrader generate_assignment` itself, which gives
the same cells. nbgrader is an optional dependency (`pip install nbgrader`),
imported only when this runs.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

EXERCISES = Path(__file__).resolve().parent.parent.parent / "notebooks" / "exercises"


def default_sources():
    """notebooks/exercises/*.ipynb next to the package (else under the current folder), in name order."""
    for folder in (EXERCISES, Path.cwd() / "notebooks" / "exercises"):
        paths = sorted(folder.glob("*.ipynb"))
        if paths:
            return paths
    raise FileNotFoundError(f"no exercise sheets found in {EXERCISES} or ./notebooks/exercises")


def _preprocessors():
    try:
        from nbgrader import preprocessors as nbgrader_preprocessors
    except ImportError as missing:
        raise ImportError("writing the student versions needs nbgrader: `python -m pip install nbgrader` "
                          "(or `python -m pip install -e .[teach]`)") from missing
    # generate_assignment's order, without IncludeHeaderFooter/InstantiateTests (unused here) and SaveCells.
    names = ["LockCells", "ClearSolutions", "ClearOutput", "CheckCellMetadata", "ComputeChecksums",
             "ClearHiddenTests", "ClearMarkScheme", "ComputeChecksums", "CheckCellMetadata"]
    return [getattr(nbgrader_preprocessors, name)() for name in names]


def student_version(source):
    """The student version of the source sheet at `source`, as an nbformat notebook (nothing written)."""
    import nbformat

    notebook = nbformat.read(source, as_version=4)
    resources = {}
    for preprocessor in _preprocessors():
        notebook, resources = preprocessor.preprocess(notebook, resources)
    # Only what a fresh kernel needs: the executed source also records the
    # Python version and widget state of the machine that last ran it.
    notebook.metadata.pop("widgets", None)
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def _write_atomically(notebook, path):
    import nbformat

    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            nbformat.write(notebook, file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_student_versions(sources=None, out_dir=None, verbose=True):
    """Write the student version of each source sheet to out_dir (same file name); returns the paths.

    sources: source sheets (default: every notebooks/exercises/*.ipynb).
    out_dir: default notebooks/exercises/student next to the sources.
    """
    sources = [Path(path) for path in (sources or default_sources())]
    for path in sources:
        if not path.is_file():
            raise FileNotFoundError(f"exercise sheet not found: {path}")
    written = []
    for path in sources:
        folder = Path(out_dir) if out_dir is not None else path.parent / "student"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / path.name
        _write_atomically(student_version(path), target)
        written.append(target)
        if verbose:
            print(f"{path} -> {target}")
    return written
