"""Every notebook in notebooks/ runs cleanly on a fresh kernel, and its committed copy is executed.

The notebooks are found when the tests are collected, so a new notebook is
tested without touching this file. Execution happens in memory: the files
are never written here (`python -m lorabook notebooks` does that).
"""
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from lorabook.notebook_runner import NotebookExecutionError, execute_notebook, notebook_problems, run_notebooks

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_on_a_fresh_kernel_without_errors(path):
    before = path.read_bytes()
    notebook, seconds = execute_notebook(path)
    print(f"{path.name}: {seconds:.1f} s")
    assert notebook_problems(notebook) == []
    assert path.read_bytes() == before  # executed in memory only


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_is_executed_in_order_without_errors(path):
    assert notebook_problems(path) == []


def test_there_are_notebooks_to_test():
    assert len(NOTEBOOKS) >= 2, "notebooks/ should hold at least 01 and 02"


# ----- the runner itself ---------------------------------------------------------------
def write(path, cells):
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}}), path)
    return path


def test_runner_writes_a_clean_notebook_with_counts_one_to_n_and_cwd_at_the_notebook(tmp_path, capsys):
    path = write(tmp_path / "good.ipynb", [
        new_markdown_cell("# title"),
        new_code_cell("import os\nprint(os.getcwd())"),
        new_code_cell("21 * 2"),
    ])
    times = run_notebooks([path], timeout=120)
    assert list(times) == [path] and times[path] > 0
    assert "done in" in capsys.readouterr().out
    notebook = nbformat.read(path, as_version=4)
    assert notebook_problems(notebook) == []
    assert [c.execution_count for c in notebook.cells if c.cell_type == "code"] == [1, 2]
    assert notebook.cells[1].outputs[0]["text"].strip() == str(tmp_path)
    assert notebook.cells[2].outputs[0]["data"]["text/plain"] == "42"


def test_runner_refuses_to_write_a_failing_notebook_and_names_the_cell(tmp_path):
    path = write(tmp_path / "bad.ipynb", [
        new_code_cell("x = 1"),
        new_markdown_cell("text"),
        new_code_cell("x / 0"),
        new_code_cell("print('never reached')"),
    ])
    before = path.read_bytes()
    with pytest.raises(NotebookExecutionError) as caught:
        run_notebooks([path], timeout=120)
    message = str(caught.value)
    assert "bad.ipynb" in message and "cell 2" in message and "ZeroDivisionError" in message
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["bad.ipynb"]  # no temporary file left behind


def test_missing_notebook_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ipynb"):
        run_notebooks([tmp_path / "nope.ipynb"])


def test_problems_found_in_an_unexecuted_or_failed_notebook():
    cells = [new_code_cell("a", execution_count=2), new_code_cell("b", execution_count=1), new_code_cell("")]
    assert "execution counts are [2, 1]" in notebook_problems(new_notebook(cells=cells))[0]
    failed = new_code_cell("1/0", execution_count=1)
    failed.outputs = [new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
    problems = notebook_problems(new_notebook(cells=[failed]))
    assert problems == ["cell 0 (execution count 1) has an error output: ZeroDivisionError: division by zero"]
