"""Certified l2 robustness by randomized smoothing.

Cohen, Rosenfeld and Kolter 2019, "Certified Adversarial Robustness via Randomized Smoothing"
(arXiv:1902.02918): the smoothed classifier ``g(x) = argmax_c P(f(x + N(0, sigma^2 I)) = c)``
is constant within l2 radius ``sigma * Phi^-1(pA)`` of ``x`` when the top class has probability
``pA >= 1/2``. ``certify`` picks the class on ``n0`` noisy copies, bounds ``pA`` from below on
``n`` fresh copies (one-sided Clopper-Pearson at level ``alpha``) and abstains when the bound is
below 1/2: a bound of exactly 1/2 certifies radius 0, as ``Smooth.certify`` in the authors' code does
(github.com/locuslab/smoothing, code/core.py: abstain if ``pABar < 0.5``, else radius
``sigma * norm.ppf(pABar)``); ``predict`` abstains unless a binomial test separates the two top classes.

Noise copies of many test points share each forward batch; class counts are one-hot sums.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import Dataset
from ..noise.inject import evaluation_mode
from ..registry import ConfigError
from .keys import Key
from .options import grid, integer, real
from .progress import expect, step
from .records import Record, clopper_pearson, measure

ABSTAIN = -1
"""The prediction of a point on which the smoothed classifier abstains."""


@torch.no_grad()
def class_counts(
    model: nn.Module,
    x: torch.Tensor,
    sigma: float,
    num: int,
    generator: torch.Generator,
    batch_size: int = 512,
) -> torch.Tensor:
    """How often the model predicts each class on ``num`` Gaussian copies ``x + N(0, sigma^2)`` of each point.

    Shapes: ``x`` (N, *) -> counts (N, classes), int64, on ``x``'s device. The model runs in its current
    mode on forward batches of ``batch_size`` copies, drawn point after point from ``generator``; each batch is
    one unit of progress.
    """
    total = len(x) * num
    counts: torch.Tensor | None = None
    for start in range(0, total, batch_size):
        point = torch.arange(start, min(start + batch_size, total), device=x.device) // num
        inputs = x[point]
        noise = torch.randn(inputs.shape, generator=generator, device=x.device, dtype=x.dtype)
        logits = model(inputs + sigma * noise)
        votes = logits.argmax(dim=-1)
        if counts is None:
            counts = torch.zeros(len(x), logits.shape[-1], dtype=torch.long, device=x.device)
        counts.index_put_((point, votes), torch.ones_like(votes), accumulate=True)
        step()
    assert counts is not None, "class_counts needs at least one point and one copy"
    return counts


def lower_confidence_bound(successes: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """One-sided Clopper-Pearson lower bound at level ``1 - alpha`` of a binomial proportion, per entry."""
    from scipy.stats import beta  # imported here: scipy.stats takes half a second, and most runs never certify

    successes = np.asarray(successes)
    return np.where(successes > 0, beta.ppf(alpha, np.maximum(successes, 1), n - successes + 1), 0.0)


def certify(
    model: nn.Module,
    x: torch.Tensor,
    sigma: float,
    n0: int,
    n: int,
    alpha: float,
    generator: torch.Generator,
    batch_size: int = 512,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CERTIFY of Cohen et al. 2019 for each point of ``x`` (N, *), with the model in its current mode.

    The top class of ``n0`` noisy copies is the candidate; ``pA_lower`` bounds its probability from
    ``n`` fresh copies; the radius is ``sigma * Phi^-1(pA_lower)`` in input l2 units.

    Returns: predictions (N,) int64 (``ABSTAIN`` where ``pA_lower < 1/2``; ``pA_lower = 1/2`` certifies
    radius 0, as in Cohen et al.'s code) and radii (N,) float64 (0 where abstaining), both on the CPU. The
    guarantee holds with probability ``1 - alpha`` per point.
    """
    from scipy.stats import norm

    candidate = class_counts(model, x, sigma, n0, generator, batch_size).argmax(dim=1)
    counts = class_counts(model, x, sigma, n, generator, batch_size)
    top = counts.gather(1, candidate[:, None])[:, 0].cpu().numpy()
    p_lower = lower_confidence_bound(top, n, alpha)
    certified = p_lower >= 0.5
    radius = sigma * norm.ppf(np.maximum(p_lower, 0.5))  # Phi^-1(1/2) = 0: radius 0 at the edge and where abstaining
    prediction = torch.where(torch.from_numpy(certified), candidate.cpu(), ABSTAIN)
    return prediction, torch.from_numpy(radius)


def predict(
    model: nn.Module,
    x: torch.Tensor,
    sigma: float,
    n: int,
    alpha: float,
    generator: torch.Generator,
    batch_size: int = 512,
) -> torch.Tensor:
    """PREDICT of Cohen et al. 2019: the top class of ``n`` noisy copies of each point of ``x`` (N, *), or
    ``ABSTAIN`` when a two-sided binomial test of the two top counts against 1/2 has p-value above ``alpha``.

    Returns: predictions (N,) int64 on the CPU; a wrong answer has probability at most ``alpha`` per point.
    """
    from scipy.stats import binom

    counts = class_counts(model, x, sigma, n, generator, batch_size)
    top2 = counts.topk(min(2, counts.shape[1]), dim=1)
    pair = top2.values.cpu().numpy()
    first, trials = pair[:, 0], pair.sum(axis=1)
    p_value = np.minimum(1.0, 2 * binom.sf(first - 1, trials, 0.5))  # the test is symmetric: 2 P(X >= first)
    return torch.where(torch.from_numpy(p_value <= alpha), top2.indices[:, 0].cpu(), ABSTAIN)


def _n_can_certify(options: dict[str, Any]) -> dict[str, Any]:
    """``n`` copies certify no point at ``alpha`` when even ``n`` of ``n`` give a lower bound ``alpha^(1/n)`` on pA
    below 1/2: every point would abstain, and the curve would read 0 where it says nothing of the model."""
    n, alpha = options["n"], options["alpha"]
    if alpha ** (1 / n) < 0.5:
        raise ConfigError(f"n={n} copies cannot certify any point at alpha={alpha:g}: even {n} of {n} give a lower "
                          f"bound on pA of {alpha ** (1 / n):.2f} < 1/2; use n >= {math.ceil(math.log2(1 / alpha))}")
    return options


@measure(
    "certified",
    metrics=("certified_accuracy", "abstention", "mean_radius"),
    keys=(Key("certified_accuracy", "certified r={radius:g}"), Key("mean_radius", "mean radius")),
    checks={
        "sigma": real(0, low_open=True),
        "n0": integer(1),
        "n": integer(1),
        "alpha": real(0, 1, low_open=True, high_open=True),
        "num_points": integer(1),
        "radii": grid(0),
    },
    joint=_n_can_certify,
    tasks=("classification",),
)
def certified(
    model: nn.Module,
    data: Dataset,
    *,
    batch_size: int = 512,
    seed: int = 0,
    sigma: float = 0.25,
    n0: int = 100,
    n: int = 1000,
    alpha: float = 0.001,
    num_points: int = 200,
    radii: float | Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
) -> list[Record]:
    """Certified accuracy of the Gaussian-smoothed model on a random subset of ``data.test``.

    Args:
        sigma: noise standard deviation (> 0), in input units. n0: selection copies per point (>= 1).
        n: estimation copies per point (>= 1). alpha: failure probability of each certificate, in (0, 1).
        num_points: test points certified (a seeded random subset; all when the split is smaller).
        radii: l2 radius or radii (>= 0) of the certified-accuracy curve.
        batch_size: noisy copies per forward batch. seed: seed of the subset and of the noise.

    Records: ``certified_accuracy`` per ``{"radius"}`` (correct and certified at least that radius, with a
    Clopper-Pearson interval; NaN, not testable, beyond ``largest_radius``: 0 there says nothing of the
    model), ``abstention`` (fraction of points abstained on) and ``mean_radius``
    (mean radius over correctly certified points; NaN when none); every setting holds sigma, n0, n, alpha.

    Example: ``certified(model, data, sigma=0.5, n=10_000)``.
    """
    x, y = data.test.x, data.test.y
    cpu = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(x), generator=cpu)[:num_points].sort().values.to(x.device)
    expect(sum(math.ceil(len(index) * copies / batch_size) for copies in (n0, n)))  # class_counts' forward batches
    generator = torch.Generator(device=x.device).manual_seed(seed)
    with evaluation_mode(model):
        prediction, radius = certify(model, x[index], sigma, n0, n, alpha, generator, batch_size)
    correct = prediction == y[index].cpu()
    setting = {"sigma": sigma, "n0": n0, "n": n, "alpha": alpha}
    points = len(index)
    reach = largest_radius(sigma, n, alpha)
    records = [
        _fraction("certified_accuracy", int((correct & (radius >= r)).sum()), points, {**setting, "radius": r})
        if r <= reach else Record("certified", "certified_accuracy", math.nan, {**setting, "radius": r}, None, points)
        for r in radii
    ]  # fmt: skip
    records.append(_fraction("abstention", int((prediction == ABSTAIN).sum()), points, setting))
    mean_radius = float(radius[correct].mean()) if bool(correct.any()) else float("nan")
    records.append(Record("certified", "mean_radius", mean_radius, setting, None, int(correct.sum())))
    return records


def largest_radius(sigma: float, n: int, alpha: float) -> float:
    """The largest radius ``n`` copies can certify, when every copy gives the top class: ``pA_lower = alpha^(1/n)``
    (the Clopper-Pearson bound of n successes in n), so ``sigma * Phi^-1(alpha^(1/n))`` (0 when that is below 1/2)."""
    return sigma * NormalDist().inv_cdf(max(0.5, alpha ** (1 / n)))


def _fraction(metric: str, count: int, total: int, setting: dict[str, float]) -> Record:
    """A ``count / total`` record with its Clopper-Pearson 95% interval."""
    return Record("certified", metric, count / total, dict(setting), clopper_pearson(count, total), total)
