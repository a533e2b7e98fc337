"""Calibration: expected calibration error (equal-width and equal-mass bins), NLL and Brier score,
before and after temperature scaling fitted on the validation split, and a reliability diagram.

ECE and temperature scaling as in "On Calibration of Modern Neural Networks" (Guo et al. 2017,
arXiv:1706.04599); equal-mass ("adaptive") bins as in "Measuring Calibration in Deep Learning"
(Nixon et al. 2019, arXiv:1904.01685); the Brier score from Brier (1950), "Verification of forecasts
expressed in terms of probability".

A confidence on the edge of an equal-width bin goes by ``bins`` (see ``BIN_EDGES``): ``"right"`` (the default)
closes the bins on the right, ``"left"`` reproduces torchmetrics' ``multiclass_calibration_error`` (1.0 and later).

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

from ..checks import check_choice, check_int
from ..data.dataset import Dataset
from ..noise.inject import evaluation_mode
from ..registry import ConfigError
from .keys import Key
from .options import choice, integer
from .progress import expect, step
from .records import Record, measure, predictions

TEMPERATURE_RANGE = (1e-2, 1e2)
"""Fitted temperatures are clamped to this range (a separable validation set drives T towards 0)."""
BIN_EDGES = ("right", "left")
"""Where a confidence on an edge of the equal-width bins of ``[0, 1]`` goes (``B`` bins):

- ``"right"``: bins ``((i-1)/B, i/B]`` closed on the right, a confidence of 0 in the first (as Guo et al. 2017);
- ``"left"``: bins ``[(i-1)/B, i/B)`` closed on the left, and a bin ``B + 1`` of its own for a confidence of 1,
  as torchmetrics (1.0 and later: ``multiclass_calibration_error``, functional/classification/calibration_error.py)
  bins it: the confidence rounded to float32 (which that function casts it to) against edges
  ``torch.linspace(0, 1, B + 1)`` in float32, so a confidence within float32 rounding of 1 counts as 1.

Both give the same bins, and the same ECE, when no confidence lies on an edge or on 1 (within float32 rounding)."""


def bin_records(
    confidence: torch.Tensor, accuracy: torch.Tensor, count: torch.Tensor, *, scaled: bool, bins: str
) -> list[Record]:
    """A ``bin_accuracy`` and a ``bin_confidence`` record per non-empty equal-width bin of a reliability diagram
    (``reliability``'s output with edge convention ``bins``; ``n``: the bin's count); the setting names the bin and
    the convention, not the bin's numbers, so records of runs average by bin. The extra bin of ``bins="left"``
    (confidence 1) has ``low == high == 1``."""
    num_bins, records = len(count) - (bins == "left"), []
    for i in range(len(count)):
        if count[i] > 0:
            low, high = round(i / num_bins, 6), round(min(i + 1, num_bins) / num_bins, 6)
            setting = {"bin": i, "low": low, "high": high, "bins": bins, "scaled": scaled}
            for metric, value in (("bin_accuracy", accuracy[i]), ("bin_confidence", confidence[i])):
                records.append(Record("calibration", metric, float(value), setting, None, int(count[i])))
    return records


def reliability(
    probs: torch.Tensor, labels: torch.Tensor, *, num_bins: int = 15, adaptive: bool = False, bins: str = "right"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-bin mean confidence, accuracy and count of the top-class predictions.

    Args:
        probs: class probabilities (N, C).
        labels: true classes (N,).
        num_bins: number of bins (>= 1).
        adaptive: False: ``num_bins`` equal-width bins of the confidence; True: equal-mass bins of about
            ``N / B`` predictions each in order of confidence (the prediction of rank ``k`` from 0 goes to bin
            ``floor(k B / N)``; tied confidences all go to the bin of the lowest rank among them).
        bins: the edges of the equal-width bins, ``"right"`` (``((i-1)/B, i/B]``) or ``"left"`` (``[(i-1)/B, i/B)``
            and a bin of its own for confidence 1, as torchmetrics): see ``BIN_EDGES``. Equal-mass bins have no
            fixed edges: with ``adaptive`` only ``"right"`` is accepted.

    Returns:
        ``(confidence, accuracy, count)``, each (num_bins,), or (num_bins + 1,) for ``bins="left"`` (the last
        bin holds the confidences of 1); empty bins have confidence and accuracy 0.
    """
    check_int("num_bins", num_bins, 1)
    check_choice("bins", bins, BIN_EDGES)
    if adaptive and bins != "right":
        raise ConfigError(f"bins={bins!r} applies to equal-width bins only; equal-mass (adaptive) bins have no edges")
    confidence, predicted = probs.max(-1)
    confidence = confidence.double()
    correct = (predicted == labels).double()
    n, slots = len(labels), num_bins + (bins == "left")
    if adaptive:
        order = confidence.argsort()
        _, group, counts = torch.unique_consecutive(confidence[order], return_inverse=True, return_counts=True)
        first_rank = counts.cumsum(0) - counts  # tied confidences share the bin of their lowest rank
        index = torch.empty_like(labels)
        index[order] = (first_rank * num_bins // max(n, 1))[group]
    elif bins == "right":
        index = (confidence * num_bins).ceil().long().clamp(1, num_bins) - 1
    else:  # the float32 confidence in [edge_i, edge_i+1) goes to bin i; 1 (edge_B) to bin B
        edges = torch.linspace(0, 1, num_bins + 1, dtype=torch.float32, device=confidence.device)
        index = torch.bucketize(confidence.float(), edges, right=True) - 1
    count = torch.bincount(index, minlength=slots).double()
    total = count.clamp_min(1)
    return (
        torch.bincount(index, confidence, minlength=slots) / total,
        torch.bincount(index, correct, minlength=slots) / total,
        count,
    )


def ece(
    probs: torch.Tensor, labels: torch.Tensor, *, num_bins: int = 15, adaptive: bool = False, bins: str = "right"
) -> float:
    """Expected calibration error: ``sum_b |B_b| / N * |accuracy(B_b) - confidence(B_b)|`` over the bins of
    ``reliability`` (equal-width with edge convention ``bins``, see ``BIN_EDGES``, or equal-mass if ``adaptive``).
    probs (N, C), labels (N,). Equal-width with ``bins="left"``, it is torchmetrics' ``multiclass_calibration_error``
    with ``norm="l1"`` on the same probabilities (up to rounding: torchmetrics averages in float32, this in float64)."""
    confidence, accuracy, count = reliability(probs, labels, num_bins=num_bins, adaptive=adaptive, bins=bins)
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
        Key("ece", "ECE", _before), Key("ece", "ECE after TS", _after), Key("adaptive_ece", "adaptive ECE", _before),
        Key("nll", "NLL", _before), Key("nll", "NLL after TS", _after), Key("brier", "Brier", _before),
        Key("brier", "Brier after TS", _after), Key("temperature", "T"),
    ),
    checks={"num_bins": integer(1), "bins": choice(*BIN_EDGES), "plot": check_plot},
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
    bins: str = "right",
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
        bins: where a confidence on an edge of an equal-width bin goes (see ``BIN_EDGES``): ``"right"`` (default,
            bins ``((i-1)/B, i/B]``) or ``"left"`` (``[(i-1)/B, i/B)`` and a bin of its own for confidence 1, as
            torchmetrics' ``multiclass_calibration_error``). The equal-mass ECE has no edges and does not depend on it.
        plot: path of a PNG reliability diagram (before and after scaling, equal-width bins), or None.

    Returns:
        ``temperature`` (fitted on validation), and ``ece``, ``adaptive_ece``, ``nll``, ``brier`` with setting
        ``{"temperature_scaled": False/True}`` (the ECEs also with ``num_bins``, ``ece`` also with ``bins``); and
        the reliability diagram's equal-width bins as ``bin_accuracy`` and ``bin_confidence`` records (the bin's
        accuracy and mean confidence; ``n``: its count; setting: ``bin``, its edges ``low``/``high``, ``bins``
        and ``scaled``), for reports to draw.
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
            "ece": (ece(probs, labels, num_bins=num_bins, bins=bins), {**binned, "bins": bins}),
            "adaptive_ece": (ece(probs, labels, num_bins=num_bins, adaptive=True), binned),
            "nll": (float(F.cross_entropy(logits, labels)), setting),
            "brier": (brier(probs, labels), setting),
        }
        records += [Record("calibration", metric, value, where, None, n) for metric, (value, where) in values.items()]
        title = f"temperature scaled (T = {temperature:.2f})" if scaled else "before scaling"
        curves[title] = reliability(probs, labels, num_bins=num_bins, bins=bins)
        records += bin_records(*curves[title], scaled=scaled, bins=bins)
    if plot is not None:
        plot_reliability(plot, curves)
    return records
