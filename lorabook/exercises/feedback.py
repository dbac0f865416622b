"""How a check answers: "correct", "not attempted yet", or exactly what is wrong.

Every checker in this package is a function decorated with `@task("1.2 Mul")`.
The decorated function runs the student's code on several cases and raises
`Incorrect("...")` at the first case that fails; the decorator turns that
into one printed line of feedback and returns a `Feedback`:

    Task 1.2 (Mul): correct. 4 cases and gradcheck passed.
    Task 1.2 (Mul): not attempted yet (the stub still raises NotImplementedError).
    Task 1.2 (Mul): not right yet. Case 2 (a (3, 1), b (1, 4), seed 1): grad of a is ...
        Hint: swapped: the gradient of a * b with respect to a is grad_output * b.

A student's own exception (a typo, a shape error) is reported the same way,
naming its type, message and case, never as a traceback from inside here.

Grading. Under nbgrader (it sets NBGRADER_EXECUTION while it autogrades or
validates) and with LORABOOK_EXERCISES_STRICT=1 a check that is not correct
also raises AssertionError with the same text, so the cell earns no points.
Run by hand, a check only prints: a student can "Run all" and read every
answer. Checkers are deterministic: fixed seeds, no timing.
"""
from __future__ import annotations

import functools
import os
import sys

import numpy as np

CORRECT, INCORRECT, NOT_ATTEMPTED = "correct", "not right yet", "not attempted yet"


class Incorrect(Exception):
    """Raised inside a checker: the message says which case failed and how."""


class NotAttempted(Exception):
    """Raised inside a checker when an answer is still the stub's placeholder."""


class Feedback:
    """The outcome of one check: `status` (one of the three above) and `message`. True when correct."""

    def __init__(self, task_name, status, message=""):
        self.task_name, self.status, self.message = task_name, status, message

    def __bool__(self):
        return self.status == CORRECT

    def __str__(self):
        text = f"Task {self.task_name}: {self.status}."
        return f"{text} {self.message}" if self.message else text

    def __repr__(self):
        return f"<Feedback on task {self.task_name}: {self.status}>"

    def _ipython_display_(self):
        """Show nothing: the check already printed its line (a notebook would otherwise show it twice)."""


def strict_mode():
    """True while nbgrader autogrades/validates, or with LORABOOK_EXERCISES_STRICT=1."""
    return bool(os.environ.get("NBGRADER_EXECUTION")) or os.environ.get("LORABOOK_EXERCISES_STRICT") == "1"


def task(task_name):
    """Decorator: turn a checker that raises Incorrect / NotAttempted into printed Feedback."""

    def decorate(check):
        @functools.wraps(check)
        def run(*args, **kwargs):
            try:
                summary = check(*args, **kwargs)
                feedback = Feedback(task_name, CORRECT, summary or "")
            except (NotImplementedError, NotAttempted) as stub:
                detail = f"{stub} " if isinstance(stub, NotAttempted) and str(stub) else ""
                feedback = Feedback(task_name, NOT_ATTEMPTED, detail + "Replace `raise NotImplementedError()` "
                                    "with your code, then run this cell again.")
            except Incorrect as wrong:
                feedback = Feedback(task_name, INCORRECT, str(wrong))
            except Exception as error:  # an answer of a type no check foresaw: still feedback, not a traceback
                feedback = Feedback(task_name, INCORRECT, f"your answer could not be checked ({type(error).__name__}: "
                                                          f"{error}); compare its type and shape with the docstring.")
            # One write, so that a kernel never splits the line and its newline into two outputs.
            sys.stdout.write(f"{feedback}\n")
            if strict_mode() and not feedback:
                raise AssertionError(str(feedback))
            return feedback

        return run

    return decorate


def call(case, function, *args, hint="", **kwargs):
    """Run the student's function; any exception but NotImplementedError becomes Incorrect naming the case."""
    try:
        return function(*args, **kwargs)
    except (NotImplementedError, NotAttempted):
        raise
    except Exception as error:  # the student's bug, reported as feedback rather than a traceback
        message = f"{case}: your code raised {type(error).__name__}: {error}"
        raise Incorrect(f"{message}. Hint: {hint}" if hint else message) from None


def _as_array(what, case, value):
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Incorrect(f"{case}: {what} should be a number or an array, got {type(value).__name__}") from None


def _close(a, b, rtol, atol):
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False))


def _show(array):
    if array.ndim == 0:
        return f"{float(array):.6g}"
    return np.array2string(array, precision=4, threshold=8, edgeitems=2, separator=", ").replace("\n", "")


def _known_wrong(wrong):
    """A known wrong answer, given as a value or as a function computing it (None if it cannot be formed)."""
    try:
        return np.asarray(wrong() if callable(wrong) else wrong, dtype=np.float64)
    except (ValueError, IndexError, TypeError):
        return np.full((0, 0, 0, 0), np.nan)  # e.g. the wrong formula does not fit these shapes


def compare(case, what, actual, expected, mistakes=(), shape_hints=(), nonfinite_hint="", rtol=1e-6, atol=1e-9):
    """Raise Incorrect unless `actual` matches `expected` (shape, then values).

    mistakes: pairs (wrong_value, hint): if the answer equals a known wrong
    answer, that hint is given. shape_hints: pairs (wrong_shape, hint).
    nonfinite_hint: said when the answer holds inf or nan.
    """
    if actual is None:
        raise Incorrect(f"{case}: {what} is None; did you forget to return it?")
    actual = _as_array(what, case, actual)
    expected = np.asarray(expected, dtype=np.float64)
    if _close(actual, expected, rtol, atol):
        return
    for wrong, hint in mistakes:
        if _close(actual, _known_wrong(wrong), rtol, atol):
            raise Incorrect(f"{case}: {what} is wrong. Hint: {hint}")
    if actual.shape != expected.shape:
        hints = [hint for wrong_shape, hint in shape_hints if actual.shape == tuple(wrong_shape)]
        if not hints and actual.ndim == 2 and actual.shape == expected.shape[::-1]:
            hints = ["transposed?"]
        message = f"{case}: {what} has shape {actual.shape}, expected {expected.shape}."
        raise Incorrect(f"{message} Hint: {hints[0]}" if hints else message)
    if not np.all(np.isfinite(actual)):
        message = f"{case}: {what} contains inf or nan (expected {_show(expected)})."
        raise Incorrect(f"{message} Hint: {nonfinite_hint}" if nonfinite_hint else message)
    error = np.abs(actual - expected)
    index = np.unravel_index(int(np.argmax(error)), error.shape) if error.ndim else ()
    where = f" at index {tuple(int(i) for i in index)}" if index else ""
    raise Incorrect(f"{case}: {what} is wrong{where}: expected {float(expected[index]):.6g}, "
                    f"got {float(actual[index]):.6g} (expected {_show(expected)}, got {_show(actual)}).")


def check_int(case, what, actual, expected, mistakes=()):
    """Like compare, for an integer answer (a rank, a count)."""
    if actual is None:
        raise Incorrect(f"{case}: {what} is None; did you forget to return it?")
    if isinstance(actual, (float, np.floating)) and float(actual).is_integer():
        actual = int(actual)  # 3.0 for 3 is fine
    if isinstance(actual, bool) or not isinstance(actual, (int, np.integer)):
        raise Incorrect(f"{case}: {what} should be an int, got {type(actual).__name__} {actual!r}")
    if int(actual) == int(expected):
        return
    for wrong, hint in mistakes:
        if int(actual) == int(wrong):
            raise Incorrect(f"{case}: {what} is {int(actual)}, expected {int(expected)}. Hint: {hint}")
    raise Incorrect(f"{case}: {what} is {int(actual)}, expected {int(expected)}.")


def as_array(what, case, value):
    """value as a float64 array, or Incorrect saying that it is not a number or an array."""
    return _as_array(what, case, value)


def shapes(**arrays):
    """'x (5, 8), A (2, 8)': a case label from named arrays."""
    return ", ".join(f"{name} {tuple(np.shape(value))}" for name, value in arrays.items())
