"""Running measures: ``evaluate(model, data, measures)``, the checks made before the first one runs, and the
CLI's measure syntax. Importing this module registers every measure."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import yaml
from torch import nn

from ..config import load_yaml
from ..data import Dataset
from ..noise.inject import evaluation_mode
from ..registry import ConfigError, suggest
from . import adversarial, calibration, certified, clean, corruptions, cost, flatness, noise_sweep, uncertainty  # noqa: F401
from .progress import Progress, reporting
from .records import MEASURES, Measure, Record, accuracy_record, check_outputs, clopper_pearson, get_measure, measure
from .summary import failed_checks, key_numbers, records_frame

log = logging.getLogger(__name__)
MeasureSpec = str | Mapping[str, Any]
Planned = tuple[str, Measure, dict[str, Any]]
"""A checked measure spec: ``(label, measure, options)``."""

__all__ = [
    "MEASURES", "Measure", "Progress", "Record", "accuracy_record", "check_measures", "clopper_pearson", "evaluate",
    "evaluation_mode", "failed_checks", "get_measure", "key_numbers", "measure", "parse_measures", "records_frame",
]  # fmt: skip


def parse_measures(text: str) -> list[dict[str, Any]]:
    """Parse the CLI's ``clean,corruptions:severities=1,3,adversarial:eps=0.03,0.1,steps=20`` into specs.

    A known measure name starts a new measure; ``name:key=value`` starts one with an option;
    ``key=value`` adds an option to the current measure; a bare value extends the current
    option's list. Values are YAML (``0.03``, ``true``, ``linf``); a comma inside brackets or braces belongs to
    the value, so lists and mappings can be given whole: ``noise_sweep:strengths={gaussian: [0.1, 0.2]}``.
    """
    specs: list[dict[str, Any]] = []
    key: str | None = None
    tokens = [t.strip() for t in _split(text) if t.strip()]
    if not tokens:
        raise ConfigError(f"measures: give at least one measure; known: {', '.join(sorted(MEASURES))}")
    for token in tokens:
        name, colon, option = token.partition(":")
        if "=" in name:  # an option whose value holds a colon (a mapping), not a measure
            name, colon, option = token, "", ""
        if colon or name in MEASURES or not specs:
            try:
                get_measure(name)
            except ConfigError as error:
                raise ConfigError(f"measures: {error}") from None
            specs.append({"kind": name})
            key, token = None, option
            if not token:
                continue
        if "=" in token:
            key, _, value = token.partition("=")
            key = key.strip()
            if key in specs[-1]:  # "kind" names the measure; a repeated option would silently replace the first
                what = "the measure is named before the colon" if key == "kind" else "give its values as one list"
                raise ConfigError(f"measures: {specs[-1]['kind']}: option {key!r} is given twice; {what}")
            specs[-1][key] = _value(token, value)
        elif key is not None:
            current = specs[-1][key]
            specs[-1][key] = [*(current if isinstance(current, list) else [current]), _value(token, token)]
        else:
            raise ConfigError(f"measures: unknown measure {token!r}{suggest(token, MEASURES)}; known measures: "
                              f"{', '.join(sorted(MEASURES))}")  # fmt: skip
    repeated = next((spec for i, spec in enumerate(specs) if spec in specs[:i]), None)
    if repeated is not None:  # it would print and write every record twice
        raise ConfigError(f"measures: {repeated['kind']} is given twice with the same options")
    return specs


def _split(text: str) -> list[str]:
    """``text`` split at its commas outside brackets and braces; ``ConfigError`` if they do not pair up."""
    parts, depth, start = [], [], 0
    pairs = {"]": "[", "}": "{"}
    for i, char in enumerate(text):
        if char in "[{":
            depth.append(char)
        elif char in pairs:
            if not depth or depth.pop() != pairs[char]:
                raise ConfigError(f"measures: {text!r}: a {char!r} at character {i + 1} closes nothing")
        elif char == "," and not depth:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise ConfigError(f"measures: {text!r}: a {depth[-1]!r} is never closed")
    return [*parts, text[start:]]


def _value(token: str, text: str) -> Any:
    """An option value of ``parse_measures``: YAML, or a ``ConfigError`` naming the token."""
    try:
        return load_yaml(text)
    except yaml.YAMLError:
        raise ConfigError(f"measures: {token!r}: the value is not valid YAML") from None


@contextmanager
def _naming(index: int, name: str) -> Iterator[None]:
    """Prefix a ``ConfigError`` raised inside with the spec it concerns: ``measures[1] (adversarial): ...``."""
    try:
        yield
    except ConfigError as error:
        raise ConfigError(f"measures[{index}] ({name}): {error}") from None


def check_measures(measures: Sequence[MeasureSpec], settings: Mapping[str, Any]) -> list[Planned]:
    """Resolve the measure names and check every option and option value (no data needed: a study checks its
    measures before loading any). Returns ``(label, measure, checked options)`` per spec; the label is the
    measure's name, numbered (``name#2``, ...) where a measure repeats. ``settings`` go to every measure that
    accepts them; one that none accepts is an error.
    """
    measures = [measures] if isinstance(measures, (str, Mapping)) else list(measures)  # one measure: as a list of it
    if not measures:
        raise ConfigError(f"measures: give at least one measure; known: {', '.join(sorted(MEASURES))}")
    plan: list[Planned] = []
    used: set[str] = set()
    for index, spec in enumerate(measures):
        spec = {"kind": spec} if isinstance(spec, str) else dict(spec)
        if "kind" not in spec:
            raise ConfigError(f"measures[{index}]: a measure spec needs 'kind'; known: {', '.join(sorted(MEASURES))}")
        name = spec.pop("kind")
        try:
            chosen = get_measure(name)
        except ConfigError as error:
            raise ConfigError(f"measures[{index}]: {error}") from None
        common = {k: v for k, v in settings.items() if k in chosen.defaults and k not in spec}
        used |= set(common)
        with _naming(index, name):
            options = chosen.check_options({**common, **spec})
        repeat = sum(m.name == name for _, m, _ in plan)
        plan.append((f"{name}#{repeat + 1}" if repeat else name, chosen, options))
    unused = sorted(set(settings) - used)
    if unused:
        raise ConfigError(f"evaluate: setting {', '.join(map(repr, unused))} is accepted by none of the measures")
    return plan


def check_finite(model: nn.Module) -> None:
    """``ConfigError`` naming the parameters and buffers of ``model`` that hold NaN or infinite values (a diverged
    model: every measure of it would be meaningless)."""
    bad = [name for name, tensor in (*model.named_parameters(), *model.named_buffers())
           if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]  # fmt: skip
    if bad:
        names = ", ".join(bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
        raise ConfigError(f"the model has non-finite weights (NaN or inf) in {names}: it diverged; evaluate a model "
                          "trained with a lower learning rate, gradient clipping or weaker noise")  # fmt: skip


@torch.no_grad()
def _probe(model: nn.Module, data: Dataset) -> None:
    """One forward pass on 2 test samples in eval mode: the model must run on them and its outputs fit the task."""
    x = data.test.x[:2]
    try:
        with evaluation_mode(model):
            outputs = model(x)
    except RuntimeError as error:
        where = f"test inputs of shape {tuple(x.shape)} from {data.name!r}"
        raise ConfigError(f"the model fails on {where}: {error}") from None
    check_outputs(outputs, data, len(x))


def evaluate(
    model: nn.Module,
    data: Dataset,
    measures: Sequence[MeasureSpec] = ("clean",),
    *,
    progress: Progress | None = None,
    **settings: Any,
) -> list[Record]:
    """Run ``measures`` on ``model`` and return their records.

    Args:
        model: any classifier or regressor (``nn.Module`` returning logits (N, classes), or predictions shaped
            like the targets or (N, 1)).
        data: a :class:`~noisetrain.data.Dataset`; moved to the model's device.
        measures: names or ``{"kind": name, **options}`` specs (or one of them).
        progress: called as ``progress(name, done, total)`` while each measure runs, with ``done`` of ``total``
            units of its work finished (see ``evaluate.progress``); a repeated measure's name is numbered
            (``adversarial#2``). The CLI draws a bar per measure from it.
        settings: options given to every measure that accepts them (e.g. ``batch_size``, ``seed``).

    Before the first measure runs, every name, option and option value is checked, the data against what
    each measure needs (task, non-empty splits, image shape), the model's weights are checked to be finite,
    and one forward pass on 2 test samples checks the model's output shape; a ``ConfigError`` names the
    measure and the field.
    """
    if not isinstance(model, nn.Module) or not isinstance(data, Dataset):
        raise TypeError(f"evaluate(model, data, ...) takes a torch.nn.Module and a noisetrain Dataset (load_data), got "
                        f"{type(model).__name__} and {type(data).__name__}")  # fmt: skip
    plan = check_measures(measures, settings)
    check_finite(model)
    for index, (_, chosen, options) in enumerate(plan):
        with _naming(index, chosen.name):
            chosen.check_data(options, data, model)
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    data = data.to(device)
    if len(data.test):
        _probe(model, data)
    records: list[Record] = []
    for label, chosen, options in plan:
        log.info("evaluating %s with %s", label, options)
        with reporting(label, progress):
            records.extend(chosen.fn(model, data, **options))
    return records
