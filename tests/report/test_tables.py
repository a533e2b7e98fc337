"""The report's tables checked against scipy and hand-worked numbers on a synthetic study (see conftest)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from noisetrain.registry import ConfigError
from noisetrain.report import corruption_errors, headline, load, problems, record_summary, status_counts, tables
from noisetrain.report.formats import cell, latex, markdown, readable
from noisetrain.study.config import ReportConfig

LR = "train.optimizer.lr"


def finished_seeds(truth: SimpleNamespace, lr: float, label: str) -> list[int]:
    return [s for s in truth.SEEDS if (lr, label, s) not in (truth.DIVERGED, truth.FAILED)]


def row(table: pd.DataFrame, lr: float, label: str) -> pd.Series:
    found = table[(table[LR] == lr) & (table["label"] == label)]
    assert len(found) == 1
    return found.iloc[0]


def holm(p: list[float]) -> np.ndarray:
    """Holm's adjusted p-values, worked out directly: sorted p_(i) times (m - i), running maximum, capped at 1."""
    order = np.argsort(p)
    adjusted = np.maximum.accumulate([(len(p) - i) * p[k] for i, k in enumerate(order)])
    out = np.empty(len(p))
    out[order] = np.minimum(adjusted, 1)
    return out


def test_headline_summary_and_comparison_match_scipy(full_study: Path, truth: SimpleNamespace) -> None:
    table = headline(load(full_study))
    assert len(table) == len(truth.LRS) * len(truth.EFFECT)
    compared, t_p, w_p = [], [], []
    for lr in truth.LRS:
        for label in truth.EFFECT:
            got, seeds = row(table, lr, label), finished_seeds(truth, lr, label)
            values = np.array([truth.accuracy(lr, label, s) for s in seeds])
            assert got["n"] == len(seeds)
            assert got["mean"] == pytest.approx(values.mean())
            assert got["std"] == pytest.approx(values.std(ddof=1))
            interval = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
            assert (got["ci_low"], got["ci_high"]) == pytest.approx(interval)
            assert got["seconds"] == pytest.approx(truth.SECONDS[got["arm"]] + np.mean(seeds))
            if label == "baseline":
                assert math.isnan(got["diff"]) and math.isnan(got["t_p"])
                continue
            base = np.array([truth.accuracy(lr, "baseline", s) for s in seeds])  # paired on the seeds both have
            diff = values - base
            assert got["n_pairs"] == len(seeds)
            assert got["diff"] == pytest.approx(diff.mean())
            assert got["t_p"] == pytest.approx(stats.ttest_rel(values, base).pvalue)
            assert got["wilcoxon_p"] == pytest.approx(stats.wilcoxon(values, base).pvalue)
            assert got["effect_size"] == pytest.approx(diff.mean() / diff.std(ddof=1))
            compared.append(got)
            t_p.append(got["t_p"])
            w_p.append(got["wilcoxon_p"])
    # Holm's correction spans every compared configuration of the study, both contexts together
    assert [g["t_p_holm"] for g in compared] == pytest.approx(holm(t_p))
    assert [g["wilcoxon_p_holm"] for g in compared] == pytest.approx(holm(w_p))
    assert [g["significant"] for g in compared] == [p < 0.05 for p in holm(t_p)]
    assert any(g["significant"] for g in compared)


def test_headline_order_context_then_baseline_then_best(full_study: Path, truth: SimpleNamespace) -> None:
    data = load(full_study)
    table = headline(data)
    for lr in truth.LRS:
        part = table[table[LR] == lr]
        assert part["label"].iloc[0] == "baseline"
        assert part["mean"].iloc[1:].is_monotonic_decreasing
    assert table[LR].tolist() == sorted(table[LR])
    lower = ReportConfig(higher_is_better=False)
    flipped = headline(dataclasses.replace(data, config=data.config.model_copy(update={"report": lower})))
    assert flipped[flipped[LR] == truth.LRS[0]]["mean"].iloc[1:].is_monotonic_increasing


def test_diverged_and_failed_runs_are_listed_not_averaged(full_study: Path, truth: SimpleNamespace) -> None:
    data = load(full_study)
    counts = status_counts(data)
    diverged, failed = row(counts, *truth.DIVERGED[:2]), row(counts, *truth.FAILED[:2])
    assert (diverged["runs"], diverged["completed"], diverged["diverged"], diverged["failed"]) == (4, 3, 1, 0)
    assert (failed["runs"], failed["completed"], failed["diverged"], failed["failed"]) == (4, 3, 0, 1)
    assert counts["runs"].sum() == len(truth.LRS) * len(truth.EFFECT) * len(truth.SEEDS)
    listed = problems(data)
    assert listed[["label", "seed", "status"]].values.tolist() == [
        [truth.DIVERGED[1], truth.DIVERGED[2], "diverged"],
        [truth.FAILED[1], truth.FAILED[2], "failed"],
    ]
    assert "RuntimeError: boom" in listed["message"].iloc[1]
    # the diverged run saved records of 0.0: none of them may reach a mean
    summary = record_summary(data)
    assert (summary["mean"] > 0).all()
    clean = summary[(summary["measure"] == "clean") & (summary["metric"] == "accuracy")]
    got = row(clean, *truth.DIVERGED[:2])
    expected = [truth.accuracy(*truth.DIVERGED[:2], s) for s in finished_seeds(truth, *truth.DIVERGED[:2])]
    assert (got["n"], got["mean"]) == (3, pytest.approx(np.mean(expected)))


def test_record_summary_has_every_cell_once_with_known_numbers(full_study: Path, truth: SimpleNamespace) -> None:
    summary = record_summary(load(full_study))
    assert not summary.duplicated(["group", "measure", "metric", "setting"]).any()
    assert list(summary.columns[:6]) == ["label", LR, "measure", "metric", "setting", "n"]
    fog = summary[summary["setting"] == '{"corruption": "fog", "held_out": false, "severity": 2}']
    label = "dropout(dropout.at=input)"
    values = [truth.corrupted(truth.LRS[0], label, s, "fog", 2) for s in truth.SEEDS]
    got = row(fog, truth.LRS[0], label)
    assert (got["mean"], got["std"]) == pytest.approx((np.mean(values), np.std(values, ddof=1)))


def test_mce_against_hand_computation(full_study: Path, truth: SimpleNamespace) -> None:
    table = corruption_errors(load(full_study))
    assert table is not None
    common = [c for c, held in truth.CORRUPTIONS.items() if not held]  # spatter is held out: not in the mCE
    for lr in truth.LRS:
        assert row(table, lr, "baseline")["mce"] == pytest.approx(1.0)
        for label in ("gaussian(gaussian.std=0.1)", "dropout(dropout.at=input)"):
            per_seed = []
            for seed in finished_seeds(truth, lr, label):
                errors = [
                    sum(1 - truth.corrupted(lr, who, seed, c, s) for s in truth.SEVERITY_DROP)
                    for who in (label, "baseline")
                    for c in common
                ]
                per_seed.append(np.mean(np.divide(errors[: len(common)], errors[len(common) :])))
            got = row(table, lr, label)
            assert (got["n"], got["mce"]) == (len(per_seed), pytest.approx(np.mean(per_seed)))
            assert got["std"] == pytest.approx(np.std(per_seed, ddof=1))
    # gaussian training halves the drop under gaussian_noise: mCE below 1; dropout at the input is worse overall
    assert row(table, truth.LRS[0], "gaussian(gaussian.std=0.1)")["mce"] < 1
    assert row(table, truth.LRS[0], "dropout(dropout.at=input)")["mce"] > 1


def test_without_baseline_no_comparison_and_no_mce(study_factory, truth: SimpleNamespace) -> None:
    data = load(study_factory(("clean", "corruptions"), baseline=False))
    table = headline(data)
    assert len(table) == len(truth.LRS) * (len(truth.EFFECT) - 1)
    assert table["diff"].isna().all() and table["t_p_holm"].isna().all()
    assert corruption_errors(data) is None
    assert [t.name for t in tables(data, table)] == ["headline", "status", "problems", "records"]


def test_tables_list_and_text_formats(full_study: Path) -> None:
    data = load(full_study)
    found = {t.name: t for t in tables(data, headline(data))}
    assert list(found) == ["headline", "status", "problems", "mce", "records"]
    assert found["records"].shown is None  # CSV only
    head = found["headline"]
    assert "group" not in head.shown.columns and "95% CI" in head.shown.columns
    lines = markdown(head).splitlines()
    assert len(lines) == 2 + len(head.shown)
    assert {line.count("|") for line in lines} == {len(head.shown.columns) + 1}
    tex = latex(head)
    assert r"\toprule" in tex and r"\label{tab:headline}" in tex and r"d\_z" in tex
    assert tex.count(r" \\") == 1 + len(head.shown)
    assert len(markdown(found["problems"]).splitlines()) == 2 + 2  # a multi-line message stays in its row


def test_cells_and_intervals() -> None:
    assert [cell(v) for v in (None, math.nan, True, np.bool_(False), 0.123456, 3, "a")] == [
        "", "", "yes", "no", "0.1235", "3", "a"
    ]  # fmt: skip
    frame = pd.DataFrame({"name": ["x", "y"], "low": [0.1, math.nan], "high": [0.2, math.nan], "n": [1, 2]})
    shown, align = readable(frame, {"name": "configuration", ("low", "high"): "CI", "n": "n"})
    assert shown.values.tolist() == [["x", "[0.1, 0.2]", "1"], ["y", "", "2"]]
    assert align == "lrr"


def test_report_setting_picks_the_headline_record(full_study: Path, truth: SimpleNamespace) -> None:
    data = load(full_study)
    sweep = ReportConfig(measure="noise_sweep", metric="accuracy", setting={"strength": 0.1})
    values = dataclasses.replace(data, config=data.config.model_copy(update={"report": sweep})).values()
    run = values[(values[LR] == 0.001) & (values["label"] == "baseline") & (values["seed"] == 2)].iloc[0]
    assert run["value"] == pytest.approx(truth.accuracy(0.001, "baseline", 2) * 0.9)
    ambiguous = ReportConfig(measure="noise_sweep", metric="accuracy")
    with pytest.raises(ConfigError, match=r"report.setting: \{\} matches several noise_sweep accuracy records"):
        dataclasses.replace(data, config=data.config.model_copy(update={"report": ambiguous})).values()


def test_headline_without_matching_records_is_empty_or_a_clear_error(full_study: Path) -> None:
    data = load(full_study)

    def values(report: ReportConfig) -> pd.DataFrame:
        return dataclasses.replace(data, config=data.config.model_copy(update={"report": report})).values()

    assert values(ReportConfig(measure="calibration", metric="ece"))["value"].isna().all()  # none recorded
    with pytest.raises(ConfigError, match=r"report.setting: \{'strength': 0.7\} matches none of the noise_sweep"):
        values(ReportConfig(measure="noise_sweep", metric="accuracy", setting={"strength": 0.7}))
