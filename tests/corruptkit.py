"""Test helpers for the corruptions: a natural-looking image, a seeded call, distances over severities."""

from collections.abc import Callable

import torch
import torch.nn.functional as F

from noisetrain.corruptions import corrupt


def natural(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """A smooth random image with a bright rectangle (sharp edges), values in [0.15, 0.85]."""
    n, c, h, w = shape
    low = torch.rand(n, c, 4, 4, generator=torch.Generator().manual_seed(seed))
    image = F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False)
    image[..., h // 4 : h // 2, w // 4 : 3 * w // 4] += 0.3
    return (0.15 + 0.7 * image).clamp(0, 1)


def run(x: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    return corrupt(x, name, severity, generator=torch.Generator().manual_seed(seed))


def distances(
    name: str, shape: tuple[int, ...] = (4, 3, 32, 32), image: Callable[[tuple[int, ...]], torch.Tensor] = natural
) -> list[float]:
    """Mean absolute change of ``image(shape)`` at severities 1..5."""
    x = image(shape)
    return [(run(x, name, s) - x).abs().mean().item() for s in range(1, 6)]
