"""The README's examples print what the README says they print, and CI runs its test command."""
import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title):
    """The README's text from the heading `## title` to the next `## ` heading."""
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else len(README)]


def test_the_peft_adapter_example_prints_what_the_readme_shows(monkeypatch):
    text = section("Analysing an adapter trained with PyTorch + PEFT")
    code, shown = re.search(r"```python\n(.*?)```\n```\n(.*?)```", text, flags=re.S).groups()
    monkeypatch.chdir(ROOT)  # the example reads the fixture folders by their paths in the repository
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    assert printed.getvalue() == shown


@pytest.mark.parametrize("command", [
    "python3 -m venv .venv && . .venv/bin/activate && python -m pip install -r requirements.txt",
    ". .venv/bin/activate && python -m pytest",
])
def test_ci_runs_the_readme_set_up_and_test_command_verbatim(command):
    assert command in section("Two commands")
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
