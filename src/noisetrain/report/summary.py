"""The study's answer in words, written from the numbers: the best configuration, which differences are real,
what they cost, what they do to every other evaluated measure, and what limits the conclusions.

Each finding is a sentence with the configurations' names between ``**`` (bold in Markdown, HTML and the
terminal). Nothing is called significant that the sign-flip test with Holm's correction does not support,
and a comparison that cannot be tested says why.

Example:
    >>> for finding in findings(data, headline(data)): print(finding.text)
    Best: **gaussian std=0.3**, clean accuracy 97.86% [97.20, 98.52] against the baseline's 96.94% ...
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pandas as pd

from ..config import RUN_SEED
from ..evaluate.keys import metric, show, show_difference, show_with_interval
from ..study.stats import fewest_seeds, holm_floor_note, min_p
from ..text import counted
from .comparisons import key_comparisons
from .data import StudyData, is_baseline
from .formats import p_value
from .tables import best_by_validation, difference, validation_metric

BOLD = re.compile(r"\*\*(.+?)\*\*")
"""The marks around a configuration's name in a finding (bold in Markdown; the page and the terminal convert them)."""
SHOWN_EFFECTS = 3
"""Configurations whose effects on the other measures the summary spells out (the best, then significant ones)."""


@dataclass(frozen=True)
class Finding:
    """One sentence of the summary: ``kind`` is ``best``, ``real``, ``cost``, ``effects``, ``warning`` or
    ``intervals``."""

    kind: str
    text: str


def findings(data: StudyData, headline: pd.DataFrame) -> list[Finding]:
    """The summary of a study, per context, then the warnings that hold for the whole study."""
    found: list[Finding] = []
    several = len(data.contexts) > 1
    for context in data.contexts:
        rows = headline[headline["context"] == context]
        prefix = f"With {context}: " if several and context else ""
        found += [Finding(kind, prefix + text) for kind, text in _context_findings(data, rows)]
    found += _warnings(data, headline)
    level = f"{data.config.report.confidence:.0%}"
    text = f"Intervals are {level} intervals covering {data.variance_sources}"
    if data.examples:  # the other measures keep no per-example values
        text = (f"Intervals are {level} intervals: the headline table's (and the best's above) cover "
                f"{data.variance_sources}, the other tables' and numbers' the seeds alone (t over seeds, narrower)")
    tested = int(headline["testable"].eq(True).sum())
    if tested > 1:  # Holm's correction is the verdicts', not the intervals'
        text += (f"; unlike the verdicts (Holm's correction over {tested} comparisons), they are not corrected for "
                 "the number of comparisons, so a difference's interval can exclude 0 without a significant verdict")
    found.append(Finding("intervals", text + "."))
    return found


def _context_findings(data: StudyData, rows: pd.DataFrame) -> list[tuple[str, str]]:
    report = data.config.report
    name = report.metric
    what = f"{report.measure} {name}"
    base = rows[is_baseline(rows) & rows["mean"].notna()]
    compared = rows[~is_baseline(rows) & rows["mean"].notna()]
    if compared.empty:
        return [("best", f"No noise configuration has a {what} to compare.")]
    top = compared.iloc[0]  # the headline table lists the highest test score first
    validated = best_by_validation(data, compared)
    best = top if validated is None else validated
    label, value = f"**{best['label']}**", f"{what} {_value(name, best)}"
    if validated is None:
        how = "by its test score (no run was validated, which flatters it)"
    else:
        how, score = "by validation", validation_metric(data).removeprefix("val_")
        label += f" (validation {score} {show(score, validated['validation'])})"
    aside = (f" **{top['label']}** has the highest test score ({show(name, top['mean'])}), but choosing by the test "
             "set flatters the choice." if top["group"] != best["group"] else "")  # fmt: skip
    if base.empty:
        return [("best", f"Best {how}: {label}, {value} (there is no baseline to compare with).{aside}")]
    baseline = base.iloc[0]
    beats = compared["diff"].ne(0) & ((compared["diff"] > 0) == report.higher)
    if beats[compared["group"] == best["group"]].any():
        lead = f"Best {how}: {label}, {value}"
    elif beats.any():
        lead = f"The best {how}, {label}, does not beat it: {value}"
    else:
        lead = f"No configuration beats the baseline; the best {how}, {label}, does not beat it: {value}"
    found = [("best", f"{lead} against the baseline's {_value(name, baseline)}: {difference(name, best)}, "
                      f"{_test(best)}.{aside}")]  # fmt: skip
    significant = compared[compared["significant"].eq(True)]
    if significant.empty:
        found.append(("real", "No configuration differs significantly from the baseline after Holm's correction."))
    else:
        alpha = f"{1 - report.confidence:.2g}"
        better = (significant["diff"] > 0) == report.higher
        shown = significant.assign(text=[f"**{r['label']}** ({show_difference(name, r['diff'])})"
                                         for _, r in significant.iterrows()])  # fmt: skip
        sides = [
            f"{side}: " + ", ".join(part["text"])
            for side, part in (("better", shown[better]), ("worse", shown[~better]))
            if len(part)
        ]
        found.append(("real", f"Significant after Holm (p < {alpha}): " + "; ".join(sides) + "."))
    if pd.notna(best["cost"]):
        costs = compared["cost"].dropna()
        spread = f"; {costs.min():.2f}× to {costs.max():.2f}× over all configurations" if len(costs) > 1 else ""
        found.append(("cost", f"**{best['label']}** trains at {best['cost']:.2f}× the baseline's time per epoch"
                              f"{spread}."))  # fmt: skip
    elif data.runs["stacked"].any():
        found.append(("cost", f"No time per epoch for **{best['label']}** against the baseline: one of them trained "
                              "stacked with other runs (execution.batch: auto), whose epoch times are shares of the "
                              "stack's; execution.batch: off measures them."))  # fmt: skip
    shown = [best, *(r for _, r in significant.iterrows() if r["group"] != best["group"])][:SHOWN_EFFECTS]
    for row in shown:
        effects = _effects(data, row)
        if effects:
            found.append(("effects", f"On the other measures, **{row['label']}** against the baseline: {effects}."))
    return found


def _effects(data: StudyData, row: pd.Series) -> str:
    """Every key number's difference to the baseline for one configuration, e.g. ``pgd eps=0.03 +4.10 pt [1.20,
    7.00] (better)``, except the headline's own."""
    from ..evaluate import MEASURES

    report = data.config.report
    parts: dict[str, str] = {}  # by name: clean's NLL and calibration's NLL before scaling are one number
    for measure in dict.fromkeys(data.records["measure"]):
        if measure not in MEASURES:
            continue
        numbers = key_comparisons(data, measure)
        own = numbers[(numbers["group"] == row["group"]) & numbers["diff"].notna()]
        for _, number in own.iterrows():
            if measure == report.measure and number["metric"] == report.metric:
                continue
            name = number["metric"]
            text = f"{number['number']} {difference(name, number)}"
            direction = metric(name).higher
            if pd.isna(number["p"]):  # too few seeds, or differences that do not vary
                text += " (not testable)"
            elif direction is not None and pd.notna(number["significant"]) and bool(number["significant"]):
                text += " (better)" if (number["diff"] > 0) == direction else " (worse)"
            parts.setdefault(number["number"], text)
    return "; ".join(parts.values())


def _warnings(data: StudyData, headline: pd.DataFrame) -> list[Finding]:
    report = data.config.report
    alpha = 1 - report.confidence
    compared = headline[~is_baseline(headline) & headline["testable"].notna()]
    found = []
    replicated = data.config.data.get("seed") == RUN_SEED
    untestable = compared[~compared["testable"].astype(bool)]
    for note, part in untestable.groupby("note", sort=False):
        if "same difference" in note:
            note += ("; a larger test set or more seeds could tell them apart" if replicated else
                     "; vary the data with the seeds (data.seed: run) or use more seeds")  # fmt: skip
        found.append(Finding("warning", f"{_names(part)}: {note}."))
    weak = compared[compared["underpowered"].eq(True)]
    testable = compared["testable"].astype(bool)
    tested = int(testable.sum())
    few = weak["n_pairs"].map(min_p) > alpha  # no p can reach the level with these seeds
    floored = ~few & bool(tested and compared.loc[testable, "n_pairs"].map(min_p).min() * tested > alpha)  # Holm
    for part, kind in ((weak[few], "few"), (weak[floored], "holm"), (weak[~few & ~floored], "power")):
        if part.empty:
            continue
        pairs, share = int(part["n_pairs"].max()), f"{len(part)} of {len(compared)} comparisons"
        if kind == "few":
            text = (f"{share} are underpowered ({_names(part)}): with {pairs} seeds the sign-flip test's smallest p "
                    f"is {min_p(pairs):.2g} > {alpha:.2g}, so none of them can be significant; use at least "
                    f"{fewest_seeds(alpha / max(tested, 1))} seeds"
                    + (f" (Holm's correction over {tested} comparisons)." if tested > 1 else "."))  # fmt: skip
        elif kind == "holm":
            text = f"{share} are {holm_floor_note(pairs, tested, alpha)}."
        else:  # power is judged only for a chosen effect (report.effect)
            needed = part["seeds_needed"].dropna()
            more = f"; 80% power needs up to {int(needed.max())} seeds" if len(needed) else ""
            text = (f"{share} are underpowered: the seeds cannot reliably show the chosen effect "
                    f"({show_difference(report.metric, report.effect)}) ({_names(part)}){more}.")  # fmt: skip
        found.append(Finding("warning", text))
    flat = headline[(headline["n"] > 1) & (headline["std"] == 0)]
    if len(flat):
        why = ("even with the data drawn anew for each seed" if replicated else
               "so the seeds do not vary this result; set data.seed: run to replicate the data draw too")  # fmt: skip
        found.append(Finding("warning", f"{_names(flat)}: every seed gives the same {report.metric}, {why}."))
    counts = data.runs["status"].value_counts()
    if counts.get("interrupted", 0):
        found.append(Finding("warning", f"{counted(counts['interrupted'], 'run')} interrupted (their study run is "
                                        "gone); run the study again to finish them."))  # fmt: skip
    problems = [f"{counted(counts[s], 'run')} {s}" for s in ("failed", "diverged") if counts.get(s, 0)]
    if problems:
        lost = data.runs[data.runs["status"].isin(("failed", "diverged"))]
        found.append(Finding("warning", f"{' and '.join(problems)} (in {_names(lost)}): left out of every "
                                        "average, which favours recipes that fail more often (see the problems "
                                        "table)."))  # fmt: skip
        gone = lost[~lost["group"].isin(data.counted["group"])]
        if len(gone):
            found.append(Finding("warning", f"{_names(gone)}: no run finished, so no table shows them."))
    asked = [m if isinstance(m, str) else m["kind"] for m in data.config.evaluate.measures]
    missing = [m for m in dict.fromkeys(asked) if m not in set(data.records["measure"]) and len(data.counted)]
    if missing:  # a finished run is not run again: a measure added later has no records
        found.append(Finding("warning", f"No run recorded {', '.join(missing)}: its runs finished before "
                                        "evaluate.measures listed it; run the study into a new folder (--output) "
                                        "to measure it."))  # fmt: skip
    checks = data.records[(data.records["metric"] == "check") & (data.records["value"] == 0)]
    for (measure, setting), part in checks.groupby(["measure", "setting"], sort=False):
        check = json.loads(setting).get("check", "check")
        found.append(Finding("warning", f"Sanity check {measure} {check} failed in {counted(len(part), 'run')} of "
                                        f"{_names(part.drop_duplicates('group'))}."))
    return found


def _value(name: str, row: pd.Series) -> str:
    return show_with_interval(name, row["mean"], row["ci_low"], row["ci_high"])


def _test(row: pd.Series) -> str:
    if not bool(row["testable"]):
        return str(row["note"])
    verdict = "significant" if row["significant"] else "not significant"
    if row["underpowered"] and not row["significant"]:
        verdict += " (underpowered)"
    return f"sign-flip p = {p_value(row['p'])} (Holm {p_value(row['p_holm'])}), {verdict}"


def _names(rows: pd.DataFrame) -> str:
    names = [f"**{name}**" for name in dict.fromkeys(rows["name"])]
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
