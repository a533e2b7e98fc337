"""The summary in words: written from the numbers, never calling significant what the test does not support."""

from __future__ import annotations

from pathlib import Path

from noisetrain.report import findings, headline, load
from noisetrain.report.html import emphasis


def said(folder: Path) -> dict[str, list[str]]:
    data = load(folder)
    found: dict[str, list[str]] = {}
    for finding in findings(data, headline(data)):
        found.setdefault(finding.kind, []).append(finding.text)
    return found


def test_the_summary_names_the_best_its_effect_test_cost_and_other_measures(full_study: Path) -> None:
    data = load(full_study)
    table = headline(data)
    text = said(full_study)
    first = table[table["context"] == data.contexts[0]]
    best = first.iloc[1]  # the best configuration of the first context
    assert best["label"] == "gaussian std=0.1"
    line = text["best"][0]
    assert line.startswith("With lr=0.001: Best by validation: **gaussian std=0.1** (validation accuracy 86.75%), "
                           "clean accuracy ")  # the best test score too: no aside
    assert "highest test score" not in line
    assert f"{100 * best['mean']:.2f}%" in line and f"{100 * best['diff']:+.2f} pt [" in line
    assert "sign-flip p = " in line and "(Holm " in line
    real = text["real"][0]
    significant = first[first["significant"].eq(True)]
    better = significant[significant["diff"] > 0]["label"].tolist()
    assert real.startswith("With lr=0.001: Significant after Holm (p < 0.05): ")
    assert all(f"**{label}**" in real.split("worse:")[0] for label in better)
    assert "worse: **dropout at=input** (-5.40 pt)." in real
    assert best["cost"] > 1.1  # the gaussian arm's epochs take 1.2 s against the baseline's 1 s (+ the same jitter)
    assert text["cost"][0].startswith(f"With lr=0.001: **gaussian std=0.1** trains at {best['cost']:.2f}× the "
                                      "baseline's time per epoch")  # fmt: skip
    effects = text["effects"][0]
    assert "pgd eps=0.2 +" in effects and "(better)" in effects and "mCE" not in effects  # key numbers only
    assert "clean accuracy" not in effects  # the headline itself is not repeated
    warnings = " ".join(text["warning"])
    assert ("1 run failed and 1 run diverged (in **gaussian std=0.2 [lr=0.01]**, **dropout at=input [lr=0.01]**): left "
            "out of every average") in warnings  # fmt: skip
    assert "no run finished" not in warnings  # their other seeds fill their rows
    assert ("Sanity check adversarial monotone_in_eps failed in 19 runs of **dropout at=input [lr=0.001]**, "
            "**dropout at=input [lr=0.01]**.") in warnings  # 20 runs less the failed one
    tested = int(table["testable"].eq(True).sum())
    assert text["intervals"] == [
        "Intervals are 95% intervals covering the seeds (initialisation, data order, noise); unlike the verdicts "
        f"(Holm's correction over {tested} comparisons), they are not corrected for the number of comparisons, so "
        "a difference's interval can exclude 0 without a significant verdict."
    ]


def test_few_seeds_give_no_significance_and_say_why(study_factory) -> None:
    text = said(study_factory(("clean",), seeds=(0, 1, 2)))
    assert all("not significant (underpowered)" in line for line in text["best"])
    assert all("No configuration differs significantly" in line for line in text["real"])
    assert any("with 3 seeds the sign-flip test's smallest p is 0.25 > 0.05, so none of them can be significant; "
               "use at least 9 seeds (Holm's correction over 7 comparisons)." in line
               for line in text["warning"])  # fmt: skip  # 2 / 2**9 <= 0.05 / 7 < 2 / 2**8
    two = said(study_factory(("clean",), seeds=(0, 1)))
    assert all("not testable: " in line and "paired seed" in line for line in two["best"])


def test_a_baseline_that_nothing_beats_and_seeds_that_vary_nothing(study_factory) -> None:
    worse = {"dropout": [{"kind": "dropout", "p": 0.2, "at": ["input"]}]}  # -6 points: nothing beats the baseline
    text = said(study_factory(("clean",), noise=worse))
    assert text["best"][0].startswith("With lr=0.001: No configuration beats the baseline; the best by validation, "
                                      "**dropout at=input** (validation accuracy ")
    folder = study_factory(("clean",), seeds=(0, 1, 2, 3))
    import sqlite3

    with sqlite3.connect(folder / "study.db") as db:  # every seed the same accuracy: kNN-like replicas
        db.execute("UPDATE records SET value = 0.9 WHERE metric = 'accuracy'")
    text = said(folder)
    warnings = " ".join(text["warning"])
    assert "every seed gives the same accuracy, so the seeds do not vary this result; set data.seed: run" in warnings
    assert ("not testable: every seed gives the same difference (0), so a test has nothing to weigh; vary the data "
            "with the seeds (data.seed: run)") in warnings  # fmt: skip
    replicated = study_factory(("clean",), seeds=(0, 1, 2, 3), data={"kind": "digits", "seed": "run"})
    with sqlite3.connect(replicated / "study.db") as db:  # the data drawn anew for each seed: other advice
        db.execute("UPDATE records SET value = 0.9 WHERE metric = 'accuracy'")
    warnings = " ".join(said(replicated)["warning"])
    assert "every seed gives the same accuracy, even with the data drawn anew for each seed" in warnings
    assert "nothing to weigh; a larger test set or more seeds could tell them apart" in warnings
    assert "data.seed: run" not in warnings


def test_emphasis_escapes_then_bolds() -> None:
    assert emphasis("**a<b** & c") == "<strong>a&lt;b</strong> &amp; c"


def test_a_run_whose_driver_is_gone_is_interrupted_not_running(study_factory) -> None:
    from noisetrain.report import status_counts
    from noisetrain.study.runner import exclusive
    from noisetrain.study.store import Store

    folder = study_factory(("clean",), seeds=(0, 1, 2))
    with Store(folder / "study.db") as store:
        key = store.runs()["key"].iloc[0]
        store.connection.execute("UPDATE runs SET status='running' WHERE key=?", (key,))
    with exclusive(folder):  # a live driver holds the study: its runs are running
        assert "running" in status_counts(load(folder)).columns
    data = load(folder)
    assert data.runs.set_index("key").loc[key, "status"] == "interrupted"
    counts = status_counts(data)
    assert "running" not in counts.columns and counts["interrupted"].sum() == 1
    assert any("1 run interrupted (their study run is gone)" in f.text for f in findings(data, headline(data)))


def test_the_best_is_chosen_by_validation_not_by_the_test_score(study_factory) -> None:
    import sqlite3

    folder = study_factory(("clean",))
    with sqlite3.connect(folder / "study.db") as db:  # std=0.2 validates best though std=0.1 tests best
        db.execute("UPDATE metrics SET value = 0.99 WHERE name = 'val_accuracy' AND run IN "
                   "(SELECT key FROM runs WHERE label = 'gaussian std=0.2')")  # fmt: skip
    data = load(folder)
    table = headline(data)
    first = table[table["context"] == data.contexts[0]]
    top, chosen = first.iloc[1], first[first["label"] == "gaussian std=0.2"].iloc[0]
    assert top["label"] == "gaussian std=0.1" and top["mean"] > chosen["mean"]
    line = said(folder)["best"][0]
    assert line.startswith("With lr=0.001: Best by validation: **gaussian std=0.2** (validation accuracy 99.00%), "
                           f"clean accuracy {100 * chosen['mean']:.2f}%")  # fmt: skip
    assert f"{100 * chosen['diff']:+.2f} pt [" in line
    assert line.endswith(f"**gaussian std=0.1** has the highest test score ({100 * top['mean']:.2f}%), but choosing "
                         "by the test set flatters the choice.")  # fmt: skip
    with sqlite3.connect(folder / "study.db") as db:  # no validation split: the test score, said to flatter
        db.execute("DELETE FROM metrics WHERE name IN ('val_accuracy', 'val_loss')")
    line = said(folder)["best"][0]
    assert line.startswith("With lr=0.001: Best by its test score (no run was validated, which flatters it): "
                           "**gaussian std=0.1**, clean accuracy ")  # fmt: skip


def test_a_configuration_whose_runs_all_diverged_is_named(study_factory) -> None:
    import sqlite3

    folder = study_factory(("clean",))
    with sqlite3.connect(folder / "study.db") as db:
        db.execute("UPDATE runs SET status = 'diverged', message = 'train_loss is not finite' "
                   "WHERE label = 'gaussian std=0.2'")  # fmt: skip
    warnings = said(folder)["warning"]
    gone = "**gaussian std=0.2 [lr=0.001]**, **gaussian std=0.2 [lr=0.01]**: no run finished, so no table shows them."
    assert gone in warnings
    assert "gaussian std=0.2" not in set(headline(load(folder))["label"])


def test_a_measure_no_run_recorded_is_named(study_factory) -> None:
    import sqlite3

    folder = study_factory(("clean",))
    with sqlite3.connect(folder / "study.db") as db:  # the study now asks for calibration too; its runs finished
        (config,) = db.execute("SELECT config FROM studies").fetchone()
        db.execute("UPDATE studies SET config = ?", (config.replace('"measures": ["clean"]', '"measures": ["clean", '
                                                                    '"calibration"]'),))  # fmt: skip
    warnings = said(folder)["warning"]
    assert ("No run recorded calibration: its runs finished before evaluate.measures listed it; run the study into a "
            "new folder (--output) to measure it.") in warnings  # fmt: skip
    assert not any("No run recorded" in w for w in said(study_factory(("clean",)))["warning"])


def test_a_key_number_that_cannot_be_tested_says_so_in_the_summary_and_its_table(study_factory) -> None:
    """The summary said 'certified r=0 +0.00 pt' without an interval where every seed gave the same difference, and
    the certified table left the radii beyond reach blank."""
    import sqlite3

    from noisetrain.report import tables

    folder = study_factory(("clean", "certified"))
    with sqlite3.connect(folder / "study.db") as db:  # radius 0.25: the same for every run; 0.5: beyond reach
        db.execute("UPDATE records SET value = 0.5 WHERE metric = 'certified_accuracy' AND setting LIKE "
                   "'%\"radius\": 0.25%'")  # fmt: skip
        db.execute("UPDATE records SET value = NULL WHERE metric = 'certified_accuracy' AND setting LIKE "
                   "'%\"radius\": 0.5%'")  # fmt: skip
    effects = " ".join(said(folder)["effects"])
    assert "certified r=0.25 +0.00 pt (not testable)" in effects
    assert "certified r=0 +" in effects and "certified r=0 +0.00 pt (not testable)" not in effects
    data = load(folder)
    shown = next(t for t in tables(data, headline(data)) if t.name == "certified").shown
    assert set(shown["certified r=0.5"]) == {"not testable"}  # measured, not computable: never a blank cell
