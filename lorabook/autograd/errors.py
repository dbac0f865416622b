"""Errors raised by the autograd."""


class ShapeError(ValueError):
    """Two operands whose shapes do not fit the operation; the message shows both shapes."""
