"""Losses and the per-split metrics the training loop reports."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data import Dataset, Split
from ..noise.inject import NoiseHandle
from ..registry import ConfigError


def resolve_loss(loss: str, data: Dataset) -> str:
    """The loss a config's ``train.loss`` means for ``data``: ``auto`` is cross-entropy or MSE by task."""
    if loss == "auto":
        return "cross_entropy" if data.task == "classification" else "mse"
    if (loss == "cross_entropy") != (data.task == "classification"):
        raise ConfigError(f"train.loss {loss!r} does not fit the {data.task} data set {data.name!r}")
    return loss


def target_scale(data: Dataset) -> float:
    """Factor from the (standardised) targets back to their original units, for RMSE/MAE."""
    return float(data.info.get("target_std", 1.0))


def regression_loss(name: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE or L1 between ``output`` (N, k) and ``target`` (N,) or (N, k)."""
    target = target.reshape(output.shape).to(output.dtype)
    return F.mse_loss(output, target) if name == "mse" else F.l1_loss(output, target)


def training_loss(name: str, handle: NoiseHandle, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The loss of one training batch: cross-entropy (hard or soft targets, with the recipe's label
    smoothing) or a regression loss."""
    if name == "cross_entropy":
        return handle.loss(output, target)
    return regression_loss(name, output, target)


def hard_labels(target: torch.Tensor) -> torch.Tensor:
    """Class indices from class indices or soft targets (mixup/cutmix)."""
    return target.argmax(dim=1) if target.is_floating_point() else target


def batch_sums(loss_name: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-batch sums ``[correct or squared error, absolute error]`` on the device (no sync)."""
    if loss_name == "cross_entropy":
        correct = (output.argmax(dim=1) == hard_labels(target)).sum()
        return torch.stack([correct.to(output.dtype), torch.zeros((), dtype=output.dtype, device=output.device)])
    error = (output.detach() - target.reshape(output.shape)).float()
    return torch.stack([error.square().sum(), error.abs().sum()])


def summarise(prefix: str, loss_name: str, loss_sum: float, sums: list[float], count: int, scale: float) -> dict:
    """Turn summed batch statistics into ``{prefix_loss, prefix_accuracy}`` or ``{prefix_rmse, prefix_mae}``.

    ``scale`` converts regression errors back to the targets' original units.
    """
    record: dict[str, Any] = {f"{prefix}_loss": loss_sum / count}
    if loss_name == "cross_entropy":
        record[f"{prefix}_accuracy"] = sums[0] / count
    else:
        outputs = count  # errors are summed over every output of every sample
        record[f"{prefix}_rmse"] = scale * (sums[0] / outputs) ** 0.5
        record[f"{prefix}_mae"] = scale * sums[1] / outputs
    return record


@torch.no_grad()
def evaluate_split(
    model: nn.Module, split: Split, *, prefix: str, loss_name: str, batch_size: int, scale: float = 1.0
) -> dict[str, float]:
    """Loss and accuracy (or RMSE/MAE) of ``model`` on ``split``, in the model's current mode."""
    loss_sum = torch.zeros((), device=split.x.device)
    sums = torch.zeros(2, device=split.x.device)
    outputs = 0
    for x, y in split.batches(batch_size, shuffle=False):
        output = model(x)
        if loss_name == "cross_entropy":
            loss_sum += F.cross_entropy(output, y, reduction="sum")
        else:
            loss_sum += regression_loss(loss_name, output, y) * output.numel()
        sums += batch_sums(loss_name, output, y)
        outputs += output.numel() if loss_name != "cross_entropy" else len(y)
    values = torch.cat([loss_sum.reshape(1), sums]).tolist()
    return summarise(prefix, loss_name, values[0], values[1:], outputs, scale)
