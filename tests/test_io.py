"""lorabook.io and lorabook.safetensors_file: atomic writes of files and folders, and safetensors/JSON files
refused without running code or allocating more than the file holds."""
import json
import os
import pickle
import struct
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lorabook import io, safetensors_file


def files_in(folder):
    return sorted(os.listdir(folder))


def dead_pid():
    """The id of a process that has ended (so that its temporaries count as left by a killed writer)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# ----- atomic_write ------------------------------------------------------------------------------
def test_atomic_write_writes_bytes_or_through_a_function(tmp_path):
    io.atomic_write(tmp_path / "a.bin", b"abc")
    io.atomic_write(tmp_path / "b.bin", lambda file: file.write(b"xyz"))
    assert (tmp_path / "a.bin").read_bytes() == b"abc" and (tmp_path / "b.bin").read_bytes() == b"xyz"
    assert files_in(tmp_path) == ["a.bin", "b.bin"]


def test_a_crash_while_writing_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = io.atomic_write(tmp_path / "model.bin", b"old")

    def write_that_dies_halfway(file):
        file.write(b"half of the new")
        raise OSError("disk full (simulated)")

    with pytest.raises(OSError, match="simulated"):
        io.atomic_write(path, write_that_dies_halfway)
    assert (tmp_path / "model.bin").read_bytes() == b"old"
    assert files_in(tmp_path) == ["model.bin"]


def test_a_failing_fsync_keeps_the_old_json(tmp_path, monkeypatch):
    path = io.save_json(tmp_path / "config.json", {"r": 4})

    def failing_fsync(fd):
        raise OSError("power cut (simulated)")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="simulated"):
        io.save_json(path, {"r": 8})
    monkeypatch.undo()
    assert io.load_json(path) == {"r": 4}
    assert files_in(tmp_path) == ["config.json"]


def test_temporaries_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    gone = dead_pid()
    stale = [f".model.bin.tmp-{gone}-abc", f".model.bin.tmp-{gone}-def"]
    for name in stale:
        (tmp_path / name).write_bytes(b"x" * 1000)
    alive = f".model.bin.tmp-{os.getppid()}-ghi"  # a writer that still runs keeps its temporary
    (tmp_path / alive).write_bytes(b"y")
    other = f".other.bin.tmp-{gone}-jkl"  # another file's temporary is not this write's business
    (tmp_path / other).write_bytes(b"z")
    io.atomic_write(tmp_path / "model.bin", b"new")
    assert files_in(tmp_path) == sorted([alive, other, "model.bin"])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_saved_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = io.atomic_write(tmp_path / "x.bin", b"1")
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's owner-only 0o600


@pytest.mark.parametrize("path", ["", "   "])
def test_an_empty_path_is_named(tmp_path, path):
    with pytest.raises(ValueError, match="path is empty"):
        io.atomic_write(path, b"1")


def test_a_path_of_another_type_is_named_with_its_value():
    with pytest.raises(TypeError, match=r"save_directory must be a str or os.PathLike \(a file or folder name\), got 3"):
        io.write_folder(3, {"a": b"1"})


# ----- write_folder --------------------------------------------------------------------------------
def test_write_folder_replaces_its_files_and_keeps_the_others(tmp_path):
    folder = tmp_path / "adapter"
    io.write_folder(folder, {"a.json": b"1", "sub/b.bin": b"2"})
    (folder / "notes.txt").write_text("mine")
    io.write_folder(folder, {"a.json": b"3", "sub/c.bin": b"4"})
    assert (folder / "a.json").read_bytes() == b"3" and (folder / "sub" / "b.bin").read_bytes() == b"2"
    assert (folder / "sub" / "c.bin").read_bytes() == b"4" and (folder / "notes.txt").read_text() == "mine"
    assert files_in(tmp_path) == ["adapter"]  # nothing left beside it


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_crash_before_the_swap_keeps_the_old_folder_whole(tmp_path, monkeypatch, exchange):
    folder = tmp_path / "adapter"
    io.write_folder(folder, {"config.json": b"old config", "weights.bin": b"old weights"})
    if not exchange:
        monkeypatch.setattr(io, "_exchange", lambda first, second: False)

    def crash(staging, target):
        raise OSError("killed (simulated)")

    with monkeypatch.context() as patch:
        patch.setattr(io, "_swap_in", crash)
        with pytest.raises(OSError, match="simulated"):
            io.write_folder(folder, {"config.json": b"new config", "weights.bin": b"new weights"})
    assert (folder / "config.json").read_bytes() == b"old config"
    assert (folder / "weights.bin").read_bytes() == b"old weights"
    assert files_in(tmp_path) == ["adapter"]
    io.write_folder(folder, {"config.json": b"new config", "weights.bin": b"new weights"})
    assert (folder / "config.json").read_bytes() == b"new config" and files_in(tmp_path) == ["adapter"]


def test_a_crash_between_the_two_renames_is_repaired_by_the_next_save(tmp_path):
    """Without renameat2 the old folder is renamed away first; if the writer dies there, the next
    write puts it back before going on."""
    folder = tmp_path / "adapter"
    io.write_folder(folder, {"config.json": b"old"})
    os.rename(folder, tmp_path / f".adapter.tmp-{dead_pid()}-old")
    io.write_folder(folder, {"weights.bin": b"new"})
    assert files_in(folder) == ["config.json", "weights.bin"]
    assert files_in(tmp_path) == ["adapter"]


KILL_BETWEEN_THE_RENAMES = """
import os, signal, sys
from lorabook import io
io._exchange = lambda first, second: False   # as on a system without renameat2
renames = []
def rename(source, target):
    renames.append(source)
    if len(renames) == 2:                       # the old folder is away, the new one not yet in
        os.kill(os.getpid(), signal.SIGKILL)
    os.replace(source, target)
io.os.rename = rename
io.write_folder(sys.argv[1], {"config.json": b"new"})
"""


def test_a_kill_between_the_two_renames_leaves_the_old_folder_for_the_next_load(tmp_path):
    folder = tmp_path / "adapters"
    io.write_folder(folder, {"config.json": b"old"})
    io.write_folder(folder / "second", {"config.json": b"old second"})
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(io.__file__))))
    process = subprocess.run([sys.executable, "-c", KILL_BETWEEN_THE_RENAMES, str(folder)], env=env)
    assert process.returncode == -9 and not folder.exists()  # killed in the window: only ".old" is left
    io.restore_interrupted_save(folder / "second")           # what a load of the subfolder does first
    assert (folder / "config.json").read_bytes() == b"old"
    assert (folder / "second" / "config.json").read_bytes() == b"old second"


def test_a_failure_between_the_two_renames_puts_the_old_folder_back_at_once(tmp_path, monkeypatch):
    folder = tmp_path / "adapters"
    io.write_folder(folder, {"config.json": b"old"})
    monkeypatch.setattr(io, "_exchange", lambda first, second: False)
    renames = []

    def rename(source, target):
        renames.append(source)
        if len(renames) == 2:
            raise OSError("disk full (simulated)")
        os.replace(source, target)

    monkeypatch.setattr(io.os, "rename", rename)
    with pytest.raises(OSError, match="simulated"):
        io.write_folder(folder, {"config.json": b"new"})
    assert (folder / "config.json").read_bytes() == b"old" and files_in(tmp_path) == ["adapters"]


def test_stale_staging_folders_are_removed(tmp_path):
    folder = tmp_path / "adapter"
    stale = tmp_path / f".adapter.tmp-{dead_pid()}-xyz"
    stale.mkdir()
    (stale / "adapter_model.safetensors").write_bytes(b"0" * 10000)
    io.write_folder(folder, {"a": b"1"})
    assert files_in(tmp_path) == ["adapter"]


def test_write_folder_refuses_a_file_and_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        io.write_folder(tmp_path / "file", {"a": b"1"})
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    with pytest.raises(ValueError, match="holds the current working directory"):
        io.write_folder(".", {"a": b"1"})
    with pytest.raises(ValueError, match="save_directory is empty"):
        io.write_folder("", {"a": b"1"})


# ----- safetensors -----------------------------------------------------------------------------------
def test_safetensors_round_trip_keeps_names_dtypes_and_bits(tmp_path):
    arrays = {
        "0.weight": np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32),
        "b": np.array([np.pi, np.nextafter(1.0, 2.0)]),
        "half": np.array([1.5, -2.0], dtype=np.float16),
        "file": np.zeros((0, 3)),  # names that are keywords elsewhere, and an empty array
    }
    path = safetensors_file.save_safetensors(tmp_path / "x.safetensors", arrays, {"format": "pt"})
    checked = safetensors_file.read_safetensors(path)
    assert checked.metadata == {"format": "pt"} and checked.numel() == 12 + 2 + 2
    loaded = checked.read()
    assert sorted(loaded) == sorted(arrays)
    for name, value in arrays.items():
        assert loaded[name].dtype == value.dtype and loaded[name].shape == value.shape
        assert loaded[name].tobytes() == value.tobytes()
    # and the safetensors package reads what lorabook wrote
    np.testing.assert_array_equal(safetensors.numpy.load_file(path)["b"], arrays["b"])


def test_bfloat16_is_read_exactly_as_float32(tmp_path):
    values = np.array([1.0, -2.5, 3.140625, 0.0], dtype=np.float32)  # all exact in bfloat16
    upper_halves = (values.view(np.uint32) >> 16).astype("<u2")
    header = json.dumps({"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + upper_halves.tobytes())
    loaded = safetensors_file.read_safetensors(path).read()["w"]
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, values)


def write_raw(path, header, data=b""):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


@pytest.mark.parametrize("dtype", ["C64", "I64", "U8", "BOOL"])
def test_only_real_floating_point_arrays_are_read(tmp_path, dtype):
    path = write_raw(tmp_path / "x.safetensors", {"w": {"dtype": dtype, "shape": [1], "data_offsets": [0, 8]}}, b"0" * 8)
    with pytest.raises(io.CheckpointError, match=rf"x.safetensors.*'w' has dtype '{dtype}'; lorabook reads real floating"):
        safetensors_file.read_safetensors(path)


def test_only_real_floating_point_arrays_are_written(tmp_path):
    with pytest.raises(TypeError, match="'n' has dtype int64"):
        safetensors_file.save_safetensors(tmp_path / "x.safetensors", {"n": np.arange(3)})
    with pytest.raises(TypeError, match="complex"):
        safetensors_file.save_safetensors(tmp_path / "x.safetensors", {"z": np.ones(2, dtype=complex)})
    assert files_in(tmp_path) == []


def hostile_files(tmp_path):
    huge = {"w": {"dtype": "F32", "shape": [2**20, 2**20], "data_offsets": [0, 4 * 2**40]}}
    lying = {"w": {"dtype": "F32", "shape": [2**20, 2**20], "data_offsets": [0, 8]}}
    nested = b"[" * 100_000 + b"]" * 100_000
    return {
        "claims 2**40 numbers": write_raw(tmp_path / "huge.safetensors", huge, b"0" * 8),
        "shape and offsets disagree": write_raw(tmp_path / "lying.safetensors", lying, b"0" * 8),
        "100,000 nested [": write_raw(tmp_path / "nested.safetensors", nested),
        "not UTF-8": write_raw(tmp_path / "latin.safetensors", b'{"w\xe9": 1}'),
        "header length past the end": (tmp_path / "long.safetensors").write_bytes(struct.pack("<Q", 2**62) + b"{}") and
        tmp_path / "long.safetensors",
        "too short": (tmp_path / "short.safetensors").write_bytes(b"\x01\x02") and tmp_path / "short.safetensors",
        "a pickle": (tmp_path / "p.safetensors").write_bytes(pickle.dumps({"w": [1.0]})) and tmp_path / "p.safetensors",
        "not an object": write_raw(tmp_path / "list.safetensors", [1, 2]),
        "offsets outside": write_raw(tmp_path / "out.safetensors",
                                     {"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"0" * 8),
        "header length 2**63": (tmp_path / "l63.safetensors").write_bytes(struct.pack("<Q", 2**63) + b"{}") and
        tmp_path / "l63.safetensors",
        "1,000 names sharing the same 4 KB": write_raw(tmp_path / "shared.safetensors", {
            f"w{i}": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]} for i in range(1_000)}, b"0" * 4096),
        "a gap before the first array": write_raw(tmp_path / "gap.safetensors",
                                                  {"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"0" * 8),
        "bytes after the last array": write_raw(tmp_path / "tail.safetensors",
                                                {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"0" * 8),
        "a name given twice": write_raw(tmp_path / "twice.safetensors", b'{"w": {"dtype": "F32", "shape": [2], '
                                        b'"data_offsets": [0, 8]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": '
                                        b'[0, 4]}}', b"0" * 8),
        "2**62 x 2**62 x 0": write_raw(tmp_path / "empty.safetensors",
                                       {"w": {"dtype": "F32", "shape": [2**62, 2**62, 0], "data_offsets": [0, 0]}}),
        "F64 in the bytes of two F32": write_raw(tmp_path / "f64.safetensors",
                                                 {"w": {"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}, b"0" * 8),
    }


@pytest.mark.parametrize("what", ["1,000 names sharing the same 4 KB", "a gap before the first array",
                                  "bytes after the last array", "a name given twice", "2**62 x 2**62 x 0"])
def test_files_the_safetensors_package_refuses_are_refused_here_too(tmp_path, what):
    path = hostile_files(tmp_path)[what]
    with pytest.raises(safetensors.SafetensorError):
        safetensors.numpy.load_file(path)
    with pytest.raises(io.CheckpointError, match=os.path.basename(path)):
        safetensors_file.read_safetensors(path)


def test_damaged_and_hostile_headers_are_refused_reading_at_most_the_header(tmp_path):
    for what, path in hostile_files(tmp_path).items():
        tracemalloc.start()
        try:
            with pytest.raises(io.CheckpointError, match=os.path.basename(path)):
                safetensors_file.read_safetensors(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 4 * 2**20, what  # the nested brackets take the most: a few MB of parser state, not 4 TB


def test_an_npz_is_refused_with_a_hint_and_a_zip_bomb_is_never_opened(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("w.npy", b"\0" * (64 * 2**20))  # 64 MiB of zeros in about 64 KiB
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(io.CheckpointError, match=r"bomb.npz.*is a zip file \(an .npz\?\), not safetensors"):
            safetensors_file.read_safetensors(path)
        assert tracemalloc.get_traced_memory()[1] < 2**20
    finally:
        tracemalloc.stop()


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        safetensors_file.read_safetensors(tmp_path / "nowhere.safetensors")


# ----- JSON ---------------------------------------------------------------------------------------------
def test_json_round_trip(tmp_path):
    config = {"r": 8, "lora_alpha": 16, "target_modules": ["0", "2"]}
    assert io.load_json(io.save_json(tmp_path / "c.json", config)) == config


@pytest.mark.parametrize("content, message", [
    (b'{"r": 8,', "not valid JSON"),
    (b'{"r": "\xff\xfe"}', "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b" " * (io.MAX_JSON_BYTES + 1), "larger than"),
    (b'{"lora_alpha": 8, "r": 4, "lora_alpha": 32}', "gives the key 'lora_alpha' twice"),
])
def test_damaged_json_is_a_checkpoint_error_naming_the_file(tmp_path, content, message):
    (tmp_path / "bad.json").write_bytes(content)
    with pytest.raises(io.CheckpointError, match=f"bad.json.*{message}"):
        io.load_json(tmp_path / "bad.json")


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_write_folder_through_a_symlink_and_with_links_inside(tmp_path):
    real = tmp_path / "real"
    io.write_folder(real, {"a": b"1"})
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", real / "data")  # a link to a folder inside: kept as a link
    os.symlink(real, tmp_path / "link")
    io.write_folder(tmp_path / "link", {"a": b"2"})
    assert os.path.islink(tmp_path / "link") and (real / "a").read_bytes() == b"2"
    assert os.path.islink(real / "data")
    assert files_in(tmp_path) == ["elsewhere", "link", "real"]


# ----- properties ----------------------------------------------------------------------------------------
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.text("abc._0", min_size=1, max_size=6), st.tuples(shapes, st.sampled_from(["<f2", "<f4", "<f8"])),
                       max_size=4), st.integers(0, 2**32 - 1))
def test_any_shapes_and_float_dtypes_read_back_as_the_safetensors_package_reads_them(tmp_path, spec, seed):
    rng = np.random.default_rng(seed)
    arrays = {name: rng.standard_normal(shape).astype(dtype) for name, (shape, dtype) in spec.items()}
    path = safetensors_file.save_safetensors(tmp_path / "x.safetensors", arrays)
    ours, theirs = safetensors_file.read_safetensors(path).read(), safetensors.numpy.load_file(path)
    assert sorted(ours) == sorted(theirs) == sorted(arrays)
    for name, value in arrays.items():
        assert ours[name].shape == value.shape and ours[name].dtype == value.dtype
        assert ours[name].tobytes() == theirs[name].tobytes() == value.tobytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10_000), st.integers(0, 255))
def test_a_changed_byte_gives_a_checkpoint_error_or_a_valid_file_never_another_error(tmp_path, position, value):
    arrays = {"0.weight": np.arange(12, dtype=np.float32).reshape(3, 4), "0.bias": np.ones(3)}
    data = bytearray(safetensors_file.safetensors_bytes(arrays, {"format": "pt"}))
    data[position % len(data)] = value
    path = tmp_path / "x.safetensors"
    path.write_bytes(bytes(data))
    try:
        checked = safetensors_file.read_safetensors(path)
    except io.CheckpointError:
        return
    loaded = checked.read()  # a change that leaves a valid header: the arrays still read, whole
    assert all(loaded[name].size * loaded[name].itemsize == checked._layout[name][2] for name in loaded)
