"""Comparisons with the baseline: the headline metric and every measure's key numbers, per configuration.

Per group: the mean over seeds with an interval, the paired difference to the baseline (same context,
same seed) with its interval and the sign-flip test, Holm-corrected across all compared groups of the
study (``noisetrain.study.stats.compare``), and the steady-state training cost relative to the
baseline. Where every run involved stored per-example values (clean accuracy, error, MAE, RMSE), the
intervals cover both Student t's over seeds and the paired hierarchical bootstrap's over seeds and test examples
(``noisetrain.study.bootstrap``); otherwise they are Student t's over seeds, cut to the metric's bounds.

Each measure's key numbers (``Measure.keys``) get the same comparison with Student t intervals over
seeds (``key_comparisons``), for the measure's table and the report's summary.

Example:
    >>> headline(load("studies/digits"))[["label", "mean", "diff", "p_holm", "cost"]]
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..evaluate.keys import metric
from ..study import bootstrap
from ..study.config import BASELINE
from ..study.stats import COMPARISON_COLUMNS, clip_interval, compare, summarise
from .data import StudyData, is_baseline

log = logging.getLogger(__name__)
BOOTSTRAP_SEED = 0
"""Seed of the report's resampling: the same store gives the same report."""


def headline(data: StudyData) -> pd.DataFrame:
    """The headline metric per group: summary over seeds, the paired comparison with its context's baseline, cost.

    Returns:
        One row per group with a counted run: ``label``, the context and arm factors, ``arm``, ``n``, ``mean``,
        ``std``, ``sem``, ``ci_low``, ``ci_high``, ``interval`` (``"bootstrap"`` or ``"t"``), ``diff`` (group -
        baseline) with ``diff_ci_low``/``diff_ci_high`` and the other ``COMPARISON_COLUMNS`` of ``compare`` (the
        sign-flip ``p``, ``p_holm``, ``min_p``, ``testable``, ``note``, ``significant``, ``underpowered``, the
        t-test and Wilcoxon columns, ``effect_size``, ``mdd``, ``seeds_needed``), ``epoch_seconds`` (steady-state
        seconds per epoch, mean over seeds), ``cost`` (that over the baseline's of the same context), ``group``,
        ``context``, ``name``. Ordered by context, baseline first, then best mean first.
    """
    report = data.config.report
    values = data.values()
    if len(values) and values["value"].isna().all():
        log.warning("no counted run has a %s %s record (see report: in the study config)", report.measure,
                    report.metric)  # fmt: skip
    bounds = metric(report.metric).bounds
    summary = summarise(values, group="group", value="value", confidence=report.confidence, bounds=bounds)
    comparison = compare_with_baseline(values, report.confidence, report.effect)
    cost = _cost(data)
    table = groups(data).merge(summary, on="group").merge(comparison, on="group", how="left")
    table = table.merge(cost, on="group", how="left").assign(interval="t")
    if data.examples:
        table = _bootstrap(table, values, data)
    score = -table["mean"] if report.higher else table["mean"]
    table = ordered(table, data, _rest=~is_baseline(table), _score=score, _label=table["label"])
    first = ["label", *data.context_factors, "arm", *data.arm_factors]
    last = ["epoch_seconds", "cost", "group", "context", "name"]
    return table[[*first, *(c for c in table.columns if c not in first and c not in last), *last]]


def compare_with_baseline(values: pd.DataFrame, confidence: float, effect: float | None = None) -> pd.DataFrame:
    """``compare`` of every group with the baseline of its context: the baselines of all contexts become one group
    ``"baseline"`` and pairs are (context, seed), so a group pairs with its own context's baseline only and Holm's
    correction spans every compared group of the study. The difference and its interval are named ``diff``,
    ``diff_ci_low`` and ``diff_ci_high``."""
    base = is_baseline(values)
    if base.all() or not base.any():
        found = pd.DataFrame(columns=["group", *COMPARISON_COLUMNS])
    else:
        paired = values.assign(
            group=values["group"].where(~base, BASELINE), pair=values["context"] + "\x1f" + values["seed"].astype(str)
        )
        found = compare(paired, baseline=BASELINE, group="group", pair="pair", value="value", confidence=confidence,
                        effect=effect)  # fmt: skip
    return found.rename(columns={"mean_diff": "diff", "ci_low": "diff_ci_low", "ci_high": "diff_ci_high"})


def key_comparisons(data: StudyData, measure: str) -> pd.DataFrame:
    """The key numbers of ``measure`` per group: mean over seeds with its t interval (cut to the metric's bounds)
    and the paired difference to the baseline of the context with its interval, sign-flip p and Holm-adjusted p
    (across the configurations, per key number).

    Returns:
        ``label``, ``context``, ``name``, ``arm``, ``number`` (e.g. ``"pgd eps=0.03"``), ``metric``, ``n``,
        ``mean``, ``ci_low``, ``ci_high``, ``diff``, ``diff_ci_low``, ``diff_ci_high``, ``p``, ``p_holm``,
        ``significant``, ``group``; groups in grid order, key numbers in the measure's order.
    """
    from ..evaluate import get_measure

    if ("key_comparisons", measure) in data.derived:
        return data.derived["key_comparisons", measure]
    confidence = data.config.report.confidence
    found = data.key_values(measure, get_measure(measure).keys)
    parts = []
    for number, rows in found.groupby("number", sort=False):
        name = rows["metric"].iloc[0]
        summary = summarise(rows, confidence=confidence, bounds=metric(name).bounds)
        paired = compare_with_baseline(rows, confidence)[["group", "diff", "diff_ci_low", "diff_ci_high", "p",
                                                          "p_holm", "significant"]]  # fmt: skip
        parts.append(summary.merge(paired, on="group", how="left").assign(number=number, metric=name))
    columns = ["label", "context", "name", "arm", "number", "metric", "n", "mean", "ci_low", "ci_high", "diff",
               "diff_ci_low", "diff_ci_high", "p", "p_holm", "significant", "group"]  # fmt: skip
    found = pd.DataFrame(columns=columns)
    if parts:
        table = groups(data).merge(pd.concat(parts, ignore_index=True), on="group")
        found = ordered(table, data, _group=table["group"].map(data.group_order))[columns]
    data.derived["key_comparisons", measure] = found
    return found


def _bootstrap(table: pd.DataFrame, values: pd.DataFrame, data: StudyData) -> pd.DataFrame:
    """``table`` with the intervals of the groups (and differences) whose runs all have per-example values widened
    to cover the paired hierarchical bootstrap's, and ``interval`` set to ``"bootstrap"`` there.

    The t interval over seeds stays the floor: the percentile bootstrap over a few seeds is too narrow (3 seeds
    with seed variance only: about 77% coverage for a nominal 95%, against the t interval's 95%), while the
    bootstrap adds the test examples' sampling that the t interval misses when the seeds share a test set."""
    report = data.config.report
    runs = values[values["value"].notna()]
    test_sets = dict(zip(data.runs["key"], data.runs["test_set"], strict=True))
    replicates = bootstrap.example_replicates(
        {k: data.examples[k] for k in runs["key"] if k in data.examples}, test_sets, report.metric, seed=BOOTSTRAP_SEED
    )
    bounds = metric(report.metric).bounds
    baselines = runs[is_baseline(runs)].set_index(["context", "seed"])["key"]
    table = table.copy()
    for index, row in table.iterrows():
        own = runs[runs["group"] == row["group"]]
        if own.empty or not own["key"].isin(replicates.keys()).all():
            continue
        seed = BOOTSTRAP_SEED + data.group_order[row["group"]]
        per_seed = np.stack([replicates[k] for k in own["key"]], axis=1)
        interval = bootstrap.percentile_interval(bootstrap.paired_means(per_seed, seed=seed), report.confidence)
        interval = clip_interval(union((row["ci_low"], row["ci_high"]), interval), bounds)
        table.loc[index, ["ci_low", "ci_high", "interval"]] = [*interval, "bootstrap"]
        if row["arm"] == BASELINE:
            continue
        pairs = [(k, baselines.get((c, s))) for k, c, s in zip(own["key"], own["context"], own["seed"], strict=True)]
        pairs = [(k, b) for k, b in pairs if b is not None and b in replicates]
        if len(pairs) == row["n_pairs"] and pairs:
            diffs = np.stack([replicates[k] - replicates[b] for k, b in pairs], axis=1)
            interval = bootstrap.percentile_interval(bootstrap.paired_means(diffs, seed=seed), report.confidence)
            table.loc[index, ["diff_ci_low", "diff_ci_high"]] = list(union((row["diff_ci_low"], row["diff_ci_high"]),
                                                                           interval))  # fmt: skip
    return table


def union(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """The smallest interval holding both (a NaN end, as of a t interval over one seed, is left out)."""
    return float(np.nanmin([a[0], b[0]])), float(np.nanmax([a[1], b[1]]))


def _cost(data: StudyData) -> pd.DataFrame:
    """``group``, ``epoch_seconds`` (steady-state seconds per epoch, mean over the counted runs) and ``cost`` (over
    the baseline's of the same context)."""
    runs = data.counted.merge(data.epoch_seconds(), left_on="key", right_index=True)
    per_group = runs.groupby(["group", "context", "arm"], sort=False)["epoch_seconds"].mean().reset_index()
    reference = per_group[is_baseline(per_group)].set_index("context")["epoch_seconds"]
    per_group["cost"] = per_group["epoch_seconds"] / per_group["context"].map(reference).astype(float)
    return per_group[["group", "epoch_seconds", "cost"]]


def groups(data: StudyData) -> pd.DataFrame:
    """One row per group (grid order): ``group``, ``label``, ``arm``, ``context``, ``name`` and the grid factors."""
    columns = ["group", "label", "arm", "context", "name", *data.context_factors, *data.arm_factors]
    return data.runs.drop_duplicates("group")[columns]


def ordered(table: pd.DataFrame, data: StudyData, **keys: pd.Series) -> pd.DataFrame:
    """``table`` sorted by context and group in grid order, or by context then ``keys`` (sort columns, dropped)."""
    context = table["context"].map({c: i for i, c in enumerate(data.contexts)})
    group = table["group"].map(data.group_order)
    order = {"_context": context, **keys} if keys else {"_context": context, "_group": group}
    by = list(order)
    return table.assign(**order).sort_values(by, kind="stable").drop(columns=by).reset_index(drop=True)
