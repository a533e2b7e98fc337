"""What a report reads from a study's store: runs with their context, and the results of the counted runs.

A study's runs differ by *context* factors (data, model, train: grid axes outside ``noise``) and by
*arm* factors (``noise.<kind>.<param>``). A group is compared only with the baseline of its own
context (the same context factor values), paired by seed. Only the counted runs (``completed`` and
``early_stopped``) enter the statistics; diverged and failed runs appear in the status tables only.

Example:
    >>> data = load("studies/digits")
    >>> data.values()       # the headline metric, one row per counted run
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..registry import ConfigError
from ..study.config import BASELINE, StudyConfig
from ..study.store import COUNTED, Store


@dataclass(frozen=True)
class StudyData:
    """A study as the report sees it.

    Args:
        config: the study config.
        runs: every run (``Store.runs()``) with ``context`` (e.g. ``"train.optimizer.lr=0.001"``, ``""``
            without context factors) and ``name`` (the label, with the context when there are several).
        records: the evaluation records of the counted runs, with the run columns, ``context`` and ``name``.
        metrics: the per-epoch metrics of the counted runs (``key``, ``epoch``, ``metric``, ``value``, the run
            columns, ``context`` and ``name``).
        context_factors: the grid factors outside ``noise``, in grid order.
        arm_factors: the ``noise.`` grid factors, in grid order.
    """

    config: StudyConfig
    runs: pd.DataFrame
    records: pd.DataFrame
    metrics: pd.DataFrame
    context_factors: tuple[str, ...]
    arm_factors: tuple[str, ...]

    @property
    def counted(self) -> pd.DataFrame:
        """The runs whose results count (completed or early stopped)."""
        return self.runs[self.runs["status"].isin(COUNTED)]

    @property
    def contexts(self) -> list[str]:
        """The contexts in grid order."""
        return list(dict.fromkeys(self.runs["context"]))

    @property
    def group_order(self) -> dict[str, int]:
        """``{group: its position in grid order}``."""
        return {group: i for i, group in enumerate(dict.fromkeys(self.runs["group"]))}

    def values(self) -> pd.DataFrame:
        """The headline value of every counted run: the record of ``report.measure`` and ``report.metric`` whose
        setting holds ``report.setting``; its run columns plus ``value`` (NaN where a run has no such record).

        A run with several such records (e.g. noise_sweep accuracy at every strength) is a ``ConfigError`` that
        lists their settings, so that ``report.setting`` can pick one.
        """
        report = self.config.report
        r = self.records
        chosen = r[(r["measure"] == report.measure) & (r["metric"] == report.metric)]
        holds = [_holds(json.loads(setting), report.setting) for setting in chosen["setting"]]
        if len(chosen) and not any(holds):
            settings = ", ".join(list(dict.fromkeys(chosen["setting"]))[:4])
            raise ConfigError(
                f"report.setting: {report.setting} matches none of the {report.measure} {report.metric} records "
                f"(settings {settings}, ...)"
            )
        chosen = chosen[pd.Series(holds, index=chosen.index, dtype=bool)]
        if chosen["key"].duplicated().any():
            settings = ", ".join(list(dict.fromkeys(chosen["setting"]))[:4])
            raise ConfigError(
                f"report.setting: {report.setting} matches several {report.measure} {report.metric} records per run "
                f"(settings {settings}, ...); give report.setting the keys that pick one"
            )
        found = chosen.set_index("key")["value"]
        return self.counted.assign(value=self.counted["key"].map(found).astype(float))

    def select(self, measure: str, metric: str) -> pd.DataFrame:
        """The records of one measure and metric with their settings as columns (``setting.<name>``)."""
        r = self.records[(self.records["measure"] == measure) & (self.records["metric"] == metric)]
        settings = pd.DataFrame([json.loads(s) for s in r["setting"]], index=r.index)
        return pd.concat([r, settings.add_prefix("setting.")], axis=1)


def load(folder: str | Path) -> StudyData:
    """Read the store ``<folder>/study.db`` of a study (``ConfigError`` when there is none)."""
    with Store.of(folder) as store:
        config, runs, records, metrics = store.study(), store.runs(), store.records(), store.metrics()
        factors = store.factors()
    context_factors = tuple(f for f in factors if not f.startswith("noise."))
    arm_factors = tuple(f for f in factors if f.startswith("noise."))
    runs = runs.assign(context=[_context(row, context_factors) for _, row in runs.iterrows()])
    runs["name"] = runs["label"] + (" [" + runs["context"] + "]" if runs["context"].nunique() > 1 else "")
    counted = runs.loc[runs["status"].isin(COUNTED), ["key", "context", "name"]]
    records = records.merge(counted, on="key").astype({"value": float})
    metrics = metrics.rename(columns={"name": "metric"}).merge(counted, on="key").astype({"value": float})
    return StudyData(config, runs, records, metrics, context_factors, arm_factors)


def _holds(setting: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Every key of ``wanted`` is in ``setting`` with the same value."""
    return all(key in setting and setting[key] == value for key, value in wanted.items())


def flag(frame: pd.DataFrame, column: str) -> pd.Series:
    """True where ``frame[column]`` is True; False where it is not, or where the column is absent (a setting
    flag that no record carries)."""
    return frame.get(column, pd.Series(False, index=frame.index)).eq(True)


def is_baseline(frame: pd.DataFrame) -> pd.Series:
    """True for the rows of baseline runs or groups."""
    return frame["arm"] == BASELINE


def _context(run: pd.Series, factors: tuple[str, ...]) -> str:
    return ", ".join(f"{factor}={run[factor]}" for factor in factors)
