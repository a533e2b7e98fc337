"""Batch noise that mixes examples: mixup and CutMix.

A batch injector is called as ``n(x, y) -> (x, y_soft)``: ``y`` is either integer class
labels (N,) (the injector then needs ``num_classes``) or soft targets (N, C), so that one
mixing injector may follow another. Soft targets go straight into PyTorch's loss:

    >>> x, y_soft = Mixup(alpha=0.2, num_classes=10)(x, y)
    >>> loss = F.cross_entropy(model(x), y_soft, label_smoothing=0.1)

(``NoiseHandle.loss`` does the same with the label smoothing of the loss injectors.)
The mix weight ``lam ~ Beta(alpha, alpha)`` is drawn once per batch from the injector's
generator; ``torch.distributions`` cannot take a generator, hence ``sample_beta``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..checks import check_int, check_range
from .base import NOISE, Injector, Number
from .inputs import _image_shape, random_boxes
from .sources import Source, exact

GAMMA_TRIES = 16
"""Candidates per gamma draw in ``sample_beta``; each is accepted with probability > 0.95."""


def soft_targets(y: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Targets as class probabilities (N, C): one-hot float32 for integer labels (N,); soft targets pass through.

    Example: ``soft_targets(torch.tensor([0, 2]), 3)`` -> ``[[1, 0, 0], [0, 0, 1]]``.
    """
    if y.is_floating_point():
        if y.dim() != 2 or (num_classes is not None and y.shape[1] != num_classes):
            raise ValueError(f"soft targets must have shape (N, {num_classes or 'C'}), got {tuple(y.shape)}")
        return y
    if y.dim() != 1:
        raise ValueError(f"integer labels must have shape (N,), got {tuple(y.shape)}")
    if num_classes is None:
        raise ValueError("integer labels need num_classes to become soft targets")
    try:
        return F.one_hot(y, num_classes).float()
    except RuntimeError as error:  # F.one_hot checks the range (on CUDA by a device-side assert, without a sync)
        raise ValueError(f"labels must lie in [0, {num_classes}): {error}") from None


def sample_beta(
    alpha: float,
    shape: tuple[int, ...] = (),
    *,
    generator: Source = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Samples of Beta(alpha, alpha) (float32), drawn only from ``generator``.

    Beta = G1 / (G1 + G2) for independent Gamma(alpha) draws, computed as a sigmoid of the log-gamma
    difference so that small ``alpha`` (values piling up at 0 and 1) cannot underflow. Gamma draws use
    Marsaglia & Tsang 2000, "A Simple Method for Generating Gamma Variables" (shape < 1 boosted by
    ``U ** (1 / alpha)``), with the rejection step vectorised over ``GAMMA_TRIES`` candidates (no sync).

    Example: ``lam = sample_beta(0.2, generator=g)``.
    """
    check_range("alpha", alpha, 0, low_open=True)
    boosted = alpha + 1 if alpha < 1 else alpha
    d = boosted - 1 / 3
    c = 1 / math.sqrt(9 * d)
    size = (2, *shape)
    generator = exact(generator)  # a few values per batch: the fast source's table serves per-element draws
    z = torch.randn((GAMMA_TRIES, *size), generator=generator, device=device)
    u = torch.rand((GAMMA_TRIES, *size), generator=generator, device=device)
    v = (1 + c * z) ** 3
    accept = (v > 0) & (u.log() < 0.5 * z**2 + d - d * v + d * v.log())
    first = accept.int().argmax(dim=0, keepdim=True)  # the first accepted candidate
    log_gamma = (d * v).log().gather(0, first).squeeze(0)
    if alpha < 1:
        log_gamma = log_gamma + torch.rand(size, generator=generator, device=device).log() / alpha
    return torch.sigmoid(log_gamma[0] - log_gamma[1])


def mixup(
    x: torch.Tensor, y: torch.Tensor, lam: float | torch.Tensor, perm: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each example with the one ``perm`` pairs it with: ``lam * x + (1 - lam) * x[perm]``, and so ``y``.

    Args:
        x: a batch (N, *).
        y: soft targets (N, C) (see ``soft_targets``).
        lam: weight of the example itself (float or 0-dim tensor in [0, 1]).
        perm: permutation of the batch (N,).

    Example: ``mixup(x, soft_targets(y, 10), 0.7, torch.randperm(len(x)))``.
    """
    _check_batch(x, y)
    return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm]


def cutmix(
    x: torch.Tensor,
    y: torch.Tensor,
    lam: float | torch.Tensor,
    perm: torch.Tensor,
    *,
    generator: Source = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste a box of ``x[perm]`` into every image; targets weighted by the pasted area.

    Yun et al. 2019, "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable
    Features", arXiv:1905.04899. One box per batch (the paper's form), of sides ``H * sqrt(1 - lam)``
    and ``W * sqrt(1 - lam)``, centred on a uniform pixel and clipped at the borders; the target weight
    is then corrected to the pasted fraction: ``y_mix = (1 - frac) * y + frac * y[perm]``.

    Args:
        x: images (N, C, H, W).
        y: soft targets (N, C') (see ``soft_targets``).
        lam: intended weight of the image itself (float or 0-dim tensor in [0, 1]).
        perm: permutation of the batch (N,).
        generator: source of randomness for the box position.

    Example: ``cutmix(images, soft_targets(labels, 10), 0.7, torch.randperm(len(images)))``.
    """
    _, _, height, width = _image_shape(x, "cutmix")
    _check_batch(x, y)
    scale = torch.as_tensor(1 - lam, dtype=torch.float32, device=x.device).sqrt()
    box = random_boxes(height, width, height * scale, width * scale, generator=generator)
    kept = 1 - box.float().mean()
    return torch.where(box, x[perm], x), kept * y + (1 - kept) * y[perm]


def _check_batch(x: torch.Tensor, y: torch.Tensor) -> None:
    if y.dim() != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"targets must be soft targets of shape ({x.shape[0]}, C), got {tuple(y.shape)}")


@NOISE.register("mixup")
class Mixup(Injector):
    """mixup: train on convex combinations of example pairs and of their targets.

    Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization", arXiv:1710.09412.
    Per batch: ``lam ~ Beta(alpha, alpha)`` and a random pairing, then ``mixup``.

    Args:
        alpha: Beta concentration (>= 0; 0 = off), or a schedule. Default 1.0 (the papers' CIFAR value;
            0.2 is typical on ImageNet).
        num_classes: number of classes (>= 2), needed when ``y`` holds integer labels.
        seed: seed of this injector's generator.

    Shapes: x (N, *), y (N,) int or (N, C) float in; x same shape and dtype, y_soft (N, C) out.
    In eval mode (or with alpha 0) ``(x, y)`` come back unchanged.

    Example: ``x, y_soft = Mixup(alpha=0.2, num_classes=10)(x, y)``.
    """

    strength = "alpha"
    positions = frozenset({"batch"})
    default_at = "batch"

    def __init__(self, alpha: Number = 1.0, *, num_classes: int | None = None, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        if num_classes is not None:
            check_int(f"{type(self).__name__}.num_classes", num_classes, 2)  # one class: nothing to mix
        self.alpha = self.number("alpha", alpha, 0)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.active:
            return x, y
        generator = self.generator(x.device)
        lam = sample_beta(self.current("alpha"), generator=generator, device=x.device)
        perm = torch.randperm(x.shape[0], generator=exact(generator), device=x.device)
        return self.mix(x, soft_targets(y, self.num_classes), lam, perm, generator)

    def mix(
        self, x: torch.Tensor, y: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor, generator: Source
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The mixing step, given the drawn weight and pairing."""
        return mixup(x, y, lam, perm)


@NOISE.register("cutmix")
class CutMix(Mixup):
    """CutMix: paste a box from a paired image; targets weighted by the pasted area.

    Yun et al. 2019, arXiv:1905.04899. Same parameters as ``Mixup`` (alpha default 1.0, the paper's);
    per batch ``lam ~ Beta(alpha, alpha)``, a random pairing and one box (see ``cutmix``).

    Shapes: x (N, C, H, W), y (N,) int or (N, C') float in; x same shape and dtype, y_soft (N, C') out.

    Example: ``x, y_soft = CutMix(alpha=1.0, num_classes=10)(x, y)``.
    """

    def mix(
        self, x: torch.Tensor, y: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor, generator: Source
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return cutmix(x, y, lam, perm, generator=generator)
