"""state_dict / load_state_dict and save / load of a module."""
import os

import numpy as np
import pytest

from lorabook import nn
from lorabook.io import CheckpointError


def make_model(seed, dtype=np.float32):
    return nn.MLP([3, 4, 2], generator=seed, dtype=dtype)


def test_state_dict_holds_copies_under_dotted_names():
    model = make_model(0)
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    before = model[0].weight.data.copy()
    state["0.weight"][...] = 99.0  # editing the snapshot ...
    np.testing.assert_array_equal(model[0].weight.data, before)  # ... leaves the model alone
    model[0].weight.data[...] = -1.0  # and training the model leaves the snapshot alone
    assert np.all(state["0.weight"] == 99.0)


def test_load_state_dict_copies_values_in_place():
    source, target = make_model(0), make_model(1)
    weight_object = target[0].weight.data
    result = target.load_state_dict(source.state_dict())
    assert result == ([], [])
    assert target[0].weight.data is weight_object  # same array: optimizers keep pointing at it
    for name, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[name], value)


def test_missing_and_unexpected_keys_are_named():
    model = make_model(0)
    state = model.state_dict()
    del state["2.bias"]
    state["3.weight"] = np.zeros((2, 4), dtype=np.float32)
    with pytest.raises(RuntimeError, match=r"missing keys \['2.bias'\]; unexpected keys \['3.weight'\]"):
        model.load_state_dict(state)


def test_strict_false_returns_missing_and_unexpected():
    source, target = make_model(0), make_model(1)
    state = source.state_dict()
    del state["0.bias"]
    state["extra"] = np.ones(1, dtype=np.float32)
    kept_bias = target[0].bias.data.copy()
    missing, unexpected = target.load_state_dict(state, strict=False)
    assert (missing, unexpected) == (["0.bias"], ["extra"])
    np.testing.assert_array_equal(target[0].weight.data, source[0].weight.data)  # the rest is loaded
    np.testing.assert_array_equal(target[0].bias.data, kept_bias)


def test_wrong_shape_names_the_key_and_both_shapes():
    model = make_model(0)
    state = model.state_dict()
    state["2.weight"] = np.zeros((4, 2), dtype=np.float32)
    before = model[0].weight.data.copy()
    with pytest.raises(RuntimeError, match=r"2\.weight: checkpoint \(4, 2\), model \(2, 4\)"):
        model.load_state_dict(state)
    with pytest.raises(RuntimeError, match=r"2\.weight"):
        model.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(model[0].weight.data, before)  # nothing half-loaded


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip_is_bit_exact(tmp_path, dtype):
    source, target = make_model(0, dtype), make_model(1, dtype)
    source[0].weight.data[0, 0] = np.nextafter(dtype(1), dtype(2))  # a value that any rounding would change
    path = nn.save(source, tmp_path / "model.npz")
    assert os.path.exists(path)
    nn.load(target, path)
    for (name, p), (_, q) in zip(source.named_parameters(), target.named_parameters()):
        assert q.dtype == dtype
        assert p.data.tobytes() == q.data.tobytes(), name


def test_load_into_a_different_architecture_names_the_problem(tmp_path):
    path = nn.save(make_model(0), tmp_path / "model.npz")
    with pytest.raises(RuntimeError, match=r"shape mismatch for 0\.weight: checkpoint \(4, 3\), model \(5, 3\)"):
        nn.load(nn.MLP([3, 5, 2]), path)
    with pytest.raises(RuntimeError, match=r"missing keys \['4.weight', '4.bias'\]"):
        nn.load(nn.MLP([3, 4, 2, 2]), path)


def test_loading_a_plain_npz_into_a_module_raises_checkpoint_error(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, **make_model(0).state_dict())  # right arrays, but not written by lorabook
    with pytest.raises(CheckpointError, match="not a lorabook state_dict file"):
        nn.load(make_model(1), path)
