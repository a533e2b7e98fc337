"""PGD: projected gradient ascent on the loss from random starts, keeping the strongest restart."""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_bool, check_choice, check_int, check_number
from ..registry import ConfigError
from .base import ATTACKS, START_RADII, Attack


@ATTACKS.register("pgd")
class PGD(Attack):
    """Projected Gradient Descent (Madry et al. 2018, "Towards Deep Learning Models Resistant to
    Adversarial Attacks", arXiv:1706.06083) on the loss.

    Each step moves by ``step`` along ``sign(grad)`` (linf) or ``grad / ||grad||_2`` (l2, per sample),
    then projects onto the ``eps``-ball around ``x`` and into ``bounds``. With ``restarts > 1`` the
    attack is repeated from fresh random starts and each sample keeps the perturbation that
    misclassifies it (cross-entropy with class labels), else the one with the highest loss.

    Args:
        eps, norm, bounds, loss, eot, seed: as in ``Attack``.
        steps: gradient steps per restart (>= 1). Default 10.
        step: step size (> 0) in input units; None: ``2.5 * eps / steps``.
        random_start: start from a random point of the ``eps``-ball (else from ``x``). Default True.
        radius: the radius of the l2 random start, times a uniformly random direction (see ``random_start``):
            ``"uniform"`` (default): ``U(0, eps)``, as torchattacks 3.5.1 ``PGDL2``; ``"ball"``:
            ``eps * U**(1/d)``, uniform in the ball (``d`` entries per sample). The linf start is ``U(-eps, eps)``
            per entry either way: ``"ball"`` is refused unless ``norm="l2"`` with ``random_start``.
        restarts: number of runs (>= 1). Default 1.

    Example: ``x_adv = PGD(8 / 255, steps=20)(model, x, y)``.
    """

    def __init__(
        self,
        eps: float,
        *,
        steps: int = 10,
        step: float | None = None,
        random_start: bool = True,
        radius: str = "uniform",
        restarts: int = 1,
        norm: str = "linf",
        bounds: tuple[float, float] | None = (0.0, 1.0),
        loss: str = "ce",
        eot: int = 1,
        seed: int | None = None,
    ) -> None:
        super().__init__(eps, norm=norm, bounds=bounds, loss=loss, eot=eot, seed=seed)
        check_int("PGD.steps", steps, 1)
        self.steps = steps
        self.step = None if step is None else check_number("PGD.step", step, 0, low_open=True)
        self.random_start = check_bool("PGD.random_start", random_start)
        check_choice("PGD.radius", radius, START_RADII)
        if radius != "uniform" and not (norm == "l2" and random_start):
            raise ConfigError(f"PGD.radius={radius!r} applies to the l2 random start only (norm='l2', "
                              f"random_start=True); got norm={norm!r}, random_start={random_start}")  # fmt: skip
        self.radius = radius
        check_int("PGD.restarts", restarts, 1)
        self.restarts = restarts

    def _perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        step = self.step if self.step is not None else 2.5 * self.eps / self.steps
        best = self.ascend(model, x, y, steps=self.steps, step=step, start=self.random_start, radius=self.radius)
        if self.restarts == 1:
            return best
        best_fooled, best_loss = self.outcome(model, best, y)
        for _ in range(self.restarts - 1):
            x_adv = self.ascend(model, x, y, steps=self.steps, step=step, start=self.random_start, radius=self.radius)
            fooled, loss = self.outcome(model, x_adv, y)
            better = (fooled > best_fooled) | ((fooled == best_fooled) & (loss > best_loss))
            best = torch.where(better.view(-1, *([1] * (x.dim() - 1))), x_adv, best)
            best_fooled, best_loss = best_fooled | fooled, torch.where(better, loss, best_loss)
        return best

    def outcome(self, model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sample: misclassified (N,) bool (always False for ``loss="mse"``) and the loss (N,), both over
        ``eot`` passes (the argmax of the mean output; the mean loss)."""
        with torch.no_grad():
            outputs = torch.stack([model(x_adv) for _ in range(self.eot)])
        loss = torch.stack([self.losses(output, y) for output in outputs]).mean(dim=0)
        if self.loss == "mse":
            return torch.zeros_like(loss, dtype=torch.bool), loss
        labels = y.argmax(dim=-1) if y.is_floating_point() else y
        return outputs.mean(dim=0).argmax(dim=-1) != labels, loss
