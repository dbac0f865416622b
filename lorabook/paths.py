"""Finding the lorabook repository, so that commands work the same from any folder.

The commands read and write files that belong to the repository (figures/,
README.md, notebooks/). They never guess from the current folder alone:

    find_root()            # the repository this package was loaded from, else one above the current folder
    find_root("~/lorabook") # exactly that folder (--root on the command line)

A folder is a lorabook repository when it holds a pyproject.toml that names
the project "lorabook" and a notebooks/ folder. When none is found,
RepositoryNotFound says where it looked and what to do.
"""
from __future__ import annotations

import re
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_PROJECT_NAME = re.compile(r'^\s*name\s*=\s*"lorabook"\s*$', re.M)


class RepositoryNotFound(FileNotFoundError):
    """No lorabook repository where one was needed; the message says where we looked."""


def is_repository(folder):
    """True when `folder` holds pyproject.toml for the project "lorabook" and a notebooks/ folder."""
    folder = Path(folder)
    pyproject = folder / "pyproject.toml"
    if not (pyproject.is_file() and (folder / "notebooks").is_dir()):
        return False
    return bool(_PROJECT_NAME.search(pyproject.read_text(encoding="utf-8", errors="replace")))


def find_root(root=None, start=None):
    """The repository's folder, as an absolute Path.

    root: a folder given by the user (--root); it must be a repository.
    Otherwise, in this order: the folder above this package (an editable
    install or a clone on PYTHONPATH: the package belongs to that repository),
    then `start` (default: the current folder) and each folder above it.
    Raises RepositoryNotFound naming every place it looked.
    """
    if root is not None:
        folder = Path(root).expanduser().resolve()
        if not is_repository(folder):
            raise RepositoryNotFound(
                f"--root {root}: {folder} is not a lorabook repository (expected pyproject.toml naming "
                f"lorabook and a notebooks/ folder there)")
        return folder
    start = (Path.cwd() if start is None else Path(start)).resolve()
    candidates = [PACKAGE_DIR.parent, start, *start.parents]
    for folder in candidates:
        if is_repository(folder):
            return folder
    raise RepositoryNotFound(
        f"no lorabook repository found: lorabook is installed at {PACKAGE_DIR} (not inside a clone), and "
        f"neither {start} nor a folder above it holds the repository. Run the command inside "
        f"your clone, or give --root PATH_TO_CLONE")
