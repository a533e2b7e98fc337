"""The base class every gradient attack shares: options, losses, steps, projection and the model's mode.

An attack maps a batch to adversarial inputs, ``attack(model, x, y) -> x_adv``, with
``x_adv`` inside the ``eps``-ball of ``x`` in the chosen norm and inside ``bounds``.
``perturb`` is the attack itself and leaves the model's modes alone (adversarial
training calls it in train mode); ``__call__`` puts the model in eval mode (in
Monte-Carlo mode when ``eot > 1``) and restores every flag afterwards.

Gradients are taken with ``torch.autograd.grad`` with respect to the input only, so
the parameters' ``.grad`` stay untouched. Nothing in the loop synchronises host and device.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_choice, check_int, check_number, check_pair, check_seed
from ..noise.base import Generators
from ..noise.inject import evaluation_mode, mc_mode
from ..registry import Registry, parameter_names

NORMS = ("linf", "l2")
LOSSES = ("ce", "mse")
START_RADII = ("uniform", "ball")
"""How the l2 random start draws its radius (see ``random_start``)."""

ATTACKS: Registry[Attack] = Registry("attack")
"""Every registered attack, by kind."""


def per_sample_norm(t: torch.Tensor, norm: str) -> torch.Tensor:
    """The norm of each sample of ``t`` (N, *) as shape (N, 1, ..., 1), broadcastable to ``t``."""
    flat = t.flatten(1)
    value = flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)
    return value.view(-1, *([1] * (t.dim() - 1)))


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Euclidean projection of each sample of ``delta`` (N, *) onto the ``eps``-ball of ``norm``.

    ``linf`` clips every entry to [-eps, eps]; ``l2`` rescales samples whose l2 norm exceeds ``eps``.
    """
    if norm == "linf":
        return delta.clamp(-eps, eps)
    length = per_sample_norm(delta, "l2").clamp_min(torch.finfo(delta.dtype).tiny)
    return delta * (eps / length).clamp(max=1.0)


def ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent unit step for ``norm``: ``sign(grad)`` (linf) or ``grad / ||grad||_2`` per sample (l2)."""
    if norm == "linf":
        return grad.sign()
    return grad / per_sample_norm(grad, "l2").clamp_min(torch.finfo(grad.dtype).tiny)


def random_start(
    x: torch.Tensor, eps: float, norm: str, generator: torch.Generator, *, radius: str = "ball"
) -> torch.Tensor:
    """A random perturbation in the ``eps``-ball, shaped like ``x`` (N, *).

    ``linf``: ``U(-eps, eps)`` per entry, uniform in the ball (``radius`` plays no part). ``l2``: a uniformly
    random direction per sample (a normalised Gaussian) times a radius ``eps * r`` with ``U ~ U(0, 1)``:
    ``radius="ball"``: ``r = U**(1/d)`` (``d`` entries per sample), uniform in the ball, so the norms crowd near
    ``eps`` in high dimension (mean ``eps * d / (d + 1)``); ``radius="uniform"``: ``r = U``, the norm uniform in
    ``[0, eps]`` (mean ``eps / 2``), the random start of torchattacks 3.5.1 ``PGDL2``.
    """
    if norm == "linf":
        return (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * eps
    direction = ascent_direction(torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype), "l2")
    u = torch.rand((x.shape[0], *([1] * (x.dim() - 1))), generator=generator, device=x.device, dtype=x.dtype)
    return direction * eps * (u if radius == "uniform" else u.pow(1.0 / x[0].numel()))


class Attack:
    """Base class of all attacks: stores and validates the shared options.

    Args:
        eps: radius of the perturbation ball (>= 0), in input units (e.g. ``8/255`` for images in [0, 1]).
        norm: ``"linf"`` or ``"l2"``.
        bounds: ``(low, high)`` range the adversarial input is clamped to, or None for unbounded data
            (e.g. standardised tabular features). ``x`` itself is assumed to lie inside ``bounds``.
        loss: ``"ce"`` (cross-entropy; ``y`` class indices (N,) or probabilities (N, k)) or ``"mse"``
            (regression; outputs (N, k) against ``y`` reshaped to (N, k)).
        eot: Expectation over Transformation (Athalye et al. 2018, "Synthesizing Robust Adversarial
            Examples", arXiv:1707.07397): stochastic forward/backward passes averaged per gradient (>= 1).
        seed: seed of the random starts' generator (one per device; None: drawn from torch's global
            generator at first use).

    Subclasses implement ``_perturb``. Shapes: ``x`` (N, *) floating, ``y`` as the loss needs; ``x_adv`` like ``x``.
    """

    kind: ClassVar[str]

    def __init__(
        self,
        eps: float,
        *,
        norm: str = "linf",
        bounds: tuple[float, float] | None = (0.0, 1.0),
        loss: str = "ce",
        eot: int = 1,
        seed: int | None = None,
    ) -> None:
        name = type(self).__name__
        self.eps = check_number(f"{name}.eps", eps, 0)
        check_choice(f"{name}.norm", norm, NORMS)
        self.norm = norm
        self.bounds = None if bounds is None else check_pair(f"{name}.bounds", bounds, strict=True)
        check_choice(f"{name}.loss", loss, LOSSES)
        self.loss = loss
        check_int(f"{name}.eot", eot, 1)
        self.eot = eot
        check_seed(f"{name}.seed", seed)
        self.seed = seed
        self.generators_ = Generators(seed)

    # -- the attack -----------------------------------------------------------------
    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Adversarial inputs for ``model`` in whatever mode it is in; detached, same shape/dtype/device as ``x``.

        With ``eps == 0`` returns a copy of ``x`` exactly.
        """
        x = x.detach()
        if self.eps == 0:
            return x.clone()
        return self._perturb(model, x, y.detach()).detach()

    def _perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``perturb`` with the model in eval mode (Monte-Carlo mode when ``eot > 1``: injectors and dropout
        stochastic, BatchNorm on running statistics); every module's and injector's flags are restored."""
        with evaluation_mode(model), mc_mode(model) if self.eot > 1 else nullcontext():
            return self.perturb(model, x, y)

    # -- building blocks ------------------------------------------------------------
    def losses(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample loss (N,) of ``outputs`` (N, k) against ``y``."""
        if self.loss == "ce":
            return F.cross_entropy(outputs, y, reduction="none")
        outputs = outputs.reshape(outputs.shape[0], -1)
        return (outputs - y.reshape(outputs.shape).to(outputs.dtype)).square().mean(dim=1)

    def gradient(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The gradient of the summed per-sample loss with respect to ``x`` and the per-sample loss (N,),
        both averaged over ``eot`` forward/backward passes. Parameters get no gradient."""
        with torch.enable_grad():
            for i in range(self.eot):
                point = x.detach().requires_grad_(True)
                losses = self.losses(model(point), y)
                grad = torch.autograd.grad(losses.sum(), point)[0]
                if i == 0:
                    grad_sum, loss_sum = grad, losses.detach()
                else:
                    grad_sum, loss_sum = grad_sum + grad, loss_sum + losses.detach()
        if self.eot == 1:  # spare the division: every pass over the input counts against the model's own step
            return grad_sum, loss_sum
        return grad_sum / self.eot, loss_sum / self.eot

    def box(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Entry-wise lower and upper limits (each shaped like ``x``) of the linf ``eps``-ball around ``x``
        intersected with ``bounds``."""
        low, high = x - self.eps, x + self.eps
        if self.bounds is not None:
            low, high = low.clamp_min(self.bounds[0]), high.clamp_max(self.bounds[1])
        return low, high

    def clamp(
        self, x: torch.Tensor, x_adv: torch.Tensor, box: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """``x_adv`` projected onto the ``eps``-ball around ``x`` and then into ``bounds``. For ``linf`` this
        is one clip to ``box`` (``self.box(x)``, computed when not given)."""
        if self.norm == "linf":
            return x_adv.clamp(*(self.box(x) if box is None else box))
        x_adv = x + project(x_adv - x, self.eps, self.norm)
        return x_adv if self.bounds is None else x_adv.clamp(*self.bounds)

    def ascend(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        steps: int,
        step: float,
        start: bool,
        radius: str = "ball",
    ) -> torch.Tensor:
        """Projected gradient ascent from ``x`` (plus a random start if ``start``, its l2 radius drawn as
        ``radius`` says, see ``random_start``): ``steps`` steps of size ``step`` along the steepest-ascent
        direction of ``norm``, each followed by ``clamp``."""
        box = self.box(x) if self.norm == "linf" else None
        x_adv = x
        if start:
            delta = random_start(x, self.eps, self.norm, self.generators_(x.device), radius=radius)
            x_adv = self.clamp(x, x + delta, box)
        for _ in range(steps):
            grad, _ = self.gradient(model, x_adv, y)
            x_adv = self.clamp(x, x_adv.add(ascent_direction(grad, self.norm), alpha=step), box)
        return x_adv

    # -- config and display ----------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """The spec that rebuilds this attack through ``build_attack``."""
        config: dict[str, Any] = {"kind": self.kind}
        for name in parameter_names(type(self)):
            value = getattr(self, name)
            config[name] = list(value) if isinstance(value, tuple) else value
        return config

    def __repr__(self) -> str:
        options = ", ".join(f"{name}={getattr(self, name)!r}" for name in parameter_names(type(self)))
        return f"{type(self).__name__}({options})"


def build_attack(spec: Attack | Mapping[str, Any], *, field: str = "attack") -> Attack:
    """Build an attack from ``{"kind": ..., **params}`` (an attack passes through).

    Example:
        >>> build_attack({"kind": "pgd", "eps": 8 / 255, "steps": 10})
    """
    if isinstance(spec, Attack):
        return spec
    return ATTACKS.build(spec, field=field)
