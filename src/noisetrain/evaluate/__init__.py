"""Robustness evaluation: every measure a noise-training study needs, as records.

``evaluate(model, data, ["clean", "noise_sweep", {"kind": "adversarial", "eps": [0, 0.03]}])``
runs the named measures on the test split (the validation split where a measure fits
something, e.g. temperature scaling) and returns :class:`Record` objects (measure, metric,
setting, value, confidence interval) that the study store and the reports consume.

Measures: ``clean``, ``noise_sweep``, ``corruptions``, ``adversarial``, ``calibration``,
``uncertainty``, ``flatness``, ``certified``, ``cost``; ``label_noise_robustness`` trains a
recipe on noisy labels (it needs a run config, not a trained model).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import yaml
from torch import nn

from ..data import Dataset
from ..noise.inject import evaluation_mode
from ..registry import ConfigError
from . import adversarial, calibration, certified, clean, corruptions, cost, flatness, noise_sweep, uncertainty  # noqa: F401
from .records import MEASURES, Record, accuracy_record, clopper_pearson, get_measure, measure

log = logging.getLogger(__name__)
MeasureSpec = str | Mapping[str, Any]

__all__ = [
    "MEASURES",
    "Record",
    "accuracy_record",
    "clopper_pearson",
    "evaluate",
    "evaluation_mode",
    "get_measure",
    "measure",
    "parse_measures",
]


def parse_measures(text: str) -> list[dict[str, Any]]:
    """Parse the CLI's ``clean,corruptions:severities=1,3,adversarial:eps=0.03,0.1,steps=20`` into specs.

    A known measure name starts a new measure; ``name:key=value`` starts one with an option;
    ``key=value`` adds an option to the current measure; a bare value extends the current
    option's list. Values are YAML (``0.03``, ``true``, ``linf``).
    """
    specs: list[dict[str, Any]] = []
    key: str | None = None
    for token in (t.strip() for t in text.split(",") if t.strip()):
        name, colon, option = token.partition(":")
        if colon or name in MEASURES:
            get_measure(name)
            specs.append({"kind": name})
            key, token = None, option
            if not token:
                continue
        if not specs:
            raise ConfigError(f"measures: {token!r} must follow a measure name; known: {', '.join(sorted(MEASURES))}")
        if "=" in token:
            key, _, value = token.partition("=")
            specs[-1][key.strip()] = yaml.safe_load(value)
        elif key is not None:
            current = specs[-1][key]
            specs[-1][key] = [*(current if isinstance(current, list) else [current]), yaml.safe_load(token)]
        else:
            raise ConfigError(f"measures: unknown measure {token!r}; known measures: {', '.join(sorted(MEASURES))}")
    return specs


def _plan(measures: Sequence[MeasureSpec], settings: Mapping[str, Any]) -> list[tuple[str, Callable, dict[str, Any]]]:
    """Resolve names and check every option name against its measure before any work starts."""
    plan, used = [], set()
    for index, spec in enumerate(measures):
        spec = {"kind": spec} if isinstance(spec, str) else dict(spec)
        if "kind" not in spec:
            raise ConfigError(f"measures[{index}]: a measure spec needs 'kind'; known: {', '.join(sorted(MEASURES))}")
        name = spec.pop("kind")
        try:
            fn = get_measure(name)
        except ConfigError as error:
            raise ConfigError(f"measures[{index}]: {error}") from None
        accepted = [p for p in inspect.signature(fn).parameters if p not in ("model", "data")]
        unknown = sorted(set(spec) - set(accepted))
        if unknown:
            options = ", ".join(map(repr, unknown))
            raise ConfigError(f"measures[{index}] ({name}): unknown option {options}; accepted: {', '.join(accepted)}")
        common = {k: v for k, v in settings.items() if k in accepted and k not in spec}
        used |= set(common)
        plan.append((name, fn, {**common, **spec}))
    unused = sorted(set(settings) - used)
    if unused:
        raise ConfigError(f"evaluate: setting {', '.join(map(repr, unused))} is accepted by none of the measures")
    return plan


def evaluate(
    model: nn.Module,
    data: Dataset,
    measures: Sequence[MeasureSpec] = ("clean",),
    *,
    progress: Callable[[str], None] | None = None,
    **settings: Any,
) -> list[Record]:
    """Run ``measures`` on ``model`` and return their records.

    Args:
        model: any classifier or regressor (``nn.Module`` returning logits or predictions).
        data: a :class:`~noisetrain.data.Dataset`; moved to the model's device.
        measures: names or ``{"kind": name, **options}`` specs.
        progress: called with each measure's name before it runs (the CLI's progress bar).
        settings: options given to every measure that accepts them (e.g. ``batch_size``, ``seed``).

    Every name and option name is checked before the first measure runs.
    """
    plan = _plan(measures, settings)
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    data = data.to(device)
    records: list[Record] = []
    for name, fn, options in plan:
        if progress is not None:
            progress(name)
        log.info("evaluating %s with %s", name, options)
        records.extend(fn(model, data, **options))
    return records
