"""Checkers for sheet 03: LoRA's forward, merge and unmerge, the zero start, parameter counts, memory.

Shapes as PEFT: W (out, in), lora_A (r, in), lora_B (out, r), scaling alpha / r.
References: lorabook.lora.lora_linear (the fused operation the LoRA layer
uses) for the forward, get_peft_model and get_nb_trainable_parameters for
the counts; merging and memory are checked against their formulas.
"""
from __future__ import annotations

import numpy as np

from lorabook import nn, tensor
from lorabook.exercises.feedback import Incorrect, call, check_int, compare, shapes, task
from lorabook.lora import LoraConfig, get_nb_trainable_parameters, get_peft_model, lora_linear

SCALING = "off by a factor of alpha/r: did you apply the scaling?"
SHAPES = "check the shapes: A is (r, in), B is (out, r), so the LoRA branch is (x @ A.T) @ B.T"
CASES = [(5, 8, 6, 2, 16.0), (3, 4, 4, 4, 4.0), (7, 10, 3, 1, 2.0)]  # n, in, out, r, alpha


def _layer(seed, n, d_in, d_out, r):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d_in)), rng.standard_normal((d_out, d_in)), rng.standard_normal(d_out),
            rng.standard_normal((r, d_in)), rng.standard_normal((d_out, r)))


@task("3.1 (LoRA forward)")
def lora_forward(student_forward):
    """forward(x (n, in), W (out, in), b (out,), A (r, in), B (out, r), alpha) -> y (n, out)."""
    for seed, (n, d_in, d_out, r, alpha) in enumerate(CASES):
        x, W, b, A, B = _layer(seed, n, d_in, d_out, r)
        case = f"case {seed + 1} ({shapes(x=x, W=W, A=A, B=B)}, alpha {alpha:g}, seed {seed})"
        y = call(case, student_forward, x.copy(), W.copy(), b.copy(), A.copy(), B.copy(), alpha, hint=SHAPES)
        expected = lora_linear(tensor(x), tensor(W), tensor(b), tensor(A), tensor(B), alpha / r).data
        base, branch = x @ W.T + b, x @ A.T @ B.T
        compare(case, "y", y, expected, mistakes=[
            (base + branch, SCALING),
            (base + branch * r / alpha, "the scaling is alpha / r, not r / alpha"),
            (base + branch * alpha / np.sqrt(r), "alpha / sqrt(r) is rsLoRA's scaling; plain LoRA uses alpha / r"),
            (x @ W.T + branch * alpha / r, "the base layer's bias b is missing"),
            (base, "the LoRA branch is missing: add (alpha / r) x A^T B^T"),
        ], shape_hints=[((n, d_in), SHAPES)])
    return f"{len(CASES)} cases agree with lorabook.lora.lora_linear."


@task("3.2 (merge and unmerge)")
def merge_unmerge(student_merge, student_unmerge):
    """merge(W, A, B, alpha) -> W + (alpha/r) B A;  unmerge(W_merged, A, B, alpha) -> W_merged - (alpha/r) B A."""
    for seed, (n, d_in, d_out, r, alpha) in enumerate(CASES):
        x, W, b, A, B = _layer(seed, n, d_in, d_out, r)
        case = f"case {seed + 1} ({shapes(W=W, A=A, B=B)}, alpha {alpha:g}, seed {seed})"
        hint = "B @ A: B is (out, r) and A is (r, in), so B @ A is (out, in) like W"
        merged = call(case, student_merge, W.copy(), A.copy(), B.copy(), alpha, hint=hint)
        expected = W + (alpha / r) * B @ A
        compare(case, "the merged weight", merged, expected, mistakes=[
            (W + B @ A, SCALING), (W + (alpha / r) * A.T @ B.T if d_in == d_out else np.nan,
                                   "transposed: the update is B @ A, shape (out, in)")],
            shape_hints=[((r, r), hint), ((d_in, d_in), hint)])
        compare(case, "x @ merged.T + b (the merged layer's output)", x @ np.asarray(merged).T + b,
                x @ W.T + b + (alpha / r) * x @ A.T @ B.T)
        restored = call(case, student_unmerge, np.asarray(merged, dtype=np.float64).copy(), A.copy(), B.copy(),
                        alpha, hint=hint)
        compare(case, "unmerge(merge(W))", restored, W, mistakes=[
            (expected + (alpha / r) * B @ A, "unmerge SUBTRACTS the update that merge added"),
            (expected - B @ A, SCALING)])
    return f"{len(CASES)} cases: merged output equals base + LoRA branch, and unmerge restores W."


def _peft_mlp(sizes, r, targets, seed=0):
    model = nn.MLP(sizes, generator=np.random.default_rng(seed), dtype=np.float64)
    return get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(targets)), generator=seed)


@task("3.3 (predict the zero start)")
def predicted_zero_start(predict):
    """predict() -> (max |LoRA model output - base output| at init, A gets a nonzero gradient?, B gets one?)."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((16, 8)), rng.integers(0, 3, size=16)
    base = nn.MLP([8, 16, 3], generator=np.random.default_rng(1), dtype=np.float64)
    before = base(tensor(X)).data.copy()
    peft = get_peft_model(base, LoraConfig(r=2, lora_alpha=4, target_modules=["0", "2"]), generator=2)
    output = peft(tensor(X))
    difference = float(np.abs(output.data - before).max())
    nn.functional.cross_entropy(output, y).backward()
    layer = dict(peft.named_parameters())
    a_moves = bool(np.any(layer["base_model.model.0.lora_A.default.weight"].grad != 0))
    b_moves = bool(np.any(layer["base_model.model.0.lora_B.default.weight"].grad != 0))
    answer = call("your prediction", predict)
    if not isinstance(answer, (tuple, list)) or len(answer) != 3:
        raise Incorrect("predict() should return three things: (a number, True/False, True/False)")
    compare("your prediction", "the output difference", answer[0], difference, atol=1e-12)
    if bool(answer[1]) != a_moves:
        raise Incorrect("your prediction: A's gradient is s (G B)^T x (G the output gradient, n x out); with B = 0 "
                        "it is exactly zero at the first step")
    if bool(answer[2]) != b_moves:
        raise Incorrect("your prediction: B's gradient is s G^T (x A^T), nonzero because A starts random")
    return f"lorabook: difference {difference:g}, A's gradient nonzero: {a_moves}, B's: {b_moves}."


@task("3.4 (trainable parameters of a LoraConfig)")
def trainable_parameters(student_count):
    """count(sizes, r, targets) -> trainable values of LoraConfig(r, target_modules=targets) on nn.MLP(sizes)."""
    cases = [([64, 128, 128, 10], 4, ["0", "2", "4"]), ([20, 30, 5], 2, ["0"]), ([10, 40, 40, 3], 3, ["2", "4"])]
    for index, (sizes, r, targets) in enumerate(cases):
        case = f"case {index + 1} (nn.MLP({sizes}), r={r}, target_modules={targets})"
        answer = call(case, student_count, list(sizes), r, list(targets))
        expected, _ = get_nb_trainable_parameters(_peft_mlp(sizes, r, targets))
        layers = {str(2 * i): (a, b) for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))}
        chosen = [layers[t] for t in targets]
        check_int(case, "the count", answer, expected, mistakes=[
            (sum(r * a * b for a, b in chosen), "A is (r, in) and B is (out, r): r * (in + out) values, not r * in * out"),
            (sum(r * a for a, b in chosen), "count B too: (out, r)"),
            (sum(r * (a + b) + b for a, b in chosen), "the base layer's bias stays frozen (bias='none')"),
            (sum(r * (a + b) for a, b in layers.values()), "count only the layers in target_modules"),
        ])
    return f"{len(cases)} configs agree with get_peft_model + get_nb_trainable_parameters."


@task("3.5 (training memory)")
def training_memory(student_memory):
    """memory(n_total, n_trainable, bytes_per_value) -> bytes for weights + gradients + Adam's m and v."""
    cases = [(26122, 26122, 4), (26122 + 2344, 2344, 4), (1_000_000, 8_000, 8)]
    for index, (total, trainable, size) in enumerate(cases):
        case = f"case {index + 1} ({total:,} values, {trainable:,} trainable, {size} bytes each)"
        expected = size * (total + 3 * trainable)
        mistakes = [
            (size * 4 * total, "frozen values get no gradient and no optimizer state: only trainable ones do"),
            (size * (total + trainable), "Adam keeps two arrays (m and v) per trainable value, besides its gradient"),
        ]
        if size != 4:
            mistakes.append((4 * (total + 3 * trainable), "multiply by bytes_per_value, not by 4"))
        check_int(case, "the number of bytes", call(case, student_memory, total, trainable, size), expected,
                  mistakes)
    return f"{len(cases)} cases agree with bytes * (all values + 3 * trainable values)."


@task("3.6 (predict LoRA's parameter count)")
def predicted_lora_parameters(predict):
    """predict() -> trainable values of LoraConfig(r=4, target_modules=["0", "2", "4"]) on nn.MLP([64, 128, 128, 10])."""
    expected, total = get_nb_trainable_parameters(_peft_mlp([64, 128, 128, 10], 4, ["0", "2", "4"]))
    check_int("your prediction", "the count", call("your prediction", predict), expected, mistakes=[
        (4 * (64 * 128 + 128 * 128 + 128 * 10), "A is (r, in) and B is (out, r): r * (in + out) per layer"),
        (26122, "that is full fine-tuning; LoRA trains only A and B")])
    return f"lorabook: {expected:,} trainable of {total:,} ({100 * expected / (total - expected):.1f}% of the MLP's own)."
