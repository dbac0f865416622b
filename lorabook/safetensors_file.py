"""safetensors files (the format of PyTorch and PEFT), written atomically and read after checking.

    8 bytes     N, the header's length (little-endian unsigned integer)
    N bytes     a JSON header: name -> {"dtype": "F32", "shape": [out, in], "data_offsets": [begin, end]}
    the rest    the raw numbers, little-endian, one block per array

`read_safetensors` reads and checks the header before any number: every
shape must fit the bytes its offsets give, and the arrays' bytes must follow
one another and fill the data exactly, so that reading every array costs at
most the file's size (a JSON key given twice is refused too). A damaged or
hostile file (a header claiming 2**40 numbers, 100,000 nested brackets, bytes
that are not UTF-8) is refused with a CheckpointError naming the file, after
reading at most the header. Only real floating-point arrays are accepted.
Nothing is ever unpickled: the format cannot hold code.

Writing uses the safetensors package's NumPy API (no torch needed), through
lorabook.io.atomic_write, so a crash leaves the old file or the new one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np
import safetensors.numpy

from .io import CheckpointError, PathLike, atomic_write, check_path, parse_json

MAX_HEADER_BYTES = 16 * 2**20  # a header of 100,000 tensors takes about 15 MB

# safetensors' names of the real floating-point types lorabook reads. BF16 (what GPU training often
# keeps) has no NumPy type: it is the top half of a float32, so it is widened to float32 exactly.
FLOAT_DTYPES = {"F16": np.dtype("<f2"), "BF16": np.dtype("<u2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8")}


def safetensors_bytes(arrays: Mapping[str, np.ndarray], metadata: Optional[Mapping[str, str]] = None) -> bytes:
    """The safetensors file of `arrays` (name -> real floating-point array), made by the safetensors package."""
    checked = {}
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind != "f":
            raise TypeError(f"array {name!r} has dtype {value.dtype}; only real floating-point arrays are saved")
        checked[name] = np.require(value, requirements="C")  # (ascontiguousarray would make a 0-d array 1-d)
    return safetensors.numpy.save(checked, metadata=dict(metadata) if metadata else None)


def save_safetensors(path: PathLike, arrays: Mapping[str, np.ndarray], metadata: Optional[Mapping[str, str]] = None) -> str:
    """Write `arrays` to `path` as safetensors, atomically. Returns `path`."""
    return atomic_write(path, safetensors_bytes(arrays, metadata))


@dataclass
class SafetensorsFile:
    """A checked safetensors header: what the file holds, before any number is read.

    entries: name -> (NumPy dtype after reading, shape); metadata: the header's "__metadata__".
    """

    path: str
    metadata: dict
    entries: dict
    _layout: dict  # name -> (safetensors dtype, first byte, number of bytes)

    def numel(self) -> int:
        """How many numbers the file holds in all."""
        return sum(int(np.prod(shape)) for _, shape in self.entries.values())

    def read(self, names=None) -> dict:
        """name -> array for `names` (default: all), read from the file one array at a time."""
        names = list(self.entries) if names is None else list(names)
        arrays = {}
        with open(self.path, "rb") as file:
            for name in names:
                kind, begin, size = self._layout[name]
                raw = np.empty(size // FLOAT_DTYPES[kind].itemsize, dtype=FLOAT_DTYPES[kind])
                file.seek(begin)
                if file.readinto(memoryview(raw).cast("B")) != size:
                    raise CheckpointError(f"{self.path!r}: array {name!r} is cut short (the file changed while read?)")
                if kind == "BF16":
                    raw = (raw.astype(np.uint32) << 16).view(np.float32)
                arrays[name] = raw.astype(raw.dtype.newbyteorder("="), copy=False).reshape(self.entries[name][1])
        return arrays


def read_safetensors(path: PathLike) -> SafetensorsFile:
    """Read and check the header of the safetensors file `path`; CheckpointError if it is not one.

    Checks, before any number is read: the header's length fits the file and
    MAX_HEADER_BYTES; it is UTF-8 JSON; every entry has a real floating-point
    dtype, a shape of non-negative integers, and offsets inside the file that
    hold exactly shape * itemsize bytes; together the offsets tile the data.
    """
    path = check_path(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path {path!r} does not exist or is not a file")
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        start = file.read(8)
        if start[:2] == b"PK":
            raise CheckpointError(f"{path!r} is a zip file (an .npz?), not safetensors; lorabook reads and writes "
                                  "safetensors only (re-save the model or adapter with this version)")
        if len(start) < 8:
            raise CheckpointError(f"{path!r} is not a safetensors file: {size} bytes, too short for a header")
        header_bytes = int.from_bytes(start, "little")
        if header_bytes > min(size - 8, MAX_HEADER_BYTES):
            raise CheckpointError(f"{path!r} is not a readable safetensors file: its header claims {header_bytes} "
                                  f"bytes, but the file has {size - 8} after the length (limit {MAX_HEADER_BYTES})")
        header = parse_json(path, file.read(header_bytes), "header")
    if not isinstance(header, dict):
        raise CheckpointError(f"{path!r}: the safetensors header must be a JSON object, got {type(header).__name__}")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{path!r}: __metadata__ must map names to strings")
    data_start, data_bytes = 8 + header_bytes, size - 8 - header_bytes
    entries, layout = {}, {}
    for name, entry in header.items():
        dtype, shape, begin, end = _check_entry(path, name, entry, data_bytes)
        entries[name] = (np.dtype(np.float32) if dtype == "BF16" else FLOAT_DTYPES[dtype].newbyteorder("="), shape)
        layout[name] = (dtype, data_start + begin, end - begin)
    _check_tiling(path, header, data_bytes)
    return SafetensorsFile(path, dict(metadata), entries, layout)


def _check_tiling(path, header, data_bytes):
    """The arrays' byte ranges must follow one another and cover the data exactly, as the format
    says: so no two names share bytes, and reading every array reads each byte of the file once
    (overlapping ranges would let a small file stand for any number of large arrays)."""
    position = 0
    for begin, end, name in sorted((entry["data_offsets"][0], entry["data_offsets"][1], name)
                                   for name, entry in header.items()):
        if begin != position:
            raise CheckpointError(f"{path!r}: array {name!r} starts at data byte {begin}, expected {position} "
                                  f"(the arrays' bytes must follow one another without gaps or overlaps)")
        position = end
    if position != data_bytes:
        raise CheckpointError(f"{path!r}: the arrays end at data byte {position}, but the file has {data_bytes} data "
                              "bytes (damaged, or bytes appended)")


def _check_entry(path, name, entry, data_bytes):
    where = f"{path!r}: array {name!r}"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise CheckpointError(f"{where} must be described by dtype, shape and data_offsets, got {str(entry)[:200]}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in FLOAT_DTYPES:
        raise CheckpointError(f"{where} has dtype {dtype!r}; lorabook reads real floating-point arrays only "
                              f"({', '.join(FLOAT_DTYPES)})")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise CheckpointError(f"{where} has shape {str(shape)[:200]}; expected a list of non-negative integers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(n) is int for n in offsets)
            and 0 <= offsets[0] <= offsets[1] <= data_bytes):
        raise CheckpointError(f"{where} has data_offsets {str(offsets)[:200]} outside the file's {data_bytes} data bytes")
    if int(np.prod([n for n in shape if n], dtype=object)) * FLOAT_DTYPES[dtype].itemsize >= 2**63:
        raise CheckpointError(f"{where} has shape {str(shape)[:200]}, too large for any array")
    needed = int(np.prod(shape, dtype=object)) * FLOAT_DTYPES[dtype].itemsize
    if offsets[1] - offsets[0] != needed:
        raise CheckpointError(f"{where}: shape {shape} of {dtype} needs {needed} bytes, its offsets give "
                              f"{offsets[1] - offsets[0]} (damaged or hostile file)")
    return dtype, tuple(shape), offsets[0], offsets[1]
