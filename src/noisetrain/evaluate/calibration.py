"""Calibration: expected calibration error (equal-width and equal-mass bins), NLL and Brier score,
before and after temperature scaling fitted on the validation split, and a reliability diagram.

ECE and temperature scaling as in "On Calibration of Modern Neural Networks" (Guo et al. 2017,
arXiv:1706.04599); equal-mass ("adaptive") bins as in "Measuring Calibration in Deep Learning"
(Nixon et al. 2019, arXiv:1904.01685); the Brier score from Brier (1950), "Verification of forecasts
expressed in terms of probability".

Example:
    >>> ece(torch.tensor([[0.8, 0.2], [0.6, 0.4]]), torch.tensor([0, 1]), num_bins=10)  # 0.5 * 0.2 + 0.5 * 0.6 = 0.4
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_int
from ..data.dataset import Dataset
from ..noise.inject import evaluation_mode
from ..registry import ConfigError
from .keys import Key
from .options import integer
from .progress import expect, step
from .records import Record, measure, predictions

TEMPERATURE_RANGE = (1e-2, 1e2)
"""Fitted temperatures are clamped to this range (a separable validation set drives T towards 0)."""


def bin_records(confidence: torch.Tensor, accuracy: torch.Tensor, count: torch.Tensor, *, scaled: bool) -> list[Record]:
    """A ``bin_accuracy`` and a ``bin_confidence`` record per non-empty equal-width bin of a reliability diagram
    (``n``: the bin's count); the setting names the bin, not its numbers, so records of runs average by bin."""
    bins, records = len(count), []
    for i in range(bins):
        if count[i] > 0:
            setting = {"bin": i, "low": round(i / bins, 6), "high": round((i + 1) / bins, 6), "scaled": scaled}
            for metric, value in (("bin_accuracy", accuracy[i]), ("bin_confidence", confidence[i])):
                records.append(Record("calibration", metric, float(value), setting, None, int(count[i])))
    return records


def reliability(
    probs: torch.Tensor, labels: torch.Tensor, *, num_bins: int = 15, adaptive: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-bin mean confidence, accuracy and count of the top-class predictions.

    Args:
        probs: class probabilities (N, C).
        labels: true classes (N,).
        num_bins: number of bins (>= 1).
        adaptive: False: equal-width bins ``((i-1)/B, i/B]`` of the confidence; True: equal-mass bins of
            about ``N / B`` predictions each in order of confidence (the prediction of rank ``k`` from 0 goes to
            bin ``floor(k B / N)``; tied confidences all go to the bin of the lowest rank among them).

    Returns:
        ``(confidence, accuracy, count)``, each (num_bins,); empty bins have confidence and accuracy 0.
    """
    check_int("num_bins", num_bins, 1)
    confidence, predicted = probs.max(-1)
    confidence = confidence.double()
    correct = (predicted == labels).double()
    n = len(labels)
    if adaptive:
        order = confidence.argsort()
        _, group, counts = torch.unique_consecutive(confidence[order], return_inverse=True, return_counts=True)
        first_rank = counts.cumsum(0) - counts  # tied confidences share the bin of their lowest rank
        bins = torch.empty_like(labels)
        bins[order] = (first_rank * num_bins // max(n, 1))[group]
    else:
        bins = (confidence * num_bins).ceil().long().clamp(1, num_bins) - 1
    count = torch.bincount(bins, minlength=num_bins).double()
    total = count.clamp_min(1)
    return (
        torch.bincount(bins, confidence, minlength=num_bins) / total,
        torch.bincount(bins, correct, minlength=num_bins) / total,
        count,
    )


def ece(probs: torch.Tensor, labels: torch.Tensor, *, num_bins: int = 15, adaptive: bool = False) -> float:
    """Expected calibration error: ``sum_b |B_b| / N * |accuracy(B_b) - confidence(B_b)|`` over the bins of
    ``reliability`` (equal-width, or equal-mass if ``adaptive``). probs (N, C), labels (N,)."""
    confidence, accuracy, count = reliability(probs, labels, num_bins=num_bins, adaptive=adaptive)
    return float((count * (accuracy - confidence).abs()).sum() / max(len(labels), 1))


def brier(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Multiclass Brier score: the mean over samples of ``sum_c (p_c - [c == y])^2``, in [0, 2].
    probs (N, C), labels (N,)."""
    onehot = F.one_hot(labels, probs.shape[-1]).to(probs.dtype)
    return float((probs - onehot).square().sum(-1).mean())


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, *, max_iter: int = 100) -> float:
    """The temperature ``T > 0`` minimising the NLL of ``softmax(logits / T)``, by L-BFGS on ``log T``
    from ``T = 1`` (Guo et al. 2017), clamped to ``TEMPERATURE_RANGE``. logits (N, C), labels (N,)."""
    check_int("max_iter", max_iter, 1)
    logits = logits.detach().double()
    log_t = torch.zeros((), dtype=torch.float64, device=logits.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    temperature = math.exp(log_t.item())
    return min(max(temperature, TEMPERATURE_RANGE[0]), TEMPERATURE_RANGE[1]) if math.isfinite(temperature) else 1.0


def plot_reliability(path: str | os.PathLike[str], curves: dict[str, tuple[torch.Tensor, ...]]) -> None:
    """Save a reliability diagram (accuracy against confidence per bin, one panel per curve) as a PNG.

    ``curves`` maps a panel title to ``reliability``'s ``(confidence, accuracy, count)``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4 * len(curves), 4), layout="constrained")
    FigureCanvasAgg(figure)
    for index, (title, (confidence, accuracy, count)) in enumerate(curves.items()):
        axes = figure.add_subplot(1, len(curves), index + 1)
        filled = count > 0
        axes.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
        axes.plot(confidence[filled].tolist(), accuracy[filled].tolist(), marker="o", label="model")
        axes.set(title=title, xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
        axes.legend(loc="upper left")
    figure.savefig(path, format="png")


def check_plot(what: str, plot: Any) -> Path | None:
    """``plot`` as a path whose folder exists, or None; ``what`` names it in errors."""
    if plot is None:
        return None
    if not isinstance(plot, str | os.PathLike):
        raise ConfigError(f"{what} must be a file path or None, got {plot!r}")
    path = Path(plot)
    if not path.parent.is_dir():
        raise ConfigError(f"{what}: folder {str(path.parent)!r} does not exist")
    return path


def _before(setting: Mapping[str, Any]) -> bool:
    return setting.get("temperature_scaled") is False


def _after(setting: Mapping[str, Any]) -> bool:
    return setting.get("temperature_scaled") is True


@measure(
    "calibration",
    metrics=("temperature", "ece", "adaptive_ece", "nll", "brier", "bin_accuracy", "bin_confidence"),
    keys=(
        Key("ece", "ECE", _before), Key("ece", "ECE after TS", _after), Key("nll", "NLL", _before),
        Key("nll", "NLL after TS", _after), Key("brier", "Brier", _before), Key("brier", "Brier after TS", _after),
    ),
    checks={"num_bins": integer(1), "plot": check_plot},
    tasks=("classification",),
    splits=("val", "test"),
)
def calibration(
    model: nn.Module,
    data: Dataset,
    *,
    batch_size: int = 512,
    seed: int = 0,
    num_bins: int = 15,
    plot: str | os.PathLike[str] | None = None,
) -> list[Record]:
    """ECE (equal-width and equal-mass bins), NLL and Brier score on the test split, before and after
    temperature scaling fitted on the validation split only; optionally a reliability diagram.

    Args:
        model: a classifier returning logits (N, C), evaluated in eval mode.
        data: a classification data set with validation and test samples.
        batch_size: inputs per forward pass.
        seed: unused (the measure draws nothing); accepted like every measure's.
        num_bins: bins of the ECE (>= 1). Default 15.
        plot: path of a PNG reliability diagram (before and after scaling, equal-width bins), or None.

    Returns:
        ``temperature`` (fitted on validation), and ``ece``, ``adaptive_ece``, ``nll``, ``brier`` with setting
        ``{"temperature_scaled": False/True}`` (the ECEs also with ``num_bins``); and the reliability diagram's
        equal-width bins as ``bin_accuracy`` and ``bin_confidence`` records (the bin's accuracy and mean
        confidence; ``n``: its count; setting: ``bin``, its edges ``low``/``high`` and ``scaled``), for reports
        to draw.
        Progress: three units, the validation and test predictions and the temperature fit.
    """
    expect(3)
    with evaluation_mode(model):
        val_logits = predictions(model, data.val.x, batch_size=batch_size).double()
        step()
        test_logits = predictions(model, data.test.x, batch_size=batch_size).double()
        step()
    temperature = fit_temperature(val_logits, data.val.y)
    step()
    labels, n = data.test.y, len(data.test)

    records = [Record("calibration", "temperature", temperature, {"fit_on": "val"}, None, len(data.val))]
    curves = {}
    for scaled, t in ((False, 1.0), (True, temperature)):
        logits = test_logits / t
        probs = logits.softmax(-1)
        setting = {"temperature_scaled": scaled}
        binned = {**setting, "num_bins": num_bins}
        values = {
            "ece": (ece(probs, labels, num_bins=num_bins), binned),
            "adaptive_ece": (ece(probs, labels, num_bins=num_bins, adaptive=True), binned),
            "nll": (float(F.cross_entropy(logits, labels)), setting),
            "brier": (brier(probs, labels), setting),
        }
        records += [Record("calibration", metric, value, where, None, n) for metric, (value, where) in values.items()]
        title = f"temperature scaled (T = {temperature:.2f})" if scaled else "before scaling"
        curves[title] = reliability(probs, labels, num_bins=num_bins)
        records += bin_records(*curves[title], scaled=scaled)
    if plot is not None:
        plot_reliability(plot, curves)
    return records
