"""Notebook 05's studies: which shift needs which rank, which start, and which kind of adaptation.

    study = rotation_rank_study(degrees=90)          # two moons: a rotation is a rank-2 change of layer 0
    P, c = pixel_shift_matrix("invert", 1.0)         # a pixel shift as the affine map x -> P x + c
    records = shift_alignment(weight, {"invert": 1.0, "rotate": 45})  # is the ideal fix along W's top directions?
    records = compare_inits(base_model, domains)     # PiSSA's start against LoRA's default start

The reasoning these functions measure (shapes as in PyTorch: W is (out, in)):

* A shift that is linear in the input, x' = P x + c, can be undone by the
  first layer alone: W' x' = W x needs W' P = W, so W' = W P^-1 (the
  pseudo-inverse P^+ when P loses information), plus a bias change -W' c.
  The weight part of the fix is the update dW = W P^+ - W, and its rank and
  its direction are what decide which LoRA can learn it.
* Rotating 2-D points: P = R (2 x 2), dW = W (R^T - I). R^T - I is
  2 sin(theta / 2) times a rotation, so dW has exactly two singular values,
  2 sin(theta / 2) s_1(W) and 2 sin(theta / 2) s_2(W): a rank-2 change.
* Inverting images: P = -I, so dW = -2 W. The update lies along W itself,
  and its best rank-r part is -2 U_r S_r V_r^T, the very block of W that
  PiSSA's adapter starts from (lorabook.lora.LoraLinear.pissa_split).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from lorabook._checks import _show, check_choice, check_float, check_int, check_matrix
from lorabook.analysis import svd_factors
from lorabook.data import MOONS_CENTRE, SHIFTS, apply_shift, make_moons, rotate, rotation_matrix
from lorabook.experiments import adapt, check_ranks, train_source_model
from lorabook.experiments.records import plain
from lorabook.lora import LoraConfig, get_peft_model
from lorabook.nn import MLP
from lorabook.train import evaluate


# ----- rotations of 2-D points: a rank-2 change of the first layer ------------------------------
def centred_moons(n, degrees=0.0, noise=0.1, seed=0):
    """Two moons moved so that the picture's centre is the origin, then turned by `degrees` about it.

    Turning about the origin makes the shift linear, x -> R x, with no
    translation: the first layer's weight alone can undo it (no bias change).
    Returns (X (n, 2) float32, y (n,) int64).
    """
    X, y = make_moons(n, noise=noise, seed=seed)
    return rotate(X - np.asarray(MOONS_CENTRE, dtype=X.dtype), degrees), y


def rotation_fix(weight, degrees):
    """dW = W R^T - W (out, 2): the update of a first layer W (out, 2) that undoes x -> R x exactly.

    (W + dW) R x = W R^T R x = W x, since R^T R = I. Its singular values are
    2 sin(theta / 2) times W's (module docstring), so it has rank 2 whenever
    W does and theta is not a multiple of 360 degrees. float64.
    """
    weight = check_matrix("weight", weight, dtype=np.float64)
    if weight.shape[1] != 2:
        raise ValueError(f"weight must be a first layer on 2-D points, shape (out, 2), got {weight.shape}")
    return weight @ rotation_matrix(degrees).T - weight


def plant_update(base_model, layer_name, delta_W, rank, seed=0):
    """A PeftModel of a copy of base_model whose adapter on `layer_name` holds the best rank-`rank` part of delta_W.

    delta_W (out, in) is truncated by the SVD (Eckart-Young) and loaded with
    LoraLinear.set_delta_factors, so the adapter's update is exactly that
    truncation: what a LoRA of this rank could at best have learned.
    """
    model = get_peft_model(copy.deepcopy(base_model), LoraConfig(r=rank, target_modules=[layer_name]),
                           generator=np.random.default_rng(seed))
    layer = model.get_base_model().get_submodule(layer_name)
    delta_W = check_matrix("delta_W", delta_W, dtype=np.float64)
    if delta_W.shape != layer.base_layer.weight.shape:
        raise ValueError(f"delta_W must have the shape of layer {layer_name!r}'s weight "
                         f"{layer.base_layer.weight.shape}, got {delta_W.shape}")
    B, A = svd_factors(delta_W, rank)
    layer.set_delta_factors(B, A)
    return model


@dataclass
class RotationStudy:
    """What rotation_rank_study measured.

    records: one dict per row (label, rank, trainable_params, train_accuracy,
    test_accuracy, singular_values of the layer-0 update or None).
    exact_update: rotation_fix of the base model's first layer (out, 2).
    models: label -> the model of that row (for decision-boundary plots).
    base_model, source, target_train, target_test: the model and the data.
    """

    records: list
    exact_update: np.ndarray
    models: dict = field(repr=False)
    base_model: MLP = field(repr=False)
    source: tuple = field(repr=False)
    target_train: tuple = field(repr=False)
    target_test: tuple = field(repr=False)


def _layer0_update(model):
    return model.get_base_model().get_submodule("0").get_delta_weight().astype(np.float64)


def rotation_rank_study(degrees=90.0, ranks=(1, 2), n_source=600, n_target_train=100, n_target_test=500,
                        noise=0.1, hidden=32, epochs=200, lr=3e-2, seed=0):
    """Two moons turned by `degrees`: the exact rank-2 fix, its rank-1 truncation, and trained LoRA on layer 0.

    A 2-hidden-2 MLP is trained on centred moons (source), then meets the
    same task turned by `degrees` about the origin (target). Rows:
      "source model"                    unchanged
      "exact fix, planted (rank 2)"     rotation_fix loaded into a rank-2 adapter on layer 0
      "exact fix cut to rank 1"         its best rank-1 part
      "LoRA r=... on layer 0"           trained on n_target_train labelled target points
                                        (adapt: lora_alpha = 2 r, `epochs`, `lr`)
      "head only"                       the last layer trained instead, as a contrast
    Returns a RotationStudy.
    """
    degrees = check_float("degrees", degrees)
    ranks = check_ranks("ranks", ranks)
    for i, r in enumerate(ranks):
        if r > 2:
            raise ValueError(f"ranks[{i}] = {r}: the first layer on 2-D points has rank at most 2, so ranks must be 1 or 2")
    n_source = check_int("n_source", n_source, low=2)
    n_target_train = check_int("n_target_train", n_target_train, low=2)
    n_target_test = check_int("n_target_test", n_target_test, low=2)
    hidden = check_int("hidden", hidden, low=2)
    seed = check_int("seed", seed, low=0)

    source = centred_moons(n_source, 0.0, noise, seed=seed)
    # The target points are new draws (another seed), not the source points turned.
    X_target, y_target = centred_moons(n_target_train + n_target_test, degrees, noise, seed=seed + 1)
    target_train = (X_target[:n_target_train], y_target[:n_target_train])
    target_test = (X_target[n_target_train:], y_target[n_target_train:])
    base = train_source_model(source, sizes=(2, hidden, hidden, 2), epochs=60, lr=1e-2, batch_size=32, seed=seed)
    exact = rotation_fix(base.get_submodule("0").weight.data, degrees)

    records, models = [], {}

    def add(label, rank, model, trainable, singular_values):
        models[label] = model
        records.append({"label": label, "rank": rank, "trainable_params": trainable,
                        "train_accuracy": evaluate(model, target_train)["accuracy"],
                        "test_accuracy": evaluate(model, target_test)["accuracy"],
                        "singular_values": None if singular_values is None else [plain(s) for s in singular_values]})

    add("source model", None, base, 0, None)
    for rank, label in ((2, "exact fix, planted (rank 2)"), (1, "exact fix cut to rank 1")):
        planted = plant_update(base, "0", exact, rank, seed=seed)
        add(label, rank, planted, 0, np.linalg.svd(_layer0_update(planted), compute_uv=False))
    for rank in ranks:
        record, model = adapt(base, "lora", target_train, target_test, rank=rank, target_modules=["0"],
                              epochs=epochs, lr=lr, seed=seed, measure_memory=False)
        add(f"LoRA r={rank} on layer 0", rank, model, record["trainable_params"],
            np.linalg.svd(_layer0_update(model), compute_uv=False))
    record, model = adapt(base, "head-only", target_train, target_test, epochs=epochs, lr=lr, seed=seed,
                          measure_memory=False)
    add("head only", None, model, record["trainable_params"], None)
    return RotationStudy(records, exact, models, base, source, target_train, target_test)


# ----- pixel shifts as affine maps, and where their ideal fix points --------------------------------
def pixel_shift_matrix(shift, strength, image_shape=(8, 8)):
    """The shift as an affine map of flattened images: apply_shift(x) = P x + c.

    c is the shifted all-zero image and column j of P is the shifted j-th
    unit image minus c. Only shifts that are affine in the pixels have such
    a map (rotate, invert, contrast below 1, ...); the map is checked on
    three random images and anything else (noise, clipping) is refused.
    Returns (P (p, p), c (p,)), float64, with p = h * w.
    """
    check_choice("shift", shift, tuple(SHIFTS))
    height, width = (check_int("image_shape entry", v, low=1) for v in image_shape)
    pixels = height * width

    def shifted(images):
        return apply_shift(images, shift, strength, image_shape=(height, width)).astype(np.float64)

    offset = shifted(np.zeros((1, pixels)))[0]
    P = (shifted(np.eye(pixels)) - offset).T
    probes = np.random.default_rng(0).uniform(0.0, 1.0, size=(3, pixels))
    if not np.allclose(shifted(probes), probes @ P.T + offset, atol=1e-9):
        raise ValueError(f"the shift {shift!r} at strength {strength!r} is not an affine map of the pixels "
                         f"(random, or clipped), so it has no matrix P")
    return P, offset


def ideal_first_layer_update(weight, P):
    """dW = W P^+ - W (out, in): the weight change of the first layer that undoes x -> P x + c.

    (W + dW) P = W P^+ P, which is W when P is invertible; otherwise (a
    rotation loses the corners) P^+ gives the least-squares best. The bias
    change the translation c would also need is left out: LoRA does not
    train biases. float64.
    """
    weight = check_matrix("weight", weight, dtype=np.float64)
    P = check_matrix("P", P, dtype=np.float64)
    if P.shape != (weight.shape[1], weight.shape[1]):
        raise ValueError(f"P must be square with the layer's {weight.shape[1]} inputs, shape "
                         f"({weight.shape[1]}, {weight.shape[1]}), got {P.shape}")
    return weight @ np.linalg.pinv(P) - weight


def principal_block_fraction(delta_W, weight, r):
    """||U_r^T dW V_r||_F^2 / ||dW||_F^2: the share of the update inside W's top-r singular block.

    U_r (out, r) and V_r (in, r) are W's top-r singular vectors, the block
    PiSSA's adapter starts from. 1 means the update only re-weights W's
    principal directions; a random update of the same shape gets about
    r^2 / (out * in) (random_block_fraction).
    """
    delta_W = check_matrix("delta_W", delta_W, dtype=np.float64)
    weight = check_matrix("weight", weight, dtype=np.float64)
    if delta_W.shape != weight.shape:
        raise ValueError(f"delta_W and weight must have the same shape, got {delta_W.shape} and {weight.shape}")
    r = check_int("r", r, low=1, high=min(weight.shape))
    total = float(np.sum(delta_W**2))
    if total == 0.0:
        raise ValueError("delta_W is all zeros: it has no direction to compare")
    U, _, Vt = np.linalg.svd(weight, full_matrices=False)
    block = U[:, :r].T @ delta_W @ Vt[:r].T
    return float(np.sum(block**2)) / total


def random_block_fraction(shape, r):
    """r^2 / (out * in): the expected principal_block_fraction of an update with i.i.d. entries."""
    out, inp = (check_int("shape entry", v, low=1) for v in shape)
    r = check_int("r", r, low=1, high=min(out, inp))
    return r * r / (out * inp)


def shift_alignment(weight, shifts, ranks=(1, 4, 8), image_shape=(8, 8)):
    """For each pixel shift, how much of its ideal first-layer fix lies in W's top-r block.

    weight: the first layer W (out, pixels) of a source model. shifts:
    {name: strength}, names from lorabook.data.SHIFTS (affine ones only).
    Records, one per (shift, rank): shift, strength, rank, block_fraction
    (principal_block_fraction of ideal_first_layer_update), random_baseline
    (random_block_fraction), cosine_with_W (<dW, W> / (||dW|| ||W||): -1 for
    a pure sign flip, near 0 for an unrelated direction).
    """
    weight = check_matrix("weight", weight, dtype=np.float64)
    ranks = check_ranks("ranks", ranks)
    if not isinstance(shifts, dict) or not shifts:
        raise TypeError(f"shifts must be a non-empty dict {{name: strength}}, got {_show(shifts)}")
    records = []
    for name, strength in shifts.items():
        P, _ = pixel_shift_matrix(name, strength, image_shape)
        update = ideal_first_layer_update(weight, P)
        cosine = float(np.sum(update * weight) / (np.linalg.norm(update) * np.linalg.norm(weight)))
        for r in ranks:
            records.append({"shift": name, "strength": plain(strength), "rank": r,
                            "block_fraction": principal_block_fraction(update, weight, r),
                            "random_baseline": random_block_fraction(weight.shape, r), "cosine_with_W": cosine})
    return records


# ----- PiSSA's start against the default start --------------------------------------------------
INIT_NAMES = {True: "default (B = 0)", "pissa": "PiSSA"}


def compare_inits(base_model, domains, ranks=(2, 8), inits=(True, "pissa"), seed=0, **adapt_options):
    """LoRA from each start in `inits`, at each rank, on each domain: the same data, steps and learning rate.

    domains: {name: (train_data, test_data)}. inits: values of
    init_lora_weights (True, "gaussian", "pissa"). adapt_options go to adapt
    (epochs, lr, lora_alpha, target_modules, ...). Records, one per
    (domain, init, rank): domain, init (a readable name), rank,
    trainable_params, train_accuracy, test_accuracy.
    """
    if not isinstance(domains, dict) or not domains:
        raise TypeError(f"domains must be a non-empty dict {{name: (train_data, test_data)}}, got {_show(domains)}")
    ranks = check_ranks("ranks", ranks)
    if isinstance(inits, (str, bool)) or not inits:
        raise TypeError(f"inits must be a non-empty list of init_lora_weights values, got {_show(inits)}")
    records = []
    for name, pair in domains.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"domains[{name!r}] must be a (train_data, test_data) pair, got {_show(pair)}")
        for init in inits:
            for rank in ranks:
                record, _ = adapt(base_model, "lora", pair[0], pair[1], rank=rank, init_lora_weights=init,
                                  seed=seed, measure_memory=False, **adapt_options)
                records.append({"domain": name, "init": INIT_NAMES.get(init, str(init)), "rank": rank,
                                "trainable_params": record["trainable_params"],
                                "train_accuracy": record["train_accuracy"], "test_accuracy": record["test_accuracy"]})
    return records
