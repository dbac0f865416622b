"""The autograd's global state: whether operations record the graph (`no_grad` switches it
off), and how many changes in place there have been."""
from __future__ import annotations

import functools

_enabled = True  # read by Function.apply on every operation

# Every change in place to any tensor's values, counted by Tensor.bump_version. Function.apply notes the
# count in each context; backward compares the versions of an operation's inputs (a tuple built per
# operation) only if the count has moved since. In a training step nothing changes in place between
# forward and backward, so the check costs one comparison per operation.
in_place_changes = 0


def is_grad_enabled() -> bool:
    """True unless inside a `no_grad()` block."""
    return _enabled


class set_grad_enabled:
    """Context manager (and decorator) turning graph building on or off."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.previous = None

    def __enter__(self):
        global _enabled
        self.previous = _enabled
        _enabled = self.mode

    def __exit__(self, *exc_info):
        global _enabled
        _enabled = self.previous
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):
                return func(*args, **kwargs)

        return wrapper


class no_grad(set_grad_enabled):
    """`with no_grad():` runs operations without recording a graph.

    Use it for evaluation and for optimizer updates, as in PyTorch. As a
    decorator it works with or without parentheses: `@no_grad()` or `@no_grad`.
    """

    def __new__(cls, func=None):
        instance = super().__new__(cls)
        if func is None:
            return instance
        instance.__init__()
        return instance(func)  # `@no_grad` without parentheses: decorate right away

    def __init__(self, func=None):
        super().__init__(False)
