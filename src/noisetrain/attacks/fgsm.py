"""FGSM: one signed-gradient step, optionally from a random start."""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_bool, check_number
from .base import ATTACKS, Attack


@ATTACKS.register("fgsm")
class FGSM(Attack):
    """Fast Gradient Sign Method (Goodfellow et al. 2015, "Explaining and Harnessing Adversarial
    Examples", arXiv:1412.6572): ``x + eps * sign(grad)``; with ``norm="l2"`` the step follows
    ``grad / ||grad||_2`` (fast gradient method).

    With ``random_start`` it is the "FGSM-RS" of Wong, Rice and Kolter 2020 ("Fast is better than
    free: revisiting adversarial training", arXiv:2001.03994): start from a uniform draw in the
    ``eps``-ball, step ``1.25 * eps``, then project onto the ball and into ``bounds``.

    Args:
        eps, norm, bounds, loss, eot, seed: as in ``Attack``.
        random_start: start from a random point of the ``eps``-ball. Default False.
        step: step size (> 0) in input units; None: ``eps`` (``1.25 * eps`` with ``random_start``).

    Example: ``x_adv = FGSM(8 / 255)(model, x, y)``.
    """

    def __init__(
        self,
        eps: float,
        *,
        random_start: bool = False,
        step: float | None = None,
        norm: str = "linf",
        bounds: tuple[float, float] | None = (0.0, 1.0),
        loss: str = "ce",
        eot: int = 1,
        seed: int | None = None,
    ) -> None:
        super().__init__(eps, norm=norm, bounds=bounds, loss=loss, eot=eot, seed=seed)
        self.random_start = check_bool("FGSM.random_start", random_start)
        self.step = None if step is None else check_number("FGSM.step", step, 0, low_open=True)

    def _perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        step = self.step if self.step is not None else (1.25 if self.random_start else 1.0) * self.eps
        return self.ascend(model, x, y, steps=1, step=step, start=self.random_start)
