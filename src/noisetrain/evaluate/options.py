"""Option checkers that measures declare in ``@measure(name, checks={option: checker})``.

A checker is ``check(what, value) -> value``: it raises ``ConfigError`` naming ``what`` and the allowed
values, or returns the value normalised (e.g. one radius or a list of radii -> a sorted list without
repeats), so the measure's body only ever sees checked, normalised options. Every checker accepts its
own output again.

Example:
    >>> grid(0)("eps", [0.1, 0, 0.1])  # [0.0, 0.1]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from ..checks import check_bool, check_choice, check_int, check_number, check_pair
from ..registry import ConfigError

Check = Callable[[str, Any], Any]
"""``check(what, value) -> normalised value``; raises ``ConfigError`` naming ``what``."""
AUTO = "auto"


def integer(low: float = 1, high: float = math.inf) -> Check:
    """An int (not a bool) in ``[low, high]``."""

    def check(what: str, value: Any) -> int:
        check_int(what, value, low, high)
        return value

    return check


def real(low: float = -math.inf, high: float = math.inf, *, low_open: bool = False, high_open: bool = False) -> Check:
    """A finite number (not a bool) in the interval, as a float."""

    def check(what: str, value: Any) -> float:
        return check_number(what, value, low, high, low_open=low_open, high_open=high_open)

    return check


def choice(*allowed: Any) -> Check:
    """One of ``allowed``."""

    def check(what: str, value: Any) -> Any:
        check_choice(what, value, allowed)
        return value

    return check


def flag(what: str, value: Any) -> bool:
    """True or false."""
    return check_bool(what, value)


def optional(inner: Check) -> Check:
    """None, or a value ``inner`` accepts."""

    def check(what: str, value: Any) -> Any:
        return None if value is None else inner(what, value)

    return check


def instance(kind: type) -> Check:
    """An instance of ``kind``."""

    def check(what: str, value: Any) -> Any:
        if not isinstance(value, kind):
            raise ConfigError(f"{what} must be a {kind.__name__}, got {type(value).__name__}")
        return value

    return check


def _items(what: str, value: Any, description: str, *, empty: bool = False) -> list[Any]:
    """A non-sequence ``value`` (or a str) as a one-item list; a sequence as a list, empty only if ``empty``."""
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    if not items and not empty:
        raise ConfigError(f"{what} must be a non-empty list of {description} (or one of them), got {value!r}")
    return items


def grid(low: float = 0, high: float = math.inf, *, integers: bool = False) -> Check:
    """One number in ``[low, high]`` or a non-empty list of them, as a sorted list without repeats
    (of ints when ``integers``, else of floats)."""
    closing = ")" if high == math.inf else "]"
    description = f"{'ints' if integers else 'numbers'} in [{low:g}, {high:g}{closing}"

    def check(what: str, value: Any) -> list[float] | list[int]:
        items = _items(what, value, description)
        if integers:
            for item in items:
                check_int(what, item, low, high)
            return sorted(set(items))
        return sorted({check_number(what, item, low, high) for item in items})

    return check


def names(allowed: Sequence[str] | None = None, *, empty: bool = False) -> Check:
    """One name or a list of distinct names (from ``allowed`` when given; empty only if ``empty``), as a list."""
    description = "names" if allowed is None else f"names from {', '.join(allowed)}"

    def check(what: str, value: Any) -> list[str]:
        items = _items(what, value, description, empty=empty)
        for item in items:
            if allowed is None and not isinstance(item, str):
                raise ConfigError(f"{what} must list names (strings), got {item!r}")
            if allowed is not None:
                check_choice(what, item, tuple(allowed))
        if len(set(items)) != len(items):
            raise ConfigError(f"{what} has repeated values: {items}")
        return items

    return check


def auto_range(what: str, value: Any) -> tuple[float, float] | str | None:
    """``"auto"`` (decided from the data later), None (no range), or ``(low, high)`` with ``low < high``."""
    if isinstance(value, str):
        check_choice(what, value, (AUTO,))
        return value
    return None if value is None else check_pair(what, value, strict=True)
