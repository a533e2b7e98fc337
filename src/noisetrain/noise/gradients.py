"""Noise on gradients and parameter updates: annealed gradient noise and Langevin dynamics."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from ..checks import check_range, check_seed
from .base import NOISE, Generators, Injector, Number
from .sources import Source, normal


def gradient_noise(
    parameters: Iterable[torch.Tensor],
    eta: float,
    *,
    gamma: float = 0.55,
    step: int = 0,
    generator: Source | Callable[[torch.device], Source] = None,
) -> None:
    """Add ``N(0, sigma^2)``, ``sigma^2 = eta / (1 + step) ** gamma``, to every ``.grad`` in place.

    Annealed gradient noise of Neelakantan et al. 2015, "Adding Gradient Noise Improves Learning
    for Very Deep Networks", arXiv:1511.06807 (they use eta in {0.01, 0.3, 1}, gamma = 0.55).

    Args:
        parameters: tensors whose ``.grad`` gets the noise; those with ``grad=None`` are skipped.
        eta: noise variance at step 0 (>= 0), in squared gradient units.
        gamma: decay exponent (>= 0).
        step: the training step t (>= 0).
        generator: source of randomness, or a function from a device to the generator to use there.

    Noise is drawn in each gradient's dtype and device.

    Example: ``loss.backward(); gradient_noise(model.parameters(), 0.3, step=t); opt.step()``.
    """
    check_range("eta", eta, 0)
    check_range("gamma", gamma, 0)
    check_range("step", step, 0)
    std = math.sqrt(eta / (1 + step) ** gamma)
    for p in parameters:
        grad = p.grad
        if grad is not None:
            source = generator(grad.device) if callable(generator) else generator
            grad.add_(normal(grad.shape, source, device=grad.device, dtype=grad.dtype), alpha=std)


@NOISE.register("gradient_noise")
class GradientNoise(Injector):
    """Annealed Gaussian gradient noise (Neelakantan et al. 2015, arXiv:1511.06807), see ``gradient_noise``.

    Bound to an optimizer, it perturbs the gradients just before each ``optimizer.step()`` (so after
    any clipping done before it), with ``t`` the number of steps seen so far (runtime state ``step_``,
    counted whether or not noise was added).

    Args:
        eta: noise variance at t = 0 (>= 0), or a schedule of training progress. Default 0.3.
        gamma: decay exponent of ``eta / (1 + t) ** gamma`` (>= 0; 0 leaves the decay to a schedule).
            Default 0.55.
        seed: seed of this injector's generators (None: drawn from torch's global generator once).

    Call: ``n(parameters)`` adds the noise to their ``.grad`` in place.

    Example: ``handle = inject(model, GradientNoise(eta=0.3), optimizer=opt)``.
    """

    strength = "eta"
    positions = frozenset({"gradients"})
    default_at = "gradients"

    def __init__(self, eta: Number = 0.3, gamma: float = 0.55, *, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        check_range(f"{type(self).__name__}.gamma", gamma, 0)
        self.eta = self.number("eta", eta, 0)
        self.gamma = float(gamma)
        self.step_ = 0

    def forward(self, parameters: Iterable[nn.Parameter]) -> None:
        if self.active:
            gradient_noise(parameters, self.current("eta"), gamma=self.gamma, step=self.step_, generator=self.generator)
        self.step_ += 1


class SGLD(torch.optim.Optimizer):
    """Stochastic gradient Langevin dynamics (Welling & Teh 2011, "Bayesian Learning via Stochastic
    Gradient Langevin Dynamics", ICML).

    Update: ``theta <- theta - lr * (grad + weight_decay * theta) + sqrt(2 * lr * temperature) * xi``,
    ``xi ~ N(0, I)``. With ``U`` the function whose gradient is in ``.grad``, the iterates sample
    (for small ``lr``) from ``exp(-U / temperature)``; ``lr`` is the paper's ``epsilon / 2`` (its
    noise ``N(0, epsilon)`` is ``N(0, 2 * lr)``); temperature 0 is plain SGD.

    For a Bayesian posterior ``U`` is the *summed* negative log-likelihood of all N training points
    plus the negative log prior. With the usual *mean* batch loss, either multiply the loss by N or
    pass ``temperature=1/N``. ``weight_decay`` is a Gaussian prior of precision ``weight_decay`` on
    the scale of ``U``. Parameters without a gradient are left untouched.

    Args:
        params: parameters or parameter groups, as for any torch optimizer.
        lr: step size (> 0).
        temperature: T (>= 0). Default 1.
        weight_decay: L2 coefficient (>= 0). Default 0.
        seed: seed of the per-device generators (None: drawn from torch's global generator once).

    Example: ``opt = SGLD(model.parameters(), lr=1e-4, temperature=1 / len(dataset), seed=0)``.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        *,
        temperature: float = 1.0,
        weight_decay: float = 0.0,
        seed: int | None = None,
    ) -> None:
        check_range("SGLD.lr", lr, 0, low_open=True)
        check_range("SGLD.temperature", temperature, 0)
        check_range("SGLD.weight_decay", weight_decay, 0)
        check_seed("SGLD.seed", seed)
        super().__init__(params, {"lr": lr, "temperature": temperature, "weight_decay": weight_decay})
        self.seed = seed
        self.generators_ = Generators(seed)

    def __getstate__(self) -> dict[str, Any]:  # keep the generators through copy and pickle
        return {**super().__getstate__(), "seed": self.seed, "generators_": self.generators_}

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state plus its generators' states, so a resumed run draws the same noise."""
        return {**super().state_dict(), "generators": self.generators_.state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        self.generators_.set_state(state_dict.pop("generators", {}))
        super().load_state_dict(state_dict)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One Langevin step; ``closure`` (optional) re-evaluates and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, weight_decay = group["lr"], group["weight_decay"]
            std = math.sqrt(2 * lr * group["temperature"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad if weight_decay == 0 else p.grad.add(p, alpha=weight_decay)
                p.add_(grad, alpha=-lr)
                if std:
                    noise = torch.randn(p.shape, generator=self.generators_(p.device), device=p.device, dtype=p.dtype)
                    p.add_(noise, alpha=std)
        return loss
