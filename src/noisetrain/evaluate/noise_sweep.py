"""Accuracy under test-time input noise over a grid of strengths, and the area under each robustness curve.

The noises are the pure ops of ``noisetrain.noise.functional``; a strength names one number per kind:

| kind | strength | op |
|---|---|---|
| ``gaussian`` | standard deviation | ``gaussian_noise(x, s)`` |
| ``uniform`` | half-width ``a`` of ``U(-a, a)`` | ``uniform_noise(x, 2 * s)`` |
| ``salt_pepper`` | replacement probability | ``salt_and_pepper(x, s)`` (pepper and salt = the data's range) |
| ``mask`` | fraction of input entries (features; channel values of pixels) set to 0 | ``feature_mask(x, s)`` |

Example:
    >>> records = noise_sweep(model, data, kinds=("gaussian", "mask"), strengths={"mask": (0, 0.25, 0.5)})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..checks import check_choice, check_range
from ..data.dataset import Dataset, Split, inside
from ..noise import functional as NF
from ..noise.base import derive_seed
from ..noise.inject import evaluation_mode
from ..registry import ConfigError
from .keys import Key
from .options import AUTO, auto_range, integer, names
from .progress import expect, step
from .records import Record, clopper_pearson, measure

KINDS = ("gaussian", "uniform", "salt_pepper", "mask")
DEFAULT_STRENGTHS: dict[str, tuple[float, ...]] = {
    "gaussian": (0.0, 0.05, 0.1, 0.2, 0.3, 0.5),
    "uniform": (0.0, 0.05, 0.1, 0.2, 0.3, 0.5),
    "salt_pepper": (0.0, 0.01, 0.02, 0.05, 0.1, 0.2),
    "mask": (0.0, 0.1, 0.2, 0.3, 0.5, 0.7),
}
HIGHEST = {"gaussian": math.inf, "uniform": math.inf, "salt_pepper": 1.0, "mask": 1.0}
"""The largest strength each kind allows (probabilities and fractions stop at 1)."""


def check_noise(what: str, kind: Any, strength: Any) -> None:
    """Raise ``ConfigError`` naming ``what`` unless ``kind`` is one of ``KINDS`` and ``strength`` is allowed for it."""
    check_choice(f"{what} kind", kind, KINDS)
    check_range(f"{what} strength for {kind!r}", strength, 0, HIGHEST[kind])


def resolve_clip(clip: Any, data: Dataset) -> tuple[float, float] | None:
    """``clip`` validated (``auto_range``): ``"auto"`` is ``(0, 1)`` when every feature of the data lies in [0, 1],
    else None."""
    clip = auto_range("clip", clip)
    if clip == AUTO:
        splits = (data.train, data.val, data.test)
        return (0.0, 1.0) if all(inside(s.x, 0.0, 1.0) for s in splits) else None
    return clip


def corrupt(
    x: torch.Tensor,
    kind: str,
    strength: float,
    *,
    clip: tuple[float, float] | None,
    extremes: tuple[float, float],
    generator: torch.Generator,
) -> torch.Tensor:
    """``x`` under noise ``kind`` of ``strength`` (see the table above); strength 0 returns ``x`` itself.

    Args:
        x: inputs (N, ...).
        kind: one of ``KINDS``.
        strength: the kind's strength, in the units of ``x`` for additive noise.
        clip: ``(low, high)`` the additive noises are clamped to, or None.
        extremes: pepper and salt values for ``salt_pepper``.
        generator: source of randomness, on ``x``'s device.
    """
    if strength == 0:
        return x
    if kind == "gaussian":
        return NF.gaussian_noise(x, strength, clip=clip, generator=generator)
    if kind == "uniform":
        return NF.uniform_noise(x, 2 * strength, clip=clip, generator=generator)
    if kind == "salt_pepper":
        return NF.salt_and_pepper(x, strength, low=extremes[0], high=extremes[1], generator=generator)
    return NF.feature_mask(x, strength, generator=generator)


def extremes_of(clip: tuple[float, float] | None, split: Split) -> tuple[float, float]:
    """Pepper and salt values: the clip range, else the smallest and largest feature of ``split``."""
    if clip is not None:
        return clip
    return (float(split.x.min()), float(split.x.max())) if len(split) else (0.0, 1.0)


@torch.no_grad()
def count_correct(
    model: nn.Module, split: Split, kind: str, strength: float, *, batch_size: int, **noise: Any
) -> torch.Tensor:
    """Number of correctly classified inputs of ``split`` under the noise, as a 0-d tensor (no host sync)."""
    correct = torch.zeros((), dtype=torch.int64, device=split.y.device)
    for x, y in split.batches(batch_size, shuffle=False):
        logits = model(corrupt(x, kind, strength, **noise))
        correct += (logits.argmax(-1) == y).sum()
    return correct


def trapezoid_auc(strengths: Sequence[float], accuracies: Sequence[float]) -> float:
    """Area under the curve ``accuracy(strength)`` by the trapezoid rule, divided by the strength range
    (so that it is an average accuracy); the accuracy itself when there is one strength."""
    if len(strengths) == 1:
        return float(accuracies[0])
    s = torch.tensor(strengths, dtype=torch.float64)
    a = torch.tensor(accuracies, dtype=torch.float64)
    return float(torch.trapezoid(a, s) / (s[-1] - s[0]))


def check_strengths(
    kinds: Sequence[str], strengths: Mapping[str, Sequence[float]] | Sequence[float] | None
) -> dict[str, list[float]]:
    """The sorted strength grid of each kind (defaults for the kinds ``strengths`` leaves out; a plain
    list is the grid of every kind)."""
    if isinstance(strengths, Sequence) and not isinstance(strengths, str):
        strengths = dict.fromkeys(kinds, strengths)
    if strengths is not None and not isinstance(strengths, Mapping):
        example = "{'gaussian': [0, 0.1]}"
        raise ConfigError(f"strengths must be a list or map kinds to lists, e.g. {example}; got {strengths!r}")
    strengths = dict(strengths or {})
    extra = sorted(set(strengths) - set(kinds))
    if extra:
        raise ConfigError(f"strengths given for {extra}, which are not in kinds {list(kinds)}")
    grids = {}
    for kind in kinds:
        grid = strengths.get(kind, DEFAULT_STRENGTHS[kind])
        if isinstance(grid, str) or not isinstance(grid, Sequence) or len(grid) == 0:
            raise ConfigError(f"strengths[{kind!r}] must be a non-empty list of numbers, got {grid!r}")
        for s in grid:
            check_noise("noise_sweep", kind, s)
        if len(set(grid)) != len(grid):
            raise ConfigError(f"strengths[{kind!r}] has repeated values: {list(grid)}")
        grids[kind] = sorted(float(s) for s in grid)
    return grids


def _strength_grids(options: dict[str, Any]) -> dict[str, Any]:
    """``strengths`` checked against ``kinds`` and made the full grid of every kind."""
    return {**options, "strengths": check_strengths(options["kinds"], options["strengths"])}


@measure(
    "noise_sweep",
    metrics=("accuracy", "auc"),
    keys=(Key("auc", "AUC {kind}"),),
    checks={"kinds": names(KINDS), "clip": auto_range, "repeats": integer(1)},
    tasks=("classification",),
    joint=_strength_grids,
)
def noise_sweep(
    model: nn.Module,
    data: Dataset,
    *,
    batch_size: int = 512,
    seed: int = 0,
    kinds: str | Sequence[str] = ("gaussian",),
    strengths: Mapping[str, Sequence[float]] | Sequence[float] | None = None,
    clip: tuple[float, float] | str | None = AUTO,
    repeats: int = 1,
) -> list[Record]:
    """Test accuracy under input noise at each strength, and per kind the normalised area under the curve.

    The robustness curve of additive Gaussian noise as in "Benchmarking Neural Network Robustness to
    Common Corruptions and Perturbations" (Hendrycks & Dietterich 2019, arXiv:1903.12261), on the noises above.
    The same noise draw (per kind and repeat) serves every strength, so the curves are smooth.

    Args:
        model: a classifier, evaluated in eval mode (its own noise off).
        data: a classification data set; its test split is used.
        batch_size: inputs per forward pass.
        seed: seed of the noise draws.
        kinds: one or more noises from ``KINDS``. Default ``("gaussian",)``.
        strengths: per kind, the grid of strengths (each >= 0, <= 1 for probabilities), or one list for
            every kind; defaults in ``DEFAULT_STRENGTHS``.
        clip: ``(low, high)`` range the noisy inputs are clamped to, None for none (standardised data),
            or ``"auto"`` (default): ``(0, 1)`` when the data's features lie in [0, 1], else None.
        repeats: noise draws averaged per strength (>= 1).

    Returns:
        ``accuracy`` per ``{"kind", "strength"}`` (the mean over draws; its 95% Clopper-Pearson interval rests
        on the test set's ``n`` with the mean number correct), and ``auc`` per ``{"kind"}``.
        Progress: one unit per (kind, strength).
    """
    test = data.test
    limits = resolve_clip(clip, data)
    extremes = extremes_of(limits, test)
    expect(sum(len(grid) for grid in strengths.values()))

    records = []
    with evaluation_mode(model):
        for kind in kinds:
            counts = []
            for strength in strengths[kind]:
                total = torch.zeros((), dtype=torch.int64, device=test.y.device)
                for repeat in range(repeats if strength else 1):  # strength 0 is the clean input: one pass
                    generator = torch.Generator(device=test.x.device).manual_seed(derive_seed(seed, f"{kind}/{repeat}"))
                    total += count_correct(
                        model, test, kind, strength, batch_size=batch_size,
                        clip=limits, extremes=extremes, generator=generator,
                    )  # fmt: skip
                counts.append(total / (repeats if strength else 1))
                step()
            accuracies = []
            for strength, mean_correct in zip(strengths[kind], torch.stack(counts).tolist(), strict=True):
                setting = {"kind": kind, "strength": strength}
                accuracy = mean_correct / len(test)
                ci = clopper_pearson(round(mean_correct), len(test))
                records.append(Record("noise_sweep", "accuracy", accuracy, setting, ci, len(test)))
                accuracies.append(accuracy)
            auc = trapezoid_auc(strengths[kind], accuracies)
            records.append(Record("noise_sweep", "auc", auc, {"kind": kind}, None, len(test)))
    return records
