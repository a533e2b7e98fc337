"""What a model costs: parameters, forward FLOPs per sample, and training time from a run's history.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode``, which counts matrix
multiplications and convolutions (2 FLOPs per multiply-add; a ``Linear(i, o)`` costs ``2 * i * o``
per sample) and not element-wise operations such as activations or noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..data import Dataset
from ..noise.inject import evaluation_mode
from ..registry import ConfigError
from .keys import Key
from .options import optional
from .records import Record, measure

History = Sequence[Mapping[str, Any]]
"""Per-epoch training records, each with ``"seconds"`` (wall-clock time of the epoch), as ``fit`` returns."""


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` numbers of parameter entries; shared parameters count once."""
    params = list({id(p): p for p in model.parameters()}.values())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


@torch.no_grad()
def flops_per_sample(model: nn.Module, x: torch.Tensor) -> float:
    """Forward FLOPs of ``model`` on the batch ``x`` (N, *), divided by N; the model runs in its current mode."""
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / len(x)


def check_history(what: str, history: Any) -> History:
    """``history`` itself, or ``ConfigError`` naming ``what`` unless it is a non-empty list of epoch records,
    each a mapping with ``"seconds"`` >= 0."""
    if isinstance(history, (str, Mapping)) or not isinstance(history, Sequence) or not history:
        raise ConfigError(f"{what} must be a non-empty list of epoch records with 'seconds', got {history!r}")
    for epoch, record in enumerate(history):
        value = record.get("seconds") if isinstance(record, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, Real) or not value >= 0:
            raise ConfigError(f"{what}[{epoch}] must be a mapping with 'seconds' >= 0, got {record!r}")
    return history


def training_time(history: History, *, field: str = "history") -> tuple[float, float]:
    """``(seconds per epoch, total seconds)`` of a training history; ``field`` names it in errors."""
    seconds = [float(record["seconds"]) for record in check_history(field, history)]
    total = sum(seconds)
    return total / len(seconds), total


def _check_baseline(what: str, history: Any) -> History:
    """A history (``check_history``) with a positive total, for the ratios to it."""
    if training_time(history, field=what)[1] == 0:
        raise ConfigError(f"{what} must have a positive total of 'seconds'")
    return history


def _baseline_needs_history(options: dict[str, Any]) -> dict[str, Any]:
    """A baseline history is only compared with the model's own history."""
    if options["baseline"] is not None and options["history"] is None:
        raise ConfigError("baseline needs a history to compare with; pass history too")
    return options


@measure(
    "cost",
    metrics=(
        "parameters",
        "trainable_parameters",
        "flops_per_sample",
        "seconds_per_epoch",
        "seconds_total",
        "relative_seconds_per_epoch",
        "relative_seconds_total",
    ),
    keys=(
        Key("parameters"), Key("flops_per_sample", "FLOPs per sample"),
        Key("relative_seconds_per_epoch", "time per epoch vs baseline"),
    ),
    checks={"history": optional(check_history), "baseline": optional(_check_baseline)},
    joint=_baseline_needs_history,
)
def cost(
    model: nn.Module,
    data: Dataset,
    *,
    batch_size: int = 512,
    seed: int = 0,
    history: History | None = None,
    baseline: History | None = None,
) -> list[Record]:
    """Parameters, forward FLOPs per sample (on the first ``batch_size`` test inputs, eval mode) and, given a
    ``history``, training seconds per epoch and in total, also as ratios to a ``baseline`` history.

    ``seed`` is accepted for the common call shape and unused: nothing here is random.

    Records: ``parameters`` and ``trainable_parameters``, ``flops_per_sample``; with ``history``:
    ``seconds_per_epoch``, ``seconds_total`` (setting ``{"epochs"}``); with ``baseline`` too:
    ``relative_seconds_per_epoch``, ``relative_seconds_total`` (ours / baseline).

    Example: ``cost(model, data, history=result.history)``.
    """
    trainable_count, total_count = parameter_counts(model)
    with evaluation_mode(model):
        flops = flops_per_sample(model, data.test.x[:batch_size])
    records = [
        Record("cost", "parameters", float(total_count)),
        Record("cost", "trainable_parameters", float(trainable_count)),
        Record("cost", "flops_per_sample", flops, n=min(batch_size, len(data.test))),
    ]
    if history is not None:
        timing = training_time(history)
        setting = {"epochs": len(history)}
        records += [
            Record("cost", "seconds_per_epoch", timing[0], setting),
            Record("cost", "seconds_total", timing[1], setting),
        ]
        if baseline is not None:
            reference = training_time(baseline, field="baseline")
            setting = {"epochs": len(history), "baseline_epochs": len(baseline)}
            records += [
                Record("cost", "relative_seconds_per_epoch", timing[0] / reference[0], setting),
                Record("cost", "relative_seconds_total", timing[1] / reference[1], setting),
            ]
    return records
