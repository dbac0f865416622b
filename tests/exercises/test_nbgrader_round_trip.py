"""nbgrader itself, unchanged, on a course made of the sheets: generate_assignment, then autograde.

The released notebooks must be the committed student versions (same cells),
and autograde must give a submission of the worked solutions every
autograded point and a submission of the untouched student version none.
Sheet 01 stands for the others in the autograde step (each submission is
executed on a kernel, so one sheet keeps this test short).
"""
import shutil
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")

ROOT = Path(__file__).resolve().parent.parent.parent
EXERCISES = ROOT / "notebooks" / "exercises"


def nbgrader_api(course):
    """nbgrader's own Python API (what its command line calls), on the course folder."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.course_id = "lorabook"
    return NbGraderAPI(config=config)


def succeeded(result):
    assert result["success"], result.get("error") or result.get("log")
    return True


def cell_sources(notebook):
    return [(cell.cell_type, cell.source, cell.metadata.get("nbgrader")) for cell in notebook.cells]


# nbgrader's own gradebook code trips SQLAlchemy's autoflush warning; nothing here to act on.
@pytest.mark.filterwarnings("ignore:Object of type .* not in session")
def test_generate_assignment_and_autograde_work_on_the_sheets(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    course = tmp_path / "course"
    (course / "source" / "sheets").mkdir(parents=True)
    for path in sorted(EXERCISES.glob("*.ipynb")):
        shutil.copy(path, course / "source" / "sheets")
    api = nbgrader_api(course)
    assert succeeded(api.generate_assignment("sheets", force=True))
    for path in sorted(EXERCISES.glob("*.ipynb")):
        released = nbformat.read(course / "release" / "sheets" / path.name, as_version=4)
        committed = nbformat.read(EXERCISES / "student" / path.name, as_version=4)
        assert cell_sources(released) == cell_sources(committed), path.name

    sheet = "01_autograd.ipynb"
    for student, version in [("solved", EXERCISES / sheet), ("untouched", EXERCISES / "student" / sheet)]:
        (course / "submitted" / student / "sheets").mkdir(parents=True)
        shutil.copy(version, course / "submitted" / student / "sheets" / sheet)
    # autograde only sheet 01: the other released notebooks are not submitted
    for path in sorted((course / "source" / "sheets").glob("*.ipynb")):
        if path.name != sheet:
            path.unlink()
    assert succeeded(api.generate_assignment("sheets", force=True))
    for student in ("solved", "untouched"):
        assert succeeded(api.autograde("sheets", student, force=True, create=True))

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        solved = gradebook.find_submission("sheets", "solved")
        untouched = gradebook.find_submission("sheets", "untouched")
        autograded_points = sum(cell.max_score for cell in solved.notebooks[0].grades if cell.auto_score is not None)
        assert solved.score == autograded_points > 0
        assert untouched.score == 0
        assert solved.max_score == untouched.max_score == 20
