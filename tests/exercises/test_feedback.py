"""The feedback mechanism: three answers, no traceback, raising only when grading."""
import numpy as np
import pytest

from lorabook.exercises.feedback import Incorrect, call, compare, task


@task("9.9 (demo)")
def demo_check(function):
    compare("case 1", "the result", call("case 1", function, 2.0), 4.0, mistakes=[(2.0, "you forgot to double")])
    return "1 case passed."


def not_attempted(x):
    raise NotImplementedError()


def test_three_answers_and_a_hint(capsys, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("LORABOOK_EXERCISES_STRICT", raising=False)
    assert demo_check(lambda x: 2 * x)
    assert not demo_check(lambda x: x)
    assert not demo_check(not_attempted)
    assert not demo_check(lambda x: 1 / 0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Task 9.9 (demo): correct. 1 case passed."
    assert lines[1] == "Task 9.9 (demo): not right yet. case 1: the result is wrong. Hint: you forgot to double"
    assert lines[2].startswith("Task 9.9 (demo): not attempted yet.")
    assert lines[3] == "Task 9.9 (demo): not right yet. case 1: your code raised ZeroDivisionError: division by zero"


@pytest.mark.parametrize("variable,value", [("NBGRADER_EXECUTION", "autograde"), ("LORABOOK_EXERCISES_STRICT", "1")])
def test_under_nbgrader_a_check_that_is_not_correct_raises(monkeypatch, capsys, variable, value):
    monkeypatch.setenv(variable, value)
    assert demo_check(lambda x: 2 * x)
    with pytest.raises(AssertionError, match="not attempted yet"):
        demo_check(not_attempted)
    with pytest.raises(AssertionError, match="you forgot to double"):
        demo_check(lambda x: x)


def test_compare_names_shapes_values_and_non_finite_answers():
    with pytest.raises(Incorrect, match=r"has shape \(3, 2\), expected \(2, 3\)\. Hint: transposed"):
        compare("c", "W", np.zeros((3, 2)), np.zeros((2, 3)))
    with pytest.raises(Incorrect, match=r"at index \(1,\): expected 2, got 5"):
        compare("c", "v", [1.0, 5.0], [1.0, 2.0])
    with pytest.raises(Incorrect, match="inf or nan.*Hint: overflow"):
        compare("c", "v", [np.inf], [1.0], nonfinite_hint="overflow")
    with pytest.raises(Incorrect, match="is None; did you forget to return it"):
        compare("c", "v", None, [1.0])
    compare("c", "v", [1.0, 2.0], np.array([1.0, 2.0]))


def test_answers_of_unforeseen_types_get_feedback_not_a_traceback(capsys):
    from lorabook.exercises import ch01_autograd, ch04_svd, ch05_domain

    assert "should be a number or an array" in str(ch01_autograd.unbroadcast(lambda grad, shape: "text"))
    assert "should be an int" in str(ch04_svd.predicted_numbers(lambda: ("three", 2.2, 0.25)))
    assert ch04_svd.predicted_numbers(lambda: (3.0, 5 ** 0.5, 0.25))  # an integral float is fine for a rank
    assert "has shape (60,), expected (60, 2)" in str(ch05_domain.subspace_alignment(
        lambda Xs, Xt, d: (Xs[:, 0], Xt[:, :2])))

    @task("9.8 (checker that meets an odd answer)")
    def odd(function):
        return len(function())  # a checker that did not foresee an int

    assert "could not be checked (TypeError" in str(odd(lambda: 3))


def test_a_notebook_shows_the_feedback_line_once():
    feedback = demo_check(lambda x: 2 * x)
    assert hasattr(feedback, "_ipython_display_") and feedback._ipython_display_() is None
    assert repr(feedback) == "<Feedback on task 9.9 (demo): correct>"
