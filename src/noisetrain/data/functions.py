"""Regression on classic optimisation benchmark functions, with optional noise on the training targets.

Definitions and usual domains follow Surjanovic & Bingham, "Virtual Library of Simulation
Experiments: Test Functions and Datasets" (2013, sfu.ca/~ssurjano). Each function maps
inputs ``x`` (N, d) to values (N,); all have their global minimum 0:

| name | f(x) | minimum at | default domain (each coordinate) |
| --- | --- | --- | --- |
| ``sphere`` | Σ x_i² | 0 | [-5.12, 5.12] |
| ``rosenbrock`` | Σ_{i<d} 100 (x_{i+1} − x_i²)² + (1 − x_i)² | (1, …, 1) | [-2.048, 2.048] (De Jong's) |
| ``rastrigin`` | 10 d + Σ x_i² − 10 cos(2π x_i) | 0 | [-5.12, 5.12] |
| ``ackley`` | −20 exp(−0.2 √(mean x_i²)) − exp(mean cos 2π x_i) + 20 + e | 0 | [-32.768, 32.768] |
| ``griewank`` | 1 + Σ x_i² / 4000 − Π cos(x_i / √i) | 0 | [-600, 600] |

Rosenbrock's library domain [-5, 10] gives targets up to about 10⁶ whose regression is
dominated by a few points, hence De Jong's smaller cube. Ackley and Griewank on their
usual domains are mostly a plateau and a bowl with fine ripples; pass a smaller
``domain`` (e.g. ``(-5, 5)`` or ``(-10, 10)``) to make the ripples the task.

Scaling (``noisetrain.data.scaling``) is fitted on the training split after the noise is added:
``scale`` for the inputs (default ``"none"``: kept as drawn) and ``scale_target`` for the targets
(default ``"standard"``), each ``"standard"``, ``"minmax"`` or ``"none"``; e.g.
``{kind: function, name: rastrigin, target_noise: 1.0, scale: minmax, scale_target: minmax}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..checks import check_choice, check_int, check_pair, check_range
from ..noise.base import derive_seed
from .dataset import DATASETS, Dataset, Split
from .scaling import SCALINGS, scale_splits


def sphere(x: torch.Tensor) -> torch.Tensor:
    """Sphere function Σ x_i² of ``x`` (N, d) -> (N,); minimum 0 at the origin."""
    return x.square().sum(dim=-1)


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """Rosenbrock's valley Σ_{i<d} 100 (x_{i+1} − x_i²)² + (1 − x_i)² of ``x`` (N, d >= 2) -> (N,); 0 at (1, …, 1)."""
    head, tail = x[..., :-1], x[..., 1:]
    return (100 * (tail - head.square()).square() + (1 - head).square()).sum(dim=-1)


def rastrigin(x: torch.Tensor) -> torch.Tensor:
    """Rastrigin's function 10 d + Σ x_i² − 10 cos(2π x_i) of ``x`` (N, d) -> (N,); 0 at the origin."""
    return (x.square() - 10 * torch.cos(2 * math.pi * x)).sum(dim=-1) + 10 * x.shape[-1]


def ackley(x: torch.Tensor) -> torch.Tensor:
    """Ackley's function (a = 20, b = 0.2, c = 2π) of ``x`` (N, d) -> (N,); 0 at the origin."""
    radius = x.square().mean(dim=-1).sqrt()
    waves = torch.cos(2 * math.pi * x).mean(dim=-1)
    return -20 * torch.exp(-0.2 * radius) - torch.exp(waves) + 20 + math.e


def griewank(x: torch.Tensor) -> torch.Tensor:
    """Griewank's function 1 + Σ x_i² / 4000 − Π cos(x_i / √i) of ``x`` (N, d) -> (N,); 0 at the origin."""
    index = torch.arange(1, x.shape[-1] + 1, dtype=x.dtype, device=x.device)
    return 1 + x.square().sum(dim=-1) / 4000 - torch.cos(x / index.sqrt()).prod(dim=-1)


FUNCTIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], tuple[float, float]]] = {
    "sphere": (sphere, (-5.12, 5.12)),
    "rosenbrock": (rosenbrock, (-2.048, 2.048)),
    "rastrigin": (rastrigin, (-5.12, 5.12)),
    "ackley": (ackley, (-32.768, 32.768)),
    "griewank": (griewank, (-600.0, 600.0)),
}
"""Benchmark functions by name, with each one's default domain (the same interval for every coordinate)."""


@DATASETS.register("function")
class BenchmarkFunction:
    """Regression of a benchmark function from uniform samples, with noisy training targets.

    The setting of studies of noise injection on regression: the model sees ``f(x)`` plus
    Gaussian noise of std ``target_noise`` on the training and validation targets, and is
    tested against the clean ``f(x)``. Inputs ``x`` are float32 (N, dim), drawn uniformly
    from ``domain`` (kept as drawn unless ``scale`` says otherwise); targets are float32 (N,).

    Each split is drawn from its own generator derived from ``seed``, and the noise from
    another, so the test set does not change with ``n_train`` or ``target_noise``, and
    runs with the same seed and different ``target_noise`` share inputs and noise direction.

    Args:
        name: one of ``FUNCTIONS`` (sphere, rosenbrock, rastrigin, ackley, griewank).
        dim: input dimension d (>= 1; >= 2 for rosenbrock). Default 2.
        domain: ``(low, high)`` for every coordinate, or None for the function's default (module table).
        n_train, n_val, n_test: samples per split (n_train >= 2); defaults 1000, 200, 1000.
        target_noise: std of Gaussian noise added to training and validation targets,
            in the function's own units (added before any scaling); >= 0, default 0.
        scale: how the inputs are scaled, fitted on the training inputs: ``"none"`` (default),
            ``"standard"`` or ``"minmax"``; recorded as ``info["scaling"]``, ``info["offset"]``, ``info["scale"]``.
        scale_target: how all targets are scaled, fitted on the noisy training targets: ``"standard"``
            (default), ``"minmax"`` or ``"none"``; recorded as ``info["target_scaling"]``,
            ``info["target_offset"]`` and ``info["target_scale"]`` (errors are reported in the original units).
        seed: seed of the inputs and the noise.

    Example: ``BenchmarkFunction("rastrigin", dim=2, target_noise=1.0).load()``.
    """

    train_only = frozenset({"n_train", "n_val", "target_noise", "scale", "scale_target"})
    """Options that change the training and validation splits but not the test split."""

    def __init__(
        self,
        name: str = "sphere",
        *,
        dim: int = 2,
        domain: tuple[float, float] | None = None,
        n_train: int = 1000,
        n_val: int = 200,
        n_test: int = 1000,
        target_noise: float = 0.0,
        scale: str = "none",
        scale_target: str = "standard",
        seed: int = 0,
    ):
        check_choice("name", name, tuple(FUNCTIONS))
        check_int("dim", dim, 2 if name == "rosenbrock" else 1)
        if domain is not None:
            domain = check_pair("domain", domain, strict=True)
        check_int("n_train", n_train, 2)
        check_int("n_val", n_val, 0)
        check_int("n_test", n_test, 0)
        check_range("target_noise", target_noise, 0)
        check_choice("scale", scale, SCALINGS)
        check_choice("scale_target", scale_target, SCALINGS)
        check_int("seed", seed, 0)
        self.name = name
        self.dim = dim
        self.domain = domain
        self.n_train = n_train
        self.n_val = n_val
        self.n_test = n_test
        self.target_noise = target_noise
        self.scale = scale
        self.scale_target = scale_target
        self.seed = seed

    def load(self) -> Dataset:
        function, default_domain = FUNCTIONS[self.name]
        low, high = self.domain or default_domain

        def draw(split: str, size: int) -> Split:
            generator = torch.Generator().manual_seed(derive_seed(self.seed, split))
            x = low + (high - low) * torch.rand(size, self.dim, generator=generator)
            y = function(x)
            if split != "test" and self.target_noise > 0:
                noise = torch.Generator().manual_seed(derive_seed(self.seed, f"{split}/noise"))
                y = y + self.target_noise * torch.randn(size, generator=noise)
            return Split(x, y)

        # The noise is already in the training targets: the scaling is fitted on them as observed.
        splits = [draw("train", self.n_train), draw("val", self.n_val), draw("test", self.n_test)]
        splits, input_info = scale_splits(self.scale, *splits)
        splits, target_info = scale_splits(self.scale_target, *splits, targets=True, field="scale_target")
        info: dict[str, Any] = {"function": self.name, "dim": self.dim, "domain": [low, high]}
        info.update(input_info)
        info.update(target_info)
        return Dataset(self.name, "regression", *splits, info=info)
