"""Argument checks shared by every constructor: each raises ``ConfigError`` naming the field and what it allows.

``what`` is the field's name as the user wrote it (``"val_size"``, ``"PGD.steps"``); the message
names the allowed values or interval, e.g. ``val_size must be in [0, 1), got 1.5``.

Example:
    >>> check_range("val_size", 0.2, 0, 1, high_open=True)
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from .registry import ConfigError


def check_range(
    what: str,
    value: float,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ``ConfigError`` naming ``what`` and the allowed interval unless ``value`` is a real number in it.

    The bounds are closed unless ``low_open``/``high_open``; an infinite bound is always open, so that
    infinities are refused unless a bound says otherwise; NaN is never in range; a bool is not a number.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    low_open, high_open = low_open or low == -math.inf, high_open or high == math.inf
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above or math.isnan(value):
        opening = "(" if low_open or low == -math.inf else "["
        closing = ")" if high_open or high == math.inf else "]"
        interval = f"{opening}{low:g}, {high:g}{closing}"
        raise ConfigError(f"{what} must be in {interval}, got {value!r}")


def check_number(
    what: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float, or ``ConfigError`` naming ``what`` unless it is a number in the interval of
    ``check_range``."""
    check_range(what, value, low, high, low_open=low_open, high_open=high_open)
    return float(value)


def check_int(what: str, value: int, low: float = -math.inf, high: float = math.inf) -> None:
    """Raise ``ConfigError`` naming ``what`` unless ``value`` is an int (not a bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what} must be an int, got {value!r}")
    check_range(what, value, low, high)


def check_seed(what: str, value: Any) -> None:
    """Raise ``ConfigError`` naming ``what`` unless ``value`` is None or a non-negative int (not a bool)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ConfigError(f"{what} must be a non-negative int or None, got {value!r}")


def check_bool(what: str, value: Any) -> bool:
    """``value`` itself, or ``ConfigError`` naming ``what`` unless it is a bool."""
    if not isinstance(value, bool):
        raise ConfigError(f"{what} must be true or false, got {value!r}")
    return value


def check_choice(what: str, value: Any, allowed: tuple[Any, ...]) -> None:
    """Raise ``ConfigError`` naming ``what`` and the allowed values unless ``value`` is one of them."""
    if value not in allowed:
        raise ConfigError(f"{what} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def check_pair(
    what: str,
    value: tuple[float, float],
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    strict: bool = False,
) -> tuple[float, float]:
    """Validate a ``(lo, hi)`` pair of numbers inside the interval of ``check_range`` with ``lo <= hi``
    (``lo < hi`` if ``strict``); return it as floats."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ConfigError(f"{what} must be a pair (low, high), got {value!r}")
    for bound in value:
        check_range(what, bound, low, high, low_open=low_open, high_open=high_open)
    lo, hi = float(value[0]), float(value[1])
    if hi < lo or (strict and hi == lo):
        raise ConfigError(f"{what} must be (low, high) with low {'<' if strict else '<='} high, got {value!r}")
    return lo, hi
