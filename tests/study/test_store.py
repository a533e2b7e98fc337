"""The store: outcomes written in one transaction, tables as frames, export to CSV and Parquet."""

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from noisetrain.registry import ConfigError
from noisetrain.study.execute import Outcome
from noisetrain.study.grid import expand
from noisetrain.study.store import FINISHED, Store

from studykit import study_config


def outcome(key: str, status: str = "completed", value: float = 0.9) -> Outcome:
    history = [
        {"epoch": 1, "train_loss": 1.0, "val_accuracy": 0.5},
        {"epoch": 2, "train_loss": 0.5, "val_accuracy": 0.7},
    ]
    records = [{"measure": "clean", "metric": "accuracy", "value": value, "setting": {}, "ci": [0.8, 0.95], "n": 100}]
    return Outcome(key, status, "ok", 1.5, {"best_epoch": 2, "test_accuracy": value}, history, records, {"torch": "x"})


def test_outcomes_are_stored_and_read_back_as_frames(tmp_path: Path) -> None:
    study = study_config()
    runs = expand(study)
    with Store(tmp_path / "study.db") as store:
        store.register(study, runs)
        store.register(study, runs)  # idempotent
        assert store.finished() == set()
        store.start(runs[0].key)
        store.save(outcome(runs[0].key))
        store.save(outcome(runs[1].key, "diverged"))
        assert store.finished() == {runs[0].key, runs[1].key}
        frame = store.runs()
        assert len(frame) == 6 and frame.set_index("key").loc[runs[0].key, "attempts"] == 1
        assert "noise.gaussian.std" in frame.columns and frame.best_epoch.notna().sum() == 2
        records = store.records()
        assert list(records.value) == [0.9, 0.9] and list(records.ci_low) == [0.8, 0.8]
        assert set(records.label) == {runs[0].label, runs[1].label}
        metrics = store.metrics()
        assert len(metrics) == 2 * 2 * 2  # two runs x two epochs x two metrics
        # saving again replaces the run's rows instead of adding to them
        store.save(outcome(runs[0].key, value=0.8))
        assert sorted(store.records().value) == [0.8, 0.9] and len(store.metrics()) == 8
        assert store.study().name == study.name
    assert set(FINISHED) == {"completed", "early_stopped", "diverged"}


def test_a_failed_write_leaves_no_partial_rows(tmp_path: Path) -> None:
    study = study_config()
    runs = expand(study)
    with Store(tmp_path / "study.db") as store:
        store.register(study, runs)
        bad = outcome(runs[0].key)
        bad.records.append({"measure": "clean", "metric": None, "value": 1.0, "setting": {}, "ci": None, "n": 1})
        with pytest.raises(Exception, match="NOT NULL"):
            store.save(bad)
        assert store.records().empty and store.metrics().empty and store.finished() == set()
        with pytest.raises(ConfigError, match="not registered"):
            store.save(outcome("0" * 16))
        assert store.metrics().empty


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export(tmp_path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    schedule = {"kind": "linear", "start": 0.3, "end": 0.0}
    study = study_config(noise={"gaussian": [{"kind": "gaussian", "std": [0.1, schedule]}]})  # numbers and schedules
    runs = expand(study)
    with Store(tmp_path / "study.db") as store:
        store.register(study, runs)
        store.save(outcome(runs[0].key))
        paths = store.export(tmp_path / "out", fmt)
        with pytest.raises(ConfigError, match="export format must be 'csv' or 'parquet', got 'xlsx'"):
            store.export(tmp_path / "out", "xlsx")
    assert [p.name for p in paths] == [f"runs.{fmt}", f"metrics.{fmt}", f"records.{fmt}"]
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    assert len(read(paths[0])) == 6 and len(read(paths[2])) == 1 and read(paths[2]).value.iloc[0] == 0.9
    strengths = set(read(paths[0])["noise.gaussian.std"].dropna().astype(str))
    assert strengths == {"0.1", '{"kind":"linear","start":0.3,"end":0.0}'}
    assert not list((tmp_path / "out").glob(".*.tmp"))  # written whole, through a temporary name


def test_best_metrics_reads_each_runs_best_epoch(tmp_path: Path) -> None:
    study = study_config()
    runs = expand(study)
    with Store(tmp_path / "study.db") as store:
        store.register(study, runs)
        store.save(outcome(runs[0].key))  # best epoch 2: val_accuracy 0.7
        store.save(outcome(runs[1].key, "diverged"))
        assert store.best_metrics("val_accuracy") == {runs[0].key: pytest.approx(0.7)}
        assert store.best_metrics("val_rmse") == {}


def test_a_new_plan_renames_the_runs_it_shares_with_an_earlier_one(tmp_path: Path) -> None:
    first = study_config(noise={"gauss": [{"kind": "gaussian", "std": 0.1}]})
    second = study_config(noise={"gaussian": [{"kind": "gaussian", "std": [0.1, 0.3]}]})
    with Store(tmp_path / "study.db") as store:
        store.register(first, expand(first), plan=True)
        shared = next(r for r in expand(first) if r.arm == "gauss")
        store.save(outcome(shared.key))
        store.register(second, expand(second), plan=True)
        runs = store.runs().set_index("key")
        assert runs.loc[shared.key, "label"] == "gaussian std=0.1"  # the shared run, under its new name
        assert runs.loc[shared.key, "status"] == "completed" and runs.loc[shared.key, "noise.gaussian.std"] == 0.1
        assert set(runs.arm) == {"baseline", "gaussian"} and len(runs) == 6


def test_per_example_values_are_stored_compactly_and_read_back(tmp_path: Path) -> None:
    study = study_config()
    runs = expand(study)
    correct = np.random.default_rng(0).random(361) < 0.9
    errors = np.random.default_rng(1).random(50).astype(np.float32)
    with Store(tmp_path / "study.db") as store:
        store.register(study, runs)
        first = outcome(runs[0].key)
        first.examples = {("clean", "accuracy"): correct, ("clean", "mae"): errors}
        store.save(first)
        store.save(outcome(runs[1].key))  # a run without per-example values
        got = store.examples("clean", "accuracy")
        assert list(got) == [runs[0].key] and got[runs[0].key].dtype == bool
        np.testing.assert_array_equal(got[runs[0].key], correct)
        np.testing.assert_array_equal(store.examples("clean", "mae")[runs[0].key], errors)
        size = store.connection.execute("SELECT length(data) FROM examples WHERE metric='accuracy'").fetchone()[0]
        assert size == 46  # 361 booleans in 46 bytes
        store.save(outcome(runs[0].key))  # saved again without them: the old values go
        assert store.examples("clean", "accuracy") == {}


def test_a_version_2_store_is_upgraded_in_place_and_keeps_its_results(tmp_path: Path) -> None:
    study = study_config()
    runs = expand(study)
    path = tmp_path / "study.db"
    with Store(path) as store:
        store.register(study, runs)
        store.save(outcome(runs[0].key))
        store.connection.executescript("DROP TABLE examples; PRAGMA user_version=2;")  # as version 2 wrote it
    with Store(path) as store:
        assert store.connection.execute("PRAGMA user_version").fetchone()[0] == 3
        assert list(store.records().value) == [0.9] and store.examples("clean", "accuracy") == {}
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=7")
    with pytest.raises(ConfigError, match="has schema version 7; this noisetrain reads version 3"):
        Store(path)


def test_record_settings_are_keyed_by_rounded_numbers() -> None:
    from noisetrain.study.store import setting_key

    one, other = 8 / 255, 0.03137254901960785  # the same eps computed two ways
    assert one != other and setting_key({"eps": one, "n": 3}) == setting_key({"n": 3, "eps": other})
    assert setting_key({"eps": 0.1, "x": [1 / 3]}) == '{"eps": 0.1, "x": [0.333333333333]}'
    assert setting_key({"eps": 0.1}) != setting_key({"eps": 0.1000001})


def test_a_store_that_cannot_be_opened_says_to_check_permissions(tmp_path: Path, monkeypatch) -> None:
    class Locked:
        def execute(self, *_: object) -> None:
            raise sqlite3.OperationalError("unable to open database file")

        def close(self) -> None:
            pass

    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: Locked())  # what a folder without permissions gives
    with pytest.raises(ConfigError, match=r"cannot be opened \(unable to open database file\); check that you may"):
        Store(tmp_path / "study.db")


def test_a_study_stored_by_an_earlier_version_still_reads_and_a_foreign_one_is_a_clear_error(tmp_path: Path) -> None:
    study = study_config()
    with Store(tmp_path / "study.db") as store:
        store.register(study, expand(study))
        stored = json.loads(store.connection.execute("SELECT config FROM studies").fetchone()[0])
        stored["execution"]["cpus"] = None  # what stores written before 1 thread per run hold
        store.connection.execute("UPDATE studies SET config=?", (json.dumps(stored),))
        assert store.study().execution.cpus == 1
        stored["execution"]["cpus"] = "many"
        store.connection.execute("UPDATE studies SET config=?", (json.dumps(stored),))
        with pytest.raises(ConfigError, match=r"(?s)holds a study this noisetrain cannot read: .*execution.cpus"):
            store.study()
