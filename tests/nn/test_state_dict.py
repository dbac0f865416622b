"""state_dict / load_state_dict and save / load of a module."""
import os

import numpy as np
import pytest
import safetensors.numpy

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


def test_loading_between_forward_and_backward_is_caught_by_the_version_counter():
    """The graph saved the old weights; backward with the loaded ones would give wrong gradients."""
    model, x = make_model(0), np.ones((2, 3), dtype=np.float32)
    loss = model(x).sum()
    model.load_state_dict(make_model(1).state_dict())
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


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


def test_a_value_that_is_not_real_floating_point_changes_nothing():
    """Every value is checked before the first is copied: a string-typed array in "2.weight"
    must not leave "0.weight" already overwritten."""
    source, target = make_model(0), make_model(1)
    state = source.state_dict()
    state["2.weight"] = np.full((2, 4), "0.5")
    state["2.bias"] = np.ones(2, dtype=complex)
    before = {name: value.copy() for name, value in target.state_dict().items()}
    with pytest.raises(RuntimeError, match=r"2\.weight: dtype <U3, expected real floating point; 2\.bias: dtype "
                                           r"complex128.*nothing was loaded"):
        target.load_state_dict(state)
    for name, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip_is_bit_exact(tmp_path, dtype):
    source, target = make_model(0, dtype), make_model(1, dtype)
    source[0].weight.data[0, 0] = np.nextafter(dtype(1), dtype(2))  # a value that any rounding would change
    path = nn.save(source, tmp_path / "model.safetensors")
    assert os.listdir(tmp_path) == ["model.safetensors"]
    nn.load(target, path)
    for (name, p), (_, q) in zip(source.named_parameters(), target.named_parameters()):
        assert q.dtype == dtype
        assert p.data.tobytes() == q.data.tobytes(), name


def test_the_file_holds_torch_state_dict_names_and_shapes(tmp_path):
    model = nn.MLP([3, 4, 2], generator=0)
    path = nn.save(model, tmp_path / "mlp.safetensors")
    arrays = safetensors.numpy.load_file(path)  # read by the safetensors package itself
    assert {name: value.shape for name, value in arrays.items()} == {
        "0.weight": (4, 3), "0.bias": (4,), "2.weight": (2, 4), "2.bias": (2,)}  # torch.nn.Linear: (out, in)


def test_a_torch_sequential_loads_the_file_and_gives_the_same_outputs(tmp_path):
    torch = pytest.importorskip("torch", reason="optional cross-check with PyTorch (not a dependency)")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    model = nn.MLP([20, 64, 64, 3], generator=0, dtype=np.float64)
    path = nn.save(model, tmp_path / "mlp.safetensors")
    torch_model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                                      torch.nn.ReLU(), torch.nn.Linear(64, 3)).double()
    torch_model.load_state_dict(safetensors_torch.load_file(str(path)))
    x = np.random.default_rng(1).standard_normal((8, 20))
    np.testing.assert_allclose(torch_model(torch.from_numpy(x)).detach().numpy(), model(x).data, rtol=1e-12, atol=1e-12)


def test_load_into_a_different_architecture_names_the_problem_before_reading(tmp_path):
    path = nn.save(make_model(0), tmp_path / "model.safetensors")
    with pytest.raises(RuntimeError, match=r"shape mismatch for 0\.weight: checkpoint \(4, 3\), model \(5, 3\)"):
        nn.load(nn.MLP([3, 5, 2]), path)
    with pytest.raises(RuntimeError, match=r"missing keys \['4.weight', '4.bias'\]"):
        nn.load(nn.MLP([3, 4, 2, 2]), path)


def test_an_npz_checkpoint_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "old.npz"
    np.savez(path, **make_model(0).state_dict())
    with pytest.raises(CheckpointError, match="old.npz.*an .npz.*lorabook reads and writes safetensors only"):
        nn.load(make_model(1), path)
    with pytest.raises(ValueError, match="ends in .npz, but nn.save writes safetensors"):
        nn.save(make_model(0), tmp_path / "new.npz")


@pytest.mark.parametrize("path", ["", " "])
def test_an_empty_path_is_named(path):
    with pytest.raises(ValueError, match="path is empty"):
        nn.save(make_model(0), path)
    with pytest.raises(ValueError, match="path is empty"):
        nn.load(make_model(0), path)
