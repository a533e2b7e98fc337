"""What a report reads from a study's store: runs with their context, and the results of the counted runs.

A study's runs differ by *context* factors (data, model, train: grid axes outside ``noise``) and by
*arm* factors (``noise.<kind>.<param>``). A group is compared only with the baseline of its own
context (the same context factor values), paired by seed. Only the counted runs (``completed`` and
``early_stopped``) enter the statistics; diverged and failed runs appear in the status tables only.
Each configuration (label) keeps one colour in every figure: its arm's colour, lighter for the arm's
weaker settings, and dark grey for the baseline.

Example:
    >>> data = load("studies/digits")
    >>> data.values()       # the headline metric, one row per counted run
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import to_hex, to_rgb

from ..config import RUN_SEED
from ..data import held_out_spec
from ..evaluate.keys import Key, key_records
from ..registry import ConfigError
from ..study import bootstrap
from ..study.config import BASELINE, StudyConfig
from ..study.grid import describe
from ..study.runner import driver_running
from ..study.store import COUNTED, Store

BASELINE_COLOUR = "#333333"
ARM_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
"""matplotlib's tab10 without its grey (the baseline's)."""
LIGHTEST = 0.55
"""How far towards white an arm's first (weakest) configuration is mixed, when the arm has several."""


@dataclass(frozen=True)
class StudyData:
    """A study as the report sees it.

    Args:
        config: the study config.
        runs: every run (``Store.runs()``) with ``context`` (e.g. ``"lr=0.001"``, ``""`` without context
            factors), ``name`` (the label, with the context when there are several), ``test_set`` (the
            identity of its test split: its resolved data spec) and ``stacked`` (trained as a member of a batched
            model, ``noisetrain.train.batched``: its epoch times are shares of the stack's).
        records: the evaluation records of the counted runs, with the run columns, ``context`` and ``name``.
        metrics: the per-epoch metrics of the counted runs (``key``, ``epoch``, ``metric``, ``value``, the run
            columns, ``context`` and ``name``).
        context_factors: the grid factors outside ``noise``, in grid order.
        arm_factors: the ``noise.`` grid factors, in grid order.
        examples: per-example test values of the headline metric (``bootstrap.source``), by run key; empty when
            the metric has none or the runs did not store them.
    """

    config: StudyConfig
    runs: pd.DataFrame
    records: pd.DataFrame
    metrics: pd.DataFrame
    context_factors: tuple[str, ...]
    arm_factors: tuple[str, ...]
    examples: dict[str, np.ndarray] = field(default_factory=dict)
    derived: dict[tuple[str, str], Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Results computed from this data once and read by several tables and figures (e.g. each measure's key
    numbers); a copy with ``dataclasses.replace`` starts empty."""

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

    @property
    def colours(self) -> dict[str, str]:
        """``{label: colour}``: one colour per configuration in every figure (an arm's configurations share its
        hue, lighter for the ones listed first; the baseline dark grey)."""
        found: dict[str, str] = {}
        labels = self.runs.drop_duplicates("label")
        arms = [arm for arm in dict.fromkeys(labels["arm"]) if arm != BASELINE]
        for arm, rows in labels.groupby("arm", sort=False):
            if arm == BASELINE:
                found.update(dict.fromkeys(rows["label"], BASELINE_COLOUR))
                continue
            hue = np.array(to_rgb(ARM_COLOURS[arms.index(arm) % len(ARM_COLOURS)]))
            steps = np.linspace(LIGHTEST, 0.0, len(rows)) if len(rows) > 1 else np.zeros(1)
            found.update({label: to_hex(hue + (1 - hue) * s) for label, s in zip(rows["label"], steps, strict=True)})
        return found

    @property
    def variance_sources(self) -> str:
        """Which sources of variance the headline intervals cover, in words."""
        seeds = "the seeds (initialisation, data order, noise"
        seeds += ", and the data split and test set: data.seed is run)" if self.replicates_data else ")"
        return seeds + (" and the test examples (hierarchical bootstrap)" if self.examples else "")

    @property
    def replicates_data(self) -> bool:
        """Whether the data draw follows the run seed (``data.seed: run``)."""
        return self.config.data.get("seed") == RUN_SEED

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
        return with_settings(self.records[(self.records["measure"] == measure) & (self.records["metric"] == metric)])

    def key_values(self, measure: str, keys: tuple[Key, ...]) -> pd.DataFrame:
        """The records of ``measure`` that are key numbers, with ``number``: the key number's name (e.g.
        ``"pgd eps=0.03"``); key numbers in the order of ``keys``, then of the records."""
        r = self.records[self.records["measure"] == measure].reset_index(drop=True)
        pairs = zip(r["metric"], r["setting"], strict=True)
        rows = [SimpleNamespace(metric=m, setting=json.loads(s), at=i) for i, (m, s) in enumerate(pairs)]
        found = key_records(keys, rows)  # the rule that names the command line's key numbers too
        return r.iloc[[row.at for _, row in found]].assign(number=[name for name, _ in found]).reset_index(drop=True)

    def epoch_seconds(self) -> pd.Series:
        """Steady-state training time of each counted run trained alone: the median seconds per epoch over its
        epochs after the first (which includes start-up work: data to the device, first allocations), or its only
        epoch. A stacked run has none: its epoch times are shares of a stack of other configurations' runs."""
        alone = self.runs.loc[~self.runs["stacked"], "key"]
        seconds = self.metrics[(self.metrics["metric"] == "seconds") & self.metrics["key"].isin(alone)]
        later = seconds[seconds["epoch"] > 1]
        steady = later.groupby("key")["value"].median()
        return steady.combine_first(seconds.groupby("key")["value"].median()).rename("epoch_seconds")


def load(folder: str | Path, store: Store | None = None) -> StudyData:
    """Read the store ``<folder>/study.db`` of a study (``ConfigError`` when there is none), or ``store``: that
    folder's store as the caller opened it (e.g. read-only), left open."""
    with Store.of(folder) if store is None else nullcontext(store) as store:
        config, runs, records, metrics = store.study(), store.runs(details=True), store.records(), store.metrics()
        factors = store.factors()
        metric = config.report.metric
        useful = config.report.measure == "clean" and bootstrap.supported(metric)
        examples = store.examples("clean", bootstrap.source(metric)) if useful else {}
    context_factors = tuple(f for f in factors if not f.startswith("noise."))
    arm_factors = tuple(f for f in factors if f.startswith("noise."))
    grid = [json.loads(f) for f in runs["factors"]]
    runs = runs.assign(
        context=[describe({f: point[f] for f in context_factors if f in point}) for point in grid],
        test_set=[_test_set(json.loads(c)) for c in runs["config"]],
        stacked=[isinstance(e, str) and json.loads(e).get("batched", 0) > 1 for e in runs["environment"]],
    ).drop(columns=["factors", "summary", "config", "environment"])
    if not driver_running(folder):  # a run marked running whose driver is gone will not finish: interrupted
        runs["status"] = runs["status"].replace("running", "interrupted")
    runs["name"] = runs["label"] + (" [" + runs["context"] + "]" if runs["context"].nunique() > 1 else "")
    counted = runs.loc[runs["status"].isin(COUNTED), ["key", "context", "name"]]
    records = records.merge(counted, on="key").astype({"value": float})
    metrics = metrics.rename(columns={"name": "metric"}).merge(counted, on="key").astype({"value": float})
    kept = {key: values for key, values in examples.items() if key in set(counted["key"])}
    return StudyData(config, runs, records, metrics, context_factors, arm_factors, kept)


def _test_set(config: dict[str, Any]) -> str:
    """The identity of a run's test split: the part of its data spec that decides it, ``seed: run`` resolved."""
    data = config["data"]
    if data.get("seed") == RUN_SEED:
        data = {**data, "seed": config["seed"]}
    return json.dumps(held_out_spec(data), sort_keys=True)


def with_settings(records: pd.DataFrame) -> pd.DataFrame:
    """``records`` with their settings as columns (``setting.<name>``)."""
    settings = pd.DataFrame([json.loads(s) for s in records["setting"]], index=records.index)
    return pd.concat([records, settings.add_prefix("setting.")], axis=1)


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
