"""What a person reads first: the facts of every metric (direction, bounds, unit) and each measure's key numbers.

A measure declares its key numbers (``@measure(..., keys=(Key(...), ...))``): the records that sum it up,
e.g. PGD accuracy at each eps, ECE before and after temperature scaling. The command line prints them as
one line per measure, and a study's report turns them into each measure's table and its summary.
Values are shown by kind: proportions such as accuracy in % with 2 decimals (differences in percentage
points), other numbers to 3 significant digits.

Example:
    >>> Key("accuracy", "{attack} eps={eps:.3g}", lambda s: s.get("eps", 0) > 0).name({"attack": "pgd", "eps": 0.03})
    'pgd eps=0.03'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

INF = math.inf


@dataclass(frozen=True)
class Metric:
    """Facts of a metric: ``higher`` is better (True), lower (False) or neither (None); the values it can take;
    whether it is a proportion shown in %; the task it exists for (None: both)."""

    higher: bool | None
    bounds: tuple[float, float] = (-INF, INF)
    percent: bool = False
    task: Literal["classification", "regression"] | None = None

    def fits(self, task: str) -> bool:
        """Whether the metric exists for data of ``task`` (``"classification"`` or ``"regression"``)."""
        return self.task in (None, task)


PROPORTION_UP = Metric(True, (0.0, 1.0), percent=True, task="classification")
PROPORTION_DOWN = Metric(False, (0.0, 1.0), percent=True, task="classification")
POSITIVE_DOWN = Metric(False, (0.0, INF))
ERROR_DOWN = Metric(False, (0.0, INF), task="regression")
METRICS: dict[str, Metric] = {
    "accuracy": PROPORTION_UP, "mean_accuracy": PROPORTION_UP, "certified_accuracy": PROPORTION_UP,
    "bin_accuracy": PROPORTION_UP, "error": PROPORTION_DOWN, "ece": PROPORTION_DOWN, "adaptive_ece": PROPORTION_DOWN,
    "abstention": PROPORTION_DOWN, "bin_confidence": Metric(None, (0.0, 1.0), percent=True),
    "nll": Metric(False, (0.0, INF), task="classification"), "rmse": ERROR_DOWN, "mae": ERROR_DOWN,
    "abs_error_std": ERROR_DOWN, "brier": Metric(False, (0.0, 2.0), task="classification"),
    "ce": POSITIVE_DOWN, "mce": POSITIVE_DOWN, "auc": PROPORTION_UP,
    "auroc": Metric(True, (0.0, 1.0)), "mean_radius": Metric(True, (0.0, INF)), "loss": POSITIVE_DOWN,
    "gradient_norm": POSITIVE_DOWN, "hessian_top_eigenvalue": Metric(False), "sharpness_random": Metric(False),
    "sharpness_worst": Metric(False), "parameters": POSITIVE_DOWN, "trainable_parameters": POSITIVE_DOWN,
    "flops_per_sample": POSITIVE_DOWN, "seconds_per_epoch": POSITIVE_DOWN, "seconds_total": POSITIVE_DOWN,
    "relative_seconds_per_epoch": POSITIVE_DOWN, "relative_seconds_total": POSITIVE_DOWN,
    "temperature": Metric(None, (0.0, INF)), "entropy": Metric(None, (0.0, INF)),
    "mutual_information": Metric(None, (0.0, INF)),
}  # fmt: skip
"""Facts of the metrics the measures record; any other metric is ``Metric(None)``."""


def metric(name: str) -> Metric:
    """The facts of metric ``name`` (unknown metrics: no direction, no bounds, not a proportion)."""
    return METRICS.get(name, Metric(None))


@dataclass(frozen=True)
class Key:
    """One key number of a measure: each record of ``metric`` whose setting passes ``where``, named by ``label``
    formatted with the record's setting (e.g. ``"pgd eps={eps:.3g}"``)."""

    metric: str
    label: str = ""
    where: Callable[[Mapping[str, Any]], bool] | None = None

    def matches(self, metric: str, setting: Mapping[str, Any]) -> bool:
        """Whether a record of ``metric`` with ``setting`` is one of this key's."""
        return metric == self.metric and (self.where is None or self.where(setting))

    def name(self, setting: Mapping[str, Any]) -> str:
        """The key's name for a record with ``setting`` (the metric and the setting where the label does not fit)."""
        try:
            return self.label.format(**setting) if self.label else self.metric
        except (KeyError, ValueError, TypeError):
            return f"{self.metric} " + ", ".join(f"{k}={v}" for k, v in setting.items())


def key_records(keys: Iterable[Key], records: Iterable[Any]) -> list[tuple[str, Any]]:
    """``(name, record)`` of every record that is a key number, in the order of ``keys`` then of ``records``."""
    records = list(records)
    return [(key.name(r.setting), r) for key in keys for r in records if key.matches(r.metric, r.setting)]


def show(name: str, value: float) -> str:
    """A value of metric ``name``: ``97.86%`` for a proportion, else 3 significant digits; ``not testable`` for NaN
    (a number that could not be computed)."""
    if value is None or math.isnan(value):
        return "not testable"
    return f"{100 * value:.2f}%" if metric(name).percent else _digits(value)


def show_difference(name: str, value: float) -> str:
    """A difference in metric ``name``, signed: ``+0.93 pt`` (percentage points) for a proportion, else ``+0.0123``."""
    if value is None or math.isnan(value):
        return "not testable"
    return f"{100 * value:+.2f} pt" if metric(name).percent else ("+" if value >= 0 else "") + _digits(value)


def show_interval(name: str, low: float, high: float) -> str:
    """``[96.10, 97.32]`` (a proportion or a difference of proportions, in % or percentage points) or
    ``[0.0121, 0.0146]``; empty when unknown."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return ""
    if metric(name).percent:  # + 0.0: an end that rounds to zero from below is 0.00, not -0.00
        return f"[{round(100 * low, 2) + 0.0:.2f}, {round(100 * high, 2) + 0.0:.2f}]"
    return f"[{_digits(low)}, {_digits(high)}]"


def show_with_interval(name: str, value: float, low: float, high: float, *, difference: bool = False) -> str:
    """A value of metric ``name`` (``difference``: a signed difference) and its interval on one line, e.g.
    ``97.86% [97.20, 98.52]`` or ``+0.93 pt [0.53, 1.33]``; empty for a missing value."""
    if value is None or math.isnan(value):
        return ""
    interval = show_interval(name, low, high)
    shown = show_difference(name, value) if difference else show(name, value)
    return shown + (f" {interval}" if interval else "")


def _digits(value: float) -> str:
    """3 significant digits; whole numbers and numbers from 1000 on with thousands separators."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if abs(value) >= 1000 or (value == int(value) and abs(value) < 1e15):
        return f"{value:,.0f}"
    return f"{value:.3g}"
