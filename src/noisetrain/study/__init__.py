"""Studies: expand a grid into runs, execute them locally or on Ray, store every result in SQLite.

A study file lists what differs from the defaults; every list in it is a grid axis (see
:func:`~noisetrain.study.grid.expand`). ``run_study`` executes the runs not yet finished and
writes each outcome to the study's store; ``noisetrain report`` reads the store, and ``open`` gives its results
as pandas DataFrames (read-only, also while the study runs). The names are
imported on first use, so that a worker process importing ``noisetrain.study.backends`` stays light.

Example:
    >>> study = load_study("study.yaml")
    >>> run_study(study, "studies/digits", workers=2)
    >>> open("studies/digits").headline()
"""

from __future__ import annotations

import importlib
from typing import Any

ATTRIBUTES = {
    "StudyConfig": "config", "load_study": "config", "RunSpec": "grid", "expand": "grid",
    "StudyResult": "runner", "plan": "runner", "run_study": "runner", "Store": "store", "Results": "results",
    "open": "results",
}  # fmt: skip
"""Public name -> the module of this package that defines it."""
__all__ = sorted(ATTRIBUTES)


def __getattr__(name: str) -> Any:
    if name in ATTRIBUTES:
        return getattr(importlib.import_module(f".{ATTRIBUTES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
