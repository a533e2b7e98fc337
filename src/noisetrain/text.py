"""Wording that messages share."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """``n`` with ``noun`` in the number it takes: "1 run", "2 runs", "0 runs" (regular plurals only)."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
