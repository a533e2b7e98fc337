"""Fine-grained progress of the running measure, without a progress argument in every measure's signature.

``evaluate`` wraps each measure in ``reporting(name, callback)``; inside, the measure announces its units
of work with ``expect(total)`` (e.g. one per (corruption, severity) pair) and calls ``step()`` after each.
The callback receives ``(name, done, total)``: ``(name, 0, 1)`` when the measure starts, its own counts,
and ``(name, total, total)`` at the end if its steps fell short (a measure that announces nothing counts
as one unit). Outside ``reporting`` (a direct call of a measure) ``expect`` and ``step`` do nothing.

Example:
    >>> with reporting("noise_sweep", lambda name, done, total: print(name, done, total)):
    ...     records = noise_sweep(model, data)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

Progress = Callable[[str, int, int], None]
"""``progress(name, done, total)``: ``done`` of ``total`` units of the measure ``name`` are finished."""


@dataclass
class _Reporter:
    name: str
    callback: Progress
    done: int = 0
    total: int = 1

    def report(self) -> None:
        self.callback(self.name, self.done, self.total)


_current: ContextVar[_Reporter | None] = ContextVar("noisetrain_evaluate_progress", default=None)


def expect(total: int) -> None:
    """Announce that the running measure does ``total`` units of work in all."""
    reporter = _current.get()
    if reporter is not None:
        reporter.total = total
        reporter.report()


def step(units: int = 1) -> None:
    """Count ``units`` more units of the running measure's work as done."""
    reporter = _current.get()
    if reporter is not None:
        reporter.done += units
        reporter.report()


@contextmanager
def reporting(name: str, callback: Progress | None) -> Iterator[None]:
    """Send the progress of the measure run inside the block to ``callback`` as ``(name, done, total)``;
    with ``callback`` None the block's ``expect`` and ``step`` do nothing."""
    reporter = None if callback is None else _Reporter(name, callback)
    token = _current.set(reporter)
    try:
        if reporter is not None:
            reporter.report()
        yield
    finally:
        _current.reset(token)
    if reporter is not None and reporter.done < reporter.total:
        reporter.done = reporter.total
        reporter.report()
