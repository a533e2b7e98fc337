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
    """Factor from the scaled targets back to their original units, for RMSE/MAE: ``info["target_scale"]``
    (default 1; see ``noisetrain.data.scaling``)."""
    return float(data.info.get("target_scale", 1.0))


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


class Totals:
    """Running sums of one pass over a split, kept on the device: one host sync when summarised.

    Sums ``[loss, correct or squared error, absolute error, gradient norm, fourth power of the error]``; the loss
    passed to ``add`` is the batch mean (per sample for cross-entropy, per output for regression).
    """

    def __init__(self, loss_name: str, device: torch.device | str) -> None:
        self.loss_name = loss_name
        self.sums = torch.zeros(5, device=device)
        self.count = 0
        self.steps = 0

    def add(self, loss: torch.Tensor, output: torch.Tensor, target: torch.Tensor, grad_norm: Any = None) -> None:
        output = output.detach()
        if self.loss_name == "cross_entropy":
            n = len(output)
            self.sums[1].add_((output.argmax(dim=1) == hard_labels(target)).sum())
        else:
            n = output.numel()
            error = output.float() - target.reshape(output.shape).float()
            squared = error.square()
            self.sums[1].add_(squared.sum())
            self.sums[2].add_(error.abs().sum())
            self.sums[4].add_(squared.square().sum())
        self.sums[0].add_(loss.detach(), alpha=n)
        if grad_norm is not None:
            self.sums[3].add_(grad_norm)
        self.count += n
        self.steps += 1

    def summary(self, prefix: str, scale: float = 1.0) -> dict[str, float]:
        """``{prefix_loss, prefix_accuracy}`` or ``{prefix_loss, prefix_rmse, prefix_mae}`` (RMSE/MAE times
        ``scale``, back in the targets' original units), plus ``grad_norm`` (mean per step) if recorded."""
        loss, first, second, grad_norm = self.sums[:4].tolist()
        count = max(self.count, 1)
        record = {f"{prefix}_loss": loss / count}
        if self.loss_name == "cross_entropy":
            record[f"{prefix}_accuracy"] = first / count
        else:
            record[f"{prefix}_rmse"] = scale * (first / count) ** 0.5
            record[f"{prefix}_mae"] = scale * second / count
        if grad_norm:
            record["grad_norm"] = grad_norm / self.steps
        return record

    def intervals(self, prefix: str, scale: float = 1.0, confidence: float = 0.95) -> dict[str, tuple[float, float]]:
        """The ``confidence`` intervals of ``summary``'s accuracy (Clopper-Pearson, over the examples) or MAE and
        RMSE (Student t intervals of the mean absolute and the mean squared error over the target values; the
        RMSE's ends are the square roots of the MSE's), keyed like ``summary``; none from fewer than 2 values."""
        from scipy import stats  # half a second to import; only a run's test pass gets here

        from ..evaluate.records import clopper_pearson

        n = self.count
        _, first, second, _, fourth = self.sums.tolist()
        if n < 2:
            return {}
        if self.loss_name == "cross_entropy":
            return {f"{prefix}_accuracy": clopper_pearson(round(first), n, confidence)}
        quantile = float(stats.t.ppf((1 + confidence) / 2, n - 1))

        def half(mean: float, mean_square: float) -> float:
            """The interval's half-width for a mean of n values from their first two moments: t times the sample
            sd over sqrt(n), that is sqrt((mean_square - mean²) / (n - 1))."""
            return quantile * (max(mean_square - mean**2, 0.0) / (n - 1)) ** 0.5

        mse, mae = first / n, second / n
        mse_half, mae_half = half(mse, fourth / n), half(mae, mse)
        return {
            f"{prefix}_rmse": (scale * max(mse - mse_half, 0.0) ** 0.5, scale * (mse + mse_half) ** 0.5),
            f"{prefix}_mae": (scale * max(mae - mae_half, 0.0), scale * (mae + mae_half)),
        }


@torch.no_grad()
def split_totals(model: nn.Module, split: Split, *, loss_name: str, batch_size: int) -> Totals:
    """The ``Totals`` of ``model`` on ``split``, in the model's current mode."""
    totals = Totals(loss_name, split.x.device)
    for x, y in split.batches(batch_size, shuffle=False):
        output = model(x)
        loss = F.cross_entropy(output, y) if loss_name == "cross_entropy" else regression_loss(loss_name, output, y)
        totals.add(loss, output, y)
    return totals


def evaluate_split(
    model: nn.Module, split: Split, *, prefix: str, loss_name: str, batch_size: int, scale: float = 1.0
) -> dict[str, float]:
    """Loss and accuracy (or RMSE/MAE) of ``model`` on ``split``, in the model's current mode."""
    return split_totals(model, split, loss_name=loss_name, batch_size=batch_size).summary(prefix, scale)
