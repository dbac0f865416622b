"""The front door: `python -m lorabook ...` from any folder, its help, and its error messages."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lorabook import paths
from lorabook.__main__ import build_parser, main, parse
from lorabook.paths import RepositoryNotFound, find_root, is_repository

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("tour", "figures", "notebooks", "classroom", "exercises")


def run_cli(args, cwd):
    """`python -m lorabook args` as a user types it, in the folder cwd; returns the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "lorabook", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_every_command_is_listed_with_a_one_line_description(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in COMMANDS:
        line = next(line for line in text.splitlines() if line.strip().startswith(command + " "))
        assert len(line.split(maxsplit=1)[1]) > 20, line


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_describes_itself_shows_its_defaults_and_takes_the_common_options(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "default" in text and "--root" in text and "--no-progress" in text
    assert build_parser().format_help().count(command) >= 1
    assert parse([command, "--no-progress"]).no_progress is True


@pytest.mark.parametrize("argv, words", [
    (["tour", "--rank", "3"], ["python -m lorabook tour", "unrecognized arguments: --rank 3"]),
    (["notebooks", "--timeout", "soon"], ["python -m lorabook notebooks", "invalid int value: 'soon'"]),
])
def test_mistakes_are_reported_with_the_subcommands_own_usage(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert "usage: python -m lorabook tour" in err or argv[0] != "tour"
    assert "{tour" not in err and "COMMAND" not in err  # not the top-level usage


def test_an_unknown_notebook_is_named_without_a_traceback(tmp_path):
    done = run_cli(["notebooks", "nope.ipynb"], cwd=tmp_path)
    assert done.returncode == 2
    assert "not found: nope.ipynb (nor in " in done.stderr and "Traceback" not in done.stderr
    assert "usage: python -m lorabook notebooks" in done.stderr


def test_the_quick_tour_runs_from_another_folder_and_writes_nothing_there(tmp_path):
    done = run_cli(["tour", "--quick", "--no-progress"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "No figures written (give --figures-dir to write them)." in done.stdout
    assert "Kernel is running over TCP" not in done.stderr
    assert list(tmp_path.iterdir()) == []


# ----- finding the repository ------------------------------------------------------------------
def test_the_repository_is_found_from_the_package_and_from_any_folder_below_it(tmp_path):
    assert find_root() == ROOT
    assert find_root(start=tmp_path) == ROOT  # the package belongs to this clone
    assert find_root(ROOT / "notebooks" / "..") == ROOT


def test_without_the_package_inside_a_clone_the_current_folder_decides(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "PACKAGE_DIR", tmp_path / "site-packages" / "lorabook")
    assert find_root(start=ROOT / "notebooks") == ROOT  # a folder inside the clone: walks up to it
    with pytest.raises(RepositoryNotFound, match="give --root") as caught:
        find_root(start=tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_root_must_be_a_lorabook_repository(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert not is_repository(tmp_path)
    with pytest.raises(RepositoryNotFound, match="not a lorabook repository"):
        find_root(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "lorabook"\n')
    assert find_root(tmp_path) == tmp_path.resolve()


def test_a_wrong_root_is_reported_with_the_usage(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["figures", "--root", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: python -m lorabook figures" in err and "not a lorabook repository" in err


def test_a_notebook_name_is_also_looked_up_in_the_repositorys_notebooks_folder(tmp_path, monkeypatch):
    import lorabook.__main__ as cli

    ran = []
    monkeypatch.setattr("lorabook.notebook_runner.run_notebooks", lambda paths, **options: ran.append(paths))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["notebooks", "06_rank_selection.ipynb", "--no-progress"]) == 0
    assert ran == [[ROOT / "notebooks" / "06_rank_selection.ipynb"]]
