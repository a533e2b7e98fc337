"""Run a study: expand and validate it, skip what the store has finished, execute the rest, store each outcome.

The study folder holds ``study.db`` (the store), ``study.yaml`` (the validated study) and
``runs/<key>/`` (each run's checkpoint and metric files). The driver alone writes the store, one
transaction per outcome; a study killed at any point (SIGKILL included) and run again skips its
finished runs and reruns the unfinished ones (and the failed ones). A failed run is retried up to
``execution.retries`` times, then recorded with its error; a diverged run is a result. Neither
stops the study. With ``execution.batch: auto`` the runs that differ only by seed and input noise train as one
batched model (in up to ``workers`` parts) wherever ``noisetrain.train.batched.batchable`` accepts them; each is
stored as its own run.

Example:
    >>> result = run_study(load_study("study.yaml"), workers=2)
    >>> result.statuses   # Counter({'completed': 22, 'diverged': 1})
"""

from __future__ import annotations

import fcntl
import json
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import parse
from ..data import Dataset
from ..evaluate.keys import metric
from ..files import make_folder, remove_leftovers, write_atomic
from ..registry import ConfigError
from .backends import Backend, LocalBackend, RayBackend, unguarded_main
from .config import ReportConfig, StudyConfig, as_study
from .execute import GroupTask, Outcome, Task
from .grid import RunSpec, arm_fields, expand
from .search import check_search, optuna_search, random_values, with_values
from .store import DB, Store
from .tracking import check_tracking, open_tracker

LOCK = "study.lock"


@dataclass(frozen=True)
class Event:
    """A change the progress display shows: ``kind`` is ``"start"``, ``"retry"`` or ``"finish"`` of ``run``, or
    ``"note"``: ``message`` tells what the runner chose for some runs (``run`` is one of them), e.g. which groups
    of seeds train as one batched model and why others do not. ``running``: runs in flight."""

    kind: str
    run: RunSpec
    outcome: Outcome | None
    done: int
    total: int
    running: int
    failed: int
    message: str = ""


@dataclass
class StudyResult:
    """Where the study lives and what this invocation did: runs skipped (already finished) and run."""

    folder: Path
    total: int
    skipped: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


def default_folder(study: StudyConfig) -> Path:
    """``studies/<name>`` under the working directory."""
    return Path("studies") / study.name


def plan(study: StudyConfig | Mapping[str, Any] | str | Path, **execution: Any) -> tuple[StudyConfig, list[RunSpec]]:
    """The study (``as_study``: a config, a mapping or a study file's path) with execution overrides (``workers``,
    ``backend``, ``address``, ``retries``; None keeps the file's) and its validated runs; every error is raised
    here, before anything runs.

    A random search's values are drawn here and become the searched arm's grid. An Optuna search's
    arm is left out of the runs (its trials are asked for while the study runs) and validated at
    both ends of its range. Each distinct data set is loaded (and each model built) once, to check
    the measures against it.
    """
    from ..evaluate import check_measures, get_measure

    study = as_study(study)
    overrides = {k: v for k, v in execution.items() if v is not None}
    if overrides:
        execution = {**study.execution.model_dump(), **overrides}
        study = parse(StudyConfig, {**study.model_dump(), "execution": execution})
    backend = study.execution
    if backend.backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError("execution.backend 'ray' needs Ray: pip install 'noisetrain[ray]'") from None
    elif backend.address is not None:
        raise ConfigError(f"execution.address {backend.address!r} is a Ray cluster address; it needs backend 'ray'")
    if backend.tracking is not None:
        check_tracking(backend.tracking.kind)
    try:
        planned = check_measures(study.evaluate.measures, study.evaluate.settings)
    except ConfigError as error:
        raise ConfigError(f"evaluate.{error}" if str(error).startswith("measures[") else str(error)) from None
    kinds = [chosen.name for _, chosen, _ in planned]
    report = study.report
    if report.measure not in kinds:
        raise ConfigError(f"report.measure: {report.measure!r} is not among evaluate.measures ({', '.join(kinds)})")
    metrics = get_measure(report.measure).metrics
    if report.metric not in metrics:
        raise ConfigError(f"report.metric: {report.measure} records {', '.join(metrics)}; got {report.metric!r}")
    check_search(study)
    search = study.search
    if search is not None and search.method == "random":
        study = with_values(study, random_values(search))
    if search is None or search.method == "random":
        runs = expand(study)
    else:
        runs = [r for r in expand(with_values(study, [search.low, search.high])) if r.arm != search.arm]
    check_data(runs, planned, report)
    return study, runs


def check_data(runs: list[RunSpec], planned: list[Any], report: ReportConfig) -> None:
    """Load each distinct data set and build each model of ``runs`` once, check the measures and the report's
    metric against them (task, splits, image shapes, ...) and attach each distinct noise recipe to a model built
    for it (a selector that matches nothing, a recipe the model cannot take), so that neither fails a run after
    training started; the device is checked once."""
    from ..evaluate import get_measure
    from ..train.run import attach_checked, build, resolve_device

    for device in dict.fromkeys(run.config.device for run in runs):
        resolve_device(device)
    loaded: dict[str, Dataset] = {}
    models: set[str] = set()
    recipes: set[str] = set()
    for run in runs:
        source = json.dumps(run.config.data, sort_keys=True)
        pair = json.dumps([source, run.config.model], sort_keys=True)
        recipe = json.dumps([pair, run.config.noise], sort_keys=True, default=str)
        if recipe in recipes:
            continue
        recipes.add(recipe)
        data, model = build(run.config, loaded.get(source))
        loaded[source] = data
        try:
            attach_checked(model, run.config, data)
        except ConfigError as error:
            raise ConfigError(f"arm {run.arm!r} ({run.label}): {arm_fields(str(error), run.arm)}") from None
        if pair in models:
            continue
        models.add(pair)
        check_report_metric(report, data, get_measure(report.measure).metrics)
        for index, (_, chosen, options) in enumerate(planned):
            try:
                chosen.check_data(options, data, model)
            except ConfigError as error:
                where = f"evaluate.measures[{index}] ({chosen.name}) on data {data.name!r}"
                raise ConfigError(f"{where}: {error}") from None


def check_report_metric(report: ReportConfig, data: Dataset, recorded: tuple[str, ...]) -> None:
    """Refuse a report metric that the measure does not record for the data's task (``rmse`` of a classifier)."""
    facts = metric(report.metric)
    if not facts.fits(data.task):
        fitting = [m for m in recorded if metric(m).fits(data.task)]
        raise ConfigError(f"report.metric: {report.metric!r} is a {facts.task} metric but data {data.name!r} is "
                          f"{data.task}; use one of {', '.join(fitting)}")


class Executor:
    """Executes runs on a backend, stores their outcomes and logs them to the study's tracker (if any): the
    driver's loop, shared by grids and searches."""

    def __init__(
        self, study: StudyConfig, store: Store, folder: Path, total: int, on_event: Callable[[Event], None] | None
    ) -> None:
        self.study = study
        self.store = store
        self.folder = folder
        self.on_event = on_event
        self.result = StudyResult(folder, total)
        execution = study.execution
        if execution.backend == "local":
            self.backend: Backend = LocalBackend(execution.workers, execution.cpus)
        else:
            self.backend = RayBackend(execution.workers, execution.cpus, execution.gpus, execution.address)
        self.in_flight: dict[Any, list[RunSpec]] = {}
        self.tries: Counter[str] = Counter()
        self.tracker = open_tracker(study, folder)

    def run(self, runs: Iterable[RunSpec], *, plan: bool = False) -> None:
        """Register ``runs`` (``plan``: as the study's current plan), skip the finished ones, execute the others
        (``workers`` tasks at a time) and store their outcomes.

        A task is one run, or a group of runs trained as one batched model (``units``, ``batch_plan``). A
        failed run is run again up to ``retries`` times. A local pool that loses a worker (killed, out of
        memory) loses every run in flight with it, so those runs are not charged: each runs again alone, and
        only a run lost while alone counts the loss as a failure. A group whose every member failed (its training
        raised, or its worker was lost) is not charged either: its members run again singly. The tracker gets each
        stored outcome, and the finished runs skipped that it lacks (``Tracker.sync``).
        """
        runs = list({r.key: r for r in runs}.values())
        self.store.register(self.study, runs, plan=plan)
        finished = self.store.finished()
        unfinished = [r for r in runs if r.key not in finished]
        self.result.skipped += len(runs) - len(unfinished)
        todo, alone = deque(self.units(unfinished)), deque[RunSpec]()
        if self.tracker is not None:
            self.tracker.sync(self.store, [r.key for r in runs if r.key in finished])
        while todo or alone or self.in_flight:
            if alone and not self.in_flight:
                self.submit([alone[0]])
            while not alone and todo and len(self.in_flight) < self.study.execution.workers:
                self.submit(todo.popleft())
            handle, outcomes = self.backend.wait(list(self.in_flight))
            unit = self.in_flight.pop(handle)
            if len(unit) > 1 and all(outcome.status == "failed" for outcome in outcomes):
                error = outcomes[0].message.strip().splitlines()[-1]
                message = f"batched group failed ({labels(unit)}): {error}; its runs run again singly"
                self.emit("note", unit[0], message=message)
                for spec, outcome in zip(unit, outcomes, strict=True):
                    self.tries[spec.key] -= 1
                    self.emit("retry", spec, outcome)
                if outcomes[0].lost:
                    alone.extend(unit)
                else:
                    todo.extendleft([spec] for spec in reversed(unit))
                continue
            for spec, outcome in zip(unit, outcomes, strict=True):
                self.conclude(spec, outcome, todo, alone)

    def conclude(self, spec: RunSpec, outcome: Outcome, todo: deque[list[RunSpec]], alone: deque[RunSpec]) -> None:
        """Store the outcome of ``spec``, or queue the run again: alone when its worker was lost with others, at
        the front of ``todo`` when it failed and may be retried."""
        if outcome.lost and not (alone and alone[0] is spec):
            self.tries[spec.key] -= 1
            alone.append(spec)
            self.emit("retry", spec, outcome)
            return
        if alone and alone[0] is spec:
            alone.popleft()
        if outcome.status == "failed" and self.tries[spec.key] <= self.study.execution.retries:
            todo.appendleft([spec])
            self.emit("retry", spec, outcome)
            return
        self.store.save(outcome)
        if self.tracker is not None:
            self.tracker.log(self.store, [spec.key])
        self.result.statuses[outcome.status] += 1
        self.emit("finish", spec, outcome)

    def units(self, runs: list[RunSpec]) -> list[list[RunSpec]]:
        """The tasks of ``runs`` (``batch_plan``); a note says which groups train batched and why others do not."""
        units, notes = batch_plan(runs, self.study.execution.batch, self.study.execution.workers)
        for first, message in notes:
            self.emit("note", first, message=message)
        return units

    def submit(self, unit: list[RunSpec]) -> None:
        """Start ``unit`` (one run, or a group trained batched) on the backend (one more attempt of each run)."""
        for spec in unit:
            self.store.start(spec.key)
            self.tries[spec.key] += 1
        self.in_flight[self.backend.submit(self.task(unit))] = unit
        for spec in unit:
            self.emit("start", spec)

    def task(self, unit: list[RunSpec]) -> Task | GroupTask:
        measures, settings = self.study.evaluate.measures, self.study.evaluate.settings
        threads = self.study.execution.cpus  # the same for any number of workers, so the numbers are too
        configs = [spec.config.model_dump(mode="json") for spec in unit]
        folders = [str(self.folder / "runs" / spec.key) for spec in unit]
        if len(unit) == 1:
            return Task(unit[0].key, configs[0], measures, settings, folders[0], threads)
        return GroupTask([spec.key for spec in unit], configs, measures, settings, folders, threads)

    def emit(self, kind: str, spec: RunSpec, outcome: Outcome | None = None, message: str = "") -> None:
        if self.on_event is not None:
            result = self.result
            done = result.skipped + sum(result.statuses.values())
            failed = result.statuses["failed"]
            running = sum(len(unit) for unit in self.in_flight.values())
            self.on_event(Event(kind, spec, outcome, done, result.total, running, failed, message))

    def close(self) -> None:
        self.backend.close()


def batch_plan(
    runs: list[RunSpec], batch: str, workers: int = 1
) -> tuple[list[list[RunSpec]], list[tuple[RunSpec, str]]]:
    """The tasks of ``runs`` and notes about them.

    With ``batch`` ``auto``, runs with the same data, model and training that differ only by seed and input noise
    (arms and strengths) train as one batched model, each group of seeds that ``batchable`` accepts joining it;
    such a model is split into up to ``workers`` parts of near-equal size (two runs at least), so that it keeps
    every worker busy. Every other run is a task alone. The notes, ``(a run they concern, message)``, say which
    runs train batched and why the others do not."""
    from ..train.batched import batchable

    if batch == "off":
        return [[run] for run in runs], []
    buckets: dict[str, dict[str, list[RunSpec]]] = {}
    for run in runs:
        same = json.dumps(run.config.model_dump(mode="json", exclude={"seed", "noise"}), sort_keys=True, default=str)
        buckets.setdefault(same, {}).setdefault(run.group, []).append(run)
    units: list[list[RunSpec]] = []
    batched: list[list[RunSpec]] = []
    refused: dict[str, list[RunSpec]] = {}
    for groups in buckets.values():
        joined: list[RunSpec] = []
        alone: list[list[RunSpec]] = []
        for members in groups.values():
            reason = batchable([member.config for member in members])
            if reason is None:
                joined += members
                continue
            alone += [[member] for member in members]
            if sum(map(len, groups.values())) > 1:  # one run alone has nothing to batch with
                refused.setdefault(reason, []).append(members[0])
        parts = max(1, min(workers, len(joined) // 2))
        sizes = [len(joined) // parts + (part < len(joined) % parts) for part in range(parts)]
        chunks = [joined[sum(sizes[:part]) : sum(sizes[: part + 1])] for part in range(parts)]
        units += [chunk for chunk in chunks if chunk] + alone
        batched += [chunk for chunk in chunks if len(chunk) > 1]
    notes = []
    if batched:
        members = [run for chunk in batched for run in chunk]
        models = f"{len(batched)} stacked model{'s' * (len(batched) > 1)}"
        notes.append((members[0], f"batched, {len(members)} runs as {models}: {labels(members)}"))
    notes += [(firsts[0], f"not batched ({labels(firsts)}): {reason}") for reason, firsts in refused.items()]
    return units, notes


def labels(runs: list[RunSpec]) -> str:
    """The distinct labels (arm and noise factors) of ``runs``, comma-separated."""
    return ", ".join(dict.fromkeys(run.label for run in runs))


def run_study(
    study: StudyConfig | Mapping[str, Any] | str | Path,
    folder: str | Path | None = None,
    *,
    workers: int | None = None,
    backend: str | None = None,
    address: str | None = None,
    retries: int | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> StudyResult:
    """Execute every unfinished run of ``study`` (a ``StudyConfig``, a mapping or a study file's path) and store the
    outcomes in ``folder`` (default ``studies/<name>``)."""
    study, runs = plan(study, workers=workers, backend=backend, address=address, retries=retries)
    where = unguarded_main() if study.execution.backend == "local" else None
    if where is not None:
        raise ConfigError(
            f"{where}: run_study is called at the script's top level; local workers import the main script (Python's "
            "spawn and forkserver do), so it would start again in each: put the call under "
            "'if __name__ == \"__main__\":'"
        )
    folder = Path(folder) if folder is not None else default_folder(study)
    search = study.search
    trial_runs = 0
    if search is not None and search.method == "optuna":
        trial_runs = search.trials * len([r for r in expand(with_values(study, [search.low])) if r.arm == search.arm])
    with exclusive(folder), Store(folder / DB) as store:
        held = store.name()
        if held not in (None, study.name):  # its runs would stay stored but hidden behind this study's plan
            raise ConfigError(
                f"{str(folder)!r} holds the study {held!r}, not {study.name!r}: run this one into another folder "
                f"(--output), or name it {held!r} to change that study"
            )
        remove_leftovers(folder)  # of a killed run: no other driver, so no writer, is alive
        write_atomic(folder / "study.yaml", yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False))
        executor = Executor(study, store, folder, len(runs) + trial_runs, on_event)
        try:
            executor.run(runs, plan=True)
            if trial_runs:
                _optuna(study, executor)
        finally:
            executor.close()
    return executor.result


@contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold ``<folder>/study.lock`` (an advisory lock the OS drops when the process dies): a second driver on the
    same study folder gets a ``ConfigError`` instead of running the same runs into the same folders."""
    make_folder(folder, "study output")
    with open(folder / LOCK, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another 'noisetrain study run' is running on {str(folder)!r}; wait for it") from None
        yield


def driver_running(folder: str | Path) -> bool:
    """Whether a ``noisetrain study run`` holds the lock of the study in ``folder`` (a process alive now)."""
    path = Path(folder) / LOCK
    try:
        with open(path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except FileNotFoundError:
        return False
    except BlockingIOError:
        return True
    return False


def _optuna(study: StudyConfig, executor: Executor) -> None:
    """Ask Optuna for values of the searched parameter, ``workers`` trials a round; each trial runs its
    arm at that value (every seed and context) and scores the mean validation metric of those runs."""
    search = study.search
    assert search is not None
    store = executor.store
    factor = f"noise.{search.parameter}"

    def trial(values: list[float]) -> list[list[RunSpec]]:
        runs = [r for r in expand(with_values(study, values)) if r.arm == search.arm]
        return [[r for r in runs if r.factors[factor] == value] for value in values]

    def score(values: list[float]) -> list[float | None]:
        groups = trial(values)
        executor.run(run for group in groups for run in group)
        best = store.best_metrics(search.metric)
        return [_mean([best.get(r.key) for r in group]) for group in groups]

    tried = store.runs(every=True)
    tried = tried[tried.arm == search.arm]
    values = tried[factor].dropna() if factor in tried else []
    inside = [v for v in dict.fromkeys(values) if search.low <= v <= search.high]  # unfinished trials included
    earlier = inside[: search.trials]
    replay = list(zip(earlier, score(earlier), strict=True)) if earlier else []
    optuna_search(search, score, batch=study.execution.workers, replay=replay)


def _mean(values: list[float | None]) -> float | None:
    """The mean, or None when any run has no score (failed or diverged)."""
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)  # type: ignore[arg-type]
