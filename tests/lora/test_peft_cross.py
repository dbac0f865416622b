"""Optional: adapters and whole models saved by lorabook load in PyTorch + PEFT with the same outputs.

Runs when torch and peft are importable (a developer's machine), and skips with the reason
otherwise: they are never lorabook dependencies. The work is in tests/fixtures/peft/cross_check.py,
which also runs on its own and prints the differences.
"""
import importlib.util
import os

import pytest

pytest.importorskip("torch", reason="optional cross-check: PyTorch is not installed (not a lorabook dependency)")
pytest.importorskip("peft", reason="optional cross-check: PEFT is not installed (not a lorabook dependency)")

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "peft", "cross_check.py")


def test_lorabook_files_give_the_same_outputs_in_pytorch_and_peft(tmp_path):
    spec = importlib.util.spec_from_file_location("cross_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    differences = module.cross_check(str(tmp_path))
    assert len(differences) == len(module.CASES) + 1
    for case, difference in differences.items():
        assert difference < (1e-12 if module.dtype_of(case) == module.np.float64 else 1e-5), case
