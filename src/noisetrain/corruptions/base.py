"""The registry of common corruptions: batched tensor operations on images in [0, 1].

A corruption is a function ``fn(x, severity, generator) -> x_corrupted`` on a float batch
``x`` of shape (N, C, H, W) with C in {1, 3} and values in [0, 1], ``severity`` in 1..5, drawing
all its randomness from ``generator`` (on ``x``'s device); it returns the same shape, dtype and
device, values clipped to [0, 1]. Register with ``@corruption("name")`` (``held_out=True`` for
the four extra corruptions of Hendrycks & Dietterich 2019, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", arXiv:1903.12261; ``variant="..."`` where
the implementation depends on what is installed, e.g. frost's ``"photos"`` or ``"procedural"``
texture, so that results say which one they come from).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..registry import ConfigError

Fn = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class Corruption:
    name: str
    fn: Fn
    held_out: bool
    variant: str | None = None


CORRUPTIONS: dict[str, Corruption] = {}


def corruption(name: str, *, held_out: bool = False, variant: str | None = None) -> Callable[[Fn], Fn]:
    """Register ``fn`` as corruption ``name``."""

    def decorate(fn: Fn) -> Fn:
        if name in CORRUPTIONS:
            raise ValueError(f"corruption {name!r} is already registered")
        CORRUPTIONS[name] = Corruption(name, fn, held_out, variant)
        return fn

    return decorate


def names(*, held_out: bool | None = None) -> list[str]:
    """Registered names in registration order; ``held_out`` True/False selects the 4 extra / the 15 common."""
    return [c.name for c in CORRUPTIONS.values() if held_out is None or c.held_out == held_out]


def corrupt(x: torch.Tensor, name: str, severity: int, *, generator: torch.Generator) -> torch.Tensor:
    """Apply corruption ``name`` at ``severity`` (1..5) to images ``x`` (N, C, H, W) in [0, 1]."""
    if name not in CORRUPTIONS:
        raise ConfigError(f"unknown corruption {name!r}; known corruptions: {', '.join(names())}")
    if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= 5:
        raise ConfigError(f"severity must be an int in 1..5, got {severity!r}")
    if x.dim() != 4 or x.shape[1] not in (1, 3) or not x.is_floating_point():
        raise ConfigError(f"corruptions take float images (N, C, H, W) with C = 1 or 3, got {x.dtype} {tuple(x.shape)}")
    return CORRUPTIONS[name].fn(x, severity, generator)
