"""Accuracy under common corruptions (Hendrycks & Dietterich 2019, arXiv:1903.12261).

Per corruption and severity the accuracy (with its interval), the mean corruption accuracy of
the 15 common and of the 4 held-out corruptions, and, given a baseline, the corruption error
CE_c = sum_s E(c, s) / sum_s E_baseline(c, s) and its mean over the common corruptions (mCE).
A model trained with a noise that is itself an evaluated corruption scores too well on it: that
overlap is logged as a warning and reported as a record. Where a corruption's implementation depends on
what is installed (frost: the original's photographs or a procedural texture), every record its numbers
enter names the variant in its setting (``{"frost": "photos"}``), so that such results never mix.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..corruptions import CORRUPTIONS, corrupt, names
from ..data import Dataset
from ..noise.base import derive_seed
from ..noise.inject import evaluation_mode, injectors_in
from ..registry import ConfigError
from .keys import Key
from .options import grid, instance, optional
from .options import names as option_names
from .progress import expect, step
from .records import Record, accuracy_record, measure

log = logging.getLogger(__name__)

Cell = tuple[str, int]


def corruptions_matching(model: nn.Module, trained_with: Sequence[str] = ()) -> dict[str, str]:
    """``{corruption: noise}`` for noises attached to ``model`` (or named in ``trained_with``) that are
    themselves evaluated corruptions: additive Gaussian -> gaussian_noise, multiplicative Gaussian ->
    speckle_noise, salt-and-pepper -> impulse_noise."""
    found: dict[str, str] = {}
    kinds = [(i.kind, getattr(i, "mode", "additive")) for i in injectors_in(model)]
    kinds += [(kind, "additive") for kind in trained_with]
    for kind, mode in kinds:
        if kind == "gaussian":
            found["speckle_noise" if mode == "multiplicative" else "gaussian_noise"] = kind
        elif kind == "salt_pepper":
            found["impulse_noise"] = kind
    return found


@torch.no_grad()
def corrupted_correct(
    model: nn.Module, data: Dataset, chosen: Sequence[str], severities: Sequence[int], *, batch_size: int, seed: int
) -> dict[Cell, int]:
    """Correct test predictions per (corruption, severity); each pair has its own seeded generator and is one
    unit of progress."""
    x, y = data.test.x, data.test.y
    counts: dict[Cell, torch.Tensor] = {}
    with evaluation_mode(model):
        for name in chosen:
            for severity in severities:
                generator = torch.Generator(device=x.device).manual_seed(derive_seed(seed, f"{name}/{severity}"))
                correct = torch.zeros((), dtype=torch.long, device=x.device)
                for start in range(0, len(x), batch_size):
                    batch = corrupt(x[start : start + batch_size], name, severity, generator=generator)
                    correct += (model(batch).argmax(dim=1) == y[start : start + batch_size]).sum()
                counts[(name, severity)] = correct
                step()
    return {key: int(value) for key, value in counts.items()}  # one sync per pair, after all work


def _all_or_names(what: str, value: Any) -> list[str]:
    """None (every registered corruption) or one or more corruption names, as a list."""
    return names() if value is None else option_names(names())(what, value)


def _image_data(options: Mapping[str, Any], data: Dataset, model: nn.Module) -> None:
    """The corruptions take float images (N, C, H, W) with 1 or 3 channels."""
    x = data.test.x
    if x.dim() != 4 or x.shape[1] not in (1, 3) or not x.is_floating_point():
        raise ConfigError(f"corruptions need image classification data, float (N, C, H, W) with C = 1 or 3; "
                          f"{data.name!r} has {x.dtype} inputs {tuple(x.shape[1:])}")  # fmt: skip


@measure(
    "corruptions",
    metrics=("accuracy", "mean_accuracy", "ce", "mce", "trained_on_corruption"),
    keys=(Key("mean_accuracy", "mean accuracy ({set})"), Key("mce", "mCE")),
    checks={
        "corruptions": _all_or_names,
        "severities": grid(1, 5, integers=True),
        "baseline": optional(instance(nn.Module)),
        "trained_with": option_names(empty=True),
    },
    tasks=("classification",),
    needs=_image_data,
)
def corruption_accuracy(
    model: nn.Module,
    data: Dataset,
    *,
    corruptions: str | Sequence[str] | None = None,
    severities: int | Sequence[int] = (1, 2, 3, 4, 5),
    baseline: nn.Module | None = None,
    trained_with: Sequence[str] = (),
    batch_size: int = 512,
    seed: int = 0,
) -> list[Record]:
    """Accuracy under each corruption and severity, mean corruption accuracy, and CE/mCE against ``baseline``.

    Args:
        corruptions: a name or names (default: all 19, the 15 common and the 4 held-out).
        severities: one or more of 1..5.
        baseline: a reference model (e.g. the clean-trained one) for CE and mCE.
        trained_with: noise kinds the model was trained with, if not attached to it (for the overlap warning).

    Progress: one unit per (corruption, severity) pair, of the model and of the baseline.
    """
    overlap = corruptions_matching(model, trained_with)
    records: list[Record] = []
    for name in (c for c in corruptions if c in overlap):
        log.warning("the model was trained with %r noise, which is the evaluated corruption %r", overlap[name], name)
        setting = {"corruption": name, "noise": overlap[name]}
        records.append(Record("corruptions", "trained_on_corruption", 1.0, setting))
    n = len(data.test)
    expect(len(corruptions) * len(severities) * (1 if baseline is None else 2))
    correct = corrupted_correct(model, data, corruptions, severities, batch_size=batch_size, seed=seed)
    for (name, severity), count in correct.items():
        setting = {"corruption": name, "severity": severity, "held_out": CORRUPTIONS[name].held_out}
        records.append(accuracy_record("corruptions", count, n, setting | _variants([name])))
    for held_out, label in ((False, "common"), (True, "held_out")):
        values = [count / n for (name, _), count in correct.items() if CORRUPTIONS[name].held_out == held_out]
        if values:
            setting = {"set": label} | _variants(name for name, _ in correct if CORRUPTIONS[name].held_out == held_out)
            records.append(Record("corruptions", "mean_accuracy", sum(values) / len(values), setting, n=n))
    if baseline is not None:
        records += _corruption_errors(correct, corrupted_correct(baseline, data, corruptions, severities,
                                                                 batch_size=batch_size, seed=seed), n)  # fmt: skip
    return records


def _corruption_errors(model: dict[Cell, int], baseline: dict[Cell, int], n: int) -> list[Record]:
    """CE per corruption (errors summed over severities, relative to the baseline's) and mCE over the common ones."""
    records: list[Record] = []
    common: dict[str, float] = {}
    for name in dict.fromkeys(name for name, _ in model):
        errors = sum(n - c for (k, _), c in model.items() if k == name)
        reference = sum(n - c for (k, _), c in baseline.items() if k == name)
        value = errors / reference if reference else float("nan")  # the baseline made no error: CE is undefined
        records.append(Record("corruptions", "ce", value, {"corruption": name} | _variants([name])))
        if not CORRUPTIONS[name].held_out:
            common[name] = value
    if common:
        setting = {"set": "common"} | _variants(common)
        records.append(Record("corruptions", "mce", sum(common.values()) / len(common), setting))
    return records


def _variants(chosen: Iterable[str]) -> dict[str, str]:
    """``{corruption: variant}`` for those of ``chosen`` whose implementation depends on what is installed."""
    return {name: CORRUPTIONS[name].variant for name in chosen if CORRUPTIONS[name].variant is not None}
