"""lorabook.io: atomic writes, and files that are refused without running any code."""
import os
import pickle
import sys
import zipfile

import numpy as np
import pytest

from lorabook import io

KIND = "state_dict"


class SetsOffAlarm:
    """Unpickling this creates a folder: the visible trace of code run by a loader."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def files_in(folder):
    return sorted(os.listdir(folder))


def test_round_trip_keeps_names_dtypes_and_bits(tmp_path):
    arrays = {
        "a.weight": np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32),
        "b": np.array([np.pi, np.nextafter(1.0, 2.0)]),
        "count": np.arange(3),
    }
    path = io.save_arrays(tmp_path / "x.npz", arrays, KIND)
    loaded = io.load_arrays(path, KIND)
    assert list(loaded) == list(arrays)
    for name, value in arrays.items():
        assert loaded[name].dtype == value.dtype
        assert loaded[name].tobytes() == value.tobytes()
    assert files_in(tmp_path) == ["x.npz"]


def test_another_kind_of_lorabook_file_is_refused(tmp_path):
    path = io.save_arrays(tmp_path / "adapter.npz", {"w": np.ones(2)}, "adapter")
    with pytest.raises(io.CheckpointError, match="not a lorabook state_dict file \\(a 'adapter' file\\)"):
        io.load_arrays(path, KIND)


def test_the_tag_name_is_reserved(tmp_path):
    with pytest.raises(ValueError, match="__lorabook_format__.*reserved"):
        io.save_arrays(tmp_path / "x.npz", {io.FORMAT_KEY: np.ones(1)}, KIND)
    assert files_in(tmp_path) == []


def test_a_crash_while_writing_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    io.save_arrays(path, {"w": np.zeros(1000)}, KIND)
    old_bytes = path.read_bytes()

    def write_that_dies_halfway(file, arrays):
        file.write(b"PK\x03\x04 half of a zip file")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(io, "_write_npz", write_that_dies_halfway)
    with pytest.raises(OSError, match="simulated"):
        io.save_arrays(path, {"w": np.ones(1000)}, KIND)
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes
    assert files_in(tmp_path) == ["model.npz"]
    np.testing.assert_array_equal(io.load_arrays(path, KIND)["w"], np.zeros(1000))


def test_a_crash_while_writing_json_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    io.save_json(path, {"r": 4})

    def failing_fsync(fd):
        raise OSError("power cut (simulated)")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="simulated"):
        io.save_json(path, {"r": 8})
    monkeypatch.undo()
    assert io.load_json(path) == {"r": 4}
    assert files_in(tmp_path) == ["config.json"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_saved_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = io.save_arrays(tmp_path / "x.npz", {"w": np.ones(1)}, KIND)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's owner-only 0o600


def test_json_round_trip_and_corrupt_json(tmp_path):
    config = {"r": 8, "lora_alpha": 16.0, "target_modules": ["0", "2"]}
    path = io.save_json(tmp_path / "c.json", config)
    assert io.load_json(path) == config
    (tmp_path / "bad.json").write_text('{"r": 8,')
    with pytest.raises(io.CheckpointError, match="bad.json.*not valid JSON"):
        io.load_json(tmp_path / "bad.json")


def test_a_plain_npz_without_the_tag_is_refused(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.ones(3))
    with pytest.raises(io.CheckpointError, match="plain.npz.*not a lorabook state_dict file \\(no lorabook tag\\)"):
        io.load_arrays(path, KIND)


@pytest.mark.parametrize(
    "name, content",
    [("notes.txt", b"weights: 1 2 3\n"), ("empty.npz", b""), ("half.npz", None)],
)
def test_files_that_are_not_npz_are_refused(tmp_path, name, content):
    if content is None:  # the first half of a real checkpoint
        full = io.save_arrays(tmp_path / "full.npz", {"w": np.ones(500)}, KIND)
        with open(full, "rb") as file:
            data = file.read()
        content = data[: len(data) // 2]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(io.CheckpointError, match=f"{name}.*is not an .npz file") as info:
        io.load_arrays(path, KIND)
    assert "pickle" not in str(info.value)  # a text file is not "pickled objects"


def test_a_bare_npy_file_is_refused(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.ones(3))
    with pytest.raises(io.CheckpointError, match="w.npy.*is not an .npz file"):
        io.load_arrays(path, KIND)


def test_a_corrupt_entry_is_refused(tmp_path):
    path = io.save_arrays(tmp_path / "x.npz", {"w": np.ones(2000)}, KIND)
    with open(path, "rb") as file:
        data = bytearray(file.read())
    middle = len(data) // 3
    data[middle : middle + 16] = b"X" * 16  # inside the stored array bytes: the CRC no longer matches
    with open(path, "wb") as file:
        file.write(bytes(data))
    with pytest.raises(io.CheckpointError, match="x.npz.*(corrupt|not arrays)"):
        io.load_arrays(path, KIND)


def test_zip_entries_that_are_not_arrays_are_refused(tmp_path):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", b"hello")
    with pytest.raises(io.CheckpointError, match=r"entries that are not arrays: \['readme.txt'\]"):
        io.load_arrays(path, KIND)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        io.load_arrays(tmp_path / "nowhere.npz", KIND)


def test_pickle_bearing_npz_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "code_was_run"
    payload = np.array([SetsOffAlarm(marker)], dtype=object)

    # The alarm works: any loader that unpickles would create the marker folder.
    pickle.loads(pickle.dumps(payload))
    assert marker.exists()
    marker.rmdir()

    path = tmp_path / "evil.npz"
    # The right tag and an innocent-looking array, so only the object entry can cause the refusal.
    np.savez(path, **{io.FORMAT_KEY: np.array(KIND), "w": np.ones(2), "bias": payload})
    with pytest.raises(io.CheckpointError, match="evil.npz.*holds pickled objects, which lorabook never loads"):
        io.load_arrays(path, KIND)
    assert not marker.exists()


def test_array_names_that_are_also_savez_keywords_are_kept(tmp_path):
    # np.savez(file, **arrays) would clash on these names; lorabook writes the zip itself.
    arrays = {"file": np.arange(3.0), "allow_pickle": np.ones((2, 2), dtype=np.float32)}
    path = io.save_arrays(tmp_path / "x.npz", arrays, KIND)
    loaded = io.load_arrays(path, KIND)
    assert sorted(loaded) == ["allow_pickle", "file"]
    for name, value in arrays.items():
        np.testing.assert_array_equal(loaded[name], value)
        assert loaded[name].dtype == value.dtype


def test_object_arrays_are_never_written(tmp_path):
    with pytest.raises(ValueError, match="pickle"):
        io.save_arrays(tmp_path / "x.npz", {"w": np.array([{"a": 1}], dtype=object)}, KIND)
    assert files_in(tmp_path) == []
