"""``noisetrain.study.open``: a real tiny study's results as DataFrames, read-only, equal to the report's numbers."""

import hashlib
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import noisetrain.study
from noisetrain.registry import ConfigError
from noisetrain.report.comparisons import headline
from noisetrain.report.data import load
from noisetrain.report.tables import headline_tables
from noisetrain.study.grid import expand
from noisetrain.study.runner import exclusive, run_study
from noisetrain.study.store import Store

from studykit import study_config

SEEDS = 3
SWEEP = {"kind": "noise_sweep", "kinds": ["gaussian"], "strengths": {"gaussian": [0.0, 0.2]}}
README = Path(__file__).parents[2] / "README.md"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished study: baseline and gaussian std 0.1/0.3, 3 seeds, clean accuracy and a noise sweep (9 runs)."""
    folder = tmp_path_factory.mktemp("results")
    study = study_config(seeds=SEEDS, evaluate={"measures": ["clean", SWEEP]})
    assert run_study(study, folder, workers=1).statuses == {"completed": 3 * SEEDS}
    return folder


def state(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file directly in ``folder``: its modification time and content hash."""
    return {p.name: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()) for p in folder.iterdir()
            if p.is_file()}  # fmt: skip


def test_a_study_opens_as_frames_with_the_reports_numbers_and_nothing_on_disk_changes(folder: Path) -> None:
    before = state(folder)
    results = noisetrain.study.open(folder)
    runs, metrics, records, table = results.runs(), results.metrics(), results.records(), results.headline()
    assert state(folder) == before  # no -wal or -shm file either

    assert len(runs) == 3 * SEEDS and set(runs.status) == {"completed"} and runs.key.is_unique
    assert {"key", "arm", "label", "seed", "status", "seconds", "noise.gaussian.std", "context", "name"} <= set(runs)
    assert sorted(runs.groupby("label").seed.apply(sorted).tolist()) == [list(range(SEEDS))] * 3
    assert set(runs.arm) == {"baseline", "gaussian"} and "test_set" not in runs

    assert list(metrics.columns[:4]) == ["key", "epoch", "metric", "value"]
    assert {"arm", "label", "seed", "status", "context"} <= set(metrics) and set(metrics.key) == set(runs.key)
    assert set(metrics.epoch) == {1} and {"train_loss", "val_accuracy"} <= set(metrics.metric)
    assert not metrics.duplicated(["key", "epoch", "metric"]).any()
    noise = set(metrics[metrics.arm == "gaussian"].metric) - set(metrics[metrics.arm == "baseline"].metric)
    assert noise == {"noise/input/gaussian.std"}  # each run's own metrics

    clean = records[(records.measure == "clean") & (records.metric == "accuracy")]
    assert len(clean) == 3 * SEEDS and clean.value.between(0, 1).all() and (clean.ci_low <= clean.value).all()
    swept = records[(records.measure == "noise_sweep") & (records.metric == "accuracy")]
    assert len(swept) == 3 * SEEDS * 2 and set(swept["setting.strength"]) == {0.0, 0.2}
    assert set(swept["setting.kind"]) == {"gaussian"} and clean["setting.strength"].isna().all()
    assert {"key", "setting", "n", "arm", "label", "seed", "context", "noise.gaussian.std"} <= set(records)

    data = load(folder)  # what the report reads, with its own (read-write) store
    pd.testing.assert_frame_equal(runs, data.runs.drop(columns="test_set"))
    expected = headline(data)
    assert len(table) == 3 and table.n.tolist() == [SEEDS] * 3
    pd.testing.assert_frame_equal(table.drop(columns="verdict"), expected)
    shown = headline_tables(data, expected)[0].shown  # the report's main table, as text
    assert table.verdict.tolist() == shown.verdict.tolist()
    assert set(table.verdict) <= {"baseline", "better", "worse", "n.s.", "n.s., low power", "not testable"}
    assert table.loc[table.arm == "baseline", "diff"].isna().all() and table.p_holm.dropna().between(0, 1).all()
    assert repr(results) == "<Results of study 'tiny': 9 runs, 9 counted>"


def test_a_running_study_opens_without_waiting_and_shows_what_is_committed(folder: Path, tmp_path: Path) -> None:
    shutil.copy(folder / "study.db", tmp_path / "study.db")
    with exclusive(tmp_path), Store.of(tmp_path) as driver:  # a live driver: it holds the lock and the store
        running, other = driver.runs().key.iloc[[0, -1]]
        driver.start(running)
        driver.connection.execute("BEGIN IMMEDIATE")  # a write in progress
        driver.connection.execute("UPDATE runs SET status='failed' WHERE key=?", (other,))
        results = noisetrain.study.open(tmp_path)
        driver.connection.execute("ROLLBACK")
    status = results.runs().set_index("key").status
    assert status[running] == "running" and status[other] == "completed"
    assert sorted(results.headline().n) == [SEEDS - 1, SEEDS, SEEDS]  # a running run does not count
    assert results.metrics().groupby("status").key.nunique().to_dict() == {"completed": 3 * SEEDS - 1, "running": 1}
    assert noisetrain.study.open(tmp_path).runs().set_index("key").status[running] == "interrupted"  # driver gone


def test_a_study_that_has_just_started_has_runs_and_an_empty_headline(tmp_path: Path) -> None:
    study = study_config(seeds=SEEDS)
    with exclusive(tmp_path), Store(tmp_path / "study.db") as driver:
        driver.register(study, expand(study), plan=True)
        results = noisetrain.study.open(tmp_path)
    assert len(results.runs()) == 3 * SEEDS and set(results.runs().status) == {"pending"}
    assert results.metrics().empty and results.records().empty
    table = results.headline()
    assert table.empty and {"mean", "diff", "p_holm", "verdict", "cost"} <= set(table)


def test_a_killed_drivers_last_write_is_read_from_its_log_and_left_there(folder: Path, tmp_path: Path) -> None:
    shutil.copy(folder / "study.db", tmp_path / "study.db")
    key = noisetrain.study.open(folder).runs().key.iloc[0]
    kill = ("import os, sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "db.execute(\"UPDATE runs SET status='failed' WHERE key=?\", (sys.argv[2],)); os._exit(9)")  # fmt: skip
    subprocess.run([sys.executable, "-c", kill, str(tmp_path / "study.db"), key], check=False)
    before = {name: found for name, found in state(tmp_path).items() if name != "study.db-shm"}  # SQLite's index
    assert before["study.db-wal"] != (0, hashlib.sha256(b"").hexdigest())
    assert noisetrain.study.open(tmp_path).runs().set_index("key").status[key] == "failed"
    assert {name: found for name, found in state(tmp_path).items() if name != "study.db-shm"} == before


def test_a_folder_without_a_readable_study_is_a_one_line_error(folder: Path, tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    with pytest.raises(ConfigError, match=re.escape(f"no study store at {str(path)!r}; run 'noisetrain study run'")):
        noisetrain.study.open(tmp_path)
    assert not any(tmp_path.iterdir())  # nothing created
    path.write_text("not a database")
    with pytest.raises(ConfigError, match=f"store {re.escape(repr(str(path)))} cannot be read as a noisetrain study"):
        noisetrain.study.open(tmp_path)
    shutil.copy(folder / "study.db", path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=2")
    with pytest.raises(ConfigError, match="schema version 2; this noisetrain reads version 3; 'noisetrain report' up"):
        noisetrain.study.open(tmp_path)


def test_the_readme_example_runs(folder: Path) -> None:
    (block,) = re.findall(r"```python\n(import noisetrain\.study\n.*?)```", README.read_text(), re.S)
    namespace: dict = {}
    exec(block.replace("studies/digits_noise", str(folder)), namespace)
    assert namespace["sweep"].label.nunique() == 3 and set(namespace["curves"].epoch) == {1}
