"""What every robustness measure returns: records of (measure, metric, setting, value, interval).

Measures register themselves with ``@measure("name")`` and share the helpers here:
``predictions`` (logits in eval mode, batched, no grad), ``accuracy_record`` (with an exact
Clopper-Pearson interval) and ``is_stochastic`` (does the model still draw noise in eval mode?).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from scipy.stats import beta
from torch import nn

from ..registry import ConfigError

Measure = Callable[..., list["Record"]]
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
    """

    measure: str
    metric: str
    value: float
    setting: dict[str, Any] = field(default_factory=dict)
    ci: tuple[float, float] | None = None
    n: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``ci`` as a list)."""
        record = asdict(self)
        record["ci"] = list(self.ci) if self.ci is not None else None
        return record


def measure(name: str) -> Callable[[Measure], Measure]:
    """Register ``fn`` as measure ``name`` for ``evaluate`` and the CLI."""

    def decorate(fn: Measure) -> Measure:
        if name in MEASURES:
            raise ValueError(f"measure {name!r} is already registered")
        MEASURES[name] = fn
        return fn

    return decorate


def get_measure(name: str) -> Measure:
    """The measure registered as ``name``; the error lists the known ones."""
    if name not in MEASURES:
        raise ConfigError(f"unknown measure {name!r}; known measures: {', '.join(sorted(MEASURES))}")
    return MEASURES[name]


def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial interval for ``successes / n`` (Clopper & Pearson 1934)."""
    if n == 0:
        return (0.0, 1.0)
    alpha = 1 - confidence
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, n - successes + 1))
    high = 1.0 if successes == n else float(beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    return (low, high)


def accuracy_record(measure: str, correct: int, n: int, setting: dict[str, Any] | None = None) -> Record:
    """An ``accuracy`` record with its Clopper-Pearson 95% interval."""
    return Record(measure, "accuracy", correct / n if n else float("nan"), dict(setting or {}),
                  clopper_pearson(correct, n), n)  # fmt: skip


@torch.no_grad()
def predictions(model: nn.Module, x: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """The model's outputs on ``x`` (N, ...) in batches, without gradients, in the model's current mode."""
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def is_stochastic(model: nn.Module, x: torch.Tensor) -> bool:
    """True when two passes of the model on the same inputs differ in its current mode (e.g. MC mode)."""
    probe = x[:8]
    return not torch.equal(model(probe), model(probe))
