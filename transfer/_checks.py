"""Argument checks shared by transfer/: wrong types raise TypeError, bad values ValueError."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

__all__ = ["positive_int", "size_pair"]


def positive_int(value: Any, *, what: str) -> int:
    """`value` if it is an int of at least 1.

    Raises:
        TypeError: If it is not an int (bools are not).
        ValueError: If it is smaller than 1.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what}={value!r} must be an int")
    if value < 1:
        raise ValueError(f"{what}={value!r} must be a positive int")
    return int(value)


def size_pair(value: Any, *, what: str) -> tuple[int, int]:
    """``(height, width)`` from one int (a square) or a pair of ints, all positive.

    Raises:
        TypeError: If it is neither an int nor a sequence of ints.
        ValueError: If the sequence does not hold two values or a value is smaller than 1.

    Example:
        >>> size_pair(224, what="image_size"), size_pair([240, 320], what="image_size")
        ((224, 224), (240, 320))
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{what}={value!r} must be an int or a (height, width) pair of ints")
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in value):
        raise TypeError(f"{what}={value!r} must be an int or a (height, width) pair of ints")
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f"{what}={tuple(value)!r} must be two positive ints (height, width)")
    return int(value[0]), int(value[1])
