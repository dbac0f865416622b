"""The checkers behind the exercise sheets in notebooks/exercises/, and their student versions.

One module per sheet: `ch01_autograd` ... `ch07_regularisation`. A sheet's
check cell calls one checker with the student's code, e.g.
`check.mul(Mul)`; the checker prints "correct", "not attempted yet" or what
is wrong with a hint (see `feedback`). `write_student_versions` makes the
student sheets with nbgrader's preprocessors (`python -m lorabook exercises`).
"""
from .feedback import CORRECT, INCORRECT, NOT_ATTEMPTED, Feedback, strict_mode
from .student_versions import default_sources, student_version, write_student_versions

__all__ = ["Feedback", "CORRECT", "INCORRECT", "NOT_ATTEMPTED", "strict_mode", "default_sources",
           "student_version", "write_student_versions"]
