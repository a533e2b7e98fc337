"""Study tracking: each run of a study logged to MLflow or TensorBoard as the driver stores it, and its report.

``execution.tracking: mlflow`` logs to a local MLflow store, ``sqlite:///<study folder>/mlflow.db`` with artifacts
in ``<study folder>/mlartifacts``: one experiment per study (named after it), one MLflow run per study run (named
by its key). ``tensorboard`` writes event files into ``<study folder>/tensorboard/<key>/``. ``uri`` logs elsewhere
(another database, with the artifacts still in the study folder, or a tracking server, which keeps them; another
log folder); study folders of one study name that share it share their runs, each key logged once.

Each run is logged as the store holds it (read back from the store, so both hold the same numbers): its config
as params (flattened, ``train.optimizer.lr``; the values MLflow would refuse as too long are cut, the whole config
is the artifact ``config.json``), its per-epoch metrics with step = epoch, the report's record
(``report.measure``/``report.metric``, e.g. ``clean/accuracy``) as a metric, every evaluation record as a table
(MLflow: the table artifact ``records.json``, values to 10 significant digits; TensorBoard: the text ``records``),
and key, group, arm, label, seed, status and message as tags (TensorBoard: the text ``run``, and the config as
hparams and the text ``config``). A failed run is logged too (MLflow status ``FAILED``).

The driver logs, never a worker: a run right after the store saved its outcome, on any backend, so the
tracker has one writer. Each run is logged once: a study run again logs the finished runs it skips only
when the tracker lacks them or holds them with another status (tracking turned on later, a driver killed
before it logged), and a failed run run again replaces its earlier entry. What a killed driver left half
logged (an MLflow run still running, a TensorBoard staging folder) is removed when the tracker first reads
what it holds. The mlflow and tensorboard packages are imported here only, when a tracker opens or writes.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ..registry import ConfigError

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

    from .config import StudyConfig
    from .store import Store

MLFLOW_DB = "mlflow.db"
MLFLOW_ARTIFACTS = "mlartifacts"
TENSORBOARD = "tensorboard"
"""Where a study folder holds its tracking, unless ``execution.tracking.uri`` says otherwise."""
TAG = "noisetrain."
"""Prefix of the tags a tracked run gets (``noisetrain.key``, ``noisetrain.status``, ...)."""
REPORT = "report"
"""The study-level MLflow run (tag ``noisetrain.report``) and the TensorBoard folder that hold the report."""
MARK = "noisetrain.json"
"""The file in a TensorBoard run folder that says which run it holds: written last, so a folder with it is whole."""
STAGING = ".partial"
CHUNK = 500
"""Runs read from the store at a time."""
SERVERS = ("http", "https", "databricks")
"""Schemes of MLflow tracking URIs whose server keeps the artifacts; with any other, they go to the study folder."""
SELECTED = "(SELECT value FROM json_each(?))"
UNSAFE = re.compile(r"[^\w.\- /:]")
"""Characters MLflow refuses in param and metric names (on POSIX), e.g. a selector's ``*`` and ``|``."""
RECORD = ("measure", "metric", "setting", "value", "ci_low", "ci_high", "n")


@dataclass(frozen=True)
class StoredRun:
    """A run as the store holds it: what a tracker logs. ``metrics`` holds ``(epoch, name, value)`` (a value the
    store holds as null, a diverged run's NaN, as NaN); ``records`` the evaluation records (``RECORD``)."""

    key: str
    group: str
    arm: str
    label: str
    seed: int
    status: str
    message: str
    started: str | None
    finished: str | None
    config: dict[str, Any]
    metrics: list[tuple[int, str, float]]
    records: list[dict[str, Any]]


def stored_runs(store: Store, keys: Sequence[str]) -> Iterator[StoredRun]:
    """The runs ``keys`` as ``store`` holds them (keys it lacks are left out), read ``CHUNK`` runs at a time."""
    db = store.connection
    for start in range(0, len(keys), CHUNK):
        chosen = (json.dumps(list(keys[start : start + CHUNK])),)
        metrics: defaultdict[str, list[tuple[int, str, float]]] = defaultdict(list)
        query = f"SELECT run, epoch, name, value FROM metrics WHERE run IN {SELECTED} ORDER BY epoch, name"
        for run, epoch, name, value in db.execute(query, chosen):
            metrics[run].append((epoch, name, math.nan if value is None else value))
        records: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for run, *record in db.execute(f"SELECT run, {', '.join(RECORD)} FROM records WHERE run IN {SELECTED} "
                                       "ORDER BY rowid", chosen):  # fmt: skip
            records[run].append(dict(zip(RECORD, record, strict=True)))
        query = ("SELECT key, grp, arm, label, seed, status, message, started, finished, config FROM runs "
                 f"WHERE key IN {SELECTED} ORDER BY rowid")  # fmt: skip
        for key, group, arm, label, seed, status, message, started, finished, config in db.execute(query, chosen):
            yield StoredRun(key, group, arm, label, seed, status, message or "", started, finished, json.loads(config),
                            metrics[key], records[key])  # fmt: skip


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A config as ``{dotted.key: value}``: mappings and lists of mappings are walked (list items by index:
    ``noise.0.std``), a value that is neither text, number nor bool becomes JSON (``"[64]"``, ``"null"``)."""
    if isinstance(value, dict) and value:
        items: Any = value.items()
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        items = enumerate(value)
    else:
        return {prefix: value if isinstance(value, (str, int, float, bool)) else json.dumps(value)}
    named = ((f"{prefix}.{key}" if prefix else str(key), item) for key, item in items)
    return {name: leaf for path, item in named for name, leaf in flatten(item, path).items()}


def params(config: dict[str, Any], limit: int) -> dict[str, str]:
    """``flatten(config)`` as MLflow params: names without the characters MLflow refuses, values as text (JSON for
    numbers, bools and null, as a study file spells them), cut to ``limit`` characters, the last three ``...``."""
    return {mlflow_name(key): clip(value if isinstance(value, str) else json.dumps(value), limit)
            for key, value in flatten(config).items()}  # fmt: skip


def mlflow_name(name: str) -> str:
    """``name`` with each character MLflow refuses as ``_``: ``noise/output:BatchNorm*/gaussian.std`` ->
    ``noise/output:BatchNorm_/gaussian.std``."""
    return UNSAFE.sub("_", name)


def clip(text: str, limit: int) -> str:
    """``text``, or its first ``limit - 3`` characters and ``...`` when it is longer than ``limit``."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def millis(stamp: str | None) -> int | None:
    """An ISO 8601 time of the store in milliseconds since the epoch (None stays None)."""
    return None if stamp is None else int(datetime.fromisoformat(stamp).timestamp() * 1000)


class Tracker(ABC):
    """Logs the runs of ``study`` from its store, each once, and its report; one library per subclass."""

    def __init__(self, study: StudyConfig) -> None:
        self.study = study

    @cached_property
    def logged(self) -> dict[str, str]:
        """``{key: status}`` of the runs the tracker holds, read once (removing what a killed driver left)."""
        return self._logged()

    def sync(self, store: Store, keys: Sequence[str]) -> None:
        """Log the runs ``keys`` that the tracker lacks or holds with another status than the store's."""
        statuses = dict(store.connection.execute(f"SELECT key, status FROM runs WHERE key IN {SELECTED}",
                                                 (json.dumps(list(keys)),)))  # fmt: skip
        self.log(store, [key for key in keys if self.logged.get(key) != statuses.get(key)])

    def log(self, store: Store, keys: Sequence[str]) -> None:
        """Log the runs ``keys`` as the store holds them, each in place of what the tracker held of it."""
        logged = self.logged  # read before writing: what it holds of these runs is replaced
        for run in stored_runs(store, keys):
            self._write(run)
            logged[run.key] = run.status

    def tags(self, run: StoredRun) -> dict[str, str]:
        """The run's identity and outcome: study, key, group, arm, label, seed, status and message."""
        named = {"study": self.study.name, "key": run.key, "group": run.group, "arm": run.arm, "label": run.label,
                 "seed": str(run.seed), "status": run.status, "message": run.message}  # fmt: skip
        return {TAG + name: value for name, value in named.items()}

    def headline(self, run: StoredRun) -> dict[str, float]:
        """``{"measure/metric": value}`` of the run's record that the report compares (``study.report``), or ``{}``."""
        report = self.study.report
        for record in run.records:
            setting = json.loads(record["setting"])
            if (record["measure"], record["metric"]) == (report.measure, report.metric) and all(
                key in setting and setting[key] == value for key, value in report.setting.items()
            ):
                value = record["value"]
                return {f"{report.measure}/{report.metric}": math.nan if value is None else value}
        return {}

    @abstractmethod
    def report(self, files: Sequence[Path]) -> None:
        """Log a study's report (``files``, as ``build_report`` wrote them) in place of the one logged before."""

    @abstractmethod
    def _logged(self) -> dict[str, str]: ...

    @abstractmethod
    def _write(self, run: StoredRun) -> None: ...


class MlflowTracker(Tracker):
    """An MLflow experiment named after the study; an MLflow run per study run, named by its key, and a
    study-level run ``report`` (tag ``noisetrain.report``) with the report's files as artifacts under ``report/``."""

    def __init__(self, study: StudyConfig, folder: Path, uri: str | None) -> None:
        from mlflow import MlflowClient

        super().__init__(study)
        uri = uri or f"sqlite:///{(folder / MLFLOW_DB).resolve()}"
        artifacts = None if urlparse(uri).scheme in SERVERS else (folder / MLFLOW_ARTIFACTS).resolve().as_uri()
        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(study.name)
        self.experiment = found.experiment_id if found else self.client.create_experiment(study.name, artifacts)
        self.ids_: dict[str, str] = {}

    def runs(self, where: str = "") -> Iterator[Any]:
        """The experiment's active MLflow runs matching the filter ``where``, page by page."""
        token = None
        while True:
            page = self.client.search_runs([self.experiment], where, max_results=1000, page_token=token)
            yield from page
            token = page.token
            if not token:
                return

    def report(self, files: Sequence[Path]) -> None:
        for earlier in list(self.runs(f"tags.`{TAG}{REPORT}` = 'true'")):
            self.client.delete_run(earlier.info.run_id)
        tags = {f"{TAG}study": self.study.name, f"{TAG}{REPORT}": "true"}
        run_id = self.client.create_run(self.experiment, tags=tags, run_name=REPORT).info.run_id
        for path in files:
            self.client.log_artifact(run_id, str(path), REPORT)
        self.client.set_terminated(run_id)

    def _logged(self) -> dict[str, str]:
        logged = {}
        for run in list(self.runs()):
            key = run.data.tags.get(f"{TAG}key")
            if key is None:
                continue
            if run.info.status == "RUNNING":  # a driver was killed while logging it
                self.client.delete_run(run.info.run_id)
            else:
                self.ids_[key], logged[key] = run.info.run_id, run.data.tags[f"{TAG}status"]
        return logged

    def _write(self, run: StoredRun) -> None:
        import pandas as pd
        from mlflow.entities import Metric, Param
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH

        if run.key in self.ids_:
            self.client.delete_run(self.ids_.pop(run.key))
        tags = {name: clip(value, MAX_TAG_VAL_LENGTH) for name, value in self.tags(run).items()}
        created = self.client.create_run(self.experiment, start_time=millis(run.started), tags=tags, run_name=run.key)
        run_id = created.info.run_id
        stamp = millis(run.finished) or 0
        metrics = [Metric(mlflow_name(name), value, stamp, epoch) for epoch, name, value in run.metrics]
        metrics += [Metric(mlflow_name(name), value, stamp, 0) for name, value in self.headline(run).items()]
        logged = [Param(name, value) for name, value in params(run.config, MAX_PARAM_VAL_LENGTH).items()]
        self.client.log_batch(run_id, metrics=metrics, params=logged)
        self.client.log_dict(run_id, run.config, "config.json")
        if run.records:
            self.client.log_table(run_id, pd.DataFrame(run.records), "records.json")
        self.client.set_terminated(run_id, "FAILED" if run.status == "failed" else "FINISHED", millis(run.finished))
        self.ids_[run.key] = run_id


class TensorBoardTracker(Tracker):
    """A folder of event files per study run, named by its key, under ``<study folder>/tensorboard`` (or ``uri``):
    scalars, hparams and texts; the report in the folder ``report``, its Markdown files as texts and its figures
    as images."""

    def __init__(self, study: StudyConfig, folder: Path, uri: str | None) -> None:
        super().__init__(study)
        self.root = Path(uri) if uri is not None else folder / TENSORBOARD

    def report(self, files: Sequence[Path]) -> None:
        from matplotlib.image import imread

        def write(writer: SummaryWriter) -> None:
            for path in files:
                if path.suffix == ".md":
                    writer.add_text(path.name, path.read_text())
                elif path.suffix == ".png":
                    writer.add_image(path.name, imread(path), dataformats="HWC")

        self._replace(REPORT, write)

    def _logged(self) -> dict[str, str]:
        for leftover in self.root.glob(f"*{STAGING}"):
            shutil.rmtree(leftover)
        return {mark.parent.name: json.loads(mark.read_text())["status"] for mark in self.root.glob(f"*/{MARK}")}

    def _write(self, run: StoredRun) -> None:
        from torch.utils.tensorboard.summary import hparams

        def write(writer: SummaryWriter) -> None:
            for epoch, name, value in run.metrics:
                writer.add_scalar(name, value, epoch)
            headline = self.headline(run)
            for name, value in headline.items():
                writer.add_scalar(name, value, 0)
            for summary in hparams(flatten(run.config), headline):
                writer.file_writer.add_summary(summary)
            writer.add_text("run", table(list(self.tags(run).items())))
            writer.add_text("config", f"```\n{json.dumps(run.config, indent=2)}\n```")
            if run.records:
                writer.add_text("records", table([tuple(r.values()) for r in run.records], RECORD))

        self._replace(run.key, write, {"key": run.key, "status": run.status})

    def _replace(self, name: str, write: Callable[[SummaryWriter], None], mark: dict[str, str] | None = None) -> None:
        """Write the folder ``name`` (``write`` its events, then ``MARK``) as a staging folder, then put it in place of
        the earlier one: a driver killed meanwhile leaves a staging folder, never half a run."""
        from torch.utils.tensorboard import SummaryWriter

        staging, final = self.root / f"{name}{STAGING}", self.root / name
        shutil.rmtree(staging, ignore_errors=True)
        with SummaryWriter(str(staging)) as writer:
            write(writer)
        if mark is not None:
            (staging / MARK).write_text(json.dumps(mark))
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)


def table(rows: Sequence[tuple[Any, ...]], header: Sequence[str] = ("tag", "value")) -> str:
    """A Markdown table (what TensorBoard's text tab shows as a table)."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(str(cell).replace("|", "\\|").replace("\n", " ") for cell in line) + " |"
                     for line in lines)  # fmt: skip


TRACKERS: dict[str, Callable[[StudyConfig, Path, str | None], Tracker]] = {
    "mlflow": MlflowTracker, "tensorboard": TensorBoardTracker,
}  # fmt: skip


def check_tracking(kind: str) -> None:
    """A ``ConfigError`` when the package of ``execution.tracking`` (named as the extra) is not installed."""
    if importlib.util.find_spec(kind) is None:
        raise ConfigError(f"execution.tracking {kind!r} needs the {kind} package: pip install 'noisetrain[{kind}]'")


def open_tracker(study: StudyConfig, folder: str | Path) -> Tracker | None:
    """The tracker of ``study`` (``execution.tracking``) for its folder ``folder``, or None when it tracks nothing."""
    tracking = study.execution.tracking
    if tracking is None:
        return None
    check_tracking(tracking.kind)
    return TRACKERS[tracking.kind](study, Path(folder), tracking.uri)


def track_report(study: StudyConfig, folder: str | Path, files: Sequence[Path]) -> None:
    """Log the report ``files`` of the study in ``folder`` when it tracks (``build_report`` calls this).

    The report is logged where it is written, not at the end of ``study run``: ``build_report`` is the one place
    that every report passes (``study run``, ``demo``, ``noisetrain report``, Python), it reads the store as the
    report shows it, and a report written again (more runs, other formats) replaces the one logged before, so the
    tracker holds the report on disk.
    """
    tracker = open_tracker(study, folder)
    if tracker is not None:
        tracker.report(files)
