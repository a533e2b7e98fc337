"""Typed configs shared by the CLI, YAML files and the Python API.

A run is ``RunConfig``: what data, which model, which noise recipe, how to train,
the seed and the device. Pluggable parts (data, model, noise, schedules, attacks)
stay ``{"kind": ..., **params}`` specs checked against their registries, so a
config is validated in full (unknown keys, wrong types, bad ranges) before any
work starts, and every error names its field.

Example:
    >>> config = load_config("run.yaml", overrides=["train.optimizer.lr=0.01", "seed=3"])
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from .registry import ConfigError, parameter_defaults, parameter_names, suggest

Spec = dict[str, Any]
RUN_SEED = "run"
"""``data.seed: run``: the data draw follows the run's seed."""
DATA_FACTS = ("num_classes", "vocab_size", "mask_id")
"""Noise parameters a run fills in from the data when a spec leaves them out (mixup, label noise, token masking)."""
C = TypeVar("C", bound=BaseModel)


MAX_VALUES = 1_000_000
"""Most values a YAML document may expand to (an alias counts at every use): a guard against alias bombs."""
MERGE = "tag:yaml.org,2002:merge"


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading numbers as YAML 1.2 does (``1e-3`` is a float there, a string in YAML 1.1)
    and refusing a key given twice in one mapping, which YAML leaves undefined and PyYAML resolves silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE:  # keys merged in with <<: may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise ConfigError(f"key {key!r} is given twice, on lines {seen[key]} and {line}; keep one")
            seen.setdefault(key, line)
        return super().construct_mapping(node, deep=deep)


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
               r"|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)  # fmt: skip


def load_yaml(text: str) -> Any:
    """Parse YAML text safely (``Loader``: no objects, YAML 1.2 numbers, no duplicate keys) and refuse a document
    that expands to more than ``MAX_VALUES`` values, nests too deeply or contains itself."""
    try:
        value = yaml.load(text, Loader=Loader)
        _count(value, {})
    except RecursionError:
        raise ConfigError("the YAML nests too deeply") from None
    return value


def _count(value: Any, counted: dict[int, int | None]) -> int:
    """How many values ``value`` expands to, each shared part counted at every use (``counted`` by id)."""
    if not isinstance(value, (dict, list)):
        return 1
    if id(value) in counted:
        if counted[id(value)] is None:
            raise ConfigError("the YAML contains itself (an alias inside its own anchor)")
        return counted[id(value)] or 0
    counted[id(value)] = None
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    total = 1 + sum(_count(item, counted) for item in items)
    if total > MAX_VALUES:
        raise ConfigError(f"the YAML expands to more than {MAX_VALUES:,} values (aliases repeat what they name)")
    counted[id(value)] = total
    return total


def as_spec(value: Any) -> Any:
    """``"mlp"`` -> ``{"kind": "mlp"}``: a bare name is a spec with default parameters."""
    return {"kind": value} if isinstance(value, str) else value


class Strict(BaseModel):
    """Base of every config: unknown keys are errors, numbers must be finite and not true/false; values are checked
    on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_truth_values_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """pydantic takes true as 1 and false as 0 for a number: ``seed: true`` would be seed 1."""
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _takes_numbers(field.annotation):
            if any(isinstance(v, bool) for v in (value if isinstance(value, list) else [value])):
                kind = "a number" if float in (field.annotation, *typing.get_args(field.annotation)) else "an integer"
                raise ValueError(f"must be {kind}, got {json.dumps(value)}")
        return value


def _takes_numbers(annotation: Any) -> bool:
    """Whether a field holds numbers: int or float, optionally None, or a list of them."""
    numbers, parts = {int, float, type(None)}, set(typing.get_args(annotation))
    return annotation in numbers or (bool(parts) and parts <= numbers)


class OptimizerConfig(Strict):
    """The optimiser. ``momentum``/``nesterov`` apply to SGD, ``temperature`` to SGLD."""

    kind: Literal["sgd", "adam", "adamw", "sgld"] = "adam"
    lr: float = Field(1e-3, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0)
    temperature: float = Field(1.0, ge=0)


class EarlyStoppingConfig(Strict):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs."""

    monitor: Literal["val_loss", "val_accuracy", "val_rmse", "val_mae"] = "val_loss"
    patience: int = Field(10, ge=1)
    min_delta: float = Field(0.0, ge=0)
    restore_best: bool = True


class AdversarialConfig(Strict):
    """Adversarial training: train on ``attack(model, x, y)`` instead of ``x``.

    ``mode="eval"`` crafts the attack with BatchNorm in eval mode and noise off (the
    usual choice); ``"train"`` crafts it in training mode, with the noise active.
    """

    attack: Spec
    mode: Literal["eval", "train"] = "eval"

    @field_validator("attack")
    @classmethod
    def _known_attack(cls, spec: Spec) -> Spec:
        from .attacks import build_attack

        build_attack(spec, field="attack")
        return spec


class TrainConfig(Strict):
    """How to train: epochs, batches, optimiser, learning-rate schedule, loss and safeguards.

    ``lr_schedule`` is a schedule spec (``noisetrain.noise.schedules``) of training progress
    that multiplies the learning rate at every step, e.g. ``{"kind": "cosine", "start": 1}``.
    ``loss="auto"`` is cross-entropy for classification and MSE for regression.
    """

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    eval_batch_size: int = Field(1024, ge=1)
    optimizer: OptimizerConfig = OptimizerConfig()
    lr_schedule: Spec | None = None
    loss: Literal["auto", "cross_entropy", "mse", "l1"] = "auto"
    grad_clip: float | None = Field(None, gt=0)
    early_stopping: EarlyStoppingConfig | None = None
    adversarial: AdversarialConfig | None = None
    checkpoint_every: int = Field(0, ge=0, description="save a checkpoint every N epochs (0: only at the end)")

    @field_validator("lr_schedule")
    @classmethod
    def _known_schedule(cls, spec: Spec | None) -> Spec | None:
        from .noise.schedules import Schedule, build_schedule

        if spec is not None:
            schedule = build_schedule(spec, field="lr_schedule")
            if not isinstance(schedule, Schedule) or min(schedule.bounds()) < 0:
                raise ConfigError("lr_schedule must be a schedule spec {'kind': ...} with values >= 0")
        return spec


class RunConfig(Strict):
    """One training run: data, model, noise recipe, training settings, seed and device.

    ``seed`` seeds, through separate streams, the model's initialisation, the data order and
    every injector without a seed of its own, so adding an injector leaves the data order alone.
    The data draw (splits, subsets, synthetic samples) has its own ``data.seed``; ``data.seed: run``
    makes it the run's seed.
    """

    data: Spec
    model: Spec
    noise: list[Spec] = []
    train: TrainConfig = TrainConfig()
    seed: int = Field(0, ge=0)
    device: str = "cpu"

    _spec = field_validator("data", "model", mode="before")(as_spec)

    def data_spec(self) -> Spec:
        """The data spec this run loads: ``seed: run`` becomes the run's seed, so that seeds replicate the data
        draw (split, subset, synthetic samples) too, not only the training randomness."""
        return {**self.data, "seed": self.seed} if self.data.get("seed") == RUN_SEED else self.data

    @field_validator("data")
    @classmethod
    def _known_data(cls, spec: Spec) -> Spec:
        from .data import DATASETS, check_data_spec

        checked = spec
        if spec.get("seed") == RUN_SEED:  # the run's seed, known once the run is built
            if "seed" not in parameter_names(DATASETS.get(spec.get("kind"))):
                raise ConfigError(f"data.seed: data {spec['kind']!r} draws nothing at random; remove seed: run")
            checked = {**spec, "seed": 0}
        check_data_spec(checked)
        return spec

    @field_validator("model")
    @classmethod
    def _known_model(cls, spec: Spec) -> Spec:
        from .models import MODELS

        MODELS.check(spec, field="model", context=("input_shape", "num_outputs"))
        return spec

    @field_validator("noise")
    @classmethod
    def _known_noise(cls, specs: list[Spec]) -> list[Spec]:
        from .noise.base import NOISE, build_noise
        from .noise.inject import parse_selector

        problems = []
        for index, spec in enumerate(specs):  # every bad entry is reported, not only the first
            spec, field = dict(spec), f"noise[{index}]"
            try:
                if "at" in spec:
                    parse_selector(spec.pop("at"), field=f"{field}.at")
                cls, _ = NOISE.check(spec, field=field)
                defaults = parameter_defaults(cls)
                if all(name in defaults for name in DATA_FACTS if name in parameter_names(cls)):
                    build_noise(spec, field=field)  # else its values are checked once the data fills in the facts
            except ConfigError as error:
                problems.append(str(error))
        if problems:
            raise ConfigError("\n  ".join(problems))
        return specs

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        import torch

        try:
            torch.device(device)
        except RuntimeError:
            raise ConfigError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}") from None
        return device


def parse(cls: type[C], config: C | Mapping[str, Any], *, what: str = "config") -> C:
    """A ``cls`` config from a mapping (an instance passes through); all errors in one ``ConfigError``, headed
    ``invalid {what}``."""
    if isinstance(config, cls):
        return config
    try:
        return cls.model_validate(dict(config))
    except ValidationError as error:
        raise ConfigError(describe(error, cls, what=what)) from None


def validate(config: RunConfig | Mapping[str, Any]) -> RunConfig:
    """A ``RunConfig`` from a mapping; all errors in one ``ConfigError`` naming each field."""
    return parse(RunConfig, config)


def describe(error: ValidationError, model: type[BaseModel] | None = None, *, what: str = "config") -> str:
    """``invalid {what}: field.path: message`` for each problem (one line where there is one); an unknown field of
    ``model`` gets the closest known one."""
    lines = []
    for problem in error.errors():
        path = ".".join(str(part) for part in problem["loc"]) or "config"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden" and model is not None:
            message += suggest(problem["loc"][-1], _fields(model, problem["loc"][:-1]))
        lines.append(message if not problem["loc"] or message.startswith(path) else f"{path}: {message}")
    return f"invalid {what}: " + lines[0] if len(lines) == 1 else f"invalid {what}:\n  " + "\n  ".join(lines)


def _fields(model: type[BaseModel], path: Sequence[Any]) -> list[str]:
    """The field names of the config section at ``path`` inside ``model`` (none where the path leaves the configs)."""
    for part in path:
        field = model.model_fields.get(str(part))
        section = next((t for t in typing.get_args(field.annotation) or (field.annotation,)
                        if isinstance(t, type) and issubclass(t, BaseModel)), None) if field else None  # fmt: skip
        if section is None:
            return []
        model = section
    return list(model.model_fields)


def apply_override(config: dict[str, Any], assignment: str) -> None:
    """Set ``a.b.c=value`` in a nested dict; the value is parsed as YAML (``0.1``, ``true``, ``[1, 2]``). A number
    indexes a list (``noise.0.std=0.2``); a spec given by its kind alone becomes ``{kind: ...}`` to take a field
    (``model=mlp`` then ``model.widths=[8]``)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {assignment!r} must look like key.path=value")
    *parents, leaf = key.strip().split(".")
    node: Any = config
    for i, part in enumerate(parents):
        where = ".".join(parents[: i + 1])
        place = _place(node, part, where, assignment)
        child = node[place] if isinstance(node, list) else node.setdefault(place, {})
        if isinstance(child, str):  # a spec's shorthand: its kind
            child = node[place] = {"kind": child}
        if not isinstance(child, (dict, list)):
            raise ConfigError(f"override {assignment!r}: {where} is not a section")
        node = child
    place = _place(node, leaf, key.strip(), assignment)
    try:
        node[place] = load_yaml(raw)
    except yaml.YAMLError as error:
        raise ConfigError(f"override {assignment!r}: the value is not valid YAML ({_problem(error)})") from None
    except ConfigError as error:
        raise ConfigError(f"override {assignment!r}: {error}") from None


def _place(node: Any, part: str, where: str, assignment: str) -> Any:
    """``part`` as a key of a section, or as an index of a list (``ConfigError`` naming the list's indices)."""
    if not isinstance(node, list):
        return part
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"override {assignment!r}: {where.rsplit('.', 1)[0]} is a list of {len(node)}; index it "
                          f"with 0 to {len(node) - 1}")  # fmt: skip
    return int(part)


def read_yaml(path: str | Path, *, what: str = "config file") -> dict[str, Any]:
    """The mapping in a YAML file (``load_yaml``; empty file: ``{}``); errors name the file as ``what``."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} is a folder; give the YAML file")
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} " + ("is not a regular file" if path.exists() else "does not exist"))
    try:
        raw = load_yaml(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {str(path)!r} is not a text file (UTF-8 YAML)") from None
    except OSError as error:
        raise ConfigError(f"{what} {str(path)!r} cannot be read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{what} {str(path)!r} is not valid YAML: {_problem(error)}") from None
    except ConfigError as error:
        raise ConfigError(f"{what} {str(path)!r}: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} {str(path)!r} must hold a mapping at the top level")
    return raw


def _problem(error: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where (line and column)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(problem)


def load_config(path: str | Path | None = None, *, overrides: Sequence[str] = ()) -> RunConfig:
    """Read a YAML run config, apply ``key.path=value`` overrides, validate."""
    raw = read_yaml(path) if path is not None else {}
    for assignment in overrides:
        apply_override(raw, assignment)
    return parse(RunConfig, raw, what="config" if path is None else f"config {str(path)!r}")
