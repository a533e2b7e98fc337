"""What every robustness measure returns: records of (measure, metric, setting, value, interval).

Measures register themselves with ``@measure("name", checks=..., tasks=...)``, which declares how each
option is checked, so that ``evaluate`` checks every measure's options and data before the first one
runs and a direct call checks its own the same way. The helpers here are shared: ``predictions``
(logits in eval mode, batched, no grad), ``accuracy_record`` (with an exact Clopper-Pearson interval),
``check_outputs`` (does the model's output fit the task?) and ``is_stochastic`` (does the model still
draw noise in eval mode?).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.dataset import Dataset, Task
from ..noise.base import Generators, derive_seed
from ..noise.inject import injectors_in
from ..registry import ConfigError, suggest
from .keys import Key
from .options import Check, integer

Joint = Callable[[dict[str, Any]], dict[str, Any]]
"""``joint(options) -> options``: the checks that relate options to each other (normalising them, as checkers do)."""
Needs = Callable[[Mapping[str, Any], Dataset, nn.Module], None]
"""``needs(options, data, model)``: the checks of the data and the model against the checked options."""
COMMON_CHECKS: dict[str, Check] = {"batch_size": integer(1), "seed": integer(0)}
"""Checks of the options most measures share, applied wherever a measure accepts them."""
MEASURES: dict[str, Measure] = {}
"""Every registered measure, by name: ``measure(model, data, **options) -> list[Record]``."""


@dataclass(frozen=True)
class Record:
    """One number of an evaluation.

    Args:
        measure: the measure that produced it, e.g. ``"corruptions"``.
        metric: what the value is, e.g. ``"accuracy"``, ``"ece"``, ``"auc"``.
        value: the number.
        setting: where it was measured, e.g. ``{"corruption": "fog", "severity": 3}``.
        ci: a 95% confidence interval ``(low, high)`` when one is known.
        n: how many samples the value rests on.
        examples: the per-example values behind ``value``, one per test sample in test-split order, where a
            study's report resamples them (``clean``: correctness for ``accuracy``, absolute error for ``mae``).
    """

    measure: str
    metric: str
    value: float
    setting: dict[str, Any] = field(default_factory=dict)
    ci: tuple[float, float] | None = None
    n: int | None = None
    examples: np.ndarray | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``ci`` as a list), without the per-example values."""
        record = asdict(self)
        record["ci"] = list(self.ci) if self.ci is not None else None
        del record["examples"]
        return record


class Measure:
    """A registered measure ``fn(model, data, **options) -> list[Record]`` with the declaration of its options.

    Calling it checks the options and the data (``check``) and runs ``fn`` on the checked, normalised options.

    Args:
        fn: the measure; ``model`` and ``data`` positional, every option keyword-only with a default.
        name: its registered name.
        checks: option -> checker ``(what, value) -> value`` (see ``evaluate.options``); ``batch_size`` and
            ``seed`` get ``COMMON_CHECKS`` unless given.
        joint: ``joint(options) -> options``, the checks across options, after each option's own.
        tasks: the data tasks it supports.
        splits: the splits of the data it reads, which must not be empty.
        needs: ``needs(options, data, model)``, the checks of the data and the model against the options.
        metrics: the metrics of its records (what a study report may rank by).
        keys: its key numbers (``evaluate.keys.Key``), what the command line and a report's summary show.
    """

    def __init__(
        self,
        fn: Callable[..., list[Record]],
        name: str,
        metrics: Sequence[str],
        checks: Mapping[str, Check],
        joint: Joint | None,
        tasks: Sequence[Task],
        splits: Sequence[str],
        needs: Needs | None,
        keys: Sequence[Key] = (),
    ) -> None:
        parameters = inspect.signature(fn).parameters.values()
        self.defaults = {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
        unknown = sorted(set(checks) - set(self.defaults))
        if unknown:
            raise ValueError(f"measure {name!r}: checks for {unknown}, which are not options of {fn.__name__}")
        self.fn = fn
        self.name = name
        self.metrics = tuple(metrics)
        self.checks = {**{k: c for k, c in COMMON_CHECKS.items() if k in self.defaults}, **checks}
        self.joint = joint
        self.tasks = tuple(tasks)
        self.splits = tuple(splits)
        self.needs = needs
        self.keys = tuple(keys)
        functools.update_wrapper(self, fn)

    def __call__(self, model: nn.Module, data: Dataset, **options: Any) -> list[Record]:
        return self.fn(model, data, **self.check(options, data, model))

    def __repr__(self) -> str:
        return f"<measure {self.name!r}>"

    def __reduce__(self) -> tuple[Callable[[str], Measure], tuple[str]]:
        return get_measure, (self.name,)

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Every option, defaults filled in, checked and normalised; ``ConfigError`` names the first bad one."""
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            accepted = ", ".join(self.defaults)
            raise ConfigError(f"unknown option {', '.join(map(repr, unknown))}; accepted: {accepted}")
        checked = {**self.defaults, **options}
        for option, check in self.checks.items():
            checked[option] = check(option, checked[option])
        return checked if self.joint is None else self.joint(checked)

    def check_data(self, options: Mapping[str, Any], data: Dataset, model: nn.Module) -> None:
        """``ConfigError`` unless ``data`` (its task and splits) and ``model`` fit the measure with ``options``
        (as ``check_options`` returns them). Cheap: runs no forward pass."""
        if data.task not in self.tasks:
            raise ConfigError(f"{self.name} needs a {' or '.join(self.tasks)} data set; {data.name!r} is {data.task}")
        for split in self.splits:
            if not len(getattr(data, split)):
                raise ConfigError(f"{self.name} needs {split} samples; the {split} split of {data.name!r} is empty")
        if self.needs is not None:
            self.needs(options, data, model)

    def check(self, options: Mapping[str, Any], data: Dataset, model: nn.Module) -> dict[str, Any]:
        """``check_options`` then ``check_data``: the options checked and normalised."""
        checked = self.check_options(options)
        self.check_data(checked, data, model)
        return checked


def measure(
    name: str,
    *,
    metrics: Sequence[str],
    checks: Mapping[str, Check] | None = None,
    joint: Joint | None = None,
    tasks: Sequence[Task] = ("classification", "regression"),
    splits: Sequence[str] = ("test",),
    needs: Needs | None = None,
    keys: Sequence[Key] = (),
) -> Callable[[Callable[..., list[Record]]], Measure]:
    """Register ``fn`` as measure ``name`` for ``evaluate`` and the CLI, with the checks of its options and
    of the data and model it needs (see ``Measure``).

    Example: ``@measure("certified", metrics=("certified_accuracy",), checks={"sigma": real(0, low_open=True)})``.
    """

    def decorate(fn: Callable[..., list[Record]]) -> Measure:
        if name in MEASURES:
            raise ValueError(f"measure {name!r} is already registered")
        MEASURES[name] = Measure(fn, name, metrics, checks or {}, joint, tasks, splits, needs, keys)
        return MEASURES[name]

    return decorate


def get_measure(name: str) -> Measure:
    """The measure registered as ``name``; the error lists the known ones."""
    if name not in MEASURES:
        raise ConfigError(f"unknown measure {name!r}{suggest(name, MEASURES)}; known measures: "
                          f"{', '.join(sorted(MEASURES))}")  # fmt: skip
    return MEASURES[name]


def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial interval for ``successes / n`` (Clopper & Pearson 1934)."""
    from scipy.stats import beta  # scipy.stats takes half a second to import; most callers never get here

    if n == 0:
        return (0.0, 1.0)
    alpha = 1 - confidence
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, n - successes + 1))
    high = 1.0 if successes == n else float(beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    return (low, high)


def accuracy_record(
    measure: str, correct: int, n: int, setting: dict[str, Any] | None = None, examples: np.ndarray | None = None
) -> Record:
    """An ``accuracy`` record with its Clopper-Pearson 95% interval (and its per-example correctness)."""
    return Record(measure, "accuracy", correct / n if n else float("nan"), dict(setting or {}),
                  clopper_pearson(correct, n), n, examples)  # fmt: skip


@torch.no_grad()
def predictions(model: nn.Module, x: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """The model's outputs on ``x`` (N, ...) in batches, without gradients, in the model's current mode."""
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def is_stochastic(model: nn.Module, x: torch.Tensor) -> bool:
    """True when two passes of the model on the same inputs differ in its current mode (e.g. MC mode); NaN
    outputs in the same places count as equal."""
    probe = x[:8]
    first, second = model(probe), model(probe)
    return not bool(((first == second) | (first.isnan() & second.isnan())).all())


@contextmanager
def seeded_noise(model: nn.Module, seed: int, device: torch.device) -> Iterator[None]:
    """Draw the model's own noise from ``seed``: torch dropout from a forked global generator, each
    injector from a fresh generator; the global generator and the injectors' streams are restored after."""
    injectors = injectors_in(model)
    saved = [injector.generators_ for injector in injectors]
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        try:
            for index, injector in enumerate(injectors):
                injector.generators_ = Generators(derive_seed(seed, str(index)))
            yield
        finally:
            for injector, generators in zip(injectors, saved, strict=True):
                injector.generators_ = generators


def check_outputs(outputs: Any, data: Dataset, n: int) -> None:
    """Raise ``ConfigError`` unless ``outputs`` of the model on ``n`` inputs fit ``data``'s task: classification
    -> logits (n, num_classes); regression -> the shape of the targets, or (n, 1) for targets (n,)."""
    if not isinstance(outputs, torch.Tensor):
        raise ConfigError(f"the model must return a tensor, got {type(outputs).__name__}")
    if data.task == "classification":
        expected = [(n, data.num_classes)]
        what = "logits"
    else:
        target = tuple(data.test.y.shape[1:])
        expected = [(n, *target), (n, 1)] if not target else [(n, *target)]
        what = "predictions"
    if tuple(outputs.shape) not in expected:
        shapes = " or ".join(str(shape) for shape in expected)
        raise ConfigError(f"model outputs of shape {tuple(outputs.shape)} do not match {data.name!r}: its "
                          f"{data.task} task expects {what} of shape {shapes}")  # fmt: skip
