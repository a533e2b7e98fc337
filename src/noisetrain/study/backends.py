"""Where runs execute: local worker processes, or Ray tasks on a local instance or a cluster.

A backend takes tasks (``submit``: one run, or a group of runs trained as one batched model) and hands back
their outcomes, one per run, as they finish (``wait``); it never
touches the store. A lost worker (killed, out of memory) gives an outcome with status ``"failed"``;
on the local backend every run in flight is lost with the pool (Python's process pool cannot tell
which worker died), so those outcomes carry ``lost=True`` and the runner runs them again one at a
time to find the culprit. A Ray task's loss is its own.
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import sys
import threading
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # imported where used: a worker must reach its orphan watch before torch is imported
    from .execute import GroupTask, Outcome, Task

PRELOAD = ("torch", "torch._dynamo", "scipy.stats", "noisetrain.study.execute")
"""What the fork server imports once for all workers: what every task imports (the optimisers import
``torch._dynamo``, an accuracy's Clopper-Pearson interval ``scipy.stats``), seconds in each worker otherwise."""


class Backend(Protocol):
    """Runs tasks; ``wait`` blocks until one of the given handles is done and returns its outcomes (one per key)."""

    def submit(self, task: Task | GroupTask) -> Any: ...

    def wait(self, handles: list[Any]) -> tuple[Any, list[Outcome]]: ...

    def close(self) -> None: ...


def lost(task: Task | GroupTask, error: BaseException, *, shared: bool) -> list[Outcome]:
    """The outcomes of a task whose worker was lost; ``shared``: other tasks may have been lost with it."""
    from .execute import Outcome

    message = f"worker lost: {type(error).__name__}: {error}"
    return [Outcome(key, "failed", message, 0.0, lost=shared) for key in task.keys]


def _start_worker(threads: int, environment: dict[str, str]) -> None:
    """End the worker when the driver dies, whatever the moment (e.g. a SIGKILL while the pool starts), so that no
    orphan goes on writing a run's folder that a resumed study runs again; give it the driver's environment as
    the pool started (a forkserver's child would have the server's) and set its torch threads."""
    driver = multiprocessing.parent_process()  # the driver for spawn and forkserver alike: its sentinel ends with it

    def watch() -> None:
        driver.join()
        os._exit(1)

    threading.Thread(target=watch, name="noisetrain-orphan-watch", daemon=True).start()
    os.environ.clear()
    os.environ.update(environment)
    import torch

    torch.set_num_threads(threads)


def _guards_main(test: ast.expr) -> bool:
    """Whether an ``if`` with ``test`` runs its body only in the main process: ``__name__ == "__main__"`` (either
    way round), alone or as a term of an ``and``."""
    terms = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) else [test]
    return any(
        isinstance(term, ast.Compare) and [type(op) for op in term.ops] == [ast.Eq]
        and {ast.unparse(term.left), ast.unparse(term.comparators[0])} == {"__name__", "'__main__'"}
        for term in terms
    )  # fmt: skip


def unguarded_main() -> str | None:
    """``"file:line"`` where the main script, at its top level and outside ``if __name__ == "__main__":``, made
    the call in progress; None when it did not (a guarded call, a function called later, a notebook, a console).

    Spawn and fork-server workers import the main script (Python's rule for those start methods, see "Safe
    importing of main module" in the ``multiprocessing`` docs), so such a call would run again in every worker.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None:
        return None
    frames = (frame for frame, _ in traceback.walk_stack(None) if frame.f_globals is vars(main))
    top = next((frame for frame in frames if frame.f_code.co_name == "<module>"), None)
    if top is None:
        return None
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"), path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    line = top.f_lineno
    guards = (node for node in ast.walk(tree) if isinstance(node, ast.If) and _guards_main(node.test))
    if any(node.body[0].lineno <= line <= (node.body[-1].end_lineno or line) for node in guards):
        return None
    return f"{path}:{line}"


def _context() -> multiprocessing.context.BaseContext:
    """``forkserver`` where the platform has it, else ``spawn``: a fresh interpreter (safe with torch's threads).

    The fork server is started once per driver process and imports torch and noisetrain before any worker, so
    that every pool of the process (a study's, again after a lost worker, the next study's in a notebook) starts
    in a fraction of a second rather than importing them anew in each worker."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


class LocalBackend:
    """A pool of ``workers`` processes, forked by a fork server that has imported torch (see :func:`_context`)."""

    def __init__(self, workers: int, threads: int) -> None:
        self.workers = workers
        self.threads = threads
        self.pool_: ProcessPoolExecutor | None = None
        self.tasks_: dict[Future[list[Outcome]], Task | GroupTask] = {}

    def _pool(self) -> ProcessPoolExecutor:
        if self.pool_ is None:
            self.pool_ = ProcessPoolExecutor(
                self.workers, mp_context=_context(), initializer=_start_worker,
                initargs=(self.threads, dict(os.environ)),
            )  # fmt: skip
        return self.pool_

    def submit(self, task: Task | GroupTask) -> Future[list[Outcome]]:
        from .execute import perform

        try:
            future = self._pool().submit(perform, task)
        except BrokenProcessPool:  # a worker died since the last submit: start a fresh pool
            self.close()
            future = self._pool().submit(perform, task)
        self.tasks_[future] = task
        return future

    def wait(self, handles: list[Future[list[Outcome]]]) -> tuple[Future[list[Outcome]], list[Outcome]]:
        done, _ = wait_futures(handles, return_when=FIRST_COMPLETED)
        future = next(iter(done))
        task = self.tasks_.pop(future)
        try:
            return future, future.result()
        except BrokenProcessPool as error:  # the pool is unusable: the next submit starts a new one
            self.pool_ = None
            return future, lost(task, error, shared=True)

    def close(self) -> None:
        if self.pool_ is not None:
            self.pool_.shutdown(wait=True, cancel_futures=True)
            self.pool_ = None


class RayBackend:
    """Ray tasks of ``cpus``/``gpus`` each, on an existing cluster (``address``) or a new local instance.

    The runs need noisetrain (and the data) on every node. A local instance is started on the
    loopback interface with ``workers * cpus`` CPUs and shut down by ``close``.
    """

    def __init__(self, workers: int, cpus: int, gpus: float, address: str | None = None) -> None:
        self.workers = workers
        self.cpus = cpus
        self.gpus = gpus
        self.address = address
        self.remote_: Any = None
        self.tasks_: dict[Any, Task | GroupTask] = {}
        self.started_ = False

    def _remote(self) -> Any:
        if self.remote_ is None:
            import ray

            if not ray.is_initialized():
                if self.address is None:
                    ray.init(
                        num_cpus=self.workers * self.cpus, num_gpus=None if self.gpus else 0,
                        _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False,
                        configure_logging=False,
                    )  # fmt: skip
                else:
                    ray.init(address=self.address, log_to_driver=False, configure_logging=False)
                self.started_ = True
            from .execute import perform

            self.remote_ = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)(perform)
        return self.remote_

    def submit(self, task: Task | GroupTask) -> Any:
        ref = self._remote().remote(task)
        self.tasks_[ref] = task
        return ref

    def wait(self, handles: list[Any]) -> tuple[Any, list[Outcome]]:
        import ray

        (ref,), _ = ray.wait(handles, num_returns=1)
        task = self.tasks_.pop(ref)
        try:
            return ref, ray.get(ref)
        except (ray.exceptions.RayError, OSError) as error:  # a lost worker or node
            return ref, lost(task, error, shared=False)

    def close(self) -> None:
        if self.started_:
            import ray

            ray.shutdown()
            self.started_ = False
        self.remote_ = None
