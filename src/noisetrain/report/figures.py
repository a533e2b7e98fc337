"""The report's figures, drawn with matplotlib's object API (no pyplot: no global state, no GUI backend).

Every figure takes the study's data and its headline table and returns a ``Figure``, or None when the
records it needs are absent (the report then leaves it out). Reliability diagrams follow Guo et al.
2017, "On Calibration of Modern Neural Networks" (arXiv:1706.04599); the corruption heat map
Hendrycks & Dietterich 2019 (arXiv:1903.12261).

Example:
    >>> data = load("studies/digits")
    >>> plots = render(data, headline(data))   # [Plot("accuracy_vs_strength", ..., png), ...]
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .data import StudyData, flag, is_baseline

log = logging.getLogger(__name__)
DPI = 100
ANNOTATED_CELLS = 400
"""Heat maps with at most this many cells show their values."""
MARKERS = "os^Dv"
CHAR_INCHES = 0.08
"""Width of a tick label's character at the default font size, to size figures around long labels."""

Draw = Callable[[StudyData, pd.DataFrame], Figure | None]


@dataclass(frozen=True)
class Plot:
    """A rendered figure: ``name`` (file stem), ``title`` (caption) and the PNG bytes."""

    name: str
    title: str
    png: bytes


def accuracy_vs_strength(data: StudyData, headline: pd.DataFrame) -> Figure | None:
    """The headline metric against each arm's first numeric noise factor, one panel per context: mean over seeds
    with its confidence band, one line per arm and value of its other factors (e.g. the position ``at``), and
    the baseline as a horizontal band. None when no arm has a numeric factor."""
    lines = _strength_lines(data, headline)
    if not lines:
        return None
    contexts = [c for c in data.contexts if any(context == c for context, _, _ in lines)]
    figure, axes = _panels(len(contexts))
    for ax, context in zip(axes, contexts, strict=True):
        base = headline[(headline["context"] == context) & is_baseline(headline) & headline["mean"].notna()]
        if len(base):
            row = base.iloc[0]
            ax.axhline(row["mean"], color="0.3", linestyle="--", label="baseline")
            if pd.notna(row["ci_low"]):
                ax.axhspan(row["ci_low"], row["ci_high"], color="0.3", alpha=0.15, linewidth=0)
        for _, legend, line in (item for item in lines if item[0] == context):
            (drawn,) = ax.plot(line["_x"], line["mean"], marker="o", label=legend)
            ax.fill_between(line["_x"], line["ci_low"], line["ci_high"], color=drawn.get_color(), alpha=0.2)
        report = data.config.report
        ax.set(xlabel="noise strength", ylabel=f"{report.measure} {report.metric}", title=context)
        ax.legend(fontsize="small")
    return figure


def robustness_curves(data: StudyData, headline: pd.DataFrame) -> Figure | None:
    """Accuracy under test-time noise (``noise_sweep``) against its strength, one panel per noise kind and one
    line per group (mean over seeds; baselines dashed)."""
    sweep = data.select("noise_sweep", "accuracy")
    if sweep.empty:
        return None
    kinds = list(dict.fromkeys(sweep["setting.kind"]))
    figure, axes = _panels(len(kinds), legend=1.0 + 0.7 * CHAR_INCHES * sweep["name"].str.len().max())
    for ax, kind in zip(axes, kinds, strict=True):
        for _, rows in _by_group(data, sweep[sweep["setting.kind"] == kind]):
            curve = rows.groupby("setting.strength")["value"].mean()
            style = "--" if is_baseline(rows).iloc[0] else "-"
            ax.plot(curve.index, curve.to_numpy(), marker="o", linestyle=style, label=rows["name"].iloc[0])
        ax.set(xlabel=f"{kind} strength at test time", ylabel="accuracy", title=kind)
    handles = {label: h for ax in axes for h, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    figure.legend(list(handles.values()), list(handles), loc="outside right upper", fontsize="x-small")
    return figure


def corruption_heatmap(data: StudyData, headline: pd.DataFrame) -> Figure | None:
    """Accuracy per group (rows) and corruption (columns), mean over severities and seeds."""
    accuracy = data.select("corruptions", "accuracy")
    if accuracy.empty:
        return None
    rows = [group["name"].iloc[0] for _, group in _by_group(data, accuracy)]
    columns = list(dict.fromkeys(accuracy["setting.corruption"]))
    grid = accuracy.groupby(["name", "setting.corruption"])["value"].mean().unstack()
    values = grid.reindex(index=rows, columns=columns).to_numpy(float)
    width = 2.5 + CHAR_INCHES * max(map(len, rows)) + 0.55 * len(columns)
    height = 1.2 + CHAR_INCHES * max(map(len, columns)) + 0.4 * len(rows)
    figure = Figure(figsize=(width, height), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(values, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    figure.colorbar(image, ax=ax, label="accuracy")
    if values.size <= ANNOTATED_CELLS:
        middle = np.nanmean(values)
        for (i, j), value in np.ndenumerate(values):
            colour = "white" if value < middle else "black"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize="x-small", color=colour)
    return figure


def reliability_diagrams(data: StudyData, headline: pd.DataFrame) -> Figure | None:
    """Accuracy against mean confidence per confidence bin, one panel per group, before and after temperature
    scaling: the ``calibration`` records ``bin_accuracy`` (setting ``bin``, ``confidence``, ``scaled``; ``n`` the
    bin's count), pooled over seeds weighted by the counts; empty bins are left out."""
    bins = data.select("calibration", "bin_accuracy")
    bins = bins[bins["value"].notna()]
    if bins.empty:
        return None
    weight = pd.to_numeric(bins["n"], errors="coerce").fillna(1.0)
    bins = bins.assign(
        weight=weight,
        correct=bins["value"] * weight,
        confident=bins["setting.confidence"] * weight,
        scaled=flag(bins, "setting.scaled"),
    )
    groups = list(_by_group(data, bins))
    figure, axes = _panels(len(groups), width=3.6, height=3.4, columns=4)
    for ax, (_, rows) in zip(axes, groups, strict=True):
        for scaled, part in rows.groupby("scaled"):
            pooled = part.groupby("setting.bin")[["weight", "correct", "confident"]].sum()
            pooled = pooled[pooled["weight"] > 0]
            label = "temperature scaled" if scaled else "before scaling"
            ax.plot(
                pooled["confident"] / pooled["weight"], pooled["correct"] / pooled["weight"], marker="o", label=label
            )
        ax.plot([0, 1], [0, 1], color="0.5", linestyle=":", linewidth=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy", title=rows["name"].iloc[0])
        ax.title.set_fontsize("small")
        ax.legend(fontsize="x-small", loc="upper left")
    return figure


def training_curves(data: StudyData, headline: pd.DataFrame) -> Figure | None:
    """Validation accuracy (else validation loss) per epoch, mean over seeds, one line per group and one panel
    per context."""
    metric = next((m for m in ("val_accuracy", "val_loss") if (data.metrics["metric"] == m).any()), None)
    if metric is None:
        return None
    history = data.metrics[data.metrics["metric"] == metric]
    contexts = [c for c in data.contexts if (history["context"] == c).any()]
    figure, axes = _panels(len(contexts))
    for ax, context in zip(axes, contexts, strict=True):
        for _, rows in _by_group(data, history[history["context"] == context]):
            curve = rows.groupby("epoch")["value"].mean()
            style = "--" if is_baseline(rows).iloc[0] else "-"
            ax.plot(curve.index, curve.to_numpy(), marker=".", linestyle=style, label=rows["label"].iloc[0])
        ax.set(xlabel="epoch", ylabel=metric, title=context)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="x-small")
    return figure


def cost_vs_benefit(data: StudyData, headline: pd.DataFrame) -> Figure | None:
    """The difference to the baseline in the headline metric (with its interval) against the mean seconds per run,
    one marker per group; None when no group has a difference (no baseline)."""
    compared = headline[~is_baseline(headline) & headline["diff"].notna() & headline["seconds"].notna()]
    if compared.empty:
        return None
    figure = Figure(figsize=(6.0 + CHAR_INCHES * compared["name"].str.len().max(), 4.4), layout="constrained")
    ax = figure.subplots()
    ax.axhline(0, color="0.5", linewidth=1)
    base = headline[is_baseline(headline)]
    ax.plot(base["seconds"], np.zeros(len(base)), marker="s", linestyle="none", color="0.3", label="baseline")
    for i, (_, row) in enumerate(compared.iterrows()):
        spread = np.nan_to_num([[row["diff"] - row["diff_ci_low"]], [row["diff_ci_high"] - row["diff"]]])
        marker = MARKERS[i // 10 % len(MARKERS)]  # a new marker each time the 10 colours come round
        ax.errorbar(row["seconds"], row["diff"], yerr=spread, fmt=marker, capsize=3, label=row["name"])
    report = data.config.report
    ax.set(xlabel="mean seconds per run", ylabel=f"{report.measure} {report.metric} - baseline")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1))
    return figure


FIGURES: dict[str, tuple[str, Draw]] = {
    "accuracy_vs_strength": ("Headline metric against noise strength (mean and CI over seeds)", accuracy_vs_strength),
    "robustness_curves": ("Accuracy under test-time noise (mean over seeds)", robustness_curves),
    "corruption_heatmap": ("Accuracy under common corruptions (mean over severities and seeds)", corruption_heatmap),
    "reliability_diagrams": ("Reliability diagrams (pooled over seeds)", reliability_diagrams),
    "training_curves": ("Training curves (mean over seeds)", training_curves),
    "cost_vs_benefit": ("Cost against benefit: difference to the baseline and seconds per run", cost_vs_benefit),
}
"""Every figure of the report, by file stem: (caption, drawing function)."""


def render(data: StudyData, headline: pd.DataFrame) -> list[Plot]:
    """Draw every figure whose records exist, as PNG."""
    plots = []
    for name, (title, draw) in FIGURES.items():
        figure = draw(data, headline)
        if figure is None:
            log.info("figure %s left out: the study has no records for it", name)
            continue
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
        plots.append(Plot(name, title, buffer.getvalue()))
    return plots


def _strength_lines(data: StudyData, headline: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(context, legend, rows sorted by strength ``_x``) of every line of ``accuracy_vs_strength``."""
    lines = []
    arms = headline[~is_baseline(headline)]
    for (context, arm), rows in arms.groupby(["context", "arm"], sort=False):
        own = [f for f in data.arm_factors if rows[f].notna().any()]
        numeric = [f for f in own if all(_is_number(v) for v in rows[f].dropna())]
        if not numeric:
            continue
        strength, others = numeric[0], [f for f in own if f != numeric[0]]
        split = rows.groupby(others, sort=False, dropna=False) if others else [((), rows)]
        for values, line in split:
            extra = ", ".join(f"{o.rsplit('.', 1)[-1]}={v}" for o, v in zip(others, values, strict=True))
            legend = f"{arm}: {strength.removeprefix('noise.')}" + (f" ({extra})" if extra else "")
            lines.append((context, legend, line.assign(_x=line[strength].astype(float)).sort_values("_x")))
    return lines


def _by_group(data: StudyData, frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The rows of ``frame`` per group, groups in grid order."""
    order = data.group_order
    return sorted(frame.groupby("group", sort=False), key=lambda item: order[item[0]])


def _panels(
    count: int, *, width: float = 5.0, height: float = 3.8, columns: int = 3, legend: float = 0.0
) -> tuple[Figure, list[Axes]]:
    """A figure with ``count`` panels of ``width`` x ``height`` inches, up to ``columns`` a row, and ``legend``
    inches more on the right."""
    across = min(count, columns)
    down = math.ceil(count / across)
    figure = Figure(figsize=(width * across + legend, height * down), layout="constrained")
    axes = figure.subplots(down, across, squeeze=False).ravel().tolist()
    for extra in axes[count:]:
        figure.delaxes(extra)
    return figure, axes[:count]


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))
