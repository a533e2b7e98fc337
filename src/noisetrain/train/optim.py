"""Optimisers and the learning-rate schedule of a run, built from its ``TrainConfig``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.optim.adam import adam
from torch.optim.adamw import adamw
from torch.optim.sgd import sgd

from ..config import OptimizerConfig
from ..noise.gradients import SGLD
from ..noise.schedules import build_schedule


def build_optimizer(
    config: OptimizerConfig, params: Iterable[nn.Parameter], *, seed: int, fused: bool = False
) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov), Adam, AdamW or SGLD (Welling & Teh 2011, seeded by ``seed``).

    SGD, Adam and AdamW take torch's multi-tensor (``foreach``) kernels: on the CPU, where torch's default is one
    tensor at a time, the same update bit for bit (tested) in fewer calls. ``fused``: one kernel per tensor (CPU and
    CUDA), the same update up to rounding.
    """
    params = [p for p in params if p.requires_grad]
    kernel = {"fused": True} if fused else {"foreach": True}
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


def lean_step(optimizer: torch.optim.Optimizer) -> Callable[[], None]:
    """A call that updates like ``optimizer.step()`` (SGD, Adam or AdamW, one parameter group) through torch's
    functional form (``torch.optim.adam.adam``, ...), the same kernels on the same state, without the per-call
    bookkeeping of ``Optimizer.step`` (profiler record, hooks, state checks): about 50 µs of a stacked 4-70-1
    network's 0.6-0.7 ms step. It reads the group's settings (a scheduler's learning rate) and the state at every
    call, so both may be replaced between calls (``load_state_dict``); the first call is ``optimizer.step()``, which
    creates the state. It runs no step hooks (gradient noise binds one): use it only for an optimiser whose
    hooks are known, as ``fit``'s own without gradient noise and the batched trainer's."""
    if type(optimizer) not in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW):
        raise TypeError(f"lean_step: SGD, Adam or AdamW, got {type(optimizer).__name__}")
    if len(optimizer.param_groups) != 1:
        raise ValueError(f"lean_step: one parameter group, got {len(optimizer.param_groups)}")
    started = False

    @torch.no_grad()
    def step() -> None:
        nonlocal started
        if not started:
            started = True
            optimizer.step()
            return
        group, state = optimizer.param_groups[0], optimizer.state
        kernel = {key: group[key] for key in ("foreach", "fused") if key in group}  # torch 2.2: SGD has no fused
        params = [p for p in group["params"] if p.grad is not None]
        grads = [p.grad for p in params]
        if isinstance(optimizer, torch.optim.SGD):
            sgd(
                params, grads, [state[p].get("momentum_buffer") for p in params], **kernel,
                **{key: group[key] for key in ("weight_decay", "momentum", "lr", "dampening", "nesterov", "maximize")},
            )  # fmt: skip
            return
        update = adamw if isinstance(optimizer, torch.optim.AdamW) else adam
        mine = [state[p] for p in params]
        update(
            params, grads, [s["exp_avg"] for s in mine], [s["exp_avg_sq"] for s in mine],
            [s["max_exp_avg_sq"] for s in mine] if group["amsgrad"] else [], [s["step"] for s in mine], **kernel,
            capturable=group["capturable"], amsgrad=group["amsgrad"], beta1=group["betas"][0],
            beta2=group["betas"][1], lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"],
            maximize=group["maximize"],
        )  # fmt: skip

    return step


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
