"""The exercise sheets: sources pass every check, student versions say "not attempted", tables add up.

Each sheet is executed once per version, in memory: the source on a fresh
kernel (as a student or `python -m lorabook notebooks` runs it), the student
version cell by cell in this process with a fresh namespace (its cells are
plain Python, and a kernel start per sheet would double the time of this file).
"""
import contextlib
import io
import re
from pathlib import Path

import nbformat
import pytest

from lorabook.exercises.catalogue import points_table, sheet_summary
from lorabook.notebook_runner import execute_notebook, notebook_problems

ROOT = Path(__file__).resolve().parent.parent.parent
SOURCES = sorted((ROOT / "notebooks" / "exercises").glob("*.ipynb"))
STUDENT = ROOT / "notebooks" / "exercises" / "student"
IDS = [path.stem for path in SOURCES]


def graded_code_cells(notebook):
    return [cell for cell in notebook.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")]


def printed(cell):
    return "".join(output.get("text", "") for output in cell.get("outputs", []))


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_source_sheet_runs_with_every_check_correct(path, monkeypatch):
    monkeypatch.setenv("LORABOOK_EXERCISES_STRICT", "1")  # a failing check raises, as under nbgrader
    notebook, seconds = execute_notebook(path)
    print(f"{path.name}: {seconds:.1f} s")
    assert notebook_problems(notebook) == []
    checks = graded_code_cells(notebook)
    assert checks
    for cell in checks:
        assert re.match(r"Task \d+\.\d+ \(.*\): correct\.", printed(cell)), (cell.source, printed(cell))


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_committed_source_is_executed_without_errors(path):
    assert notebook_problems(path) == []


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_student_version_runs_and_every_check_says_not_attempted(path, monkeypatch):
    monkeypatch.delenv("LORABOOK_EXERCISES_STRICT", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    notebook = nbformat.read(STUDENT / path.name, as_version=4)
    namespace = {"__name__": "__main__"}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            with contextlib.redirect_stdout(io.StringIO()) as output:
                exec(compile(cell.source, f"{path.name}, cell {index}", "exec"), namespace)
            cell.outputs = [{"output_type": "stream", "name": "stdout", "text": output.getvalue()}]
    checks = graded_code_cells(notebook)
    assert len(checks) == len(graded_code_cells(nbformat.read(path, as_version=4)))
    for cell in checks:
        assert re.match(r"Task \d+\.\d+ \(.*\): not attempted yet\.", printed(cell)), (cell.source, printed(cell))


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_committed_student_version_is_what_nbgrader_makes_of_the_source(path):
    pytest.importorskip("nbgrader")
    from lorabook.exercises import student_version

    committed = nbformat.read(STUDENT / path.name, as_version=4)
    assert student_version(path) == committed, "run `python -m lorabook exercises` to regenerate it"
    assert "### BEGIN SOLUTION" not in nbformat.writes(committed)


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_sheet_has_4_to_8_tasks_whose_points_add_up(path):
    summary = sheet_summary(path)
    assert 4 <= len(summary["tasks"]) <= 8
    assert sum(points for _, _, points in summary["tasks"]) == summary["points"]
    low, high = summary["minutes"]
    assert 30 <= low <= high <= 90
    kinds = {kind for _, kind, _ in summary["tasks"]}
    assert "Implement" in kinds and "Explain" in kinds


def test_at_least_35_tasks_and_every_chapter_has_a_sheet():
    assert sum(len(sheet_summary(path)["tasks"]) for path in SOURCES) >= 35
    assert [path.name[:2] for path in SOURCES] == ["01", "02", "03", "04", "05", "06", "07"]


def test_readme_table_of_sheets_tasks_and_points_is_up_to_date():
    assert points_table() in (ROOT / "README.md").read_text(encoding="utf-8"), (
        "paste lorabook.exercises.catalogue.points_table() into the README's 'For teachers' section")


def test_write_student_versions_writes_what_nbgrader_makes_and_refuses_a_missing_sheet(tmp_path):
    pytest.importorskip("nbgrader")
    from lorabook.exercises import write_student_versions

    written = write_student_versions([SOURCES[0]], out_dir=tmp_path, verbose=False)
    assert written == [tmp_path / SOURCES[0].name]
    assert nbformat.read(written[0], as_version=4) == nbformat.read(STUDENT / SOURCES[0].name, as_version=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == [SOURCES[0].name]  # no temporary file left
    with pytest.raises(FileNotFoundError, match="nope.ipynb"):
        write_student_versions([tmp_path / "nope.ipynb"], out_dir=tmp_path)
