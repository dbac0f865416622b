"""save / load a module's parameters: an .npz of its state_dict, written atomically."""
from __future__ import annotations

from ..io import load_arrays, save_arrays

KIND = "state_dict"


def save(module, path):
    """Write module.state_dict() to `path` (.npz, no pickle, atomic). Returns path."""
    return save_arrays(path, module.state_dict(), KIND)


def load(module, path, strict=True):
    """Load parameters saved by `save` into `module` (names and shapes must match)."""
    return module.load_state_dict(load_arrays(path, KIND), strict=strict)
