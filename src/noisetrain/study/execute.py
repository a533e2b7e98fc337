"""One run of a study, in a worker: train, evaluate, and return the outcome as plain data.

``execute`` never raises for a run's own failure: an exception becomes an outcome with status
``"failed"`` and the traceback's last lines, so one bad run never stops a study. It writes only the
run's folder (checkpoint, metrics); the driver writes the store.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..train.environment import environment

if TYPE_CHECKING:
    from ..train.run import RunResult

TRACEBACK_LINES = 12


@dataclass(frozen=True)
class Task:
    """What a worker needs for one run: its key, resolved config, measures and output folder.

    ``threads``: torch threads of the run, so parallel runs do not oversubscribe the cores.
    """

    key: str
    config: dict[str, Any]
    measures: list[Any]
    settings: dict[str, Any]
    folder: str | None
    threads: int = 1

    @property
    def keys(self) -> list[str]:
        return [self.key]


@dataclass(frozen=True)
class GroupTask:
    """What a worker needs for runs that differ only by seed and input noise, trained as one batched model
    (``noisetrain.train.batched``): their keys, configs and folders, and the measures and threads they share."""

    keys: list[str]
    configs: list[dict[str, Any]]
    measures: list[Any]
    settings: dict[str, Any]
    folders: list[str | None]
    threads: int = 1


@dataclass
class Outcome:
    """What a run produced: status (``completed``, ``early_stopped``, ``diverged`` or ``failed``),
    message, wall time, summary (test metrics, best epoch), per-epoch history, evaluation records
    (``Record.to_dict()``), the environment it ran in and the records' per-example values by
    ``(measure, metric)``; ``lost``: it failed because a worker died that other runs shared (the culprit is unknown)."""

    key: str
    status: str
    message: str
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    examples: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    lost: bool = False


def perform(task: Task | GroupTask) -> list[Outcome]:
    """The outcomes of a task, one per key: ``execute`` or ``execute_group``."""
    return execute_group(task) if isinstance(task, GroupTask) else [execute(task)]


def execute(task: Task) -> Outcome:
    """Train ``task.config`` (``noisetrain.train.run``), then run its measures; failures become outcomes."""
    from ..train import run

    torch.set_num_threads(task.threads)
    start = time.perf_counter()
    outcome = Outcome(task.key, "failed", "", 0.0, environment=environment(task.config.get("device", "cpu")))
    try:  # a run's failure is its outcome, never the study's
        result = run(task.config, output=task.folder)
    except Exception as error:
        outcome.message = failure("training", error)
        outcome.seconds = time.perf_counter() - start
        return outcome
    return evaluated(outcome, result, task, start)


def execute_group(task: GroupTask) -> list[Outcome]:
    """Train ``task.configs`` as one batched model (``run_batched``), then run each member's measures as
    ``execute`` does; a failed batched training fails every member with its error. A member's ``seconds`` are its
    share of the training plus its own evaluation."""
    from ..train.batched import run_batched

    torch.set_num_threads(task.threads)
    start = time.perf_counter()
    ran_in = {**environment(task.configs[0].get("device", "cpu")), "batched": len(task.keys)}
    try:
        results = run_batched(task.configs, outputs=task.folders)
    except Exception as error:
        message = failure("batched training", error)
        return [Outcome(key, "failed", message, time.perf_counter() - start, environment=ran_in) for key in task.keys]
    outcomes = []
    for key, result in zip(task.keys, results, strict=True):
        outcome = Outcome(key, "failed", "", 0.0, environment=ran_in)
        outcomes.append(evaluated(outcome, result, task, time.perf_counter() - result.train.seconds))
    return outcomes


def evaluated(outcome: Outcome, result: RunResult, task: Task | GroupTask, start: float) -> Outcome:
    """``outcome`` with the trained run's status, summary and history, and the records of the task's measures
    (unless it diverged); ``start``: when its time began."""
    from ..evaluate import evaluate

    outcome.status, outcome.message = result.train.status, result.train.message
    outcome.summary, outcome.history = result.summary(), result.train.history
    if outcome.status != "diverged":
        try:
            found = evaluate(result.model, result.data, task.measures, **task.settings)
            outcome.records = [r.to_dict() for r in found]
            outcome.examples = {(r.measure, r.metric): r.examples for r in found if r.examples is not None}
        except Exception as error:  # the training history stays with the run
            outcome.status, outcome.message = "failed", failure("evaluation", error)
    outcome.seconds = time.perf_counter() - start
    return outcome


def failure(stage: str, error: Exception) -> str:
    """``"<stage> failed: "`` and the last lines of the traceback."""
    lines = traceback.format_exception(error)
    return f"{stage} failed: " + "".join(lines[-TRACEBACK_LINES:])


