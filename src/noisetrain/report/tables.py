"""The report's tables: the headline comparison with the baseline, mCE, run status, every record over seeds.

Statistics come from ``noisetrain.study.stats``: per group the mean, standard deviation and Student t
interval over seeds (``summarise``); per non-baseline group the difference to the baseline of its
context, paired by seed, with the paired t-test, the Wilcoxon signed-rank test, Holm's correction
across all compared groups of the study and Cohen's d_z (``compare``). The mean corruption error
follows Hendrycks & Dietterich 2019, "Benchmarking Neural Network Robustness to Common Corruptions
and Perturbations" (arXiv:1903.12261).

Example:
    >>> headline(load("studies/digits"))[["label", "mean", "diff", "t_p_holm"]]
"""

from __future__ import annotations

import logging

import pandas as pd

from ..study.config import BASELINE
from ..study.stats import COMPARISON_COLUMNS, compare, summarise
from ..study.store import STATUSES
from .data import StudyData, flag, is_baseline
from .formats import Columns, Table, readable

log = logging.getLogger(__name__)
PROBLEMS = ("diverged", "failed")
"""Statuses of the runs listed one by one, with their messages."""


def headline(data: StudyData) -> pd.DataFrame:
    """The headline metric per group: summary over seeds and the paired comparison with its context's baseline.

    Returns:
        One row per group with a counted run: ``label``, the context and arm factors, ``arm``, ``n``,
        ``mean``, ``std``, ``sem``, ``ci_low``, ``ci_high``, ``n_pairs``, ``diff`` (group - baseline) with
        ``diff_ci_low``/``diff_ci_high``, ``t_stat``, ``t_p``, ``wilcoxon_p``, ``t_p_holm``, ``wilcoxon_p_holm``,
        ``effect_size`` (d_z), ``significant``, ``seconds`` (mean per run), ``group``, ``context``, ``name``.
        Ordered by context, baseline first, then best mean first (``report.higher_is_better``).
    """
    report = data.config.report
    values = data.values()
    if len(values) and values["value"].isna().all():
        log.warning("no counted run has a %s %s record (see report: in the study config)", report.measure,
                    report.metric)  # fmt: skip
    summary = summarise(values, group="group", value="value", confidence=report.confidence)
    renamed = {"mean_diff": "diff", "ci_low": "diff_ci_low", "ci_high": "diff_ci_high"}
    comparison = _compare(values, report.confidence).rename(columns=renamed)
    seconds = values.groupby("group")["seconds"].mean().rename("seconds").reset_index()
    table = _groups(data).merge(summary, on="group").merge(comparison, on="group", how="left")
    table = table.merge(seconds, on="group")
    score = -table["mean"] if report.higher_is_better else table["mean"]
    table = _ordered(table, data, _rest=~is_baseline(table), _score=score, _label=table["label"])
    first = ["label", *data.context_factors, "arm", *data.arm_factors]
    last = ["seconds", "group", "context", "name"]
    return table[[*first, *(c for c in table.columns if c not in first and c not in last), *last]]


def record_summary(data: StudyData) -> pd.DataFrame:
    """Every record of the counted runs averaged over seeds, per group x measure x metric x setting.

    Returns:
        ``label``, the context factors, ``measure``, ``metric``, ``setting`` (JSON), ``n``, ``mean``, ``std``,
        ``sem``, ``ci_low``, ``ci_high``, ``group``; groups in grid order, records in the order measured.
    """
    records = data.records.assign(
        cell=lambda r: r["group"] + "\x1f" + r["measure"] + "\x1f" + r["metric"] + "\x1f" + r["setting"]
    )
    summary = summarise(records, group="cell", value="value", confidence=data.config.report.confidence)
    columns = ["label", *data.context_factors, "measure", "metric", "setting"]
    first = records.drop_duplicates("cell")[["cell", "context", "group", *columns]]
    table = _ordered(first.merge(summary, on="cell"), data)
    return table[[*columns, *summary.columns.drop("cell"), "group"]]


def corruption_errors(data: StudyData) -> pd.DataFrame | None:
    """Mean corruption error per group relative to its context's baseline, over seeds (None without records).

    Per run and corruption c, paired with the baseline run of the same context and seed:
    ``CE_c = sum_s (1 - acc(c, s)) / sum_s (1 - acc_baseline(c, s))`` over the severities s; ``mCE`` is the
    mean of CE_c over the common (not held-out) corruptions evaluated. The baseline's own mCE is 1.

    Returns:
        ``label``, the context factors, ``n`` (seeds), ``mce`` (mean over seeds), ``std``, ``sem``, ``ci_low``,
        ``ci_high``, ``group``; None when there are no corruption accuracies of baseline runs.
    """
    accuracy = data.select("corruptions", "accuracy")
    if accuracy.empty:
        return None
    held_out = flag(accuracy, "setting.held_out")
    common = accuracy[~held_out].assign(error=lambda a: 1 - a["value"])
    keys = ["context", "seed", "setting.corruption"]
    errors = common.groupby(["group", "arm", *keys], sort=False)["error"].sum().reset_index()
    reference = errors[is_baseline(errors)][[*keys, "error"]].rename(columns={"error": "reference"})
    if reference.empty:
        log.info("no mCE: the baseline runs have no accuracies under common corruptions")
        return None
    paired = errors.merge(reference, on=keys).assign(ce=lambda e: e["error"] / e["reference"])
    per_run = paired.groupby(["group", "seed"], sort=False)["ce"].mean().reset_index()
    summary = summarise(per_run, group="group", value="ce", confidence=data.config.report.confidence)
    table = _ordered(_groups(data).merge(summary.rename(columns={"mean": "mce"}), on="group"), data)
    return table[["label", *data.context_factors, "n", "mce", "std", "sem", "ci_low", "ci_high", "group"]]


def search_trials(data: StudyData, summary: pd.DataFrame) -> pd.DataFrame | None:
    """The trials of the study's strength search, each scored by validation, the best of each context selected.

    Returns:
        ``label``, the context factors, the searched factor, ``validation`` (the search metric at each run's best
        epoch, mean over seeds), the headline ``mean`` with its interval, ``selected`` (the best validation of
        its context; ties go to the smallest value), ``group``; sorted by context and value; None without a
        search or trials.
    """
    search = data.config.search
    runs = data.counted[data.counted["arm"] == search.arm] if search is not None else data.counted.iloc[:0]
    if search is None or runs.empty:
        return None
    epochs = runs.set_index("key")["best_epoch"]
    metrics = data.metrics[(data.metrics["metric"] == search.metric) & data.metrics["key"].isin(epochs.index)]
    best = metrics[metrics["epoch"] == metrics["key"].map(epochs)]
    validation = best.groupby("group", sort=False)["value"].mean().rename("validation").reset_index()
    factor = f"noise.{search.parameter}"
    columns = ["group", "mean", "ci_low", "ci_high"]
    table = _groups(data).merge(validation, on="group").merge(summary[columns], on="group")
    table = table.sort_values(["context", factor], kind="stable").reset_index(drop=True)
    scores = table.groupby("context", sort=False)["validation"]
    winners = scores.idxmax() if search.maximize else scores.idxmin()  # ties: the smallest value
    table["selected"] = table.index.isin(winners)
    first = ["label", *data.context_factors, factor, "validation"]
    return table[[*first, "mean", "ci_low", "ci_high", "selected", "group"]]


def status_counts(data: StudyData) -> pd.DataFrame:
    """Runs per group and status: ``label``, the context factors, ``runs``, one column per status present."""
    counts = pd.crosstab(data.runs["group"], data.runs["status"])
    statuses = [status for status in STATUSES if status in counts.columns]
    counts = counts[statuses].assign(runs=counts.sum(axis=1)).reset_index()
    table = _ordered(_groups(data).merge(counts, on="group"), data)
    return table[["label", *data.context_factors, "runs", *statuses, "group"]]


def problems(data: StudyData) -> pd.DataFrame:
    """The diverged and failed runs with their messages (left out of every average)."""
    runs = data.runs[data.runs["status"].isin(PROBLEMS)]
    return runs[["label", *data.context_factors, "seed", "status", "attempts", "message", "key"]].reset_index(drop=True)


def tables(data: StudyData, summary: pd.DataFrame) -> list[Table]:
    """Every table of the report, given the ``headline`` table ``summary``."""
    report, context = data.config.report, list(data.context_factors)
    level = f"{report.confidence:.0%}"
    metric = f"{report.measure} {report.metric}"
    headline_columns: Columns = {
        "label": "configuration", **{f: f for f in context}, "n": "n", "mean": "mean", "std": "std",
        ("ci_low", "ci_high"): f"{level} CI", "diff": "diff", ("diff_ci_low", "diff_ci_high"): f"diff {level} CI",
        "t_p": "t p", "wilcoxon_p": "Wilcoxon p", "t_p_holm": "t p (Holm)", "wilcoxon_p_holm": "Wilcoxon p (Holm)",
        "effect_size": "d_z", "significant": "significant",
    }  # fmt: skip
    note = (
        f"Mean, standard deviation (ddof 1) and Student t {level} interval over seeds of the completed and "
        "early-stopped runs (n counts them: diverged and failed runs are left out, which favours recipes that "
        "diverge more often; see the status table). "
        "diff: configuration minus the baseline of the same context, paired by seed, with its t interval; "
        "paired t-test and Wilcoxon signed-rank test, Holm-corrected across all compared configurations; "
        f"d_z: mean difference / sd of the differences (Cohen); significant: Holm-adjusted t p < "
        f"{1 - report.confidence:.2g}. {'Higher' if report.higher_is_better else 'Lower'} is better."
    )
    found = [
        Table("headline", f"{metric} per configuration", summary.drop(columns="name"),
              *readable(summary, headline_columns), note),
        Table("status", "Runs per configuration and status", *_shown(status_counts(data))),
    ]  # fmt: skip
    trials = search_trials(data, summary)
    if trials is not None:
        search = data.config.search
        assert search is not None
        caption = f"Search of {search.parameter} ({search.method}), selected by {search.metric}"
        note = (f"validation: {search.metric} at each run's best epoch, mean over seeds; mean: {metric}; the "
                "selected value has the best validation score of its context.")  # fmt: skip
        found.append(Table("search", caption, *_shown(trials), note))
    failed = problems(data)
    if len(failed):
        found.append(Table("problems", "Diverged and failed runs (not averaged)", *_shown(failed)))
    mce = corruption_errors(data)
    if mce is not None:
        note = "CE_c = sum over severities of errors / the baseline's (same context and seed); mCE = mean CE_c"
        columns: Columns = {"label": "configuration", **{f: f for f in context}, "n": "n", "mce": "mCE", "std": "std",
                            ("ci_low", "ci_high"): f"{level} CI"}  # fmt: skip
        found.append(Table("mce", "Mean corruption error (mCE) over the common corruptions", mce,
                           *readable(mce, columns), note + " over the common corruptions."))  # fmt: skip
    found.append(Table("records", "Every record, mean over seeds", record_summary(data)))
    return found


def _compare(values: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """``compare`` of every group with the baseline of its context: the baselines of all contexts become one group
    ``"baseline"`` and pairs are (context, seed), so a group pairs with its own context's baseline only and Holm's
    correction spans every compared group of the study."""
    base = is_baseline(values)
    if base.all() or not base.any():
        return pd.DataFrame(columns=["group", *COMPARISON_COLUMNS])
    paired = values.assign(
        group=values["group"].where(~base, BASELINE), pair=values["context"] + "\x1f" + values["seed"].astype(str)
    )
    return compare(paired, baseline=BASELINE, group="group", pair="pair", value="value", confidence=confidence)


def _groups(data: StudyData) -> pd.DataFrame:
    """One row per group (grid order): ``group``, ``label``, ``arm``, ``context``, ``name`` and the grid factors."""
    columns = ["group", "label", "arm", "context", "name", *data.context_factors, *data.arm_factors]
    return data.runs.drop_duplicates("group")[columns]


def _ordered(table: pd.DataFrame, data: StudyData, **keys: pd.Series) -> pd.DataFrame:
    """``table`` sorted by context and group in grid order, or by context then ``keys`` (sort columns, dropped)."""
    context = table["context"].map({c: i for i, c in enumerate(data.contexts)})
    group = table["group"].map(data.group_order)
    order = {"_context": context, **keys} if keys else {"_context": context, "_group": group}
    by = list(order)
    return table.assign(**order).sort_values(by, kind="stable").drop(columns=by).reset_index(drop=True)


def _shown(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The raw table and its formatted cells, without the group hash."""
    columns: Columns = {c: "configuration" if c == "label" else c for c in table.columns if c != "group"}
    return (table, *readable(table, columns))
