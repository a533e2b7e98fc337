"""The report's tables: the headline (a narrow main table and the full statistics), each measure's key numbers,
mCE, the strength search, run status and problems, and every record over seeds (CSV).

Numbers are shown by kind (``noisetrain.evaluate.keys``): accuracies in % with 2 decimals, differences in
percentage points, p-values to 2 significant digits or ``< 0.001``; intervals on one line. The mean
corruption error follows Hendrycks & Dietterich 2019, "Benchmarking Neural Network Robustness to Common
Corruptions and Perturbations" (arXiv:1903.12261).

Example:
    >>> [table.name for table in tables(data, headline(data))]   # ['headline', 'statistics', 'status', ...]
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from ..evaluate.keys import metric, show, show_difference, show_with_interval
from ..study.stats import summarise
from ..study.store import STATUSES
from .comparisons import groups, key_comparisons, ordered
from .data import StudyData, flag, is_baseline
from .formats import Table, cell, p_value, shown, text_table

log = logging.getLogger(__name__)
PROBLEMS = ("diverged", "failed")
"""Statuses of the runs listed one by one, with their messages."""


def verdict(row: pd.Series, higher: bool) -> str:
    """What a comparison says: ``baseline``, ``better``/``worse`` (significant after Holm), ``n.s.`` (not
    significant; ``low power`` where the seeds could not have shown it: too few for any p to pass, or too little
    power for the chosen effect) or ``not testable``."""
    if row["arm"] == "baseline":
        return "baseline"
    if not row.get("testable", False) or pd.isna(row.get("testable")):
        return "not testable"
    if row["significant"]:
        return "better" if (row["diff"] > 0) == higher else "worse"
    return "n.s., low power" if row["underpowered"] else "n.s."


def headline_tables(data: StudyData, summary: pd.DataFrame) -> list[Table]:
    """The narrow main table (fits a paper column) and the full statistics of the headline comparison."""
    report = data.config.report
    name, level = report.metric, f"{report.confidence:.0%}"
    contexts = ["context"] if len(data.contexts) > 1 else []
    main = {
        "configuration": "label", **{c: c for c in contexts}, "n": lambda r: cell(r["n"]), **_compared(data),
        "verdict": lambda r: verdict(r, report.higher), **_times("time/epoch", summary),
    }  # fmt: skip
    alpha = f"{1 - report.confidence:.2g}"
    timing = (
        "time/epoch: steady-state training time per epoch (median over epochs after the first) over the baseline's; "
        "blank" if "time/epoch" in main else "No time/epoch column"
    )
    note = (
        f"Mean over seeds of the completed and early-stopped runs (n counts them; diverged and failed runs are left "
        f"out, which favours recipes that diverge more often: see the status table) with its {level} interval, and "
        f"the difference to the baseline of the same context, paired by seed. Intervals cover "
        f"{data.variance_sources}. p: exact sign-flip permutation test of the paired differences, Holm-corrected "
        f"across all compared configurations; better/worse: Holm-adjusted p < {alpha}; n.s.: not significant "
        f"(low power: too few seeds for any p to pass Holm's correction, or under 80% power for report.effect; see "
        f"the statistics table). "
        f"{timing} where a configuration or its baseline trained stacked with other runs (execution.batch: auto), "
        f"whose epoch times are shares of the stack's: execution.batch: off measures them. "
        f"{'Higher' if report.higher else 'Lower'} is better."
    )
    statistics = {
        "configuration": "label", **{c: c for c in contexts}, "pairs": lambda r: cell(r["n_pairs"]),
        "p": lambda r: p_value(r["p"]), "smallest p": lambda r: p_value(r["min_p"]),
        "p (Holm)": lambda r: p_value(r["p_holm"]), "t p": lambda r: p_value(r["t_p"]),
        "t p (Holm)": lambda r: p_value(r["t_p_holm"]), "Wilcoxon p": lambda r: p_value(r["wilcoxon_p"]),
        "Wilcoxon p (Holm)": lambda r: p_value(r["wilcoxon_p_holm"]),
        "d_z": lambda r: "" if pd.isna(r["effect_size"]) else f"{r['effect_size']:.2f}",
        "detectable Δ": lambda r: show_difference(name, r["mdd"]) if pd.notna(r["mdd"]) else "none",
        "seeds needed": lambda r: cell(int(r["seeds_needed"])) if pd.notna(r["seeds_needed"]) else "",
        "interval": "interval",
        "s/epoch": lambda r: f"{r['epoch_seconds']:.3g}" if pd.notna(r["epoch_seconds"]) else "",
        "note": lambda r: cell(r["note"]),
    }  # fmt: skip
    effect = f"{show_difference(name, report.effect)}" if report.effect else "the observed difference"
    details = (
        f"p: exact sign-flip permutation test (all 2^n sign patterns up to 16 pairs); smallest p: the smallest p it "
        f"can give with these pairs (2/2^n). t-test and Wilcoxon signed-rank test for comparison, each Holm-corrected. "
        f"d_z: mean difference / sd of the differences. detectable Δ: the smallest difference the seeds detect with "
        f"80% power at the observed spread (paired t power) at Holm's first level (the level over the number of "
        f"comparisons), none where no difference can be detected (too few pairs for that level, or differences that "
        f"do not vary); seeds needed: for 80% power at that level to detect {effect}. "
        f"interval: bootstrap (seeds and test examples) or t (seeds only, cut to the metric's bounds)."
    )
    compared = summary[~is_baseline(summary) & summary["n_pairs"].notna()]
    if compared["note"].map(cell).eq("").all():  # no comparison has a note: no empty column
        del statistics["note"]
    found = [text_table("headline", f"{report.measure} {name} per configuration", summary.drop(columns="name"), main,
                        note, left=1 + len(contexts))]  # fmt: skip
    if len(compared):
        found.append(text_table("statistics", f"Statistics of the comparisons with the baseline ({report.measure} "
                                f"{name})", compared.drop(columns="name"), statistics, details,
                                left=1 + len(contexts)))  # fmt: skip
    return found


def brief(data: StudyData, summary: pd.DataFrame) -> Table:
    """The headline for an 80-column terminal: configuration, mean, difference (in the metric's unit: percentage
    points for an accuracy) with its interval, p (Holm), verdict and time per epoch."""
    report = data.config.report
    name, level = report.metric, f"{report.confidence:.0%}"
    unit = " pt" if metric(name).percent else ""
    columns = {
        "configuration": "name", name: lambda r: show(name, r["mean"]),
        f"Δ{unit} ({level} CI)": lambda r: difference(name, r).replace(" pt", ""),
        "p (Holm)": lambda r: p_value(r["p_holm"]), "verdict": lambda r: verdict(r, report.higher),
        **_times("time", summary),
    }  # fmt: skip
    return text_table("brief", f"{report.measure} {name} per configuration", summary, columns)


def _times(column: str, summary: pd.DataFrame) -> dict[str, Any]:
    """The column of time per epoch over the baseline's, unless no configuration has one (every run stacked)."""
    return {column: lambda r: _ratio(r["cost"])} if summary["cost"].notna().any() else {}


DEFINITIONS = {
    "noise_sweep": " AUC: the area under accuracy against noise strength (trapezoids) divided by the strengths' range, "
                   "the mean accuracy over that range.",
    "calibration": " ECE: expected calibration error over equal-width confidence bins (adaptive: equal-mass bins); "
                   "TS: temperature scaling (Guo et al. 2017) by T, fitted on the validation split (T > 1: the model "
                   "was overconfident).",
}  # fmt: skip
"""What a measure table's column names abbreviate, added to its note."""


def measure_table(data: StudyData, measure: str) -> Table | None:
    """The key numbers of ``measure`` per configuration (mean and t interval over seeds); for corruptions with a
    baseline also the mCE. None when the measure recorded no key numbers."""
    numbers = key_comparisons(data, measure)
    mce = corruption_errors(data) if measure == "corruptions" else None
    if numbers.empty and mce is None:
        return None
    level = f"{data.config.report.confidence:.0%}"
    present = set(numbers["group"]) | (set(mce["group"]) if mce is not None else set())
    rows = ordered(groups(data)[lambda g: g["group"].isin(present)], data)
    by_cell = numbers.set_index(["group", "number"])
    columns = {"configuration": "name"}
    for number in dict.fromkeys(numbers["number"]):
        columns[number] = lambda r, n=number: _key_cell(by_cell, r["group"], n)
    if mce is not None:
        rows = rows.merge(mce[["group", "mce", "ci_low", "ci_high"]], on="group", how="left")
        columns["mCE"] = lambda r: show_with_interval("mce", r["mce"], r["ci_low"], r["ci_high"])
    note = (f"Mean over seeds with its {level} Student t interval (cut to the metric's bounds; it covers the seeds "
            f"only, unlike the headline's; none where the seeds agree or there is one). The differences to the "
            f"baseline, with their intervals and tests, are in {measure}.csv.")  # fmt: skip
    if mce is not None:
        note += (" mCE: CE_c = sum over severities of errors / the baseline's (same context and seed), averaged over "
                 "the common corruptions (Hendrycks & Dietterich 2019).")  # fmt: skip
    note += DEFINITIONS.get(measure, "")
    title = f"{measure}: key numbers per configuration"
    mce_rows = mce.rename(columns={"mce": "mean"}).assign(number="mCE", metric="mce") if mce is not None else None
    raw = pd.concat([numbers, mce_rows], ignore_index=True) if mce_rows is not None else numbers
    return Table(measure, title, raw, shown(rows, columns), "l" + "r" * (len(columns) - 1), note)


def record_summary(data: StudyData) -> pd.DataFrame:
    """Every record of the counted runs averaged over seeds, per group x measure x metric x setting, with the t
    interval cut to the metric's bounds.

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
    table = ordered(first.merge(summary, on="cell"), data)
    bounds = table["metric"].map(lambda name: metric(name).bounds)  # each record's metric's: cut the intervals
    table["ci_low"] = table["ci_low"].clip(lower=bounds.str[0])
    table["ci_high"] = table["ci_high"].clip(upper=bounds.str[1])
    return table[[*columns, *summary.columns.drop("cell"), "group"]]


def corruption_errors(data: StudyData) -> pd.DataFrame | None:
    """Mean corruption error per group relative to its context's baseline, over seeds (None without records).

    Per run and corruption c, paired with the baseline run of the same context and seed (and the same variant of
    the corruption, e.g. frost from photos or a texture):
    ``CE_c = sum_s (1 - acc(c, s)) / sum_s (1 - acc_baseline(c, s))`` over the severities s; ``mCE`` is the
    mean of CE_c over the common (not held-out) corruptions evaluated. The baseline's own mCE is 1.

    Returns:
        ``label``, the context factors, ``n`` (seeds), ``mce`` (mean over seeds), ``std``, ``sem``, ``ci_low``,
        ``ci_high`` (cut at 0), ``group``; None when there are no corruption accuracies of baseline runs.
    """
    accuracy = data.select("corruptions", "accuracy")
    if accuracy.empty:
        return None
    held_out = flag(accuracy, "setting.held_out")
    common = accuracy[~held_out].assign(error=lambda a: 1 - a["value"])
    variant = [column for column in ("setting.frost",) if column in common]  # photos and texture never pair
    keys = ["context", "seed", "setting.corruption", *variant]
    errors = common.groupby(["group", "arm", *keys], sort=False, dropna=False)["error"].sum().reset_index()
    reference = errors[is_baseline(errors)][[*keys, "error"]].rename(columns={"error": "reference"})
    if reference.empty:
        log.info("no mCE: the baseline runs have no accuracies under common corruptions")
        return None
    paired = errors.merge(reference, on=keys)
    paired = paired.assign(ce=(paired["error"] / paired["reference"]).where(paired["reference"] > 0))
    per_run = paired.groupby(["group", "seed"], sort=False)["ce"].mean().reset_index()
    confidence = data.config.report.confidence
    summary = summarise(per_run, group="group", value="ce", confidence=confidence, bounds=metric("mce").bounds)
    table = ordered(groups(data).merge(summary.rename(columns={"mean": "mce"}), on="group"), data)
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
    factor = f"noise.{search.parameter}"
    columns = ["group", "mean", "ci_low", "ci_high"]
    table = groups(data).merge(validation_scores(data, runs, search.metric), on="group")
    table = table.merge(summary[columns], on="group").sort_values(["context", factor], kind="stable")
    table = table.reset_index(drop=True)
    scores = table.groupby("context", sort=False)["validation"]
    winners = scores.idxmax() if search.maximize else scores.idxmin()  # ties: the smallest value
    table["selected"] = table.index.isin(winners)
    first = ["label", *data.context_factors, factor, "validation"]
    return table[[*first, "mean", "ci_low", "ci_high", "selected", "group"]]


def validation_scores(data: StudyData, runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``group`` and ``validation``: ``metric`` at each run's best epoch, mean over the group's ``runs``."""
    epochs = runs.set_index("key")["best_epoch"]
    metrics = data.metrics[(data.metrics["metric"] == metric) & data.metrics["key"].isin(epochs.index)]
    best = metrics[metrics["epoch"] == metrics["key"].map(epochs)]
    return best.groupby("group", sort=False)["value"].mean().rename("validation").reset_index()


def validation_metric(data: StudyData) -> str:
    """The score configurations are chosen by: validation accuracy, else validation loss."""
    return "val_accuracy" if "val_accuracy" in set(data.metrics["metric"]) else "val_loss"


def best_by_validation(data: StudyData, rows: pd.DataFrame) -> pd.Series | None:
    """Of the headline ``rows``, the one with the best validation score (``validation_metric`` at each run's best
    epoch, mean over seeds; the test set not looked at), with that score as ``validation``; None when no run of
    ``rows`` was validated."""
    score = validation_metric(data)
    scores = validation_scores(data, data.counted[data.counted["group"].isin(rows["group"])], score)
    scored = rows.merge(scores, on="group")
    if scored.empty:
        return None
    return scored.loc[scored["validation"].idxmax() if score == "val_accuracy" else scored["validation"].idxmin()]


def selected_by_validation(data: StudyData, summary: pd.DataFrame) -> tuple[pd.DataFrame, str] | None:
    """Per context, each arm's best configuration by validation (validation accuracy, else loss, at each run's
    best epoch, mean over seeds): the honest choice of an arm's strength or position, since the test set is not
    looked at; with its headline mean and difference to the baseline.

    Returns:
        The table (``label``, the context factors, ``arm``, ``validation``, ``mean``, ``ci_low``, ``ci_high``,
        ``diff``, ``diff_ci_low``, ``diff_ci_high``, ``p_holm``, ``context``, ``group``) and the validation
        metric; None when no arm has two configurations or nothing was validated.
    """
    score = validation_metric(data)
    found = groups(data)
    arms = found[~is_baseline(found)]
    arms = arms[arms.groupby(["context", "arm"])["group"].transform("size") > 1]
    if arms.empty:
        return None
    scores = validation_scores(data, data.counted[data.counted["group"].isin(arms["group"])], score)
    columns = ["group", "mean", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high", "p_holm"]
    table = arms.merge(scores, on="group").merge(summary[columns], on="group")
    if table.empty:  # no run of those arms was validated (no validation split)
        return None
    best = table.groupby(["context", "arm"], sort=False)["validation"]
    table = ordered(table.loc[best.idxmax() if score == "val_accuracy" else best.idxmin()], data)
    first = ["label", *data.context_factors, "arm", "validation"]
    return table[[*first, *columns[1:], "context", "group"]], score


def selection_table(data: StudyData, chosen: pd.DataFrame, score: str) -> Table:
    """The ``selected_by_validation`` table in text: each arm's chosen configuration, its validation score, and
    its headline mean and difference to the baseline with their intervals."""
    contexts = ["context"] if len(data.contexts) > 1 else []
    columns = {
        "arm": "arm", "selected": "label", **{c: c for c in contexts},
        f"validation {score.removeprefix('val_')}": lambda r: show(score.removeprefix("val_"), r["validation"]),
        **_compared(data),
    }  # fmt: skip
    note = (f"Each arm's configuration with the best validation score of its context ({score} at each run's best "
            f"epoch, mean over seeds), chosen without looking at the test set; its test {data.config.report.metric} "
            "and difference to the baseline as in the headline table (Holm over all configurations).")  # fmt: skip
    return text_table("selection", "Each arm's configuration selected by validation", chosen, columns, note,
                      left=2 + len(contexts))  # fmt: skip


def status_counts(data: StudyData) -> pd.DataFrame:
    """Runs per group and status: ``label``, the context factors, ``runs``, one column per status present."""
    counts = pd.crosstab(data.runs["group"], data.runs["status"])
    statuses = [status for status in STATUSES if status in counts.columns]
    counts = counts[statuses].assign(runs=counts.sum(axis=1)).reset_index()
    table = ordered(groups(data).merge(counts, on="group"), data)
    return table[["label", *data.context_factors, "runs", *statuses, "group"]]


def problems(data: StudyData) -> pd.DataFrame:
    """The diverged and failed runs with their messages (left out of every average)."""
    runs = data.runs[data.runs["status"].isin(PROBLEMS)]
    return runs[["label", *data.context_factors, "seed", "status", "attempts", "message", "key"]].reset_index(drop=True)


def tables(data: StudyData, summary: pd.DataFrame) -> list[Table]:
    """Every table of the report, given the ``headline`` table ``summary``: the headline and its statistics, one
    table per evaluated measure, then search, status, problems and the per-record CSV."""
    from ..evaluate import MEASURES

    found = headline_tables(data, summary)
    for measure in dict.fromkeys(data.records["measure"]):
        table = measure_table(data, measure) if measure in MEASURES else None
        if table is not None:
            found.append(table)
    trials = search_trials(data, summary)
    if trials is not None:
        search = data.config.search
        assert search is not None
        caption = f"Search of {search.parameter} ({search.method}), selected by {search.metric}"
        note = (f"validation: {search.metric} at each run's best epoch, mean over seeds; mean: the headline metric; "
                "the selected value has the best validation score of its context.")  # fmt: skip
        found.append(Table("search", caption, *_raw_table(trials), note))
    selection = selected_by_validation(data, summary)
    if selection is not None:
        found.append(selection_table(data, *selection))
    found.append(Table("status", "Runs per configuration and status", *_raw_table(status_counts(data))))
    failed = problems(data)
    if len(failed):
        found.append(Table("problems", "Diverged and failed runs (not averaged)", *_raw_table(failed)))
    found.append(Table("records", "Every record, mean over seeds", record_summary(data)))
    return found


def _compared(data: StudyData) -> dict[str, Callable[[pd.Series], str]]:
    """The cells of a configuration against the baseline, as the headline shows them: the headline metric with its
    interval, the difference with its interval and the Holm-adjusted p."""
    report = data.config.report
    name, level = report.metric, f"{report.confidence:.0%}"
    return {
        f"{report.measure} {name} ({level} CI)": lambda r: show_with_interval(name, r["mean"], r["ci_low"],
                                                                                r["ci_high"]),
        f"Δ vs baseline ({level} CI)": lambda r: difference(name, r),
        "p (Holm)": lambda r: p_value(r["p_holm"]),
    }  # fmt: skip


def difference(name: str, row: pd.Series) -> str:
    """The difference to the baseline in ``row`` with its interval (empty for the baseline's own row)."""
    return show_with_interval(name, row["diff"], row["diff_ci_low"], row["diff_ci_high"], difference=True)


def _ratio(value: float) -> str:
    """A cost ratio: ``1.05×``; empty where unknown."""
    return f"{value:.2f}×" if pd.notna(value) else ""


def _key_cell(numbers: pd.DataFrame, group: str, number: str) -> str:
    if (group, number) not in numbers.index:
        return ""
    row = numbers.loc[(group, number)]
    if pd.isna(row["mean"]):  # measured, but not computable (a radius beyond reach): said, not left blank
        return show(row["metric"], row["mean"])
    return show_with_interval(row["metric"], row["mean"], row["ci_low"], row["ci_high"])


def _raw(table: pd.DataFrame) -> dict[str, str]:
    """Every column but the group hash, under its own name (``label`` as ``configuration``)."""
    return {"configuration" if c == "label" else c: c for c in table.columns if c != "group"}


def _raw_table(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The table, its cells and their alignment: numeric columns right, text left."""
    columns = _raw(table)
    align = "".join("r" if _is_number(table[c]) else "l" for c in columns.values())
    return table, shown(table, columns), align


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
