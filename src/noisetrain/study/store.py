"""The results store: one SQLite file per study folder (WAL mode), written by the study's driver alone.

Tables: ``studies`` (name, config), ``runs`` (key, group, arm, seed, grid factors, resolved config,
status, message, attempts, timings, summary, environment, and whether it belongs to the current
plan), ``metrics`` (one row per run, epoch and metric), ``records`` (the evaluation records) and
``examples`` (a record's per-example values on the test split: correctness packed 8 to a byte,
absolute errors as float32). The schema version is SQLite's ``user_version``: a store of the previous
version is upgraded in place by adding what it lacks (version 2 -> 3: the ``examples`` table), a store
of any other version is refused with a clear error, never changed. Each outcome is written in one
transaction, so a killed driver leaves no
half-written run: a run is either finished with all its rows or still unfinished. A study run again
with a changed file keeps the runs of its earlier plans, but reads (and so reports) see the runs of
the current plan only.

Example:
    >>> with Store("studies/digits/study.db") as store:
    ...     store.records()          # a pandas DataFrame, one row per record, with the run's columns
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import parse
from ..files import folder_for, strict_json, write_atomic
from ..registry import ConfigError
from .config import StudyConfig
from .execute import Outcome
from .grid import RunSpec, cell

if TYPE_CHECKING:  # pandas is imported where a frame is built: a study run and `validate` do without it
    import pandas as pd

DB = "study.db"
"""The store's file name in a study folder."""
SCHEMA_VERSION = 3
COUNTED = ("completed", "early_stopped")
"""Statuses of the runs whose results count (reports average them; searches score them)."""
FINISHED = (*COUNTED, "diverged")
"""Statuses of runs a resumed study skips; ``pending``, ``running`` and ``failed`` runs run again."""
STATUSES = ("pending", "running", "interrupted", *FINISHED, "failed")
"""Every status a report shows; ``interrupted`` is a ``running`` run whose driver is gone (it is not stored)."""
SCHEMA = """
CREATE TABLE studies (
    name TEXT PRIMARY KEY, config TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE runs (
    key TEXT PRIMARY KEY, study TEXT NOT NULL REFERENCES studies(name), grp TEXT NOT NULL,
    arm TEXT NOT NULL, label TEXT NOT NULL, seed INTEGER NOT NULL, factors TEXT NOT NULL,
    config TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, started TEXT, finished TEXT, seconds REAL,
    summary TEXT, environment TEXT, current INTEGER NOT NULL DEFAULT 1);
CREATE TABLE metrics (
    run TEXT NOT NULL REFERENCES runs(key), epoch INTEGER NOT NULL, name TEXT NOT NULL, value REAL,
    PRIMARY KEY (run, epoch, name));
CREATE TABLE records (
    run TEXT NOT NULL REFERENCES runs(key), measure TEXT NOT NULL, metric TEXT NOT NULL,
    setting TEXT NOT NULL, value REAL, ci_low REAL, ci_high REAL, n INTEGER);
CREATE INDEX records_run ON records(run);
"""
EXAMPLES = """
CREATE TABLE examples (
    run TEXT NOT NULL REFERENCES runs(key), measure TEXT NOT NULL, metric TEXT NOT NULL,
    encoding TEXT NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (run, measure, metric));
"""
UPGRADES = {2: EXAMPLES}
"""Schema version -> the statements that bring a store of that version to the next one."""
RUN_COLUMNS = ("key", "grp", "arm", "label", "seed", "status", "message", "attempts", "started", "finished", "seconds")


def now() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """A study's SQLite store (created with the current schema when the file does not exist)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            version = self.connection.execute("PRAGMA user_version").fetchone()[0]
            tables = self.connection.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        except sqlite3.OperationalError as error:  # the file is there but cannot be opened: permissions
            self.connection.close()
            raise ConfigError(f"store {str(self.path)!r} cannot be opened ({error}); check that you may read and "
                              "write the study folder") from None  # fmt: skip
        except sqlite3.DatabaseError as error:
            self.connection.close()
            raise ConfigError(f"store {str(self.path)!r} is not a noisetrain study store: {error}") from None
        if version != SCHEMA_VERSION and (version or tables) and version not in UPGRADES:
            self.connection.close()
            raise ConfigError(
                f"store {str(self.path)!r} has schema version {version}; this noisetrain reads version "
                f"{SCHEMA_VERSION}; use a new study folder or the noisetrain version that wrote it"
            )
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA foreign_keys=ON")
        if not tables:
            self.connection.executescript(
                f"BEGIN IMMEDIATE; {SCHEMA} {EXAMPLES} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
            )
        while version in UPGRADES and tables:
            upgrade = UPGRADES[version]
            version += 1
            self.connection.executescript(f"BEGIN IMMEDIATE; {upgrade} PRAGMA user_version={version}; COMMIT;")

    @classmethod
    def of(cls, folder: str | Path) -> Store:
        """The store of the study in ``folder`` (``<folder>/study.db``); a ``ConfigError`` when it has none."""
        path = Path(folder) / DB
        if not path.is_file():
            raise ConfigError(f"no study store at {str(path)!r}; run 'noisetrain study run' first")
        return cls(path)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any error."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    # ---- writing (the driver only) ----

    def register(self, study: StudyConfig, runs: Iterable[RunSpec], *, plan: bool = False) -> None:
        """Record the study and add its runs that the store does not hold yet, as ``pending``.

        With ``plan``, ``runs`` become the current plan: the reads see them only (earlier runs stay stored);
        without, they join it (the trials of a search).
        """
        runs = list(runs)
        config, stamp = json.dumps(study.model_dump(mode="json")), now()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO studies VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET config=?, updated=?",
                (study.name, config, stamp, stamp, config, stamp),
            )
            if plan:
                db.execute("UPDATE runs SET current=0")
            db.executemany(  # a run already stored keeps its results and takes this plan's names
                "INSERT INTO runs (key, study, grp, arm, label, seed, factors, config) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET study=excluded.study, grp=excluded.grp, arm=excluded.arm, "
                "label=excluded.label, factors=excluded.factors, config=excluded.config, current=1",
                [
                    (r.key, study.name, r.group, r.arm, r.label, r.seed, json.dumps(r.factors),
                     json.dumps(r.config.model_dump(mode="json")))
                    for r in runs
                ],
            )  # fmt: skip

    def finished(self) -> set[str]:
        """Keys of the runs that are done (completed, early stopped or diverged)."""
        marks = ",".join("?" * len(FINISHED))
        return {row[0] for row in self.connection.execute(f"SELECT key FROM runs WHERE status IN ({marks})", FINISHED)}

    def start(self, key: str) -> None:
        """Mark a run as running (one more attempt)."""
        with self.transaction() as db:
            db.execute("UPDATE runs SET status='running', attempts=attempts+1, started=? WHERE key=?", (now(), key))

    def save(self, outcome: Outcome) -> None:
        """Write a run's outcome (status, summary, per-epoch metrics, records) in one transaction."""
        metrics = [
            (outcome.key, int(row["epoch"]), name, _number(value))
            for row in outcome.history
            for name, value in row.items()
            if name != "epoch"
        ]
        records = [
            (outcome.key, r["measure"], r["metric"], setting_key(r["setting"]), _number(r["value"]),
             *(r["ci"] if r.get("ci") is not None else (None, None)), r.get("n"))
            for r in outcome.records
        ]  # fmt: skip
        examples = [(outcome.key, *where, *encode(values)) for where, values in outcome.examples.items()]
        with self.transaction() as db:
            updated = db.execute(
                "UPDATE runs SET status=?, message=?, finished=?, seconds=?, summary=?, environment=? WHERE key=?",
                (outcome.status, outcome.message, now(), outcome.seconds, strict_json(outcome.summary),
                 strict_json(outcome.environment), outcome.key),
            )  # fmt: skip
            if updated.rowcount != 1:
                raise ConfigError(f"store: run {outcome.key!r} is not registered in {str(self.path)!r}")
            db.execute("DELETE FROM metrics WHERE run=?", (outcome.key,))
            db.execute("DELETE FROM records WHERE run=?", (outcome.key,))
            db.execute("DELETE FROM examples WHERE run=?", (outcome.key,))
            db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)", metrics)
            db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)", records)
            db.executemany("INSERT INTO examples VALUES (?, ?, ?, ?, ?, ?)", examples)

    # ---- reading ----

    def name(self) -> str | None:
        """The name of the study this store holds (None while it holds none)."""
        row = self.connection.execute("SELECT name FROM studies ORDER BY updated DESC LIMIT 1").fetchone()
        return None if row is None else row[0]

    def study(self) -> StudyConfig:
        """The study config stored last (a store holds one study)."""
        row = self.connection.execute("SELECT config FROM studies ORDER BY updated DESC LIMIT 1").fetchone()
        if row is None:
            raise ConfigError(f"store {str(self.path)!r} holds no study yet")
        try:
            return parse(StudyConfig, json.loads(row[0]))
        except ConfigError as error:
            raise ConfigError(f"store {str(self.path)!r} holds a study this noisetrain cannot read: {error}") from None

    def runs(self, *, every: bool = False, details: bool = False) -> pd.DataFrame:
        """The runs of the current plan (``every``: of all plans, with a ``current`` column), in the order
        registered: key, group, arm, label, seed, status, message, attempts, timings, best epoch, one
        column per grid factor (``factors()`` names them), and with ``details`` the grid factors, the resolved
        config, the summary (test metrics) and the environment as JSON."""
        import pandas as pd

        where = "" if every else "WHERE current=1"
        rows = self.connection.execute(
            f"SELECT {', '.join(RUN_COLUMNS)}, current, factors, summary, config, environment FROM runs {where} "
            "ORDER BY rowid"
        ).fetchall()
        columns = [*RUN_COLUMNS, "current", "factors", "summary", "config", "environment"]
        frame = pd.DataFrame(rows, columns=columns).rename(columns={"grp": "group"})
        frame["best_epoch"] = [
            json.loads(s).get("best_epoch") if isinstance(s, str) else None for s in frame["summary"]
        ]
        factors = pd.DataFrame([json.loads(f) for f in frame["factors"]], index=frame.index)
        frame = pd.concat([frame, factors.map(cell) if not factors.empty else factors], axis=1)
        dropped = ([] if every else ["current"]) + ([] if details else ["factors", "summary", "config", "environment"])
        return frame.drop(columns=dropped)

    def factors(self) -> list[str]:
        """The grid factor columns of ``runs()``: context factors, then the arms' (``noise.``) factors."""
        names: dict[str, None] = {}
        for (factors,) in self.connection.execute("SELECT factors FROM runs WHERE current=1 ORDER BY rowid"):
            names.update(dict.fromkeys(json.loads(factors)))
        return sorted(names, key=lambda name: name.startswith("noise."))

    def records(self) -> pd.DataFrame:
        """One row per evaluation record, with its run's key, group, arm, label, seed and grid factors."""
        import pandas as pd

        frame = pd.read_sql_query(
            "SELECT run AS key, measure, metric, setting, value, ci_low, ci_high, n FROM records ORDER BY rowid",
            self.connection,
        )
        return frame.merge(self.runs().drop(columns=["message", "started", "finished"]), on="key")

    def metrics(self) -> pd.DataFrame:
        """One row per (run, epoch, metric) with the run's group, arm, label and seed."""
        import pandas as pd

        frame = pd.read_sql_query(
            "SELECT run AS key, epoch, name, value FROM metrics ORDER BY run, epoch, name", self.connection
        )
        return frame.merge(self.runs()[["key", "group", "arm", "label", "seed"]], on="key")

    def examples(self, measure: str, metric: str) -> dict[str, np.ndarray]:
        """``{run key: per-example values}`` of one record of the current plan's runs (correctness as bool, errors
        as float32); runs without such values are absent."""
        rows = self.connection.execute(
            "SELECT e.run, e.encoding, e.size, e.data FROM examples e JOIN runs r ON r.key = e.run "
            "WHERE r.current=1 AND e.measure=? AND e.metric=?",
            (measure, metric),
        ).fetchall()
        return {key: decode(encoding, size, data) for key, encoding, size, data in rows}

    def best_metrics(self, name: str) -> dict[str, float]:
        """``{run key: value of metric name at the run's best epoch}`` of the counted runs (of any plan)."""
        marks = ",".join("?" * len(COUNTED))
        rows = self.connection.execute(
            "SELECT r.key, m.value FROM runs r JOIN metrics m ON m.run = r.key AND m.name = ? "
            f"AND m.epoch = json_extract(r.summary, '$.best_epoch') WHERE r.status IN ({marks})",
            (name, *COUNTED),
        ).fetchall()
        return {key: value for key, value in rows if value is not None}

    def export(self, folder: str | Path, fmt: str = "csv") -> list[Path]:
        """Write the current plan's runs (with config, summary and environment as JSON), per-epoch metrics and
        records as ``csv`` or ``parquet`` files into ``folder``; return the paths."""
        if fmt not in ("csv", "parquet"):
            raise ConfigError(f"export format must be 'csv' or 'parquet', got {fmt!r}")
        if fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise ConfigError("parquet export needs pyarrow: pip install 'noisetrain[parquet]'") from None
        paths = []
        tables = (("runs", self.runs(details=True)), ("metrics", self.metrics()), ("records", self.records()))
        with folder_for(folder, "export output") as out:
            for name, frame in tables:
                path = out / f"{name}.{fmt}"
                data = frame.to_csv(index=False) if fmt == "csv" else _typed(frame).to_parquet(index=False)
                paths.append(write_atomic(path, data))
        return paths


def setting_key(setting: dict[str, Any]) -> str:
    """A record's setting as the JSON the store keys it by: sorted keys, floats to 12 significant digits, so that
    settings computed in slightly different ways (``8 / 255`` in two processes) are one setting."""

    def rounded(value: Any) -> Any:
        if isinstance(value, float) and math.isfinite(value):
            return float(f"{value:.12g}")
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return [rounded(v) for v in value] if isinstance(value, (list, tuple)) else value

    return json.dumps(rounded(setting), sort_keys=True)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each column of mixed value types (a grid axis of numbers and schedules) as text, which Parquet's
    one type per column needs; missing values stay missing."""
    mixed = [c for c in frame.columns if frame[c].dtype == object and frame[c].dropna().map(type).nunique() > 1]
    return frame.assign(**{c: frame[c].map(lambda v: v if v is None or v != v else str(v)) for c in mixed})


def encode(values: np.ndarray) -> tuple[str, int, bytes]:
    """``(encoding, size, bytes)`` of per-example values: booleans packed 8 to a byte, numbers as float32."""
    values = np.asarray(values)
    if values.dtype == bool:
        return "bits", len(values), np.packbits(values).tobytes()
    return "float32", len(values), values.astype("<f4").tobytes()


def decode(encoding: str, size: int, data: bytes) -> np.ndarray:
    """The per-example values ``encode`` stored."""
    if encoding == "bits":
        return np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=size).astype(bool)
    return np.frombuffer(data, dtype="<f4").copy()


def _number(value: Any) -> float | None:
    """A float for SQLite (NaN stays NaN, which SQLite stores as NULL), None for a missing value."""
    return None if value is None else float(value)
