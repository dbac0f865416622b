"""What the exercise sheets hold: tasks, points and time, read from the sheets themselves.

`points_table()` is the table of the README's "For teachers" section; a
test keeps the two equal. A task is a markdown heading "## Task N.M (Kind,
P points): title"; its points are those of the nbgrader-graded cells that
follow it (a check cell, or the written answer of an Explain task).
"""
from __future__ import annotations

import re
from pathlib import Path

from .student_versions import default_sources

TASK_HEADING = re.compile(r"^## Task (\d+\.\d+) \((Implement|Predict, then run|Explain), (\d+) points?\)", re.M)
TIME_LINE = re.compile(r"\*\*Time: about (\d+)-(\d+) minutes\.\*\*")


def sheet_summary(path):
    """{'sheet', 'minutes', 'tasks': [(number, kind, points)], 'points', 'autograded', 'manual'} of one sheet."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    tasks, minutes, autograded, manual = [], None, 0, 0
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            tasks += [(number, kind, int(points)) for number, kind, points in TASK_HEADING.findall(cell.source)]
            found = TIME_LINE.search(cell.source)
            minutes = minutes or (found and (int(found.group(1)), int(found.group(2))))
        grading = cell.metadata.get("nbgrader", {})
        if grading.get("grade"):
            if cell.cell_type == "code":
                autograded += grading["points"]
            else:
                manual += grading["points"]
    return {"sheet": Path(path).stem, "minutes": minutes, "tasks": tasks,
            "points": autograded + manual, "autograded": autograded, "manual": manual}


def points_table(paths=None):
    """The markdown table sheets x tasks x points (with the time estimate), one row per sheet and a total.

    Links are relative to the repository's top folder (where README.md is).
    """
    rows = [sheet_summary(path) for path in (paths or default_sources())]
    lines = ["| sheet (worked solutions) | student version | time (minutes) | tasks (implement / predict / explain) "
             "| points (autograded + by hand) |",
             "|---|---|---:|---:|---:|"]
    for row in rows:
        kinds = [kind for _, kind, _ in row["tasks"]]
        counts = " / ".join(str(kinds.count(k)) for k in ("Implement", "Predict, then run", "Explain"))
        low, high = row["minutes"]
        name = row["sheet"]
        lines.append(f"| [{name}](notebooks/exercises/{name}.ipynb) | [student](notebooks/exercises/student/{name}.ipynb) "
                     f"| {low}-{high} | {len(kinds)} ({counts}) | "
                     f"{row['points']} ({row['autograded']} + {row['manual']}) |")
    total_tasks = sum(len(row["tasks"]) for row in rows)
    total_auto = sum(row["autograded"] for row in rows)
    total_manual = sum(row["manual"] for row in rows)
    lines.append(f"| all | | {sum(r['minutes'][0] for r in rows)}-{sum(r['minutes'][1] for r in rows)} | "
                 f"{total_tasks} | {total_auto + total_manual} ({total_auto} + {total_manual}) |")
    return "\n".join(lines)
