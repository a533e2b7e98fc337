"""The dropout family: Bernoulli, alpha and Gaussian dropout, placed by selector.

These reimplement ``nn.Dropout``/``nn.Dropout2d``/``nn.AlphaDropout`` with the same
formulas because torch's modules draw from the global RNG only, while every
injector here draws from its own ``torch.Generator``.

Placement: the default is ``"input"`` because it exists in every model (a default such
as ``"output:ReLU"`` would fail on models without that module type). Dropout on hidden
units is placed with a selector, e.g. ``inject(model, ("output:ReLU", Dropout(0.5)))``.

Gaussian noise on activations ("activation noise") is ``GaussianNoise`` at an output
selector, e.g. ``("output:ReLU", GaussianNoise(std=0.1))``; it has no class of its own.
"""

from __future__ import annotations

import math

import torch

from ..checks import check_range
from .base import NOISE, Injector, Number
from .inputs import gaussian_noise
from .sources import Source, mapped

SELU_ALPHA = 1.7580993408473766
"""Minus the SELU saturation value, ``lambda * alpha`` (Klambauer et al. 2017); torch's constant."""


def _keep_mask(x: torch.Tensor, p: float, channelwise: bool, generator: Source, value: float) -> torch.Tensor:
    """Bernoulli(1 - p) mask times ``value`` in x's dtype, read-only: shape of x, or (N, C, 1, ..., 1) when
    channelwise. A constant ``p`` with the fast source reads it from a mapped table (see ``sources.mapped``)."""
    check_range("p", p, 0, 1)
    if channelwise and x.dim() < 2:
        raise ValueError(f"channelwise dropout needs x of shape (N, C, *), got {tuple(x.shape)}")
    shape = (*x.shape[:2], *[1] * (x.dim() - 2)) if channelwise else x.shape
    keep, dtype = 1 - p, x.dtype

    def mask(u: torch.Tensor) -> torch.Tensor:  # uniform < keep: bernoulli_'s draw, about 2x faster on CPU
        return (u < keep).to(dtype).mul_(value)

    return mapped("uniform", mask, ("keep", keep, value, dtype), shape, generator, device=x.device)


def dropout(
    x: torch.Tensor, p: float, *, channelwise: bool = False, generator: Source = None
) -> torch.Tensor:
    """Dropout: zero each entry with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Srivastava et al. 2014, "Dropout: A Simple Way to Prevent Neural Networks from
    Overfitting" (JMLR). With ``channelwise`` whole channels are dropped, one mask per
    (sample, channel) broadcast over the spatial dims: spatial dropout (Tompson et al. 2015,
    "Efficient Object Localization Using Convolutional Networks", arXiv:1411.4280).

    Args:
        x: floating tensor; ``(N, C, *)`` when ``channelwise``.
        p: drop probability in [0, 1]; 1 gives zeros.
        channelwise: drop whole channels (like ``nn.Dropout2d``) instead of entries.
        generator: source of randomness.

    Example: ``dropout(x, 0.5, channelwise=True)``.
    """
    return x * _keep_mask(x, p, channelwise, generator, 1 / (1 - p) if p < 1 else 0.0)


def alpha_dropout(
    x: torch.Tensor, p: float, *, channelwise: bool = False, generator: Source = None
) -> torch.Tensor:
    """Alpha dropout for SELU networks: keeps zero mean and unit variance.

    Klambauer et al. 2017, "Self-Normalizing Neural Networks", arXiv:1706.02515. Dropped
    entries are set to the SELU saturation ``-SELU_ALPHA``, then ``a * x + b`` restores the
    moments, with ``a = ((1 - p) * (1 + p * SELU_ALPHA**2)) ** -0.5`` and ``b = a * p * SELU_ALPHA``
    (the constants of ``nn.AlphaDropout``; ``channelwise`` is ``nn.FeatureAlphaDropout``).

    Args:
        x: floating tensor; ``(N, C, *)`` when ``channelwise``.
        p: drop probability in [0, 1]; 1 gives zeros (as torch).
        channelwise: drop whole channels instead of entries.
        generator: source of randomness.

    Example: ``alpha_dropout(torch.selu(h), 0.1)``.
    """
    a = ((1 - p) * (1 + p * SELU_ALPHA**2)) ** -0.5 if p < 1 else 0.0
    kept = _keep_mask(x, p, channelwise, generator, a)  # a where kept, else 0
    return (x + SELU_ALPHA).mul_(kept).sub_((1 - p) * a * SELU_ALPHA)  # a * (keep * x + (keep - 1 + p) * alpha)


def gaussian_dropout(x: torch.Tensor, p: float, *, generator: Source = None) -> torch.Tensor:
    """Gaussian dropout: ``x * (1 + sqrt(p / (1 - p)) * eps)``, the mean and variance of dropout ``p``.

    Srivastava et al. 2014, "Dropout: A Simple Way to Prevent Neural Networks from
    Overfitting" (JMLR), section 10. Multiplicative ``gaussian_noise`` with that std.

    Args:
        x: floating tensor.
        p: equivalent drop probability in [0, 1).
        generator: source of randomness.

    Example: ``gaussian_dropout(h, 0.5)``.
    """
    check_range("p", p, 0, 1, high_open=True)
    return gaussian_noise(x, math.sqrt(p / (1 - p)), mode="multiplicative", generator=generator)


@NOISE.register("dropout")
class Dropout(Injector):
    """Dropout (element- or channelwise) with its own generator; see ``dropout``.

    Args:
        p: drop probability in [0, 1], or a schedule. Default 0.5.
        channelwise: drop whole channels of ``(N, C, *)`` tensors (spatial dropout). Default False.
        seed: seed of this injector's generator (None: drawn from torch's global generator once).

    Shapes: any ``(N, *)`` in (``(N, C, *)`` when channelwise), same shape and dtype out.
    At ``weights`` this is DropConnect (see ``DropConnect``).

    Example: ``inject(model, ("output:ReLU", Dropout(0.5)))``.
    """

    strength = "p"
    positions = frozenset({"input", "output", "weights"})
    function = staticmethod(dropout)

    def __init__(self, p: Number = 0.5, *, channelwise: bool = False, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.p = self.number("p", p, 0, 1)
        self.channelwise = bool(channelwise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        return self.function(x, self.current("p"), channelwise=self.channelwise, generator=self.generator(x.device))


@NOISE.register("alpha_dropout")
class AlphaDropout(Dropout):
    """Alpha dropout for SELU networks, with its own generator; see ``alpha_dropout``.

    Args:
        p: drop probability in [0, 1], or a schedule. Default 0.5.
        channelwise: drop whole channels (as ``nn.FeatureAlphaDropout``). Default False.
        seed: seed of this injector's generator.

    Example: ``inject(model, ("output:SELU", AlphaDropout(0.1)))``.
    """

    positions = frozenset({"input", "output"})
    function = staticmethod(alpha_dropout)


@NOISE.register("gaussian_dropout")
class GaussianDropout(Injector):
    """Gaussian dropout with its own generator; see ``gaussian_dropout``.

    Args:
        p: equivalent drop probability in [0, 1), or a schedule; noise std is ``sqrt(p / (1 - p))``.
            Default 0.5.
        seed: seed of this injector's generator.

    Shapes: any tensor in, same shape and dtype out.

    Example: ``inject(model, ("output:ReLU", GaussianDropout(0.5)))``.
    """

    strength = "p"
    positions = frozenset({"input", "output", "weights"})

    def __init__(self, p: Number = 0.5, *, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.p = self.number("p", p, 0, 1, high_open=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        return gaussian_dropout(x, self.current("p"), generator=self.generator(x.device))
