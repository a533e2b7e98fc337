"""The local backend's workers: forked from a fork server where the platform has one, with the driver's
environment as the pool starts and the study's torch threads."""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import pytest
import torch

from noisetrain.study.backends import PRELOAD, _context, _start_worker


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
