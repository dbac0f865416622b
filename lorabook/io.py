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

# mkstemp creates files readable by their owner only; give ours the usual permissions instead.
_UMASK = os.umask(0)
os.umask(_UMASK)


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
        os.chmod(temporary, 0o666 & ~_UMASK)
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
    return _atomic_write(path, lambda file: _write_npz(file, payload))


def _write_npz(file, arrays):
    """The .npz layout np.savez writes (a zip with one .npy per array), without its
    keyword arguments: a parameter named "file" or "allow_pickle" cannot clash here."""
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, value, allow_pickle=False)


def load_arrays(path, kind):
    """Read a dict name -> array written by `save_arrays` with the same `kind`.

    Raises CheckpointError for a missing tag, another kind, a truncated or
    corrupt file, or any entry that would need unpickling.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"path {path!r} does not exist")
    if not zipfile.is_zipfile(path):  # e.g. a text file, a bare .npy, or the first half of an .npz
        raise CheckpointError(f"{path!r} is not an .npz file (a zip of arrays); it may be truncated or of another kind")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as err:
        if "allow_pickle" in str(err):  # NumPy refuses an object array before unpickling anything
            raise CheckpointError(f"{path!r} holds pickled objects, which lorabook never loads: {err}") from None
        raise CheckpointError(f"{path!r} holds an unreadable array (corrupt?): {err}") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as err:
        raise CheckpointError(f"{path!r} is not a readable .npz file (truncated or corrupt?): {err}") from None
    not_arrays = [name for name, value in arrays.items() if not isinstance(value, np.ndarray)]
    if not_arrays:  # a zip entry without an .npy header comes back as raw bytes
        raise CheckpointError(f"{path!r} has entries that are not arrays: {not_arrays}")
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
