"""Running a study on the local backend: outcomes stored, finished runs skipped, failures recorded."""

import importlib
import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from noisetrain.registry import ConfigError
from noisetrain.study.execute import GroupTask, Outcome, Task
from noisetrain.study.runner import DB, Executor, exclusive, plan, run_study
from noisetrain.study.store import Store

from studykit import FAILING, study_config


def test_a_study_runs_every_run_once_and_a_rerun_skips_them(tmp_path: Path) -> None:
    study = study_config()
    events = []
    result = run_study(study, tmp_path, workers=2, on_event=events.append)
    assert result.total == 6 and result.skipped == 0 and result.statuses == {"completed": 6}
    finishes = [e for e in events if e.kind == "finish"]
    assert [e.done for e in finishes] == [1, 2, 3, 4, 5, 6] and finishes[-1].running == 0
    assert max(e.running for e in events) == 6  # two workers, each training a stacked model of three runs
    with Store(tmp_path / DB) as store:
        runs = store.runs()
        assert set(runs.status) == {"completed"} and set(runs.attempts) == {1}
        records = store.records()
        accuracy = records[(records.measure == "clean") & (records.metric == "accuracy")]
        assert len(accuracy) == 6 and accuracy.value.between(0, 1).all()
        examples = store.examples("clean", "accuracy")  # each run's per-example correctness, from the worker
        assert set(examples) == set(runs.key) and {len(v) for v in examples.values()} == {int(accuracy.n.iloc[0])}
        key = accuracy.key.iloc[0]
        assert examples[key].mean() == pytest.approx(accuracy.set_index("key").value[key])
        metrics = store.metrics()
        assert set(metrics.epoch) == {1} and {"train_loss", "val_accuracy"} <= set(metrics.name)
        environment = json.loads(store.connection.execute("SELECT environment FROM runs LIMIT 1").fetchone()[0])
        assert environment["torch"] and environment["device"] == "cpu" and "git_commit" in environment
    assert (tmp_path / "runs" / runs.key[0] / "checkpoint.pt").is_file()
    assert (tmp_path / "study.yaml").is_file()

    again = run_study(study, tmp_path, workers=1)
    assert again.skipped == 6 and not again.statuses
    # a grown grid runs only its new runs
    grown = run_study(study_config(noise={"gaussian": [{"kind": "gaussian", "std": [0.1, 0.3, 0.5]}]}), tmp_path)
    assert grown.total == 8 and grown.skipped == 6 and grown.statuses == {"completed": 2}


def test_a_diverging_run_is_recorded_and_the_study_goes_on(tmp_path: Path) -> None:
    study = study_config(train={"epochs": 2, "optimizer": {"kind": "sgd", "lr": [0.01, 1e30]}}, seeds=1, noise={})
    result = run_study(study, tmp_path)
    assert result.statuses == {"completed": 1, "diverged": 1}
    with Store(tmp_path / DB) as store:
        runs = store.runs().set_index("train.optimizer.lr")
        assert runs.loc[1e30, "status"] == "diverged" and "loss" in runs.loc[1e30, "message"]
        # a diverged run's NaN test loss is stored as JSON null, which SQLite's JSON functions read
        losses = store.connection.execute("SELECT json_extract(summary, '$.test_loss') FROM runs").fetchall()
        assert sorted(loss is None for (loss,) in losses) == [False, True]
        records = store.records()
        assert set(records.key) == {runs.loc[0.01, "key"]}  # a diverged model is not evaluated
    assert run_study(study, tmp_path).skipped == 2  # diverged is a result: not run again


@pytest.mark.slow
def test_a_failing_run_is_retried_then_recorded_with_its_error(tmp_path: Path) -> None:
    study = study_config(seeds=1, baseline=False, noise=FAILING)
    result = run_study(study, tmp_path / "study", retries=1)
    assert result.statuses == {"failed": 1}
    with Store(tmp_path / "study" / DB) as store:
        run = store.runs().iloc[0]
        assert run.status == "failed" and run.attempts == 2
        assert run.message.startswith("training failed: ") and "Expected more than 1 value per channel" in run.message
    # failed runs are unfinished: a rerun tries them again
    assert run_study(study, tmp_path / "study").skipped == 0


def test_the_store_refuses_another_schema_version(tmp_path: Path) -> None:
    run_study(study_config(seeds=1, noise={}), tmp_path)
    with sqlite3.connect(tmp_path / DB) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(ConfigError, match="schema version 99; this noisetrain reads version 3"):
        Store(tmp_path / DB)
    with sqlite3.connect(tmp_path / DB) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1  # nothing lost


@pytest.mark.slow
def test_a_changed_study_in_the_same_folder_reads_only_its_own_runs(tmp_path: Path) -> None:
    run_study(study_config(seeds=1), tmp_path)
    changed = run_study(study_config(seeds=1, train={"epochs": 2, "batch_size": 64}), tmp_path)
    assert changed.skipped == 0 and changed.statuses == {"completed": 3}
    with Store(tmp_path / DB) as store:
        assert len(store.runs()) == 3 and len(store.runs(every=True)) == 6  # the earlier runs stay stored
        assert set(store.metrics().epoch) == {1, 2} and len(store.records()) == 3 * len(store.records().key.unique())
        assert store.runs(every=True).current.sum() == 3


def test_a_second_driver_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    with exclusive(tmp_path), pytest.raises(ConfigError, match="another 'noisetrain study run' is running on"):
        run_study(study_config(seeds=1, noise={}), tmp_path)
    with Store(tmp_path / DB) as store:
        assert store.runs().empty


def test_a_measure_that_cannot_run_on_the_data_fails_before_any_run(tmp_path: Path) -> None:
    study = study_config(seeds=1, noise={}, evaluate={"measures": ["clean", "corruptions"]})  # flat digits
    message = r"evaluate.measures\[1\] \(corruptions\) on data 'digits': corruptions need image"
    with pytest.raises(ConfigError, match=message):
        run_study(study, tmp_path)
    assert not (tmp_path / DB).exists()


class BreakingBackend:
    """A process pool whose worker dies whenever run ``bad`` is in flight, losing every task in flight with it."""

    def __init__(self, bad: str) -> None:
        self.bad = bad
        self.tasks: dict[int, Task | GroupTask] = {}
        self.broken: set[int] = set()

    def submit(self, task: Task | GroupTask) -> int:
        self.tasks[len(self.tasks)] = task
        return len(self.tasks) - 1

    def wait(self, handles: list[int]) -> tuple[int, list[Outcome]]:
        if any(self.bad in self.tasks[h].keys for h in handles):
            self.broken |= set(handles)
        handle = handles[0]
        keys = self.tasks[handle].keys
        if handle in self.broken:
            return handle, [Outcome(key, "failed", "worker lost: BrokenProcessPool", 0.0, lost=True) for key in keys]
        return handle, [Outcome(key, "completed", "ok", 0.0, {"best_epoch": 1}, [], [], {}) for key in keys]

    def close(self) -> None:
        pass


@pytest.mark.parametrize("batch", ["auto", "off"])
def test_a_run_that_kills_its_pool_fails_alone_and_the_others_complete(tmp_path: Path, batch: str) -> None:
    study, runs = plan(study_config(execution={"retries": 0, "workers": 3, "batch": batch}))
    bad = runs[1].key  # with batch auto, in a group with runs[0]
    with Store(tmp_path / DB) as store:
        executor = Executor(study, store, tmp_path, len(runs), None)
        executor.backend = BreakingBackend(bad)
        executor.run(runs, plan=True)
        assert executor.result.statuses == {"completed": 5, "failed": 1}
        frame = store.runs().set_index("key")
        assert frame.loc[bad, "status"] == "failed" and frame.loc[bad, "message"].startswith("worker lost")
        # the runs lost with it were not charged: each ran once more, alone, and completed
        assert (frame.drop(bad).status == "completed").all() and frame.loc[runs[0].key, "attempts"] == 2


def test_the_plan_loads_each_data_set_once_for_all_its_models(monkeypatch: pytest.MonkeyPatch) -> None:
    run_module = importlib.import_module("noisetrain.train.run")  # the module, not the function train.run
    loads = []
    real = run_module.load_data
    monkeypatch.setattr(run_module, "load_data", lambda spec: loads.append(spec) or real(spec))
    _, runs = plan(study_config(model={"kind": "mlp", "widths": [[8], [16]]}))
    assert len(runs) == 12 and loads == [{"kind": "digits"}]


@pytest.mark.slow
def test_one_or_two_workers_give_the_same_numbers(tmp_path: Path) -> None:
    study = study_config(evaluate={"measures": ["clean", "calibration"]})
    frames = []
    for workers in (1, 2):
        run_study(study, tmp_path / str(workers), workers=workers)
        with Store(tmp_path / str(workers) / DB) as store:
            records = store.records()[["key", "measure", "metric", "setting", "value"]]
            frames.append(records.sort_values(["key", "measure", "metric", "setting"]).reset_index(drop=True))
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)  # every digit, every bin


def test_the_plan_takes_a_study_file_or_a_mapping_and_names_anything_else(tmp_path: Path) -> None:
    """``run_study("s1.yaml")`` was an AttributeError ('str' object has no attribute 'execution')."""
    from studykit import tiny_study, write_study

    path = write_study(tmp_path, tiny_study())
    keys = [run.key for run in plan(study_config())[1]]
    assert [run.key for run in plan(path)[1]] == [run.key for run in plan(str(path))[1]] == keys
    assert [run.key for run in plan(tiny_study())[1]] == keys
    with pytest.raises(TypeError, match="a study is a StudyConfig, a mapping or a study file's path, got int"):
        plan(3)
