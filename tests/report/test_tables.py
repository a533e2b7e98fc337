"""The report's tables checked against scipy and hand-worked numbers on a synthetic study (see conftest)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from noisetrain.registry import ConfigError
from noisetrain.report import (
    corruption_errors,
    findings,
    headline,
    key_comparisons,
    load,
    problems,
    record_summary,
    status_counts,
    tables,
)
from noisetrain.report.formats import cell, latex, markdown, p_value
from noisetrain.report.tables import selected_by_validation, verdict
from noisetrain.study import bootstrap
from noisetrain.study.config import ReportConfig
from noisetrain.study.stats import wilcoxon

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


def exact_p(diff: np.ndarray) -> float:
    return stats.permutation_test((diff,), np.mean, permutation_type="samples", n_resamples=math.inf).pvalue


def test_headline_summary_and_comparison_match_scipy(full_study: Path, truth: SimpleNamespace) -> None:
    table = headline(load(full_study))
    assert len(table) == len(truth.LRS) * len(truth.EFFECT)
    assert set(table["interval"]) == {"t"}  # no per-example values stored: Student t over seeds
    compared, p, t_p = [], [], []
    for lr in truth.LRS:
        for label in truth.EFFECT:
            got, seeds = row(table, lr, label), finished_seeds(truth, lr, label)
            values = np.array([truth.accuracy(lr, label, s) for s in seeds])
            assert got["n"] == len(seeds)
            assert got["mean"] == pytest.approx(values.mean())
            assert got["std"] == pytest.approx(values.std(ddof=1))
            interval = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
            assert (got["ci_low"], got["ci_high"]) == pytest.approx(interval)
            # steady-state seconds per epoch (epochs 2 and 3, not the start-up of epoch 1) over the baseline's
            steady = truth.SECONDS[got["arm"]] + 0.025 * np.mean(seeds)
            assert got["epoch_seconds"] == pytest.approx(steady)
            base_seeds = finished_seeds(truth, lr, "baseline")
            assert got["cost"] == pytest.approx(steady / (truth.SECONDS["baseline"] + 0.025 * np.mean(base_seeds)))
            if label == "baseline":
                assert math.isnan(got["diff"]) and math.isnan(got["p"])
                continue
            base = np.array([truth.accuracy(lr, "baseline", s) for s in seeds])  # paired on the seeds both have
            diff = values - base
            assert got["n_pairs"] == len(seeds) and got["testable"]
            assert got["diff"] == pytest.approx(diff.mean())
            assert got["p"] == pytest.approx(exact_p(diff))
            assert got["min_p"] == pytest.approx(2 / 2 ** len(seeds))
            assert got["t_p"] == pytest.approx(stats.ttest_rel(values, base).pvalue)
            assert got["wilcoxon_p"] == pytest.approx(wilcoxon(diff))
            assert got["effect_size"] == pytest.approx(diff.mean() / diff.std(ddof=1))
            compared.append(got)
            p.append(got["p"])
            t_p.append(got["t_p"])
    # Holm's correction spans every compared configuration of the study, both contexts together
    assert [g["p_holm"] for g in compared] == pytest.approx(holm(p))
    assert [g["t_p_holm"] for g in compared] == pytest.approx(holm(t_p))
    assert [g["significant"] for g in compared] == [q < 0.05 for q in holm(p)]
    assert any(g["significant"] for g in compared) and not all(g["significant"] for g in compared)


def test_bootstrap_intervals_where_per_example_values_are_stored(study_factory, truth: SimpleNamespace) -> None:
    data = load(study_factory(("clean",), examples=True))
    assert len(data.examples) == len(data.counted)
    assert "test examples (hierarchical bootstrap)" in data.variance_sources
    said = [f.text for f in findings(data, headline(data)) if f.kind == "intervals"]
    assert said[0].startswith("Intervals are 95% intervals: the headline table's (and the best's above) cover the "
                              "seeds (initialisation, data order, noise) and the test examples (hierarchical "
                              "bootstrap), the other tables' and numbers' the seeds alone (t over seeds, narrower); "
                              "unlike the verdicts")  # fmt: skip
    table = headline(data)
    assert set(table["interval"]) == {"bootstrap"}
    got = row(table, truth.LRS[0], "gaussian std=0.1")
    keys = data.counted[(data.counted["label"] == "gaussian std=0.1") & (data.counted[LR] == truth.LRS[0])]["key"]
    # the interval holds the bootstrap's, recomputed here from the stored values (one shared test set), and the
    # t interval over the seeds (the floor: a percentile bootstrap over few seeds is too narrow)
    values = {k: data.examples[k] for k in data.counted["key"]}
    replicates = bootstrap.example_replicates(values, dict.fromkeys(values, "t"), "accuracy", seed=0)
    per_seed = np.stack([replicates[k] for k in keys], axis=1)
    seed = data.group_order[got["group"]]
    low, high = bootstrap.percentile_interval(bootstrap.paired_means(per_seed, seed=seed))
    t_only = headline(load(study_factory(("clean",))))
    t_row = row(t_only, truth.LRS[0], "gaussian std=0.1")
    expected = (min(low, t_row["ci_low"]), max(high, t_row["ci_high"]))
    assert (got["ci_low"], got["ci_high"]) == pytest.approx(expected)
    assert got["diff_ci_low"] <= t_row["diff_ci_low"] and got["diff_ci_high"] >= t_row["diff_ci_high"]
    assert got["mean"] == pytest.approx(t_row["mean"]) and got["p"] == pytest.approx(t_row["p"])
    # the test set's sampling error widens the group's interval
    assert got["ci_high"] - got["ci_low"] > t_row["ci_high"] - t_row["ci_low"]
    assert got["diff_ci_low"] <= got["diff"] <= got["diff_ci_high"]
    assert (table["ci_low"] >= 0).all() and (table["ci_high"] <= 1).all()


def test_intervals_of_bounded_metrics_stay_in_bounds(study_factory, truth: SimpleNamespace) -> None:
    folder = study_factory(("clean",), noise={"perfect": [{"kind": "gaussian", "std": 0.5}]})
    import sqlite3  # push one configuration's accuracy to the bound: a t interval would pass 1

    with sqlite3.connect(folder / "study.db") as db:
        db.execute("UPDATE records SET value = CASE WHEN (SELECT seed FROM runs WHERE key = run) = 0 THEN 0.96 "
                   "ELSE 1.0 END WHERE metric = 'accuracy' AND run IN (SELECT key FROM runs WHERE arm = 'perfect')")
    table = headline(load(folder))
    perfect = table[table["arm"] == "perfect"]
    assert (perfect["mean"] > 0.99).all() and (perfect["ci_high"] == 1.0).all()


def test_not_testable_and_underpowered_comparisons_say_why(study_factory, truth: SimpleNamespace) -> None:
    data = load(study_factory(("clean",), seeds=(0, 1)))
    two = headline(data)
    compared = two[two["arm"] != "baseline"]
    assert not compared["testable"].any() and compared["p"].isna().all() and compared["effect_size"].isna().all()
    assert compared["note"].str.contains(r"not testable: [12] paired seeds?; a test needs at least 3").all()
    statistics = next(t for t in tables(data, two) if t.name == "statistics").shown
    assert statistics["note"].str.startswith("not testable").all()  # the table says why
    assert set(compared.apply(verdict, axis=1, higher=True)) == {"not testable"}
    five = headline(load(study_factory(("clean",), seeds=(0, 1, 2, 3, 4))))
    compared = five[five["arm"] != "baseline"]
    assert compared["testable"].all() and not compared["significant"].any() and compared["underpowered"].all()
    assert (compared["p"] >= 2 / 2**5 - 1e-12).all()
    assert set(compared.apply(verdict, axis=1, higher=True)) == {"n.s., low power"}
    data = load(study_factory(("clean",), seeds=(0, 1, 2, 3, 4)))  # 5 pairs cannot reach 0.05: nothing detectable
    statistics = next(t for t in tables(data, headline(data)) if t.name == "statistics")
    assert set(statistics.shown["detectable Δ"]) == {"none"} and "none where no difference" in statistics.note


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
    assert ReportConfig(metric="error").higher is False and ReportConfig().higher is True


def test_diverged_and_failed_runs_are_listed_not_averaged(full_study: Path, truth: SimpleNamespace) -> None:
    data = load(full_study)
    counts = status_counts(data)
    diverged, failed = row(counts, *truth.DIVERGED[:2]), row(counts, *truth.FAILED[:2])
    seeds = len(truth.SEEDS)
    assert (diverged["runs"], diverged["completed"], diverged["diverged"], diverged["failed"]) == (seeds, 9, 1, 0)
    assert (failed["runs"], failed["completed"], failed["diverged"], failed["failed"]) == (seeds, 9, 0, 1)
    assert counts["runs"].sum() == len(truth.LRS) * len(truth.EFFECT) * seeds
    listed = problems(data)
    assert listed[["label", "seed", "status"]].values.tolist() == [
        [truth.DIVERGED[1], truth.DIVERGED[2], "diverged"],
        [truth.FAILED[1], truth.FAILED[2], "failed"],
    ]
    assert "RuntimeError: boom" in listed["message"].iloc[1]
    # the diverged run saved records of 0.0: none of them may reach a mean
    summary = record_summary(data)
    assert (summary[summary["metric"] != "check"]["mean"] > 0).all()
    clean = summary[(summary["measure"] == "clean") & (summary["metric"] == "accuracy")]
    got = row(clean, *truth.DIVERGED[:2])
    expected = [truth.accuracy(*truth.DIVERGED[:2], s) for s in finished_seeds(truth, *truth.DIVERGED[:2])]
    assert (got["n"], got["mean"]) == (9, pytest.approx(np.mean(expected)))


def test_record_summary_has_every_cell_once_with_known_numbers(full_study: Path, truth: SimpleNamespace) -> None:
    summary = record_summary(load(full_study))
    assert not summary.duplicated(["group", "measure", "metric", "setting"]).any()
    assert list(summary.columns[:6]) == ["label", LR, "measure", "metric", "setting", "n"]
    fog = summary[summary["setting"] == '{"corruption": "fog", "held_out": false, "severity": 2}']
    label = "dropout at=input"
    values = [truth.corrupted(truth.LRS[0], label, s, "fog", 2) for s in truth.SEEDS]
    got = row(fog, truth.LRS[0], label)
    assert (got["mean"], got["std"]) == pytest.approx((np.mean(values), np.std(values, ddof=1)))
    bins = summary[(summary["metric"] == "bin_accuracy")]
    assert not bins["setting"].str.contains("confidence").any()  # bins average by bin across seeds


def test_mce_against_hand_computation(full_study: Path, truth: SimpleNamespace) -> None:
    table = corruption_errors(load(full_study))
    assert table is not None
    common = [c for c, held in truth.CORRUPTIONS.items() if not held]  # spatter is held out: not in the mCE
    for lr in truth.LRS:
        assert row(table, lr, "baseline")["mce"] == pytest.approx(1.0)
        for label in ("gaussian std=0.1", "dropout at=input"):
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
    assert row(table, truth.LRS[0], "gaussian std=0.1")["mce"] < 1
    assert row(table, truth.LRS[0], "dropout at=input")["mce"] > 1
    assert (table["ci_low"].dropna() >= 0).all()
    assert table[table["label"] == "baseline"]["ci_low"].isna().all()  # 1 by definition: no interval


def test_mce_pairs_only_the_same_variant_of_a_corruption(full_study: Path, truth: SimpleNamespace) -> None:
    data = load(full_study)
    label = "gaussian std=0.1"
    labels = data.runs.set_index("key")["label"]

    def with_variant(key: str, setting: str) -> str:  # fog from photos for the baseline, a texture for the arm
        values = json.loads(setting)
        if values.get("corruption") == "fog":
            values["frost"] = "procedural" if labels[key] == label else "photos"
        return json.dumps(values)

    records = data.records.assign(setting=[with_variant(k, s) for k, s in zip(data.records["key"],
                                                                               data.records["setting"], strict=True)])
    table = corruption_errors(dataclasses.replace(data, records=records))
    assert table is not None
    lr = truth.LRS[0]
    per_seed = [  # gaussian_noise alone: the arm's fog is another variant than the baseline's
        sum(1 - truth.corrupted(lr, label, seed, "gaussian_noise", s) for s in truth.SEVERITY_DROP)
        / sum(1 - truth.corrupted(lr, "baseline", seed, "gaussian_noise", s) for s in truth.SEVERITY_DROP)
        for seed in finished_seeds(truth, lr, label)
    ]
    assert row(table, lr, label)["mce"] == pytest.approx(np.mean(per_seed))
    assert row(table, lr, "baseline")["mce"] == pytest.approx(1.0)


def test_key_numbers_per_measure_with_paired_differences(full_study: Path, truth: SimpleNamespace) -> None:
    numbers = key_comparisons(load(full_study), "adversarial")
    assert list(dict.fromkeys(numbers["number"])) == ["pgd eps=0.1", "pgd eps=0.2"]  # eps 0 is not a key number
    lr, label = truth.LRS[0], "gaussian std=0.1"
    got = numbers[(numbers[LR] if LR in numbers else numbers["context"]).astype(str).str.contains(str(lr))]
    got = got[(got["label"] == label) & (got["number"] == "pgd eps=0.2")].iloc[0]
    seeds = finished_seeds(truth, lr, label)
    values = np.array([truth.robust(lr, label, s, 0.2) for s in seeds])
    base = np.array([truth.robust(lr, "baseline", s, 0.2) for s in seeds])
    assert got["mean"] == pytest.approx(values.mean()) and got["n"] == len(seeds)
    assert got["diff"] == pytest.approx((values - base).mean())
    assert got["p"] == pytest.approx(exact_p(values - base))
    assert got["metric"] == "accuracy"


def test_without_baseline_no_comparison_and_no_mce(study_factory, truth: SimpleNamespace) -> None:
    data = load(study_factory(("clean", "corruptions"), baseline=False))
    table = headline(data)
    assert len(table) == len(truth.LRS) * (len(truth.EFFECT) - 1)
    assert table["diff"].isna().all() and table["p_holm"].isna().all() and table["cost"].isna().all()
    assert corruption_errors(data) is None
    assert [t.name for t in tables(data, table)] == ["headline", "clean", "selection", "status", "problems", "records"]


def test_tables_list_and_text_formats(full_study: Path) -> None:
    data = load(full_study)
    found = {t.name: t for t in tables(data, headline(data))}
    assert list(found) == [
        "headline", "statistics", "clean", "noise_sweep", "corruptions", "calibration", "adversarial", "selection",
        "status", "problems", "records",
    ]  # fmt: skip
    assert found["records"].shown is None  # CSV only
    head = found["headline"]
    assert list(head.shown.columns) == [
        "configuration", "context", "n", "clean accuracy (95% CI)", "Δ vs baseline (95% CI)", "p (Holm)", "verdict",
        "time/epoch",
    ]  # fmt: skip
    first = head.shown.iloc[1]  # the best configuration of the first context
    assert first["clean accuracy (95% CI)"].endswith("]") and "%" in first["clean accuracy (95% CI)"]
    assert " pt [" in first["Δ vs baseline (95% CI)"] and first["time/epoch"].endswith("×")
    lines = [line for line in markdown(head).splitlines() if line.startswith("|")]
    assert len(lines) == 2 + len(head.shown) and markdown(head).endswith("\n\n" + head.note + "\n")
    assert {line.count("|") for line in lines} == {len(head.shown.columns) + 1}
    tex = latex(head)
    assert r"\toprule" in tex and r"\label{tab:headline}" in tex and r"$\Delta$ vs baseline" in tex
    assert "\\caption{" + head.title + ". " in tex  # and the note, which says how the numbers were computed
    assert tex.count(r" \\") == 1 + len(head.shown) and r"\%" in tex
    assert len(head.shown.columns) <= 8  # the main table stays narrow; the statistics have their own
    assert {"p", "smallest p", "t p", "Wilcoxon p", "d_z", "seeds needed"} <= set(found["statistics"].shown)
    notes = found["statistics"].data["note"].fillna("")
    assert ("note" in found["statistics"].shown) == notes.astype(bool).any()  # no empty column of notes
    problems = [line for line in markdown(found["problems"]).splitlines() if line.startswith("|")]
    assert len(problems) == 2 + 2  # a multi-line message stays in its row
    assert "AUC: the area under accuracy against noise strength" in found["noise_sweep"].note
    assert "T > 1: the model was overconfident" in found["calibration"].note
    corruptions = found["corruptions"].shown
    assert list(corruptions.columns) == ["configuration", "mCE"]
    adversarial = found["adversarial"].shown
    assert list(adversarial.columns) == ["configuration", "pgd eps=0.1", "pgd eps=0.2"]
    assert adversarial.iloc[0, 1].count("%") == 1


def test_each_arms_configuration_is_selected_by_validation_not_by_test(
    full_study: Path, truth: SimpleNamespace
) -> None:
    data = load(full_study)
    chosen, score = selected_by_validation(data, headline(data))
    assert score == "val_accuracy"
    assert chosen[[LR, "arm", "label"]].values.tolist() == [
        [lr, arm, label] for lr in truth.LRS
        for arm, label in (("gaussian", "gaussian std=0.1"), ("dropout", "dropout at=output:ReLU"))
    ]  # fmt: skip
    for _, picked in chosen.iterrows():  # val_accuracy at the best epoch (2) is the accuracy - 0.05
        seeds = finished_seeds(truth, picked[LR], picked["label"])
        expected = np.mean([truth.accuracy(picked[LR], picked["label"], s) - 0.05 for s in seeds])
        assert picked["validation"] == pytest.approx(expected)
        assert picked["mean"] == pytest.approx(row(headline(data), picked[LR], picked["label"])["mean"])


def test_cells_and_p_values() -> None:
    assert [cell(v) for v in (None, math.nan, True, np.bool_(False), 0.123456, 3, "a")] == [
        "", "", "yes", "no", "0.1235", "3", "a"
    ]  # fmt: skip
    assert [p_value(p) for p in (math.nan, 0.0004, 0.001, 0.0123, 0.25, 1.0)] == [
        "", "< 0.001", "0.001", "0.012", "0.25", "1"
    ]  # fmt: skip


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

    assert values(ReportConfig(measure="calibration", metric="brier"))["value"].isna().all()  # none recorded
    with pytest.raises(ConfigError, match=r"report.setting: \{'strength': 0.7\} matches none of the noise_sweep"):
        values(ReportConfig(measure="noise_sweep", metric="accuracy", setting={"strength": 0.7}))


def test_data_seed_run_gives_each_seed_its_own_test_set(study_factory) -> None:
    data = load(study_factory(("clean",), data={"kind": "digits", "seed": "run"}, examples=True))
    test_sets = data.runs.groupby("seed")["test_set"].nunique()
    assert (test_sets == 1).all() and data.runs["test_set"].nunique() == data.runs["seed"].nunique()
    assert json.loads(data.runs["test_set"].iloc[0])["seed"] == data.runs["seed"].iloc[0]
    assert "data split and test set: data.seed is run" in data.variance_sources
    assert set(headline(data)["interval"]) == {"bootstrap"}


def test_record_intervals_are_cut_to_each_metrics_bounds(study_factory) -> None:
    summary = record_summary(load(study_factory(("clean", "calibration"), seeds=(0, 1))))  # 2 seeds: wide intervals
    proportions = summary[summary["metric"].isin(["accuracy", "bin_accuracy", "ece"])]
    assert not (proportions["ci_low"] < 0).any() and not (proportions["ci_high"] > 1).any()
    assert (proportions["ci_low"].eq(0) | proportions["ci_high"].eq(1)).any()  # cut there, not left out
