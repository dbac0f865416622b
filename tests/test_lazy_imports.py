"""`import lorabook` stays quick: SciPy and tqdm are imported inside the functions that use them.

Checked on the source (module-level import statements), so the test does not
depend on which other modules happen to have imported SciPy already.
"""
import ast
from pathlib import Path

import pytest

import lorabook

PACKAGE = Path(lorabook.__file__).parent
SLOW = ("scipy", "tqdm", "matplotlib")
MODULES = sorted(
    [*PACKAGE.joinpath("analysis").glob("*.py"), *PACKAGE.joinpath("data").glob("*.py"),
     PACKAGE / "domain.py", PACKAGE / "train.py"]
)


def module_level_imports(path):
    """Top-level module names imported at module level (not inside a function) in the file at `path`."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_no_slow_library_is_imported_at_module_level(path):
    slow = [name for name in module_level_imports(path) if name in SLOW]
    assert not slow, f"{path.name} imports {slow} at module level; import them in the function that needs them"


def test_the_check_sees_a_module_level_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import numpy\nfrom scipy import linalg\n\ndef f():\n    import tqdm\n")
    assert module_level_imports(sample) == ["numpy", "scipy"]
