"""Bad input raises an exception whose message shows what was given (both shapes for a mismatch)."""
import re

import numpy as np
import pytest

import lorabook
from lorabook.autograd import ShapeError, Tensor, nn_ops


def both(first, second):
    """A regex matching a message that shows shape `first` and, later, shape `second`."""
    return re.escape(str(first)) + ".*" + re.escape(str(second))


def ones(*shape):
    return Tensor(np.ones(shape), requires_grad=True)


@pytest.mark.parametrize(
    "op, word",
    [(lambda a, b: a + b, "add"), (lambda a, b: a - b, "subtract"), (lambda a, b: a * b, "multiply"),
     (lambda a, b: a / b, "divide"), (lambda a, b: a**b, "power")],
    ids=["add", "sub", "mul", "div", "pow"],
)
def test_elementwise_shape_mismatch_names_the_operation_and_both_shapes(op, word):
    with pytest.raises(ShapeError, match=word + ".*" + both((2, 3), (4,))):
        op(ones(2, 3), ones(4))
    with pytest.raises(ValueError, match=both((3, 1, 4), (2, 3))):  # ShapeError is a ValueError
        op(ones(3, 1, 4), ones(2, 3))


@pytest.mark.parametrize(
    "shape_a, shape_b, reason",
    [
        ((2, 3), (4, 5), r"last axis of the first \(3\) must equal the second-to-last axis of the second \(4\)"),
        ((3, 4), (5,), r"last axis of the first \(4\) must equal the only axis of the second \(5\)"),
        ((3,), (4,), r"\(3\) must equal the only axis of the second \(4\)"),
        ((2, 3, 4), (5, 4, 2), r"batch axes \(2,\) and \(5,\) cannot be broadcast"),
        ((), (3,), "at least one axis"),
    ],
    ids=str,
)
def test_matmul_mismatch_names_both_shapes_and_the_rule_broken(shape_a, shape_b, reason):
    with pytest.raises(ShapeError, match=re.escape(f"matmul: shapes {shape_a} and {shape_b}") + ".*" + reason):
        ones(*shape_a) @ ones(*shape_b)


def test_linear_mismatch_names_input_and_weight_shapes():
    with pytest.raises(ShapeError, match=both((4, 3), (2, 5)) + ".*must be 5"):
        nn_ops.Linear.apply(ones(4, 3), ones(2, 5), ones(2))


def test_reshape_to_a_wrong_size_names_both_shapes():
    with pytest.raises(ShapeError, match=re.escape("shape (2, 3) (6 elements) into (4, 2)")):
        ones(2, 3).reshape(4, 2)


def test_concatenate_and_stack_name_every_shape():
    with pytest.raises(ShapeError, match=both((2, 3), (2, 4)) + ".*except on that axis"):
        lorabook.concatenate([ones(2, 3), ones(2, 4)], axis=0)
    with pytest.raises(ShapeError, match=both((2, 3), (3, 2))):
        lorabook.stack([ones(2, 3), ones(3, 2)])
    with pytest.raises(ValueError, match="at least one tensor"):
        lorabook.concatenate([])


@pytest.mark.parametrize("call, error, message", [
    (lambda: lorabook.concatenate([ones(2, 3), ones(3)]), ShapeError,
     r"same number of axes \(at least 1\), got shapes \(2, 3\), \(3,\)"),
    (lambda: lorabook.concatenate([ones(2, 3), ones(2, 3)], axis=2), ValueError,
     r"concatenate: axis 2 is out of range; expected -2 <= axis < 2"),
    (lambda: lorabook.stack([ones(2, 3)], axis=5), ValueError, r"stack: axis 5 is out of range; expected -3 <= axis < 3"),
    (lambda: lorabook.stack([ones(2, 3)], axis=1.0), TypeError, r"stack: axis must be an int, got 1.0"),
])
def test_concatenate_and_stack_name_a_bad_axis(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_backward_on_a_non_scalar_without_grad_says_what_to_do():
    y = ones(2, 3) * 2.0
    with pytest.raises(RuntimeError, match=re.escape("scalar output, but the output has shape (2, 3)") + ".*sum"):
        y.backward()


def test_backward_with_a_gradient_of_the_wrong_shape_names_both_shapes():
    y = ones(2, 3) * 2.0
    with pytest.raises(ValueError, match=re.escape("grad has shape (3, 2)") + ".*" + re.escape("(2, 3)")):
        y.backward(np.ones((3, 2)))


def test_backward_on_a_tensor_that_does_not_require_grad():
    y = Tensor(np.ones(3)) * 2.0
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_only_floating_point_tensors_can_require_grad():
    with pytest.raises(TypeError, match="floating-point.*int64"):
        Tensor(np.arange(3), dtype=np.int64, requires_grad=True)
    with pytest.raises(TypeError, match="floating-point.*int64"):
        lorabook.tensor([1, 2], dtype=np.int64).requires_grad_()


def test_item_of_a_tensor_with_several_elements_names_its_shape():
    with pytest.raises(ValueError, match=re.escape("shape (2, 2)")):
        ones(2, 2).item()
    assert Tensor(np.array([[7.5]])).item() == 7.5


def test_float_tensor_index_is_refused_not_guessed():
    x = lorabook.tensor(np.arange(4.0), requires_grad=True)
    mask = lorabook.tensor(np.array([True, False, True, False]))  # became float32
    with pytest.raises(TypeError, match=r"float Tensor of shape \(4,\)"):
        x[mask]


def test_linear_with_a_wrong_bias_names_both_shapes():
    x, w, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4, 3))), Tensor(np.ones(5))
    with pytest.raises(ShapeError, match=r"bias of shape \(5,\).*\(4, 3\)"):
        nn_ops.Linear.apply(x, w, b)


# ----- tensor() accepts real numbers only ---------------------------------------------------------
@pytest.mark.parametrize(
    "data, pattern",
    [
        ([1.0, None], r"tensor data must be real numbers, got None \(a NoneType\) at index \(1,\)"),
        ([[1.0, 2.0], [3.0, "x"]], r"got 'x' \(a str\) at index \(1, 1\)"),
        (None, r"got None \(a NoneType\)"),
        ([1 + 2j], r"got \(1\+2j\) \(a complex\)"),
        (np.array([1 + 2j]), r"complex values \(dtype complex128\)"),
        (np.array([1, None], dtype=object), r"got None \(a NoneType\) at index \(1,\)"),
    ],
)
def test_tensor_refuses_values_that_are_not_real_numbers(data, pattern):
    import lorabook

    with pytest.raises(TypeError, match=pattern):
        lorabook.tensor(data)
    with pytest.raises(TypeError, match=pattern):
        Tensor(data, dtype=np.float64)


def test_tensor_refuses_ragged_lists_with_a_sentence():
    import lorabook

    with pytest.raises(ValueError, match="rectangular nested list"):
        lorabook.tensor([[1.0, 2.0], [3.0]])
