"""A study's results as pandas DataFrames, for notebooks: ``open(folder)`` reads the store read-only.

The frames come from what the report reads (``noisetrain.report.data.load``) and its headline table
(``noisetrain.report.comparisons.headline``), so they hold the same numbers as the report. Opening reads one
consistent snapshot and changes nothing on disk; it works while a driver is running the study.

Example:
    >>> results = open("studies/digits")
    >>> results.headline()[["label", "mean", "diff", "diff_ci_low", "diff_ci_high", "p_holm", "verdict"]]
"""

from __future__ import annotations

import sqlite3
from functools import cached_property
from pathlib import Path

import pandas as pd

from ..registry import ConfigError
from ..report.comparisons import headline
from ..report.data import StudyData, load, with_settings
from ..report.tables import verdict
from .store import SCHEMA_VERSION, UPGRADES, Store


class ReadOnlyStore(Store):
    """A study's store opened read-only: never created, upgraded or checkpointed, and its reads one snapshot.

    Without a write-ahead log next to it no connection is open (a driver's keeps one while it runs), so the file is
    opened as immutable and SQLite creates no ``-wal`` or ``-shm`` file; otherwise it reads the log too, which it
    leaves as it is (only SQLite's shared-memory index, ``-shm``, may be written).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        idle = not self.path.with_name(f"{self.path.name}-wal").exists()
        uri = f"{self.path.resolve().as_uri()}?mode=ro{'&immutable=1' if idle else ''}"
        self.connection = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
        try:
            version = self.connection.execute("PRAGMA user_version").fetchone()[0]
            self.connection.execute("BEGIN")  # every read of this connection sees the same snapshot
        except sqlite3.DatabaseError as error:
            self.connection.close()
            raise ConfigError(f"store {str(self.path)!r} cannot be read as a noisetrain study store: {error}") from None
        if version != SCHEMA_VERSION:
            self.connection.close()
            action = "'noisetrain report' upgrades it" if version in UPGRADES else "use the noisetrain that wrote it"
            raise ConfigError(f"store {str(self.path)!r} has schema version {version}; this noisetrain reads version "
                              f"{SCHEMA_VERSION}; {action}")  # fmt: skip


class Results:
    """A snapshot of a study's results (``open``): the runs, their training metrics, evaluation records and the
    report's headline table as DataFrames (each call returns a new copy). ``data`` is the ``StudyData`` that the
    report's functions (``noisetrain.report``) take. Open the folder again to see newer results of a running study.
    """

    def __init__(self, data: StudyData, metrics: pd.DataFrame) -> None:
        self.data = data
        self._metrics = metrics

    def __repr__(self) -> str:
        runs, counted = len(self.data.runs), len(self.data.counted)
        return f"<Results of study {self.data.config.name!r}: {runs} runs, {counted} counted>"

    def runs(self) -> pd.DataFrame:
        """One row per run of the current plan: ``key``, ``group``, ``arm``, ``label``, ``seed``, ``status`` (a
        running run whose driver is gone is ``interrupted``), ``message``, ``attempts``, ``started``, ``finished``,
        ``seconds``, ``best_epoch``, one column per grid factor, ``context`` and ``name`` (label and context)."""
        return self.data.runs.drop(columns="test_set")

    def metrics(self) -> pd.DataFrame:
        """The per-epoch training metrics of every run that stored them (diverged and failed runs too; filter by
        ``status``), long form: ``key``, ``epoch``, ``metric``, ``value``, ``group``, ``arm``, ``label``, ``seed``,
        ``status``, ``context``, ``name``."""
        return self._metrics.copy()

    def records(self) -> pd.DataFrame:
        """The evaluation records of the counted runs (completed or early stopped; the others are not evaluated):
        ``key``, ``measure``, ``metric``, ``setting`` (JSON), ``value`` (accuracies as fractions), ``ci_low``,
        ``ci_high`` (the record's own interval over test examples, where it has one), ``n``, the run's columns
        (``group``, ``arm``, ``label``, ``seed``, ``status``, ..., grid factors, ``context``, ``name``) and one
        ``setting.<name>`` column per setting field (e.g. ``setting.eps``; missing where a record lacks it)."""
        return with_settings(self.data.records)

    def headline(self) -> pd.DataFrame:
        """The report's headline table: one row per configuration (and context), numbers as the report's
        ``headline.csv`` has them, in the headline metric's own unit (``data.config.report``; accuracies as
        fractions, differences as fractions too, where the report shows % and percentage points).

        Columns: ``label``, the context and arm factors, ``arm``, ``n`` (seeds counted), ``mean``, ``std``,
        ``sem``, ``ci_low``, ``ci_high``, ``interval`` (``bootstrap`` or ``t``), ``diff`` (minus the baseline of
        the context, paired by seed), ``diff_ci_low``, ``diff_ci_high``, ``n_pairs``, ``p`` (sign-flip), ``p_holm``,
        ``verdict`` (as the report: ``baseline``, ``better``, ``worse``, ``n.s.``, ``n.s., low power``,
        ``not testable``), the other tests and power columns of ``noisetrain.study.stats.compare``,
        ``epoch_seconds``, ``cost`` (time per epoch over the baseline's), ``group``, ``context``, ``name``.
        """
        return self._headline.copy()

    @cached_property
    def _headline(self) -> pd.DataFrame:
        table = headline(self.data)
        higher = self.data.config.report.higher
        verdicts = [verdict(row, higher) for _, row in table.iterrows()]
        table.insert(table.columns.get_loc("p_holm") + 1, "verdict", pd.Series(verdicts, index=table.index, dtype=str))
        return table


def open(folder: str | Path) -> Results:
    """The results of the study in ``folder`` (its ``study.db``), read-only; a ``ConfigError`` when it has none."""
    with ReadOnlyStore.of(folder) as store:
        data = load(folder, store)
        metrics = store.metrics().rename(columns={"name": "metric"}).astype({"value": float})
    runs = data.runs[["key", "status", "context", "name"]]
    return Results(data, metrics.merge(runs, on="key"))
