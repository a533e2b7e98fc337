"""The typed study file: what to train, which noise arms, seeds, measures, execution and report settings.

A study file lists only what differs from the run defaults (``noisetrain.config.RunConfig``);
any list in ``data``, ``model``, ``train`` or a noise spec is a grid axis (a parameter that itself
takes a list, such as ``mlp.widths`` or ``gaussian.clip``, takes a list of lists for a grid).

Example (``study.yaml``)::

    name: digits-noise
    data: {kind: digits, images: true}
    model: {kind: lenet}
    train: {epochs: 10, optimizer: {kind: adam, lr: [0.001, 0.003]}}
    seeds: 3
    noise:
      gaussian: [{kind: gaussian, std: [0.1, 0.2, 0.3]}]
      dropout: [{kind: dropout, p: 0.2, at: "output:ReLU"}]
      mixup+smoothing: [{kind: mixup, alpha: 0.2}, {kind: label_smoothing, eps: 0.1}]
    evaluate: {measures: [clean, noise_sweep]}
    execution: {workers: 2, tracking: mlflow}   # or tensorboard; each run logged as it finishes
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..config import RUN_SEED, Spec, Strict, apply_override, as_spec, parse, read_yaml
from ..evaluate.keys import metric
from ..registry import ConfigError

BASELINE = "baseline"
"""The arm without noise that every other arm is compared with."""
MAX_SEEDS = 1_000_000
"""The most seeds a count may give (``execution.max_runs`` bounds the runs; this, the list built first)."""
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$")
ZIPPED = re.compile(r"^(?:(?:data|model|train)|noise\.[A-Za-z0-9][A-Za-z0-9_+\-]*\.(?:data|model|train))(?:\.[^.]+)+$")
"""A field of a zip group: ``data.n_train``, ``train.optimizer.lr``, ``noise.<arm>.model.k``."""


class EvaluationConfig(Strict):
    """The measures (``noisetrain.evaluate``) run on every trained model, and settings shared by all."""

    measures: list[str | dict[str, Any]] = Field(default_factory=lambda: ["clean"])
    settings: dict[str, Any] = Field(default_factory=dict)


class TrackingConfig(Strict):
    """Where a study logs its runs (``execution.tracking``, ``noisetrain.study.tracking``): ``kind`` ``mlflow``
    (extra ``mlflow``) or ``tensorboard`` (extra ``tensorboard``); a bare name means ``{kind: name}``.

    ``uri``: MLflow's tracking URI (default ``sqlite:///<study folder>/mlflow.db``; the artifacts go to
    ``<study folder>/mlartifacts`` unless it is a tracking server, ``http(s)://...``), or TensorBoard's log folder
    (default ``<study folder>/tensorboard``).
    """

    kind: Literal["mlflow", "tensorboard"]
    uri: str | None = None


class ExecutionConfig(Strict):
    """Where and how the runs execute; the CLI's ``--workers/--backend/--address`` override these.

    ``retries``: how often a failed run (an exception or a lost worker) is run again before it is
    recorded as failed. ``cpus``/``gpus``: resources of one run: its torch threads, and its Ray
    resources on the ray backend; ``cpus`` is 1 by default, whatever the number of workers, because
    torch's results depend (in the last digits) on its thread count: a study gives the same numbers
    with 1 worker or 8. ``max_runs``: a larger grid is refused before it is expanded.

    ``tracking`` (``TrackingConfig``; none by default): ``mlflow`` or ``tensorboard`` logs each run as the driver
    stores it (config as params, per-epoch metrics by epoch, evaluation records, status, seed and key as tags),
    each run once, and the report when it is written; ``{kind: mlflow, uri: ...}`` logs elsewhere than the study
    folder. It changes no run's key.

    ``batch``: ``auto`` (default) trains the unfinished runs that differ only by seed and input noise as one
    batched model (``noisetrain.train.batched``), split in up to ``workers`` parts, where ``batchable`` accepts
    them; their results equal the single runs' up to float rounding. ``off`` runs every run singly. It changes no
    run's key.
    """

    backend: Literal["local", "ray"] = "local"
    workers: int = Field(1, ge=1)
    address: str | None = None
    retries: int = Field(0, ge=0)
    cpus: int = Field(1, ge=1)
    gpus: float = Field(0.0, ge=0)
    max_runs: int = Field(100_000, ge=1)
    tracking: TrackingConfig | None = None
    batch: Literal["auto", "off"] = "auto"

    _tracking = field_validator("tracking", mode="before")(as_spec)

    @field_validator("batch", mode="before")
    @classmethod
    def _bare_off(cls, batch: Any) -> Any:
        return "off" if batch is False else batch  # YAML reads a bare off (--set execution.batch=off) as false

    @field_validator("cpus", mode="before")
    @classmethod
    def _one_thread_unless_set(cls, cpus: Any) -> Any:
        return 1 if cpus is None else cpus  # older study stores hold null (then: the cores shared out); now 1


class ReportConfig(Strict):
    """What the report compares: the record of ``measure`` and ``metric`` whose setting holds ``setting``
    (one per run; e.g. ``{measure: adversarial, metric: accuracy, setting: {attack: pgd, eps: 0.03}}``).

    ``higher_is_better`` defaults to what is known of the metric (lower for error, NLL, ECE, RMSE, ...;
    higher otherwise). ``confidence`` is the level of every interval (``1 - confidence`` the significance
    level); ``effect`` the smallest difference worth detecting, in the metric's units (e.g. 0.005 for
    half a point of accuracy), for the seeds each comparison needs; without it, each comparison's
    observed difference.
    """

    measure: str = "clean"
    metric: str = "accuracy"
    setting: dict[str, Any] = Field(default_factory=dict)
    higher_is_better: bool | None = None
    confidence: float = Field(0.95, gt=0, lt=1)
    effect: float | None = Field(None, gt=0)

    @property
    def higher(self) -> bool:
        """Whether a higher value of the metric is better (``higher_is_better``, or the metric's known direction)."""
        if self.higher_is_better is not None:
            return self.higher_is_better
        return metric(self.metric).higher is not False


class ArmConfig(Strict):
    """One arm: its noise recipe (injector specs) and what it changes in the study's training, model and data.

    ``train``, ``model`` and ``data`` are merged into the study's sections for this arm's runs only, e.g.
    adversarial training: ``train: {adversarial: {attack: {kind: fgsm, eps: 0.031}}}``; a k-NN arm beside a
    network: ``model: {kind: knn, k: [1, 4, 16]}`` (a ``kind`` other than the study's replaces its section
    instead of merging into it); its own split: ``data: {n_val: 0}``. Lists inside them are grid axes of
    the arm.
    """

    noise: list[Spec] = Field(default_factory=list)
    train: dict[str, Any] = Field(default_factory=dict)
    model: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def changes(self) -> dict[str, Any]:
        """The sections this arm changes, ``{section: changes}``, noise first."""
        return {"noise": self.noise, "train": self.train, "model": self.model, "data": self.data}


class SearchConfig(Strict):
    """Search one strength of one arm over ``[low, high]`` and select it by validation.

    ``parameter`` names it as in the grid factors, ``kind.param`` (``gaussian.std``; ``kind[i].param``
    when the arm has two specs of that kind). ``method="random"`` draws ``trials`` values (seeded,
    uniform or log-uniform) before the study runs; ``"optuna"`` (extra ``optuna``) asks a TPE sampler
    for each next value given the finished trials. A trial's score is ``metric`` at each run's best
    epoch, averaged over its seeds (and the other grid axes); the report marks the best trial.
    """

    arm: str
    parameter: str
    low: float
    high: float
    log: bool = False
    trials: int = Field(8, ge=1)
    method: Literal["random", "optuna"] = "random"
    metric: Literal["val_accuracy", "val_loss", "val_rmse", "val_mae"] = "val_accuracy"
    seed: int = Field(0, ge=0)

    @property
    def maximize(self) -> bool:
        return self.metric == "val_accuracy"


class StudyConfig(Strict):
    """A study: a grid of runs (data x model x train x noise arm x seed), their measures and execution.

    ``noise`` maps an arm name to its recipe: a list of injector specs, or ``{noise: [...], train: {...},
    model: {...}, data: {...}}`` for an arm that also changes training, the model or the data (``ArmConfig``).
    ``baseline: true`` adds the arm ``"baseline"`` without noise. ``seeds`` is a list or a count (``3`` means
    ``[0, 1, 2]``); ``replicates: n`` is ``seeds: n`` with ``data.seed: run``: each seed also draws its own data
    (split, subset, samples), so that the spread over seeds includes the data's. ``zip`` lists groups of fields
    that vary together instead of being crossed: ``{data.n_train: [700, 7000], data.n_test: [150, 1500]}``
    gives 2 grid points, not 4; a field of an arm is named ``noise.<arm>.<section>.<field>``.
    """

    name: str
    data: Spec
    model: Spec
    train: dict[str, Any] = Field(default_factory=dict)
    noise: dict[str, ArmConfig] = Field(default_factory=dict)
    baseline: bool = True
    seeds: list[int] = Field(default_factory=lambda: [0])
    replicates: int | None = Field(None, ge=1)
    zip: list[dict[str, list[Any]]] = Field(default_factory=list)
    device: str = "cpu"
    evaluate: EvaluationConfig = EvaluationConfig()
    execution: ExecutionConfig = ExecutionConfig()
    report: ReportConfig = ReportConfig()
    search: SearchConfig | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not NAME.match(name):
            raise ConfigError(f"name must be letters, digits and _.+- (no spaces or slashes), got {name!r}")
        return name

    _spec = field_validator("data", "model", mode="before")(as_spec)

    @field_validator("noise", mode="before")
    @classmethod
    def _arms(cls, arms: Any) -> Any:
        if not isinstance(arms, dict):
            raise ConfigError("noise must map arm names to recipes (lists of noise specs), e.g. {gaussian: [...]}")
        for arm in arms:
            if not isinstance(arm, str) or not NAME.match(arm) or arm == BASELINE:
                raise ConfigError(
                    f"noise: arm name {arm!r} must be letters, digits and _.+- and not {BASELINE!r} (reserved)"
                )
        return {arm: _arm(arm, recipe) for arm, recipe in arms.items()}

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, seeds: Any) -> Any:
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if not 1 <= seeds <= MAX_SEEDS:  # a list of a billion seeds would fill the memory before max_runs
                raise ConfigError(f"seeds: a count must be in [1, {MAX_SEEDS:,}], got {seeds:,}")
            return list(range(seeds))
        if not isinstance(seeds, list) or not seeds:
            raise ConfigError(f"seeds must be a count or a non-empty list of seeds >= 0, got {seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"seeds must not repeat, got {seeds}")
        return seeds

    @field_validator("seeds")
    @classmethod
    def _non_negative(cls, seeds: list[int]) -> list[int]:
        if any(seed < 0 for seed in seeds):
            raise ConfigError(f"seeds must be >= 0, got {seeds}")
        return seeds

    @field_validator("zip", mode="before")
    @classmethod
    def _zip_groups(cls, groups: Any) -> Any:
        if not isinstance(groups, list):
            groups = [groups]
        seen: set[str] = set()
        for index, group in enumerate(groups):
            where = f"zip[{index}]"
            if not isinstance(group, dict) or not group:
                raise ConfigError(f"{where} must map fields to lists of values, e.g. {{data.n_train: [700, 7000]}}")
            lengths = {}
            for name, values in group.items():
                if not isinstance(name, str) or not ZIPPED.match(name):
                    raise ConfigError(f"{where}: {name!r} must name a field as data.<field>, model.<field>, "
                                      "train.<field> or noise.<arm>.(data|model|train).<field>")  # fmt: skip
                if not isinstance(values, list) or not values:
                    raise ConfigError(f"{where}.{name} must be a non-empty list of values, got {values!r}")
                if name in seen:
                    raise ConfigError(f"{where}: {name} is in two zip groups; give it in one")
                seen.add(name)
                lengths[name] = len(values)
            if len(set(lengths.values())) > 1:
                sizes = ", ".join(f"{name}: {n}" for name, n in lengths.items())
                raise ConfigError(f"{where}: the lists of a group vary together and need one length, got {sizes}")
        return groups

    @model_validator(mode="after")
    def _replicates_and_zipped_arms(self) -> StudyConfig:
        if not self.baseline and not self.noise:
            raise ConfigError("noise: a study without a baseline (baseline: false) needs at least one arm, else it "
                              "has no runs")  # fmt: skip
        for group in self.zip:
            for name in group:
                arm = name.split(".")[1] if name.startswith("noise.") else None
                if arm is not None and arm not in self.noise:
                    known = ", ".join(self.noise) or "none"
                    raise ConfigError(f"zip: {name} names arm {arm!r}, which is not in noise (arms: {known})")
        if self.replicates is None:
            return self
        if "seeds" in self.model_fields_set and self.seeds != list(range(self.replicates)):
            raise ConfigError("replicates: give replicates or seeds, not both (replicates: n means seeds 0..n-1 "
                              "with data.seed: run)")  # fmt: skip
        if self.data.get("seed", RUN_SEED) != RUN_SEED:
            raise ConfigError(f"replicates: each replicate draws its own data, so data.seed must be left out "
                              f"(or run), got {self.data['seed']!r}")  # fmt: skip
        data = {**self.data, "seed": RUN_SEED}
        return self.model_copy(update={"seeds": list(range(self.replicates)), "data": data})


def _arm(name: str, recipe: Any) -> dict[str, Any]:
    """An arm as ``{noise, train}`` from a spec, a list of specs, or that mapping; an arm must change something."""
    if isinstance(recipe, dict) and "kind" in recipe:
        recipe = [recipe]
    arm = {"noise": recipe} if isinstance(recipe, list) else recipe
    if not isinstance(arm, dict) or not any(arm.get(section) for section in ("noise", "train", "model", "data")):
        raise ConfigError(
            f"noise.{name}: an arm needs at least one noise spec or a change of train, model or data, as a list of "
            f"specs or {{noise: [...], train: {{...}}, model: {{...}}, data: {{...}}}}; got {recipe!r} (the "
            "baseline is the arm without noise)"
        )
    return arm


def as_study(study: StudyConfig | Mapping[str, Any] | str | Path) -> StudyConfig:
    """A ``StudyConfig`` from itself, a mapping (``parse``) or the path of a study file (``load_study``)."""
    if isinstance(study, (str, Path)):
        return load_study(study)
    if isinstance(study, (StudyConfig, Mapping)):
        return parse(StudyConfig, study)
    raise TypeError(f"a study is a StudyConfig, a mapping or a study file's path, got {type(study).__name__}")


def load_study(path: str | Path, *, overrides: list[str] | tuple[str, ...] = ()) -> StudyConfig:
    """Read a study file (``load_yaml``: safe, YAML 1.2 numbers), apply ``key.path=value`` overrides, validate.

    The study's ``name`` defaults to the file's stem. Expanding it (``expand``) validates every run.
    """
    raw = read_yaml(path, what="study file")
    raw.setdefault("name", Path(path).stem)
    for assignment in overrides:
        apply_override(raw, assignment)
    return parse(StudyConfig, raw, what=f"study file {str(path)!r}")
