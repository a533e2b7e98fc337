"""Noise corruptions of CIFAR-10-C (Hendrycks & Dietterich 2019, "Benchmarking Neural Network Robustness to
Common Corruptions and Perturbations", arXiv:1903.12261), with the severity parameters of the paper's
``make_cifar_c.py``. Each acts on every pixel and channel independently, so image size does not matter.
"""

from __future__ import annotations

import torch

from ._ops import image_op
from .base import corruption

GAUSSIAN_STD = (0.04, 0.06, 0.08, 0.09, 0.10)
SHOT_PHOTONS = (500.0, 250.0, 100.0, 75.0, 50.0)
IMPULSE_AMOUNT = (0.01, 0.02, 0.03, 0.05, 0.07)
SPECKLE_STD = (0.06, 0.10, 0.12, 0.16, 0.20)


def _normal(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


@corruption("gaussian_noise")
@image_op
def gaussian_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Additive Gaussian noise ``x + N(0, std^2)``, std 0.04..0.10 by severity."""
    return x + GAUSSIAN_STD[severity - 1] * _normal(x, generator)


@corruption("shot_noise")
@image_op
def shot_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Poisson (photon) noise ``Poisson(x * k) / k``, k = 500..50 photons at full intensity by severity."""
    photons = SHOT_PHOTONS[severity - 1]
    return torch.poisson(x * photons, generator=generator) / photons


@corruption("impulse_noise")
@image_op
def impulse_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Salt-and-pepper noise: each value (pixel and channel) is replaced with probability 0.01..0.07 by
    severity, by 0 or 1 with equal odds (``skimage.util.random_noise(mode="s&p")``)."""
    draws = torch.rand((2, *x.shape), generator=generator, dtype=x.dtype, device=x.device)
    flipped = draws[0] < IMPULSE_AMOUNT[severity - 1]
    return torch.where(flipped, (draws[1] < 0.5).to(x.dtype), x)


@corruption("speckle_noise", held_out=True)
@image_op
def speckle_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Multiplicative Gaussian noise ``x + x * N(0, std^2)``, std 0.06..0.20 by severity."""
    return x + x * SPECKLE_STD[severity - 1] * _normal(x, generator)
