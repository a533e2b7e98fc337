"""Optimisers and the learning-rate schedule of a run, built from its ``TrainConfig``."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..config import OptimizerConfig
from ..noise.gradients import SGLD
from ..noise.schedules import build_schedule


def build_optimizer(
    config: OptimizerConfig, params: Iterable[nn.Parameter], *, seed: int, fused: bool = False
) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov), Adam, AdamW or SGLD (Welling & Teh 2011, seeded by ``seed``).

    ``fused``: SGD, Adam and AdamW update each tensor in one kernel (CPU and CUDA), the same update up to rounding.
    """
    params = [p for p in params if p.requires_grad]
    kernel = {"fused": True} if fused else {}
    if config.kind == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay,
            **kernel,
        )  # fmt: skip
    if config.kind == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, **kernel)
    if config.kind == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, **kernel)
    return SGLD(params, lr=config.lr, temperature=config.temperature, weight_decay=config.weight_decay, seed=seed)


def build_lr_scheduler(
    spec: dict | None, optimizer: torch.optim.Optimizer, *, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR | None:
    """A per-step scheduler multiplying the learning rate by ``schedule(step / total_steps)``.

    ``spec`` is any noise schedule spec, e.g. ``{"kind": "cosine", "start": 1.0}`` or
    ``{"kind": "warmup", "value": 1.0, "warmup": 0.05}``; None keeps the rate constant.
    """
    if spec is None:
        return None
    schedule = build_schedule(spec, field="train.lr_schedule")

    def factor(step: int) -> float:
        return schedule(step / total_steps)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
