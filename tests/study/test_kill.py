"""A study killed with SIGKILL mid-way leaves no orphan workers and resumes: finished runs are skipped, none is
duplicated or half-written."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from noisetrain.study.config import load_study
from noisetrain.study.runner import DB, run_study
from noisetrain.study.store import Store

from studykit import tiny_study, write_study

DRIVER = "import sys; from noisetrain.study import *; run_study(load_study(sys.argv[1]), sys.argv[2])"
COMMAND = "import sys; from noisetrain.cli import main; sys.argv[0] = 'noisetrain'; main()"
"""The command line, as ``noisetrain study run``: runs the study, then writes its report."""


def finished(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM runs WHERE status='completed'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (Linux /proc): the fork server, its workers, the resource tracker."""
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in map(int, (task / "children").read_text().split()):
                found += [child, *descendants(child)]
    except FileNotFoundError:  # it ended meanwhile
        pass
    return found


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def outliving(pids: list[int], seconds: float) -> list[int]:
    """Those of ``pids`` still alive after ``seconds`` (sooner when none is)."""
    deadline = time.monotonic() + seconds
    while [pid for pid in pids if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads child processes from Linux /proc")
def test_sigkill_mid_study_then_resume(tmp_path: Path) -> None:
    noise = {"gaussian": [{"kind": "gaussian", "std": [0.1, 0.2, 0.3]}]}
    study = tiny_study(train={"epochs": 3, "batch_size": 32}, noise=noise, execution={"batch": "off"})  # 8 tasks
    path, folder = write_study(tmp_path, study), tmp_path / "study"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(path), str(folder)])
    deadline = time.monotonic() + 120
    while finished(folder / DB) < 2 and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.02)
    workers = descendants(driver.pid)
    os.kill(driver.pid, signal.SIGKILL)  # the driver alone: its workers must not go on as orphans
    driver.wait()
    assert len(workers) >= 2 and not outliving(workers, 5), "workers outlived their driver by 5 s"
    done_before = finished(folder / DB)
    assert 2 <= done_before < 8, "the study should have been killed part-way"

    result = run_study(load_study(path), folder)
    assert result.skipped == done_before and sum(result.statuses.values()) == 8 - done_before
    with Store(folder / DB) as store:
        runs = store.runs()
        assert len(runs) == 8 and runs.key.is_unique and set(runs.status) == {"completed"}
        records = store.records()
        assert records.groupby("key").size().nunique() == 1  # every run has its full set of records
        assert len(records) == 8 * records.groupby("key").size().iloc[0]
        metrics = store.metrics()
        assert not metrics.duplicated(["key", "epoch", "name"]).any() and set(metrics.groupby("key").epoch.max()) == {3}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads child processes from Linux /proc")
@pytest.mark.parametrize(
    ("started", "seconds"), [(1, 20), (4, 5)], ids=["fork server importing", "workers starting"]
)  # the server finishes its imports before it sees the driver gone
def test_sigkill_while_the_pool_starts_leaves_no_orphan(tmp_path: Path, started: int, seconds: float) -> None:
    study = tiny_study(execution={"workers": 2})
    path, folder = write_study(tmp_path, study), tmp_path / "study"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(path), str(folder)])
    deadline = time.monotonic() + 120
    below: list[int] = []
    while len(below) < started and time.monotonic() < deadline and driver.poll() is None:
        below = descendants(driver.pid)  # the fork server (importing torch), then its 2 workers (starting)
        time.sleep(0.005)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    assert len(below) >= started and finished(folder / DB) == 0  # killed while the pool started, before any run
    assert not outliving(below, seconds), f"processes outlived their driver by {seconds} s"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads child processes from Linux /proc")
def test_sigkill_after_the_last_run_then_run_again_writes_the_whole_report(tmp_path: Path) -> None:
    path, folder = write_study(tmp_path, tiny_study(execution={"workers": 2})), tmp_path / "study"
    command = [sys.executable, "-c", COMMAND, "study", "run", str(path), "-o", str(folder)]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while finished(folder / DB) < 6 and time.monotonic() < deadline and driver.poll() is None:
        workers = descendants(driver.pid) or workers
        time.sleep(0.01)
    os.kill(driver.pid, signal.SIGKILL)  # the runs are stored; the pool closes or the report is being written
    driver.wait()
    assert workers and not outliving(workers, 5), "workers outlived their driver by 5 s"
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "6 runs: 6 already finished" in again.stdout + again.stderr  # nothing ran twice
    assert (folder / "report" / "report.html").stat().st_size > 10_000 and (folder / "report" / "summary.md").is_file()
    assert not list(folder.rglob(".*.tmp")), "a temporary file of the killed driver was left behind"
