"""One run of a study, in a worker: train, evaluate, and return the outcome as plain data.

``execute`` never raises for a run's own failure: an exception becomes an outcome with status
``"failed"`` and the traceback's last lines, so one bad run never stops a study. It writes only the
run's folder (checkpoint, metrics); the driver writes the store.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..train.environment import environment

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


def execute(task: Task) -> Outcome:
    """Train ``task.config`` (``noisetrain.train.run``), then run its measures; failures become outcomes."""
    from ..evaluate import evaluate
    from ..train import run

    torch.set_num_threads(task.threads)
    start = time.perf_counter()
    outcome = Outcome(task.key, "failed", "", 0.0, environment=environment(task.config.get("device", "cpu")))
    try:  # a run's failure is its outcome, never the study's
        result = run(task.config, output=task.folder)
        outcome.status, outcome.message = result.train.status, result.train.message
        outcome.summary, outcome.history = result.summary(), result.train.history
    except Exception as error:
        outcome.message = failure("training", error)
    if outcome.status not in ("failed", "diverged"):
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


