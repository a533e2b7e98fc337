"""The local backend's workers: forked from a fork server where the platform has one, with the driver's
environment as the pool starts and the study's torch threads; a script that would start its study again in each
worker (no main guard) is refused."""

import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import torch

from noisetrain.study.backends import PRELOAD, _context, _start_worker, unguarded_main


def pool(threads: int) -> ProcessPoolExecutor:
    """A pool as ``LocalBackend`` starts one."""
    return ProcessPoolExecutor(
        1, mp_context=_context(), initializer=_start_worker, initargs=(threads, dict(os.environ))
    )


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(), reason="no fork server here")
def test_workers_fork_from_a_server_that_imported_torch() -> None:
    assert _context().get_start_method() == "forkserver" and "torch" in PRELOAD
    with pool(1) as workers:
        parent = workers.submit(os.getppid).result()
        assert parent != os.getpid()  # the fork server's child, not the driver's
        assert workers.submit(torch.get_num_threads).result() == 1


def test_a_worker_sees_the_environment_of_its_pools_start(monkeypatch: pytest.MonkeyPatch) -> None:
    with pool(1) as workers:  # the fork server runs from here on, with the environment it started with
        assert workers.submit(os.getenv, "NOISETRAIN_PROBE").result() is None
    monkeypatch.setenv("NOISETRAIN_PROBE", "after")
    monkeypatch.delenv("HOME", raising=False)
    with pool(2) as workers:
        assert workers.submit(os.getenv, "NOISETRAIN_PROBE").result() == "after"
        assert workers.submit(os.getenv, "HOME").result() is None
        assert workers.submit(torch.get_num_threads).result() == 2


SCRIPT = '''\
from noisetrain.study import load_study, run_study
from noisetrain.study.backends import unguarded_main
from noisetrain.study.commands import DEMO


def probe():
    return unguarded_main()


print("top", probe())
if __name__ == '__main__':
    print("guarded", probe())
    print("guarded call", (lambda: probe())())
if "__main__" == __name__ and DEMO.name:
    print("guarded and", probe())
print("after", probe())
run_study(load_study(DEMO, overrides=["seeds=1", "train.epochs=1"]), FOLDER)
'''


def test_a_study_started_at_a_scripts_top_level_is_refused_before_it_starts(tmp_path: Path) -> None:
    script, folder = tmp_path / "script.py", tmp_path / "study"
    script.write_text(SCRIPT.replace("FOLDER", repr(str(folder))))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    printed = ["guarded None", "guarded call None", "guarded and None"]
    assert done.stdout.splitlines() == [f"top {script}:10", *printed, f"after {script}:16"]
    assert done.returncode == 1 and not folder.exists()  # refused before the study's folder was made
    assert done.stderr.splitlines()[-1] == (
        f"noisetrain.registry.ConfigError: {script}:17: run_study is called at the script's top level; local workers "
        "import the main script (Python's spawn and forkserver do), so it would start again in each: put the call "
        """under 'if __name__ == "__main__":'"""
    )


def test_a_call_from_no_script_is_not_refused() -> None:
    assert unguarded_main() is None  # pytest's own entry point calls its main under the guard
    done = subprocess.run(
        [sys.executable, "-c", "from noisetrain.study.backends import unguarded_main; print(unguarded_main())"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout == "None\n"
