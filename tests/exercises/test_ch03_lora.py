"""Sheet 03's checkers accept correct answers and reject typical mistakes with their hint."""
from lorabook.exercises import ch03_lora as check


def forward(x, W, b, A, B, alpha):
    return x @ W.T + b + (alpha / A.shape[0]) * (x @ A.T) @ B.T


def merge(W, A, B, alpha):
    return W + (alpha / A.shape[0]) * B @ A


def unmerge(W, A, B, alpha):
    return W - (alpha / A.shape[0]) * B @ A


def count(sizes, r, targets):
    return sum(r * (sizes[int(t) // 2] + sizes[int(t) // 2 + 1]) for t in targets)


def test_correct_answers_pass():
    assert check.lora_forward(forward) and check.merge_unmerge(merge, unmerge)
    assert check.predicted_zero_start(lambda: (0.0, False, True))
    assert check.trainable_parameters(count) and check.training_memory(lambda n, t, b: b * (n + 3 * t))
    assert check.predicted_lora_parameters(lambda: 2344)


def test_forward_without_scaling_or_with_A_untransposed(rejected):
    assert rejected(check.lora_forward(lambda x, W, b, A, B, alpha: x @ W.T + b + x @ A.T @ B.T),
                    "case 1", "off by a factor of alpha/r: did you apply the scaling?")
    assert rejected(check.lora_forward(lambda x, W, b, A, B, alpha: x @ W.T + b + alpha / A.shape[0] * x @ A @ B.T),
                    "case 1", "A is (r, in)")


def test_merge_without_scaling_and_unmerge_that_adds(rejected):
    assert rejected(check.merge_unmerge(lambda W, A, B, alpha: W + B @ A, unmerge), "did you apply the scaling")
    assert rejected(check.merge_unmerge(merge, merge), "SUBTRACTS")


def test_zero_start_predicted_with_A_moving(rejected):
    assert rejected(check.predicted_zero_start(lambda: (0.0, True, True)), "with B = 0")


def test_counts_and_memory_mistakes(rejected):
    full = lambda sizes, r, targets: sum(r * sizes[int(t) // 2] * sizes[int(t) // 2 + 1] for t in targets)  # noqa: E731
    assert rejected(check.trainable_parameters(full), "case 1", "not r * in * out")
    assert rejected(check.training_memory(lambda n, t, b: 4 * b * n), "case 2", "frozen values get no gradient")
    assert rejected(check.predicted_lora_parameters(lambda: 26122), "full fine-tuning")
