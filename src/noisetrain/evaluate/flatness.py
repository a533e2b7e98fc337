"""Flatness of the loss around the trained weights: sharpness, top Hessian eigenvalue, gradient norm.

- ``random_sharpness``: mean loss increase under random relative weight noise, entrywise
  ``delta ~ N(0, (rho * |w|)^2)`` (scale-invariant per weight): the average-case flatness of Jiang et al.
  2020, "Fantastic Generalization Measures and Where to Find Them", arXiv:1912.02178; Keskar et al. 2017
  (arXiv:1609.04836) take the worst case in a box instead.
- ``worst_case_sharpness``: loss increase after normalized gradient-ascent steps on the weights
  within ``||delta_t|| <= rho * ||w_t||`` for each parameter tensor ``t`` (SAM's inner step, Foret et
  al. 2021, "Sharpness-Aware Minimization for Efficiently Improving Generalization", arXiv:2010.01412,
  with a radius relative to each tensor's norm, in the spirit of ASAM, Kwon et al. 2021, arXiv:2102.11600,
  which scales each weight by ``|w|`` under one global radius).
- ``hessian_top_eigenvalue``: power iteration on Hessian-vector products (double backward).
- ``gradient_norm``: l2 norm of the gradient of the mean loss.

The loss is cross-entropy for integer targets and mean squared error (per sample, averaged over
outputs) for float targets, averaged over the given samples. Every function leaves the weights
bit-for-bit as it found them and the parameters' ``.grad`` untouched; the model runs in its current mode.
Each random draw, ascent step and power iteration is one unit of progress (``evaluate.progress``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data import Dataset
from ..noise.inject import evaluation_mode
from ..registry import ConfigError
from .keys import Key
from .options import choice, grid, integer
from .progress import expect, step
from .records import Record, measure

SPLITS = ("train", "val", "test")


def per_sample_loss(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for class indices ``y`` (N,), else squared error averaged over outputs; shape (N,)."""
    if not y.is_floating_point():
        return F.cross_entropy(outputs, y, reduction="none")
    outputs = outputs.reshape(outputs.shape[0], -1)
    return (outputs - y.reshape(outputs.shape).to(outputs.dtype)).square().mean(dim=1)


def trainable(model: nn.Module) -> list[nn.Parameter]:
    """The parameters that require gradients, in ``model.parameters()`` order."""
    return [p for p in model.parameters() if p.requires_grad]


@torch.no_grad()
def mean_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """The mean loss over ``x`` (N, *), ``y`` as a 0-dim tensor on the device (no host sync)."""
    total = sum(per_sample_loss(model(x[i : i + batch_size]), y[i : i + batch_size]).sum()
                for i in range(0, len(x), batch_size))  # fmt: skip
    return total / len(x)


def loss_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 512) -> list[torch.Tensor]:
    """The gradient of the mean loss over ``x``, ``y`` with respect to ``trainable(model)``, one tensor each."""
    params = trainable(model)
    grads = [torch.zeros_like(p) for p in params]
    with torch.enable_grad():
        for i in range(0, len(x), batch_size):
            loss = per_sample_loss(model(x[i : i + batch_size]), y[i : i + batch_size]).sum() / len(x)
            for total, g in zip(grads, torch.autograd.grad(loss, params, materialize_grads=True), strict=True):
                total += g
    return grads


def gradient_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 512) -> float:
    """The l2 norm of the gradient of the mean loss over ``x`` (N, *), ``y`` with respect to all trainable weights."""
    grads = loss_gradient(model, x, y, batch_size=batch_size)
    return torch.stack([g.square().sum() for g in grads]).sum().sqrt().item()


@contextmanager
def restored(params: Sequence[nn.Parameter]) -> Iterator[list[torch.Tensor]]:
    """Yield copies of ``params``; on exit write them back, so the weights are exactly as before."""
    saved = [p.detach().clone() for p in params]
    try:
        yield saved
    finally:
        with torch.no_grad():
            for p, w in zip(params, saved, strict=True):
                p.copy_(w)


def random_sharpness(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    rho: float,
    *,
    samples: int = 10,
    generator: torch.Generator,
    batch_size: int = 512,
) -> float:
    """Mean over ``samples`` draws of ``L(w + delta) - L(w)``, ``delta ~ N(0, (rho * |w|)^2)`` entrywise (``rho`` >= 0,
    relative). 0 at ``rho = 0``; NaN where a perturbed loss is not finite (``rho`` too large for the dtype).
    ``generator`` must live on the weights' device."""
    params = trainable(model)
    base = mean_loss(model, x, y, batch_size=batch_size)
    losses = []
    with restored(params) as saved, torch.no_grad():
        for _ in range(samples):
            for p, w in zip(params, saved, strict=True):
                noise = torch.randn(w.shape, generator=generator, device=w.device, dtype=w.dtype)
                p.copy_(w + rho * w.abs() * noise)
            losses.append(mean_loss(model, x, y, batch_size=batch_size))
            step()
    return _finite((torch.stack(losses) - base).mean().item())


def worst_case_sharpness(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    rho: float,
    *,
    steps: int = 1,
    batch_size: int = 512,
) -> float:
    """``L(w + delta) - L(w)`` after ``steps`` ascent steps of size ``rho * ||w_t|| / steps`` along ``g_t / ||g_t||``
    for each parameter tensor ``t``, each step projected onto ``||delta_t|| <= rho * ||w_t||``. With ``steps=1``:
    SAM's perturbation with a per-tensor radius. 0 at ``rho = 0``; NaN where the perturbed loss is not finite.
    The norms are scaled (``_norm``), so that a large ``rho`` cannot overflow them into a zero step."""
    params = trainable(model)
    base = mean_loss(model, x, y, batch_size=batch_size)
    with restored(params) as saved:
        radii = [rho * _norm(w) for w in saved]
        deltas = [torch.zeros_like(w) for w in saved]
        for _ in range(steps):
            grads = loss_gradient(model, x, y, batch_size=batch_size)
            with torch.no_grad():
                for p, w, delta, g, radius in zip(params, saved, deltas, grads, radii, strict=True):
                    delta += radius / steps * g / _norm(g)
                    delta *= (radius / _norm(delta)).clamp(max=1.0)
                    p.copy_(w + delta)
            step()
        perturbed = mean_loss(model, x, y, batch_size=batch_size)
    return _finite((perturbed - base).item())


def _norm(x: torch.Tensor) -> torch.Tensor:
    """The l2 norm of ``x`` without overflow in its squares (``max|x|`` times the norm of ``x / max|x|``), at least
    the dtype's smallest normal number, so that it can divide."""
    tiny = torch.finfo(x.dtype).tiny
    top = x.abs().max().clamp_min(tiny)
    return (top * (x / top).norm()).clamp_min(tiny)


def _finite(value: float) -> float:
    """``value``, or NaN (not testable) where it is infinite: a loss that overflowed says nothing measurable."""
    return value if math.isfinite(value) else math.nan


def hessian_top_eigenvalue(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    iterations: int = 20,
    generator: torch.Generator,
    batch_size: int = 512,
) -> float:
    """The Hessian eigenvalue of largest magnitude of the mean loss over ``x``, ``y`` with respect to all trainable
    weights, by ``iterations`` steps of power iteration from a random start drawn from ``generator``
    (Rayleigh quotient ``v^T H v`` of the last unit vector). Hessian-vector products by double backward."""
    params = trainable(model)
    v = [torch.randn(p.shape, generator=generator, device=p.device, dtype=p.dtype) for p in params]
    eigenvalue = torch.zeros((), device=params[0].device)
    for _ in range(iterations):
        length = torch.stack([t.square().sum() for t in v]).sum().sqrt()
        v = [t / length for t in v]
        hv = [torch.zeros_like(p) for p in params]
        with torch.enable_grad():
            for i in range(0, len(x), batch_size):
                loss = per_sample_loss(model(x[i : i + batch_size]), y[i : i + batch_size]).sum() / len(x)
                grads = torch.autograd.grad(loss, params, create_graph=True, materialize_grads=True)
                dot = sum((g * t).sum() for g, t in zip(grads, v, strict=True))
                for total, h in zip(hv, torch.autograd.grad(dot, params, materialize_grads=True), strict=True):
                    total += h
        eigenvalue = sum((h * t).sum() for h, t in zip(hv, v, strict=True))
        v = hv
        step()
    return float(eigenvalue)


def _split_and_weights(options: Mapping[str, Any], data: Dataset, model: nn.Module) -> None:
    """The chosen split must have samples and the model trainable weights."""
    if not len(getattr(data, options["split"])):
        raise ConfigError(f"split {options['split']!r} of dataset {data.name!r} is empty; "
                          f"choose one of {', '.join(SPLITS)}")  # fmt: skip
    if not trainable(model):
        raise ConfigError("flatness: the model has no trainable parameters")


@measure(
    "flatness",
    metrics=("loss", "gradient_norm", "hessian_top_eigenvalue", "sharpness_random", "sharpness_worst"),
    keys=(
        Key("sharpness_worst", "worst-case sharpness rho={rho:g}"),
        Key("hessian_top_eigenvalue", "Hessian top eigenvalue"),
        Key("gradient_norm", "gradient norm"),
    ),
    checks={
        "rho": grid(0),
        "samples": integer(1),
        "steps": integer(1),
        "iterations": integer(1),
        "num_samples": integer(1),
        "split": choice(*SPLITS),
    },
    splits=(),
    needs=_split_and_weights,
)
def flatness(
    model: nn.Module,
    data: Dataset,
    *,
    batch_size: int = 512,
    seed: int = 0,
    rho: float | Sequence[float] = 0.05,
    samples: int = 10,
    steps: int = 1,
    iterations: int = 20,
    num_samples: int = 512,
    split: str = "train",
) -> list[Record]:
    """Flatness of the loss in eval mode on a seeded subset of ``num_samples`` points of ``data.<split>``.

    Flatness describes the minimum training found, so the default split is ``train``.

    Args:
        rho: relative perturbation size(s) (>= 0) of the two sharpness measures.
        samples: random draws per ``rho`` (>= 1). steps: ascent steps of the worst case (>= 1).
        iterations: power-iteration steps for the top Hessian eigenvalue (>= 1).
        num_samples: points in the subset (>= 1; all when the split is smaller). split: train, val or test.
        batch_size: points per forward batch. seed: seed of the subset, the noise and the power-iteration start.

    Records: ``loss``, ``gradient_norm``, ``hessian_top_eigenvalue`` and per ``rho`` ``sharpness_random`` and
    ``sharpness_worst``; every setting holds the split and the subset size.
    Progress: one unit each for the loss and the gradient norm, per power iteration, per random draw and per
    ascent step.

    Example: ``flatness(model, data, rho=(0.01, 0.05))``.
    """
    part = getattr(data, split)
    expect(2 + iterations + len(rho) * (samples + steps))
    device = part.x.device
    index = torch.randperm(len(part), generator=torch.Generator().manual_seed(seed))[:num_samples].to(device)
    x, y = part.x[index], part.y[index]
    generator = torch.Generator(device=device).manual_seed(seed)
    setting = {"split": split, "num_samples": len(index)}
    options = {"batch_size": batch_size}
    n = len(index)
    with evaluation_mode(model):
        loss = mean_loss(model, x, y, **options).item()
        step()
        norm = gradient_norm(model, x, y, **options)
        step()
        top = hessian_top_eigenvalue(model, x, y, iterations=iterations, generator=generator, **options)
        records = [
            Record("flatness", "loss", loss, setting, n=n),
            Record("flatness", "gradient_norm", norm, setting, n=n),
            Record("flatness", "hessian_top_eigenvalue", top, {**setting, "iterations": iterations}, n=n),
        ]
        for r in rho:
            random = random_sharpness(model, x, y, r, samples=samples, generator=generator, **options)
            worst = worst_case_sharpness(model, x, y, r, steps=steps, **options)
            records += [
                Record("flatness", "sharpness_random", random, {**setting, "rho": r, "samples": samples}, n=n),
                Record("flatness", "sharpness_worst", worst, {**setting, "rho": r, "steps": steps}, n=n),
            ]
    return records
