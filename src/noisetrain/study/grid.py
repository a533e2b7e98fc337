"""Expand a study into runs: every list is a grid axis; each run is named by the hash of its config.

Lists in ``data``, ``model``, ``train`` and the noise specs are axes, except at a parameter whose
type is itself a list (``mlp.widths``, ``gaussian.clip``, ``token_mask.protected``): there a list
is the value, and a grid over it is a list of lists. Runs are the product of the context axes
(data, model, train), each arm with the product of its own axes, and the seeds. A run's ``key`` is
the SHA-256 of its resolved config (defaults filled in), so the same run in two grids, or an arm
that expands to the baseline's config, is one run; ``group`` is the same hash without the seed,
the unit that statistics average over seeds.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..attacks.base import ATTACKS
from ..config import RunConfig, validate
from ..data import DATASETS
from ..models import MODELS
from ..noise.base import NOISE
from ..noise.schedules import SCHEDULES
from ..registry import ConfigError, Registry, parameter_defaults, sequence_parameters
from .config import BASELINE, ArmConfig, StudyConfig

Path = tuple[str | int, ...]
ROOTS: dict[str, Registry[Any]] = {"data": DATASETS, "model": MODELS, "noise": NOISE}
"""The registry of the specs of a run config's top-level sections."""
NESTED: dict[str, Registry[Any]] = {"lr_schedule": SCHEDULES, "attack": ATTACKS}
"""The registry of a spec nested under these keys; any other nested spec is a schedule (a strength)."""


@dataclass(frozen=True)
class Axis:
    """One grid axis: the values at ``path`` of the study, shown as ``name``."""

    name: str
    path: Path
    values: tuple[Any, ...]


@dataclass(frozen=True)
class RunSpec:
    """One run of a study: its resolved config, the grid values that made it, and its identities.

    Args:
        key: hash of the resolved config (16 hex digits), the run's identity in the store.
        group: hash of the config without the seed: runs that differ only by seed.
        arm: the noise arm (``"baseline"`` for no noise).
        seed: the run's seed.
        factors: ``{axis name: value}`` of every grid axis, e.g. ``{"gaussian.std": 0.1}``.
        config: the validated run config.
    """

    key: str
    group: str
    arm: str
    seed: int
    factors: dict[str, Any] = field(hash=False)
    config: RunConfig = field(hash=False, compare=False)

    @property
    def context(self) -> str:
        """The context factors (grid values outside the noise arms) in short, e.g. ``"lr=0.01"``."""
        return describe({name: value for name, value in self.factors.items() if not _in_arm(name)})

    @property
    def label(self) -> str:
        """The arm and its noise factors in short, e.g. ``"gaussian std=0.1"``: what the report names a group by."""
        own = describe({name: value for name, value in self.factors.items() if _in_arm(name)})
        return f"{self.arm} {own}" if own else self.arm


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of the canonical JSON of a resolved run config (``canonical``)."""
    return _digest(canonical(config))


def _digest(canonical_config: Any) -> str:
    text = json.dumps(canonical_config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def canonical(value: Any, key: str = "") -> Any:
    """A config spelled one way: each spec (data, model, noise, schedules, attacks) with its defaults filled
    in, and every number a float, so ``{kind: gaussian}``, ``{kind: gaussian, std: 0.1}`` and ``std: 1`` vs
    ``std: 1.0`` give one hash."""
    if isinstance(value, Mapping):
        registry, kind = spec_registry(key, value), value.get("kind")
        found = dict(value)
        if registry is not None and isinstance(kind, str) and kind in registry:
            found = {**parameter_defaults(registry.get(kind)), **found}
        return {k: canonical(v, k) for k, v in found.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(item, key) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and float(value) == value:
        return float(value)  # 1 and 1.0 alike (ints beyond 2**53 stay exact)
    return value


def spec_registry(key: str, value: Mapping[str, Any]) -> Registry[Any] | None:
    """The registry of the mapping ``value`` found under ``key``: a run section's (data, model, noise), a nested
    spec's (``lr_schedule``, ``attack``), a schedule's for any other spec (a strength), None for a plain section."""
    return ROOTS.get(key) or (NESTED.get(key, SCHEDULES) if "kind" in value else None)


def expand(study: StudyConfig) -> list[RunSpec]:
    """Every run of ``study`` (context x arm x arm axes x seed), validated; duplicates (same key) once.

    Raises ``ConfigError`` naming the study field (``noise.gaussian[0].std``, ``train.epochs``) and the
    grid point of the first run that does not validate, before anything runs; a grid of more than
    ``execution.max_runs`` runs is refused before it is expanded.
    """
    context = {"data": study.data, "model": study.model, "train": study.train}
    context_axes = [
        *axes(study.data, ("data",), DATASETS),
        *axes(study.model, ("model",), MODELS),
        *axes(study.train, ("train",), None),
    ]
    arms = [(arm, recipe, _arm_axes(arm, recipe, study)) for arm, recipe in
            ([(BASELINE, ArmConfig())] if study.baseline else []) + list(study.noise.items())]  # fmt: skip
    crossed = {axis.path for axis in [*context_axes, *(a for _, _, arm_axes in arms for a in arm_axes)]}
    linked = [zipped(group, index, crossed) for index, group in enumerate(study.zip)]
    context_groups = [[axis] for axis in context_axes] + linked
    count = math.prod(len(group[0].values) for group in context_groups) * len(study.seeds)
    count *= sum(math.prod(len(a.values) for a in arm_axes) for _, _, arm_axes in arms)
    if count > study.execution.max_runs:
        raise ConfigError(f"the study has {count:,} runs, more than execution.max_runs ({study.execution.max_runs:,});"
                          " shrink the grid or raise execution.max_runs")  # fmt: skip
    runs: dict[str, RunSpec] = {}
    repeated: dict[str, set[str]] = {}  # arm -> the earlier arms that already have some of its runs
    for context_point in _points(context_groups):
        shared = [(axis, value) for axis, value in context_point if axis.path[0] != ARMS]
        base = assign(context, shared)
        for arm, recipe, arm_axes in arms:
            own = [(axis, value) for axis, value in context_point if axis.path[:2] == (ARMS, arm)]
            for arm_point in _points([[axis] for axis in arm_axes]):
                chosen = assign(recipe.changes, [*((_in_recipe(a), v) for a, v in own), *arm_point])
                raw = {
                    "data": change(base["data"], chosen["data"]), "model": change(base["model"], chosen["model"]),
                    "train": merge(base["train"], chosen["train"]), "noise": chosen["noise"],
                }  # fmt: skip
                factors = {axis.name: value for axis, value in [*shared, *own, *arm_point]}
                config = _validate({**raw, "seed": study.seeds[0], "device": study.device}, arm, factors)
                unseeded = canonical({k: v for k, v in config.model_dump(mode="json").items() if k != "seed"})
                group = _digest(unseeded)
                for seed in study.seeds:
                    key = _digest({**unseeded, "seed": canonical(seed)})  # = config_hash of the seeded config
                    if key in runs:
                        repeated.setdefault(arm, set()).add(runs[key].arm)
                    else:
                        runs[key] = RunSpec(key, group, arm, seed, factors, config.model_copy(update={"seed": seed}))
    _check_every_arm_runs(runs.values(), repeated)
    return list(runs.values())


def _check_every_arm_runs(runs: Iterable[RunSpec], repeated: Mapping[str, set[str]]) -> None:
    """``ConfigError`` naming an arm whose every run is a run of earlier arms: it would vanish from the study."""
    running = {run.arm for run in runs}
    for arm, earlier in repeated.items():
        if arm not in running:
            others = " and ".join(repr(name) for name in sorted(earlier - {arm}))
            raise ConfigError(f"noise.{arm}: every run of this arm is a run of arm {others} (the same configuration), "
                              "so it would add nothing to the study; remove it or change it")  # fmt: skip


ARMS = "arms"
"""The first part of the path of a zipped field of an arm: ``(ARMS, arm, section, ...)``."""


def zipped(group: Mapping[str, list[Any]], index: int, crossed: set[Path]) -> list[Axis]:
    """The axes of one zip group, which vary together: each field's path and values (``noise.<arm>.<section>...``
    at ``(ARMS, arm, section, ...)``); a field at one of the ``crossed`` grid axes' paths is refused."""
    found = []
    for name, values in group.items():
        parts = name.split(".")
        path: Path = (ARMS, parts[1], *parts[2:]) if parts[0] == "noise" else tuple(parts)
        if path in crossed or _recipe_path(path) in crossed:
            raise ConfigError(f"zip[{index}]: {name} is also a list in the study (a crossed grid axis); "
                              "give its values in one place")  # fmt: skip
        found.append(Axis(name, path, tuple(values)))
    return found


def _recipe_path(path: Path) -> Path:
    """A zipped arm field's path inside the arm's changes; other paths as they are."""
    return path[2:] if path[0] == ARMS else path


def _in_recipe(axis: Axis) -> Axis:
    return Axis(axis.name, _recipe_path(axis.path), axis.values)


def change(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A data or model spec changed by an arm: replaced by a spec of another ``kind``, else merged key by key."""
    if "kind" in changes and changes["kind"] != base.get("kind"):
        return dict(changes)
    return merge(base, changes)


def _arm_axes(arm: str, recipe: ArmConfig, study: StudyConfig) -> list[Axis]:
    """The grid axes of one arm: those inside its noise specs, then those of its train, model and data changes
    (a change without ``kind`` is read as a spec of the study's kind, for the parameters that take lists)."""
    names = spec_names(recipe.noise)
    found = [axis for index, item in enumerate(recipe.noise)
             for axis in axes(item, ("noise", index), NOISE, prefix=f"noise.{names[index]}")]  # fmt: skip
    found += axes(recipe.train, ("train",), None, prefix=f"noise.{arm}.train")
    for section, registry, base in (("model", MODELS, study.model), ("data", DATASETS, study.data)):
        changes = getattr(recipe, section)
        kind = changes.get("kind", base.get("kind"))
        found += axes(changes, (section,), registry, prefix=f"noise.{arm}.{section}", kind=kind)
    return found


def axes(
    value: Any, path: Path, registry: Registry[Any] | None, *, prefix: str | None = None, kind: Any = None
) -> list[Axis]:
    """The grid axes inside ``value`` (a spec or section at ``path``, of ``kind`` when it names none), in order
    of appearance."""
    if not isinstance(value, Mapping):
        return []
    literal: set[str] = set()
    kind = value.get("kind", kind)
    if registry is not None and kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        for kind in kinds:
            if isinstance(kind, str) and kind in registry:
                literal |= sequence_parameters(registry.get(kind))
    found: list[Axis] = []
    for key, item in value.items():
        where = (*path, key)
        name = f"{prefix}.{key}" if prefix else ".".join(str(part) for part in where)
        if isinstance(item, list) and (key not in literal or (item and all(isinstance(v, list) for v in item))):
            if not item:
                raise ConfigError(f"{_field(where)}: an empty list gives no runs; give values or remove the key")
            found.append(Axis(name, where, tuple(item)))
        elif isinstance(item, Mapping):
            found += axes(item, where, spec_registry(key, item), prefix=name if prefix else None)
    return found


def assign(tree: Any, point: Sequence[tuple[Axis, Any]]) -> Any:
    """A deep copy of ``tree`` with each axis's path set to its value at ``point`` (missing sections made)."""
    tree = copy.deepcopy(tree)
    for axis, value in point:
        node = tree
        for part in axis.path[:-1]:
            node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
        node[axis.path[-1]] = copy.deepcopy(value)
    return tree


def merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, nested mappings key by key."""
    merged = dict(base)
    for key, value in changes.items():
        both = isinstance(value, Mapping) and isinstance(merged.get(key), Mapping)
        merged[key] = merge(merged[key], value) if both else value
    return merged


def _points(groups: Sequence[Sequence[Axis]]) -> list[list[tuple[Axis, Any]]]:
    """Every combination of the groups' values, the axes of a group taking their i-th values together (one
    empty point when there are no axes)."""
    points = []
    for indices in itertools.product(*(range(len(group[0].values)) for group in groups)):
        points.append([(axis, axis.values[i]) for group, i in zip(groups, indices, strict=True) for axis in group])
    return points


def _validate(raw: dict[str, Any], arm: str, factors: dict[str, Any]) -> RunConfig:
    """Validate one run; errors name the study's field (``noise.<arm>[i]`` for ``noise[i]``) and the grid point."""
    try:
        return validate(raw)
    except ConfigError as error:
        message = arm_fields(str(error), arm)
        point = ", ".join(f"{name}={show(value)}" for name, value in factors.items())
        where = f"arm {arm!r}" + (f" at {point}" if point else "")
        raise ConfigError(f"{where}: {message}") from None


def arm_fields(message: str, arm: str) -> str:
    """``message`` with a run's ``noise[i]`` or a recipe's ``recipe[i]`` named as the study field ``noise.<arm>[i]``."""
    return re.sub(r"\b(?:noise|recipe)\[(\d+)\]", lambda m: f"noise.{arm}[{m.group(1)}]", message)


def spec_names(recipe: Sequence[Any]) -> list[str]:
    """Each spec's name in factor names: its kind (kinds of a kind axis joined by ``|``), or ``kind[i]`` when the
    recipe has two of that kind."""
    kinds = [_kind_name(spec, index) for index, spec in enumerate(recipe)]
    return [kind + (f"[{kinds[:i].count(kind)}]" if kinds.count(kind) > 1 else "") for i, kind in enumerate(kinds)]


def _kind_name(spec: Any, index: int) -> str:
    kind = spec.get("kind", index) if isinstance(spec, Mapping) else index
    return "|".join(map(str, kind)) if isinstance(kind, list) else str(kind)


def _in_arm(name: str) -> bool:
    return name.startswith("noise.")


def _field(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def cell(value: Any) -> Any:
    """A grid value as a table cell: lists and dicts as compact JSON, scalars as they are."""
    return json.dumps(value, separators=(",", ":")) if isinstance(value, (dict, list)) else value


def show(value: Any) -> str:
    """A grid value as text, e.g. ``0.1``, ``[64,32]``, ``{"kind":"linear","start":0.4}``."""
    return str(cell(value))


def describe(factors: Mapping[str, Any]) -> str:
    """Grid values as a person reads them: each factor by the last part of its name (more of it where two would
    read alike) and its value in short (``short``), e.g. ``"std=linear 0.4→0, at=output:ReLU"``."""
    names = {name: name.rsplit(".", 1)[-1] for name in factors}
    clashing = [name for name in names if list(names.values()).count(names[name]) > 1]
    names.update({name: name.removeprefix("noise.") for name in clashing})
    return ", ".join(f"{names[name]}={short(value)}" for name, value in factors.items())


def short(value: Any) -> str:
    """A grid value in short: numbers as ``%g``, a schedule as ``linear 0.4→0`` (start and end) or ``warmup(value=0.2,
    warmup=0.3)``, a list as ``[16,32]``."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        rest = {k: v for k, v in value.items() if k != "kind"}
        if "kind" in value and set(rest) == {"start", "end"}:
            return f"{value['kind']} {short(rest['start'])}→{short(rest['end'])}"
        inner = ", ".join(f"{k}={short(v)}" for k, v in rest.items())
        return f"{value['kind']}({inner})" if "kind" in value else f"{{{inner}}}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(short(v) for v in value) + "]"
    return str(value)
