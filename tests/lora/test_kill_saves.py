"""Saves survive SIGKILL at any moment: the folder holds one whole version, and temporaries do not pile up."""
import importlib.util
import os
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL of a child process (POSIX)")

spec = importlib.util.spec_from_file_location("kill_saves", os.path.join(os.path.dirname(__file__), "kill_saves.py"))
kill_saves = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kill_saves)


@pytest.mark.parametrize("two_renames", [False, True], ids=["renameat2", "two renames (no renameat2)"])
def test_random_kills_leave_one_whole_version_and_no_pile_of_temporaries(tmp_path, two_renames):
    folder = str(tmp_path / "adapter")
    tally = kill_saves.run_trials(4, folder, seed=1, two_renames=two_renames)
    assert tally["broken"] == 0, tally
    assert sum(tally[f"version {i}"] for i in (1, 2, 3)) == 4
    assert tally["most_leftovers"] <= 1, tally  # at most the one killed save's staging folder
    kill_saves.version(0).save_pretrained(folder)
    assert kill_saves.leftovers(folder) == []
