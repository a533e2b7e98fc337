"""Runs that differ only by seed train as one batched model (``execution.batch: auto``): the store gets what the
single runs give, within float rounding; groups that cannot batch run singly and the runner says why."""

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from noisetrain.registry import ConfigError
from noisetrain.report.comparisons import headline
from noisetrain.report.data import load
from noisetrain.report.summary import findings
from noisetrain.study.execute import GroupTask, Outcome, Task, perform
from noisetrain.study.runner import DB, Event, Executor, batch_plan, plan, run_study
from noisetrain.study.store import Store
from noisetrain.train import load_run, run

from studykit import study_config

TOLERANCE = 1e-5
ARMS = {
    "gaussian": [{"kind": "gaussian", "std": 0.3}],
    "dropout": [{"kind": "dropout", "p": 0.2, "at": "output:ReLU"}],
}
TRAIN = {"epochs": 4, "batch_size": 64, "early_stopping": {"patience": 1}}


class InlineBackend:
    """Runs each task in this process when it is submitted."""

    def __init__(self) -> None:
        self.outcomes: dict[int, list[Outcome]] = {}
        self.tasks: list[Task | GroupTask] = []

    def submit(self, task: Task | GroupTask) -> int:
        self.tasks.append(task)
        self.outcomes[len(self.tasks)] = perform(task)
        return len(self.tasks)

    def wait(self, handles: list[int]) -> tuple[int, list[Outcome]]:
        return handles[0], self.outcomes.pop(handles[0])

    def close(self) -> None:
        pass


class Tracker:
    """Records the keys the runner logs and syncs."""

    def __init__(self) -> None:
        self.logged: list[str] = []

    def sync(self, store: Store, keys: list[str]) -> None:
        self.logged += keys

    def log(self, store: Store, keys: list[str]) -> None:
        self.logged += keys


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def execute(folder: Path, backend: Any, **execution: Any) -> tuple[Executor, list[Event]]:
    study, runs = plan(study_config(train=TRAIN, seeds=3, noise=ARMS, execution=execution))
    events: list[Event] = []
    with Store(folder / DB) as store:
        executor = Executor(study, store, folder, len(runs), events.append)
        executor.backend, executor.tracker = backend, Tracker()
        executor.run(runs, plan=True)
    return executor, events


def stored(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with Store(folder / DB) as store:
        runs = store.runs().set_index("key").sort_index()
        metrics = store.metrics().query("name != 'seconds'").set_index(["key", "epoch", "name"]).sort_index()
        records = store.records().set_index(["key", "measure", "metric", "setting"]).sort_index()
    return runs, metrics, records


def test_batched_groups_store_what_single_runs_store(tmp_path: Path, one_thread: None) -> None:
    batched, events = execute(tmp_path / "auto", InlineBackend(), batch="auto")
    single, _ = execute(tmp_path / "off", InlineBackend(), batch="off")
    kinds = [type(task).__name__ for task in batched.backend.tasks]
    assert kinds == ["GroupTask", "Task", "Task", "Task"]  # baseline and gaussian batched together, dropout not
    assert all(type(task) is Task for task in single.backend.tasks)
    notes = [e.message for e in events if e.kind == "note"]
    assert notes[0] == "batched, 6 runs as 1 stacked model: baseline, gaussian"
    assert notes[1] == (
        "not batched (dropout): noise[0] (dropout) acts at 'output'; batched members take noise at 'input' only"
    )
    assert len(notes) == 2
    assert [e.running for e in events if e.kind == "start"][:6] == [6] * 6  # a group's runs start together
    assert batched.result.statuses == single.result.statuses and sum(batched.result.statuses.values()) == 9
    assert sorted(batched.tracker.logged) == sorted(single.tracker.logged) and len(batched.tracker.logged) == 9

    (runs, metrics, records), (runs_off, metrics_off, records_off) = stored(tmp_path / "auto"), stored(tmp_path / "off")
    assert runs.index.equals(runs_off.index) and set(runs.attempts) == {1}
    pd.testing.assert_series_equal(runs.status, runs_off.status)
    pd.testing.assert_series_equal(runs.best_epoch, runs_off.best_epoch)
    assert metrics.index.equals(metrics_off.index) and records.index.equals(records_off.index)
    assert metrics.value.to_numpy() == pytest.approx(metrics_off.value.to_numpy(), rel=TOLERANCE, abs=1e-7)
    assert records.value.to_numpy() == pytest.approx(records_off.value.to_numpy(), rel=TOLERANCE, abs=1e-7)
    with Store(tmp_path / "auto" / DB) as store:
        environments = store.runs(details=True).set_index("arm").environment
        assert '"batched": 6' in environments["gaussian"].iloc[0] and "batched" not in environments["dropout"].iloc[0]

    # a stacked run's epoch times are shares of its stack's: the report gives it no cost, and none to the arms
    # compared with a stacked baseline; runs trained alone have theirs
    data = {batch: load(tmp_path / batch) for batch in ("auto", "off")}
    tables = {batch: headline(found) for batch, found in data.items()}
    costs = {batch: table.set_index("label")["cost"] for batch, table in tables.items()}
    assert costs["auto"].isna().all() and costs["off"].gt(0).all() and costs["off"]["baseline"] == 1
    said = {batch: [f.text for f in findings(data[batch], tables[batch]) if f.kind == "cost"] for batch in data}
    assert "trained stacked with other runs (execution.batch: auto)" in said["auto"][0]
    assert "the baseline's time per epoch" in said["off"][0]

    # a member's folder holds what a single run writes; its checkpoint loads for evaluation, not for resume
    key = runs.index[runs.arm == "gaussian"][0]
    folder = tmp_path / "auto" / "runs" / key
    assert {p.name for p in folder.iterdir()} == {p.name for p in (tmp_path / "off" / "runs" / key).iterdir()}
    config, _, model = load_run(folder / "checkpoint.pt")
    assert config.seed == runs.seed[key] and not model.training
    with pytest.raises(ConfigError, match="written by a batched group of runs, which keeps no optimizer state"):
        run(config, output=folder, resume=True)

    # a finished study runs nothing again
    again, events = execute(tmp_path / "auto", InlineBackend(), batch="auto")
    assert again.result.skipped == 9 and not again.backend.tasks and not events


class GroupFailing(InlineBackend):
    """Every batched group fails as a whole (as an exception in its training would); single runs complete."""

    def submit(self, task: Task | GroupTask) -> int:
        self.tasks.append(task)
        if isinstance(task, GroupTask):
            failed = "batched training failed: Traceback ...\nRuntimeError: boom\n"
            self.outcomes[len(self.tasks)] = [Outcome(key, "failed", failed, 0.0) for key in task.keys]
        else:
            self.outcomes[len(self.tasks)] = [Outcome(task.key, "completed", "ok", 0.0, {"best_epoch": 1})]
        return len(self.tasks)


def test_a_group_that_fails_as_a_whole_runs_again_singly_uncharged(tmp_path: Path) -> None:
    study, runs = plan(study_config(seeds=3, execution={"retries": 0}))
    events: list[Event] = []
    with Store(tmp_path / DB) as store:
        executor = Executor(study, store, tmp_path, len(runs), events.append)
        executor.backend = GroupFailing()
        executor.run(runs, plan=True)
        assert executor.result.statuses == {"completed": 9}  # retries 0: the group's failure was not charged
        assert set(store.runs().attempts) == {2}
    notes = [e.message for e in events if e.kind == "note"]
    failed = "batched group failed (baseline, gaussian std=0.1, gaussian std=0.3): RuntimeError: boom; its runs run"
    assert notes[1] == f"{failed} again singly"
    assert [e.kind for e in events].count("retry") == 9


def test_batch_off_changes_no_run_key() -> None:
    auto = plan(study_config(seeds=3))[1]
    study, off = plan(study_config(seeds=3, execution={"batch": False}))  # YAML's reading of a bare off
    assert study.execution.batch == "off" and [r.key for r in auto] == [r.key for r in off]
    with pytest.raises(ConfigError, match=r"execution\.batch: Input should be 'auto' or 'off'"):
        study_config(execution={"batch": "on"})


@pytest.mark.slow
def test_a_study_on_two_workers_gives_the_same_results_batched_or_not(tmp_path: Path) -> None:
    from noisetrain.report import build_report

    results = {}
    for batch in ("auto", "off"):
        study = study_config(train=TRAIN, seeds=3, noise=ARMS, execution={"batch": batch, "workers": 2})
        results[batch] = run_study(study, tmp_path / batch)
    assert results["auto"].statuses == results["off"].statuses and sum(results["auto"].statuses.values()) == 9
    (runs, metrics, records), (runs_off, metrics_off, records_off) = stored(tmp_path / "auto"), stored(tmp_path / "off")
    pd.testing.assert_series_equal(runs.best_epoch, runs_off.best_epoch)
    assert metrics.value.to_numpy() == pytest.approx(metrics_off.value.to_numpy(), rel=TOLERANCE, abs=1e-7)
    assert records.value.to_numpy() == pytest.approx(records_off.value.to_numpy(), rel=TOLERANCE, abs=1e-7)
    report = build_report(tmp_path / "auto")
    assert report.page is not None and report.page.is_file()


@pytest.mark.parametrize(("workers", "sizes"), [(1, [9]), (2, [5, 4]), (4, [3, 2, 2, 2]), (8, [3, 2, 2, 2])])
def test_arms_of_input_noise_batch_together_split_over_the_workers(workers: int, sizes: list[int]) -> None:
    noise = {"gaussian": [{"kind": "gaussian", "std": [0.1, 0.3]}], "dropout": ARMS["dropout"]}
    runs = plan(study_config(train=TRAIN, seeds=3, noise=noise))[1]
    units, notes = batch_plan(runs, "auto", workers)
    batched = [unit for unit in units if len(unit) > 1]
    assert [len(unit) for unit in batched] == [size for size in sizes if size > 1]
    assert sorted(run.key for unit in units for run in unit) == sorted(run.key for run in runs)
    assert {run.arm for unit in batched for run in unit} == {"baseline", "gaussian"}
    assert sum(len(unit) == 1 and unit[0].arm == "dropout" for unit in units) == 3
    models = len(batched)
    assert notes[0][1] == (f"batched, {sum(map(len, batched))} runs as {models} stacked model{'s' * (models > 1)}: "
                           "baseline, gaussian std=0.1, gaussian std=0.3")  # fmt: skip
