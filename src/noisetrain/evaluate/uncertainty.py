"""Monte-Carlo predictive uncertainty: entropy and mutual information of MC passes, and how well they
detect misclassified or noised test inputs (AUROC).

MC dropout as in "Dropout as a Bayesian Approximation" (Gal & Ghahramani 2016, arXiv:1506.02142); the
split of predictive entropy into expected entropy (aleatoric) and mutual information (epistemic) as in
"Bayesian Active Learning for Classification and Preference Learning" (Houlsby et al. 2011, arXiv:1112.5745).

Example:
    >>> uncertainty(model, data, samples=20, corrupted={"kind": "gaussian", "strength": 0.3})
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..data.dataset import Dataset
from ..noise.inject import evaluation_mode, mc_mode
from ..registry import ConfigError
from .keys import Key
from .noise_sweep import check_noise, corrupt, extremes_of, resolve_clip
from .options import AUTO, auto_range, integer
from .progress import expect, step
from .records import Record, accuracy_record, measure, seeded_noise


def entropy(probs: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy in nats of the distributions ``probs`` along ``dim`` (``0 log 0 = 0``).
    probs (..., C) -> (...)."""
    return -torch.special.xlogy(probs, probs).sum(dim)


def mutual_information(probs: torch.Tensor) -> torch.Tensor:
    """Mutual information between prediction and model noise from MC passes ``probs`` (S, N, C):
    the entropy of the mean prediction minus the mean entropy of the passes, (N,) in nats, >= 0
    (0 when all passes agree)."""
    return (entropy(probs.mean(0)) - entropy(probs).mean(0)).clamp_min(0)


def auroc(scores: torch.Tensor, positives: torch.Tensor) -> float:
    """Area under the ROC curve of ``scores`` (N,) for telling ``positives`` (N,) bool from the rest:
    the probability that a random positive scores higher than a random negative, ties counting half
    (the Mann-Whitney rank formula). NaN when either class is empty."""
    scores, positives = scores.double().flatten(), positives.bool().flatten()
    n_pos = int(positives.sum())
    n_neg = len(scores) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = scores.argsort()
    _, group, counts = torch.unique_consecutive(scores[order], return_inverse=True, return_counts=True)
    mean_rank = counts.cumsum(0) - (counts - 1) / 2  # average 1-based rank of each run of tied scores
    ranks = torch.empty_like(scores)
    ranks[order] = mean_rank[group].double()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@torch.no_grad()
def mc_predict(
    model: nn.Module, x: torch.Tensor, *, samples: int, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean probabilities (N, C), predictive entropy (N,) and mutual information (N,) of ``samples``
    passes of ``model`` in its current mode; each batch is one unit of progress."""
    means, entropies, informations = [], [], []
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        probs = torch.stack([model(batch).float().softmax(-1) for _ in range(samples)])
        mean = probs.mean(0)
        means.append(mean)
        entropies.append(entropy(mean))
        same = bool((probs == probs[0]).all())  # passes that agree carry no information: 0, not rounding
        informations.append(torch.zeros(len(batch), device=x.device) if same else mutual_information(probs))
        step()
    return torch.cat(means), torch.cat(entropies), torch.cat(informations)


def check_corrupted(what: str, corrupted: Any) -> dict[str, Any] | None:
    """``corrupted`` as ``{"kind", "strength", "clip"}`` (clip defaulting to ``"auto"``, see ``auto_range``),
    or None; ``what`` names it in errors."""
    if corrupted is None:
        return None
    if not isinstance(corrupted, Mapping) or not {"kind", "strength"} <= set(corrupted):
        raise ConfigError(f"{what} must be a mapping with kind and strength (and optional clip), got {corrupted!r}")
    extra = sorted(set(corrupted) - {"kind", "strength", "clip"})
    if extra:
        raise ConfigError(f"{what} has unknown keys {extra}; allowed: kind, strength, clip")
    check_noise(what, corrupted["kind"], corrupted["strength"])
    return {**corrupted, "clip": auto_range(f"{what} clip", corrupted.get("clip", AUTO))}


@measure(
    "uncertainty",
    metrics=("accuracy", "entropy", "mutual_information", "auroc"),
    keys=(Key("auroc", "AUROC {score}, {target}"),),
    checks={"samples": integer(1), "corrupted": check_corrupted},
    tasks=("classification",),
)
def uncertainty(
    model: nn.Module,
    data: Dataset,
    *,
    batch_size: int = 512,
    seed: int = 0,
    samples: int = 20,
    corrupted: Mapping[str, Any] | None = None,
) -> list[Record]:
    """MC predictive uncertainty on the test split, in MC mode (dropout and injectors stochastic, BatchNorm
    with running statistics).

    Args:
        model: a classifier returning logits (N, C).
        data: a classification data set; its test split is used.
        batch_size: inputs per forward pass.
        seed: seed of the model's noise (dropout and injectors) and of the corruption.
        samples: MC passes per input (>= 1). Default 20.
        corrupted: a test-time noise ``{"kind": ..., "strength": ..., "clip": ...}`` as in ``noise_sweep``
            (e.g. ``{"kind": "gaussian", "strength": 0.3}``), or None.

    Returns:
        with setting ``{"samples": S}``: ``accuracy`` of the MC mean prediction (with its 95% interval), the mean
        ``entropy`` and ``mutual_information`` (nats), and ``auroc`` of each score (``"entropy"``,
        ``"mutual_information"``) for detecting misclassified test inputs (``"target": "misclassified"``) and,
        with ``corrupted``, for telling noised from clean test inputs (``"target": "corrupted"``). A score equal
        for every input (mutual information of a deterministic model, or of one pass) gets a NaN AUROC: not
        testable.
        Progress: one unit per batch of MC passes.
    """
    test = data.test
    clip = None if corrupted is None else resolve_clip(corrupted["clip"], data)
    expect(math.ceil(len(test) / batch_size) * (1 if corrupted is None else 2))

    device = test.x.device
    with evaluation_mode(model), mc_mode(model), seeded_noise(model, seed, device):
        mean, entropies, informations = mc_predict(model, test.x, samples=samples, batch_size=batch_size)
        if corrupted is not None:
            generator = torch.Generator(device=device).manual_seed(seed)
            noisy_x = corrupt(test.x, corrupted["kind"], corrupted["strength"], clip=clip,
                              extremes=extremes_of(clip, test), generator=generator)  # fmt: skip
            _, noisy_entropies, noisy_informations = mc_predict(model, noisy_x, samples=samples, batch_size=batch_size)

    n = len(test)
    base = {"samples": samples}
    wrong = mean.argmax(-1) != test.y
    records = [
        accuracy_record("uncertainty", n - int(wrong.sum()), n, base),
        Record("uncertainty", "entropy", float(entropies.mean()), base, None, n),
        Record("uncertainty", "mutual_information", float(informations.mean()), base, None, n),
    ]
    scores = {"entropy": entropies, "mutual_information": informations}
    for name, score in scores.items():
        setting = {**base, "score": name, "target": "misclassified"}
        records.append(Record("uncertainty", "auroc", _auroc(score, wrong), setting, None, n))
    if corrupted is not None:
        is_noisy = torch.cat([torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)]).to(device)
        noisy_scores = {"entropy": noisy_entropies, "mutual_information": noisy_informations}
        for name, score in scores.items():
            setting = {**base, "score": name, "target": "corrupted", "corruption": dict(corrupted, clip=clip)}
            value = _auroc(torch.cat([score, noisy_scores[name]]), is_noisy)
            records.append(Record("uncertainty", "auroc", value, setting, None, 2 * n))
    return records


def _auroc(scores: torch.Tensor, positives: torch.Tensor) -> float:
    """``auroc``, and NaN (not testable) for a score that is the same for every input: mutual information when
    the MC passes agree (a deterministic model, or one pass), which ranks nothing."""
    return math.nan if bool((scores == scores[0]).all()) else auroc(scores, positives)
