"""Notebook 05's studies: rotation fixes, pixel shifts as matrices, alignment with W, inits, data space."""
import numpy as np
import pytest

from lorabook.autograd import Tensor, no_grad
from lorabook.data import load_digits, make_domain_split, rotate, rotation_matrix
from lorabook.experiments import pivot, train_source_model
from lorabook.nn import MLP
from lorabook.studies.domain_adaptation import (
    INIT_NAMES,
    centred_moons,
    compare_inits,
    ideal_first_layer_update,
    pixel_shift_matrix,
    plant_update,
    principal_block_fraction,
    random_block_fraction,
    rotation_fix,
    rotation_rank_study,
    shift_alignment,
)
from lorabook.studies.domain_baselines import data_space_vs_lora


def outputs(model, X):
    with no_grad():
        return model(Tensor(np.asarray(X, dtype=np.float32))).data


@pytest.fixture(scope="module")
def digits_model():
    X, y = load_digits()
    split = make_domain_split(X, y, "rotate", 0.0, 1, seed=0, image_shape=(8, 8))
    return train_source_model(split.source_train, epochs=15, seed=0)


# ----- rotations of 2-D points ------------------------------------------------------------------
def test_centred_moons_turn_about_the_origin():
    X0, y0 = centred_moons(200, 0.0, seed=3)
    X90, y90 = centred_moons(200, 90.0, seed=3)
    assert np.array_equal(y0, y90)
    assert np.allclose(X90, X0 @ rotation_matrix(90).T, atol=1e-6)
    assert np.all(np.abs(X0.mean(axis=0)) < 0.1)  # the picture's centre is the origin


@pytest.mark.parametrize("degrees", [30.0, 90.0, 200.0])
def test_rotation_fix_undoes_the_rotation_and_has_rank_two(degrees):
    W = np.random.default_rng(0).standard_normal((16, 2))
    dW = rotation_fix(W, degrees)
    x = np.random.default_rng(1).standard_normal((5, 2))
    assert np.allclose((x @ rotation_matrix(degrees).T) @ (W + dW).T, x @ W.T)
    factor = 2 * abs(np.sin(np.deg2rad(degrees) / 2))
    assert np.allclose(np.linalg.svd(dW, compute_uv=False), factor * np.linalg.svd(W, compute_uv=False))
    assert np.linalg.matrix_rank(dW) == 2


def test_rotation_fix_of_a_full_turn_is_zero_and_needs_two_inputs():
    W = np.ones((4, 2))
    assert np.allclose(rotation_fix(W, 360.0), 0.0)
    with pytest.raises(ValueError, match=r"weight.*\(out, 2\)"):
        rotation_fix(np.ones((4, 3)), 45.0)


def test_planted_exact_fix_makes_the_model_see_rotated_points_as_upright():
    base = MLP([2, 8, 8, 2], generator=0)
    before = base.get_submodule("0").weight.data.copy()
    planted = plant_update(base, "0", rotation_fix(before, 70.0), rank=2)
    X = np.random.default_rng(0).standard_normal((20, 2)).astype(np.float32)
    assert np.allclose(outputs(planted, rotate(X, 70.0)), outputs(base, X), atol=1e-5)
    assert np.array_equal(base.get_submodule("0").weight.data, before)  # the base model is untouched
    cut = plant_update(base, "0", rotation_fix(before, 70.0), rank=1)
    delta = cut.get_base_model().get_submodule("0").get_delta_weight()
    assert np.linalg.matrix_rank(delta, tol=1e-5) == 1
    with pytest.raises(ValueError, match="shape"):
        plant_update(base, "0", np.ones((3, 2)), rank=1)


def test_rotation_study_rows_and_the_exact_fix():
    study = rotation_rank_study(degrees=90.0, n_source=300, n_target_train=40, n_target_test=200, hidden=16,
                                epochs=20, seed=0)
    labels = [r["label"] for r in study.records]
    assert labels == ["source model", "exact fix, planted (rank 2)", "exact fix cut to rank 1",
                      "LoRA r=1 on layer 0", "LoRA r=2 on layer 0", "head only"]
    rows = {r["label"]: r for r in study.records}
    # the planted fix makes the target exactly the source task again
    source_accuracy = float(np.mean(outputs(study.base_model, study.source[0]).argmax(1) == study.source[1]))
    assert rows["exact fix, planted (rank 2)"]["test_accuracy"] >= min(source_accuracy, 0.97) - 0.03
    assert rows["exact fix, planted (rank 2)"]["test_accuracy"] > rows["source model"]["test_accuracy"]
    assert np.allclose(rows["exact fix, planted (rank 2)"]["singular_values"],
                       np.linalg.svd(study.exact_update, compute_uv=False), rtol=1e-4)
    assert rows["LoRA r=1 on layer 0"]["singular_values"][1] < 1e-5
    assert rows["LoRA r=2 on layer 0"]["trainable_params"] == 2 * (2 + 16)
    with pytest.raises(ValueError, match=r"ranks\[0\] = 3"):
        rotation_rank_study(ranks=(3,))


# ----- pixel shifts as affine maps ----------------------------------------------------------------
def test_pixel_shift_matrix_known_answers():
    P, c = pixel_shift_matrix("invert", 1.0)
    assert np.array_equal(P, -np.eye(64)) and np.array_equal(c, np.ones(64))
    P, c = pixel_shift_matrix("rotate", 0.0)
    assert np.array_equal(P, np.eye(64)) and not np.any(c)
    P, c = pixel_shift_matrix("contrast", 0.5)
    assert np.allclose(P, 0.5 * np.eye(64) + 0.5 / 64) and np.allclose(c, 0.0)
    P, _ = pixel_shift_matrix("rotate", 45.0)
    X = load_digits()[0][:10].astype(np.float64)
    assert np.allclose(X @ P.T, rotate(X, 45.0, image_shape=(8, 8)))


@pytest.mark.parametrize("shift, strength", [("gaussian_noise", 0.1), ("brightness", 0.5)])
def test_shifts_that_are_not_affine_have_no_matrix(shift, strength):
    with pytest.raises(ValueError, match="not an affine map"):
        pixel_shift_matrix(shift, strength)


def test_ideal_update_of_an_inversion_is_minus_two_w():
    W = np.random.default_rng(0).standard_normal((5, 64))
    P, _ = pixel_shift_matrix("invert", 1.0)
    assert np.allclose(ideal_first_layer_update(W, P), -2 * W)
    assert np.allclose(ideal_first_layer_update(W, np.eye(64)), 0.0)
    with pytest.raises(ValueError, match=r"P must be square"):
        ideal_first_layer_update(W, np.eye(3))


def test_principal_block_fraction_known_answers():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((20, 12))
    s = np.linalg.svd(W, compute_uv=False)
    assert np.isclose(principal_block_fraction(W, W, 3), np.sum(s[:3] ** 2) / np.sum(s**2))
    U, _, Vt = np.linalg.svd(W, full_matrices=False)
    outside = np.outer(U[:, 5], Vt[7])
    assert np.isclose(principal_block_fraction(outside, W, 3), 0.0, atol=1e-12)
    fractions = [principal_block_fraction(rng.standard_normal((20, 12)), W, 3) for _ in range(400)]
    assert abs(np.mean(fractions) - random_block_fraction((20, 12), 3)) < 0.01
    with pytest.raises(ValueError, match="all zeros"):
        principal_block_fraction(np.zeros((20, 12)), W, 3)
    with pytest.raises(ValueError, match="r must be <= 12"):
        principal_block_fraction(W, W, 13)


def test_shift_alignment_inversion_lies_along_w_rotation_does_not():
    W = np.random.default_rng(0).standard_normal((32, 64)) * np.linspace(3, 0.1, 64)  # a spread-out spectrum
    records = shift_alignment(W, {"invert": 1.0, "rotate": 45.0}, ranks=(1, 4))
    rows = {(r["shift"], r["rank"]): r for r in records}
    assert np.isclose(rows[("invert", 1)]["cosine_with_W"], -1.0)
    assert rows[("invert", 4)]["block_fraction"] > rows[("invert", 1)]["block_fraction"]
    assert rows[("invert", 4)]["block_fraction"] > rows[("rotate", 4)]["block_fraction"]
    assert rows[("rotate", 4)]["random_baseline"] == 16 / (32 * 64)


# ----- inits and the data-space comparison ----------------------------------------------------------
def test_compare_inits_records(digits_model):
    X, y = load_digits()
    split = make_domain_split(X, y, "invert", 1.0, 30, seed=0, image_shape=(8, 8))
    domains = {"inverted": (split.target_train, split.target_test)}
    records = compare_inits(digits_model, domains, ranks=(1, 2), epochs=2)
    assert [(r["init"], r["rank"]) for r in records] == [
        (INIT_NAMES[True], 1), (INIT_NAMES[True], 2), ("PiSSA", 1), ("PiSSA", 2)]
    assert records[0]["trainable_params"] == records[2]["trainable_params"] == 64 + 128 + 128 + 128 + 128 + 10
    with pytest.raises(TypeError, match="inits"):
        compare_inits(digits_model, domains, inits="pissa")
    with pytest.raises(TypeError, match="domains"):
        compare_inits(digits_model, {})


def test_pissa_beats_the_default_start_on_the_inversion(source_model):
    # Notebook 05's claim, at its settings: its source model (conftest's), 200 labelled inverted digits,
    # 60 epochs, the same learning rate and the same parameter count for both starts.
    # Measured at seed 0: r=2 0.34 -> 0.75, r=8 0.53 -> 0.91 (seeds 1 and 2 of the split: gains 0.23 to 0.68).
    X, y = load_digits()
    split = make_domain_split(X, y, "invert", 1.0, n_target_train=200, seed=0, image_shape=(8, 8))
    records = compare_inits(source_model, {"inverted": (split.target_train, split.target_test)}, ranks=(2, 8))
    accuracy = {(r["init"], r["rank"]): r["test_accuracy"] for r in records}
    for rank in (2, 8):
        assert accuracy[("PiSSA", rank)] > accuracy[(INIT_NAMES[True], rank)] + 0.2, accuracy
    assert accuracy[("PiSSA", 8)] > 0.85, accuracy


def test_data_space_vs_lora_on_contrast(digits_model):
    X, y = load_digits()
    records = data_space_vs_lora(X, y, {"contrast": 0.3}, digits_model, n_labels=20, steps=10)
    methods = [r["method"] for r in records]
    assert methods[-3:] == ["MLP, source only", "MLP on CORAL'd target", "MLP + LoRA r=4"]
    assert {r["shift"] for r in records} == {"contrast 0.3"}
    rows = {r["method"]: r for r in records}
    # contrast is a second-order change: matching the statistics repairs most of it, without labels
    assert rows["MLP on CORAL'd target"]["test_accuracy"] > rows["MLP, source only"]["test_accuracy"] + 0.2
    assert rows["MLP + LoRA r=4"]["target_labels"] == 20 and rows["MLP on CORAL'd target"]["target_labels"] == 0


def test_pivot_makes_one_row_per_key_and_marks_gaps():
    records = [{"shift": "a", "method": "x", "v": 1}, {"shift": "a", "method": "y", "v": 2},
               {"shift": "b", "method": "x", "v": 3}]
    assert pivot(records, "shift", "method", "v") == [{"shift": "a", "x": 1, "y": 2}, {"shift": "b", "x": 3, "y": None}]
    with pytest.raises(ValueError, match="lacks"):
        pivot(records, "shift", "method", "missing")
