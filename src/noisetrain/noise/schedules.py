"""Schedules: a strength as a function of training progress in [0, 1].

Any numeric strength of an injector (a std, a probability, an alpha) may be a
schedule instead of a number. The training loop (or ``NoiseHandle.set_progress``)
tells the injectors how far training has come; each injector evaluates its
schedules at that point.

Example:
    >>> GaussianNoise(std=Linear(start=0.2, end=0.0))   # anneal input noise to 0
    >>> build_schedule({"kind": "warmup", "value": 0.1, "warmup": 0.2})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..checks import check_number
from ..registry import ConfigError, Registry, parameter_names

SCHEDULES: Registry[Schedule] = Registry("schedule")


class Schedule:
    """Base class: ``schedule(progress) -> value`` for progress in [0, 1] (clamped)."""

    kind: ClassVar[str]

    def __call__(self, progress: float) -> float:
        return self.at(min(max(float(progress), 0.0), 1.0))

    def at(self, progress: float) -> float:
        """The value at ``progress`` (already clamped to [0, 1])."""
        raise NotImplementedError

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value the schedule takes on [0, 1] (used to validate ranges)."""
        values = [self.at(p / 64) for p in range(65)]
        return min(values), max(values)

    def to_config(self) -> dict[str, Any]:
        """The spec that rebuilds this schedule through ``build_schedule``."""
        params = {name: getattr(self, name) for name in parameter_names(type(self))}
        return {"kind": self.kind, **{k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}}

    def __repr__(self) -> str:
        params = ", ".join(f"{name}={getattr(self, name)!r}" for name in parameter_names(type(self)))
        return f"{type(self).__name__}({params})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_config() == other.to_config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self))

    def number(self, name: str, value: Any, low: float = -math.inf, high: float = math.inf, **opening: bool) -> float:
        """``value`` as a float, or ``ConfigError`` naming this schedule's ``name`` unless it is a finite number (not
        true/false) in ``[low, high]`` (``low_open``/``high_open`` open it)."""
        return check_number(f"{self.kind} schedule: {name}", value, low, high, **opening)


@SCHEDULES.register("constant")
class Constant(Schedule):
    """The same value throughout training."""

    def __init__(self, value: float) -> None:
        self.value = self.number("value", value)

    def at(self, progress: float) -> float:
        return self.value


@SCHEDULES.register("linear")
class Linear(Schedule):
    """Straight line from ``start`` (progress 0) to ``end`` (progress 1)."""

    def __init__(self, start: float, end: float) -> None:
        self.start = self.number("start", start)
        self.end = self.number("end", end)

    def at(self, progress: float) -> float:
        return self.start + (self.end - self.start) * progress


@SCHEDULES.register("cosine")
class Cosine(Schedule):
    """Half cosine from ``start`` to ``end`` (SGDR, Loshchilov & Hutter 2017, arXiv:1608.03983)."""

    def __init__(self, start: float, end: float = 0.0) -> None:
        self.start = self.number("start", start)
        self.end = self.number("end", end)

    def at(self, progress: float) -> float:
        return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * progress))


@SCHEDULES.register("exponential")
class Exponential(Schedule):
    """Geometric interpolation ``start * (end / start) ** progress``; both must be > 0."""

    def __init__(self, start: float, end: float) -> None:
        self.start = self.number("start", start, 0, low_open=True)
        self.end = self.number("end", end, 0, low_open=True)

    def at(self, progress: float) -> float:
        return self.start * (self.end / self.start) ** progress


@SCHEDULES.register("step")
class Step(Schedule):
    """Piecewise constant: ``values[i]`` from ``milestones[i-1]`` on (milestones are progress points).

    Example: ``Step(values=[0.1, 0.05, 0.0], milestones=[0.5, 0.75])``.
    """

    def __init__(self, values: Sequence[float], milestones: Sequence[float]) -> None:
        if not isinstance(values, Sequence) or not isinstance(milestones, Sequence):
            raise ConfigError(f"step schedule: values and milestones must be lists, got {values!r} and {milestones!r}")
        values = tuple(self.number(f"values[{i}]", v) for i, v in enumerate(values))
        milestones = tuple(self.number(f"milestones[{i}]", m, 0, 1) for i, m in enumerate(milestones))
        if len(values) != len(milestones) + 1:
            raise ConfigError(
                f"step schedule needs one more value than milestones, got {len(values)} values "
                f"and {len(milestones)} milestones"
            )
        if list(milestones) != sorted(milestones):
            raise ConfigError(f"step schedule: milestones must be increasing, got {list(milestones)}")
        self.values = values
        self.milestones = milestones

    def at(self, progress: float) -> float:
        return self.values[sum(progress >= m for m in self.milestones)]

    def bounds(self) -> tuple[float, float]:
        return min(self.values), max(self.values)  # a value held between two sampled points counts too


@SCHEDULES.register("warmup")
class Warmup(Schedule):
    """Linear ramp from ``start`` to ``value`` over the first ``warmup`` fraction of training, then flat."""

    def __init__(self, value: float, warmup: float = 0.1, start: float = 0.0) -> None:
        self.value = self.number("value", value)
        self.warmup = self.number("warmup", warmup, 0, 1, low_open=True)
        self.start = self.number("start", start)

    def at(self, progress: float) -> float:
        return self.start + (self.value - self.start) * min(progress / self.warmup, 1.0)


@SCHEDULES.register("anneal")
class Anneal(Schedule):
    """Large early, small late: ``start / (1 + rate * progress) ** gamma``.

    The decay law of annealed gradient noise (Neelakantan et al. 2015,
    "Adding Gradient Noise Improves Learning for Very Deep Networks", arXiv:1511.06807),
    written in training progress instead of steps.
    """

    def __init__(self, start: float, gamma: float = 0.55, rate: float = 100.0) -> None:
        self.start = self.number("start", start)
        self.gamma = self.number("gamma", gamma, 0)
        self.rate = self.number("rate", rate, 0)

    def at(self, progress: float) -> float:
        return self.start / (1.0 + self.rate * progress) ** self.gamma


def build_schedule(spec: float | Schedule | Mapping[str, Any], *, field: str | None = None) -> float | Schedule:
    """A number stays a number; a ``{"kind": ...}`` mapping becomes a registered schedule."""
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, Mapping):
        return SCHEDULES.build(spec, field=field)
    if isinstance(spec, bool) or not isinstance(spec, (int, float)):
        raise ConfigError(f"{field or 'value'} must be a number or a schedule spec, got {spec!r}")
    return float(spec)
