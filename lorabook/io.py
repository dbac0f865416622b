"""Files that survive crashes and never run code when loaded.

Arrays go to `.npz` (NumPy's zip of .npy files) and configurations to JSON.
Writing goes to a temporary file in the same folder, then `os.replace`
renames it over the target in one step: a crash leaves either the old file
or the new one, never half of one. Loading uses `allow_pickle=False`, so a
file can only hold arrays of numbers, never objects that run code.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT_KEY = "__lorabook_format__"


class CheckpointError(ValueError):
    """A file that is not a valid lorabook checkpoint or adapter."""


def _atomic_write(path, write):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def save_arrays(path, arrays, kind):
    """Write a dict name -> array to `path` (.npz), tagged with `kind` (e.g. "state_dict")."""
    payload = {name: np.asarray(value) for name, value in arrays.items()}
    if FORMAT_KEY in payload:
        raise ValueError(f"array name {FORMAT_KEY!r} is reserved")
    payload[FORMAT_KEY] = np.array(kind)
    return _atomic_write(path, lambda file: np.savez(file, **payload))


def load_arrays(path, kind):
    """Read a dict name -> array written by `save_arrays` with the same `kind`.

    Raises CheckpointError for a missing tag, another kind, a truncated or
    corrupt file, or any entry that would need unpickling.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"path {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as err:  # NumPy's message when an entry holds Python objects
        raise CheckpointError(f"{path!r} holds pickled objects, which lorabook never loads: {err}") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as err:
        raise CheckpointError(f"{path!r} is not a readable .npz file (truncated or corrupt?): {err}") from None
    tag = arrays.pop(FORMAT_KEY, None)
    if tag is None or tag.dtype.kind != "U" or str(tag) != kind:
        found = "no lorabook tag" if tag is None else f"a {str(tag)!r} file"
        raise CheckpointError(f"{path!r} is not a lorabook {kind} file ({found})")
    return arrays


def save_json(path, obj):
    """Write `obj` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True).encode()
    return _atomic_write(path, lambda file: file.write(text))


def load_json(path):
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path!r} is not valid JSON (truncated or corrupt?): {err}") from None
