"""Files that survive crashes, never run code when loaded, and cannot make a reader allocate without bound.

Writing. `atomic_write` writes a temporary file beside the target, flushes
it to disk and renames it over the target in one step: a crash leaves the
old file or the new one, never half of one. `write_folder` does the same
for several files at once (an adapter's config and tensors must never come
from two different saves): it builds the new folder beside the old one and
swaps the two folders in one step. Temporary files of a writer that was
killed are removed by the next write to the same place.

Reading. `load_json` reads a small JSON file (a config), refusing with a
CheckpointError naming the file what is too large, not UTF-8, nested too
deeply or gives a key twice. Arrays are read and written by
lorabook.safetensors_file, on the same terms. Nothing is ever unpickled.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import sys
import tempfile
from typing import BinaryIO, Callable, Mapping, Union


from ._checks import _show

PathLike = Union[str, "os.PathLike[str]"]

MAX_JSON_BYTES = 2**20  # an adapter_config.json is a few KB

# mkstemp creates files readable by their owner only; give ours the usual permissions instead.
_UMASK = os.umask(0)
os.umask(_UMASK)


class CheckpointError(ValueError):
    """A file that is not a valid checkpoint, adapter or config (damaged, hostile or of another kind)."""


# ----- writing ---------------------------------------------------------------------------------
def check_path(path: PathLike, argument: str = "path") -> str:
    """`path` as a str; TypeError if it is not a path, ValueError naming `argument` if it is empty."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{argument} must be a str or os.PathLike (a file or folder name), got {_show(path)}")
    path = os.fspath(path)
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"{argument} is empty ({path!r}); give a file or folder name such as 'model.safetensors'")
    return path


def _temporary_prefix(path: str) -> str:
    """'.name.tmp-': temporaries carry the writer's process id after it, so that stale ones can be found."""
    return f".{os.path.basename(path)}.tmp-"


def _writer_is_gone(temporary_name: str, prefix: str) -> bool:
    """True if the process that made this temporary no longer runs (it was killed mid-write)."""
    pid = temporary_name[len(prefix):].split("-", 1)[0]
    if not pid.isdigit() or os.name != "posix":  # Windows has no signal-0 probe: keep the file
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, run by another user
        return False
    return False


def remove_stale_temporaries(path: PathLike) -> list:
    """Delete what killed writers of `path` left beside it; returns the names removed."""
    path = os.path.abspath(os.fspath(path))
    folder, prefix = os.path.dirname(path), _temporary_prefix(path)
    removed = []
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        if name.startswith(prefix) and _writer_is_gone(name, prefix):
            stale = os.path.join(folder, name)
            if os.path.isdir(stale) and not os.path.islink(stale):
                shutil.rmtree(stale)  # a killed folder save's staging folder
            else:
                os.unlink(stale)
            removed.append(name)
    return removed


def atomic_write(path: PathLike, write: Union[bytes, Callable[[BinaryIO], None]]) -> str:
    """Write `path` all at once: `write` is the bytes, or a function that writes into a binary file.

    The bytes go to a temporary file beside `path`, are flushed to disk, and
    the temporary is renamed over `path` in one step. Returns `path`.
    """
    path = check_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(path)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f"{_temporary_prefix(path)}{os.getpid()}-")
    try:
        with os.fdopen(handle, "wb") as file:
            if isinstance(write, (bytes, bytearray)):
                file.write(write)
            else:
                write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    _fsync_folder(folder)
    return path




def write_folder(folder: PathLike, files: Mapping[str, bytes]) -> str:
    """Replace the files `files` (relative path -> bytes) inside `folder` as one step.

    Other files already in `folder` are kept. How: the new folder is built
    beside the old one (the kept files hard-linked, so no data is copied),
    flushed to disk, and the two folders swap names in one rename. A reader,
    or a crash, sees the old folder or the new one, whole. Returns `folder`.
    """
    folder = os.path.realpath(check_path(folder, "save_directory"))  # a symlinked folder: swap its target
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"save_directory {folder!r} is a file; adapters are saved into a folder")
    cwd = os.path.realpath(os.getcwd())
    if os.path.exists(folder) and (cwd + os.sep).startswith(os.path.realpath(folder) + os.sep):
        raise ValueError(f"save_directory {folder!r} holds the current working directory; the save swaps "
                         "the whole folder, so save into a subfolder such as 'adapters/run1' instead")
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    restore_interrupted_save(folder)
    remove_stale_temporaries(folder)
    staging = tempfile.mkdtemp(dir=parent, prefix=f"{_temporary_prefix(folder)}{os.getpid()}-")
    try:
        if os.path.isdir(folder):
            _link_tree(folder, staging, skip=set(files))
        for relative, content in files.items():
            target = os.path.join(staging, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(target, 0o666 & ~_UMASK)
        os.chmod(staging, 0o777 & ~_UMASK)
        if os.path.isdir(folder):
            shutil.copymode(folder, staging)  # the folder keeps its permissions
        for path, _, _ in os.walk(staging):
            _fsync_folder(path)
        _swap_in(staging, folder)
    finally:
        if os.path.exists(staging):  # after the swap it holds the old folder; before it, a failed save
            shutil.rmtree(staging)
    _fsync_folder(parent)
    return folder


def _link_tree(source: str, target: str, skip: set) -> None:
    """Recreate `source` under `target` with hard links, leaving out the relative paths in `skip`."""
    skip = {os.path.normpath(relative) for relative in skip}
    for path, folders, names in os.walk(source):
        relative = os.path.relpath(path, source)
        for name in list(folders):
            if os.path.islink(os.path.join(path, name)):  # keep a link to a folder as a link
                os.symlink(os.readlink(os.path.join(path, name)), os.path.join(target, relative, name))
                folders.remove(name)
            else:
                os.makedirs(os.path.join(target, relative, name), exist_ok=True)
        for name in names:
            inner = os.path.normpath(os.path.join(relative, name))
            if inner in skip:
                continue
            original, copy = os.path.join(path, name), os.path.join(target, inner)
            if os.path.islink(original):
                os.symlink(os.readlink(original), copy)
                continue
            try:
                os.link(original, copy)
            except OSError:  # a file system without hard links
                shutil.copy2(original, copy)


def _swap_in(staging: str, folder: str) -> None:
    """Give `folder`'s name to `staging` in one step; the old folder ends up at `staging`."""
    if not os.path.exists(folder):
        os.rename(staging, folder)
        return
    if _exchange(staging, folder):
        return
    # No atomic exchange here (not Linux, or a file system without it): two renames. A crash
    # between them leaves only the ".old" folder, which the next save or load puts back
    # (restore_interrupted_save); a failure between them puts it back at once.
    old = f"{os.path.join(os.path.dirname(folder), _temporary_prefix(folder))}{os.getpid()}-old"
    os.rename(folder, old)
    try:
        os.rename(staging, folder)
    except BaseException:
        os.rename(old, folder)
        raise
    os.rename(old, staging)


def _exchange(first: str, second: str) -> bool:
    """Swap two paths with Linux's renameat2(RENAME_EXCHANGE); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not supported here
        return False
    raise OSError(error, os.strerror(error), second)


def restore_interrupted_save(path: PathLike) -> None:
    """Put back a folder that a save killed between the fallback's two renames left only as its
    ".old" copy: `path`, or the folder above it that was saved. Saves and loads call it first, so
    that a load finds the old adapter whole even before the next save."""
    missing, path = [], os.path.realpath(os.fspath(path))
    while not os.path.exists(path) and os.path.dirname(path) != path:
        missing.append(path)
        path = os.path.dirname(path)
    for folder in reversed(missing):  # the outermost missing folder first: the one a save swapped
        parent, prefix = os.path.dirname(folder), _temporary_prefix(folder)
        for name in sorted(os.listdir(parent)) if os.path.isdir(parent) else ():
            if name.startswith(prefix) and name.endswith("-old") and _writer_is_gone(name, prefix):
                os.rename(os.path.join(parent, name), folder)
                break


def _fsync_folder(folder: str) -> None:
    """Make a rename inside `folder` durable (POSIX; Windows cannot open folders)."""
    if os.name != "posix":
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


# ----- JSON --------------------------------------------------------------------------------------
def parse_json(path, raw: bytes, what: str):
    """The JSON value in `raw` (read from `path`); CheckpointError naming the file and `what` it is."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CheckpointError(f"{path!r}: the {what} is not UTF-8 text (damaged?): {err}") from None
    try:
        return json.loads(text, object_pairs_hook=_object_without_repeats)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path!r}: the {what} is not valid JSON (truncated or corrupt?): {err}") from None
    except RecursionError:
        raise CheckpointError(f"{path!r}: the {what} is nested too deeply to be a real {what}") from None
    except _RepeatedKey as err:
        raise CheckpointError(f"{path!r}: the {what} gives the key {err.args[0]!r} twice; which one holds is "
                              "not defined, so the file is refused (damaged or hostile)") from None


class _RepeatedKey(Exception):
    """A JSON object with a key twice (json.loads would silently keep the last one)."""


def _object_without_repeats(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise _RepeatedKey(key)
        obj[key] = value
    return obj


def json_bytes(obj) -> bytes:
    """`obj` as indented, key-sorted JSON text (as PEFT writes its configs)."""
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8")


def save_json(path: PathLike, obj) -> str:
    """Write `obj` as indented JSON, atomically."""
    return atomic_write(path, json_bytes(obj))


def load_json(path: PathLike, max_bytes: int = MAX_JSON_BYTES):
    """The JSON value in `path`; CheckpointError (naming the file) if it is larger than `max_bytes`,
    not UTF-8, not JSON, or nested too deeply."""
    path = check_path(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path {path!r} does not exist or is not a file")
    with open(path, "rb") as file:
        raw = file.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise CheckpointError(f"{path!r} is larger than {max_bytes} bytes, too large for a config")
    return parse_json(path, raw, "file")
