"""The report's figures, drawn with matplotlib's object API (no pyplot: no global state, no GUI backend).

Every figure takes the study's data and its headline table and returns a ``Figure``, or None when the
records it needs are absent (the report then leaves it out). Each configuration has one colour in every
figure (``StudyData.colours``), legends sit below the panels in a readable size, and figures are at most
``WIDTH`` inches wide so that a page shows them unscaled from 900 px on. Reliability diagrams follow Guo
et al. 2017, "On Calibration of Modern Neural Networks" (arXiv:1706.04599); the corruption heat map
Hendrycks & Dietterich 2019 (arXiv:1903.12261).

Example:
    >>> data = load("studies/digits")
    >>> plots = render(data, headline(data))   # [Plot("headline_vs_strength", ..., png, None), ...]
"""

from __future__ import annotations

import io
import itertools
import logging
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter

from ..evaluate.keys import metric
from ..study.stats import summarise
from .comparisons import key_comparisons
from .data import BASELINE_COLOUR, StudyData, flag, is_baseline

log = logging.getLogger(__name__)
DPI = 100
WIDTH = 8.5
"""Widest figure, in inches (850 px at ``DPI``)."""
ANNOTATED_CELLS = 400
"""Heat maps with at most this many cells show their values."""
TITLE_CHARACTERS = 32
"""Panel titles wrap after this many characters."""
LEGEND_ROW = 0.25
"""Inches a figure grows by for each row of its legend, so that many entries never squeeze the panels."""

Draw = Callable[[StudyData, pd.DataFrame], Figure | None]


@dataclass(frozen=True)
class Plot:
    """A rendered figure: ``name`` (file stem), ``title`` (caption), the PNG bytes and the ``measure`` whose section
    shows it (None: a headline figure)."""

    name: str
    title: str
    png: bytes
    measure: str | None = None


def headline_vs_strength(data: StudyData, headline: pd.DataFrame) -> Figure | None:
    """The difference to the baseline in the headline metric against each arm's first numeric noise factor, one
    panel per context: the paired difference (mean over seeds) with its interval band, one line per arm and value
    of its other factors (e.g. the position ``at``), each point in its configuration's colour. None when no arm has
    a numeric factor or there is no baseline."""
    lines = [line for line in _strength_lines(data, headline) if line[2]["diff"].notna().any()]
    if not lines:
        return None
    colours = data.colours
    contexts = [c for c in data.contexts if any(context == c for context, _, _ in lines)]
    figure, axes = _panels(len(contexts), height=3.6)
    report = data.config.report
    for ax, context in zip(axes, contexts, strict=True):
        ax.axhline(0, color=BASELINE_COLOUR, linestyle="--", linewidth=1, label="baseline")
        for _, legend, line in (item for item in lines if item[0] == context):
            colour = colours[line["label"].iloc[-1]]
            ax.plot(line["_x"], line["diff"], color=colour, label=legend, zorder=2)
            ax.fill_between(line["_x"], line["diff_ci_low"], line["diff_ci_high"], color=colour, alpha=0.15,
                            linewidth=0)  # fmt: skip
            ax.scatter(line["_x"], line["diff"], c=[colours[label] for label in line["label"]], zorder=3,
                       edgecolors=colour)  # fmt: skip
        ax.set(xlabel="noise strength", ylabel=f"Δ {report.measure} {report.metric}", title=_title(context))
        _percent_axis(ax, report.metric, points=True)
    _legend(figure, axes)
    return figure


def training_curves(data: StudyData, headline: pd.DataFrame) -> Figure | None:
    """Validation accuracy (else validation loss) per epoch: mean over seeds and the range of the seeds as a band,
    one line per configuration and one panel per context."""
    metric_name = next((m for m in ("val_accuracy", "val_loss") if (data.metrics["metric"] == m).any()), None)
    if metric_name is None:
        return None
    history = data.metrics[data.metrics["metric"] == metric_name]
    contexts = [c for c in data.contexts if (history["context"] == c).any()]
    figure, axes = _panels(len(contexts), height=3.6)
    colours = data.colours
    for ax, context in zip(axes, contexts, strict=True):
        for _, rows in _by_group(data, history[history["context"] == context]):
            label = rows["label"].iloc[0]
            curve = rows.groupby("epoch")["value"].agg(["mean", "min", "max"])
            style = "--" if is_baseline(rows).iloc[0] else "-"
            ax.plot(curve.index, curve["mean"], linestyle=style, color=colours[label], label=label)
            ax.fill_between(curve.index, curve["min"], curve["max"], color=colours[label], alpha=0.12, linewidth=0)
        ax.set(xlabel="epoch", ylabel=metric_name.replace("_", " "), title=_title(context))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _percent_axis(ax, metric_name.removeprefix("val_"))
    _legend(figure, axes)
    return figure


def cost_vs_benefit(data: StudyData, headline: pd.DataFrame) -> Figure | None:
    """The difference to the baseline in the headline metric (with its interval) against the training time per
    epoch relative to the baseline, one marker per configuration; None without differences or timings."""
    compared = headline[~is_baseline(headline) & headline["diff"].notna() & headline["cost"].notna()]
    if compared.empty:
        return None
    report = data.config.report
    figure = Figure(figsize=(WIDTH * 0.75, 4.2), layout="constrained")
    ax = figure.subplots()
    ax.axhline(0, color="0.6", linewidth=1)
    ax.axvline(1, color="0.6", linewidth=1)
    base = headline[is_baseline(headline)]
    colours = data.colours
    if len(base):
        ax.plot([1.0], [0.0], marker="s", linestyle="none", color=colours[base["label"].iloc[0]], label="baseline")
    for _, row in compared.iterrows():
        spread = np.nan_to_num([[row["diff"] - row["diff_ci_low"]], [row["diff_ci_high"] - row["diff"]]])
        ax.errorbar(row["cost"], row["diff"], yerr=spread, fmt="o", capsize=3, color=colours[row["label"]],
                    label=row["label"])  # fmt: skip (one legend entry per configuration, over the contexts)
    ax.set(xlabel="training time per epoch / baseline's", ylabel=f"Δ {report.measure} {report.metric}")
    _percent_axis(ax, report.metric, points=True)
    _legend(figure, [ax])
    return figure


def key_dots(measure: str) -> Draw:
    """A figure of ``measure``'s key numbers: one panel per key number, one dot per configuration with its
    interval over seeds, the baseline's value as a dashed line."""

    def draw(data: StudyData, headline: pd.DataFrame) -> Figure | None:
        numbers = key_comparisons(data, measure)
        if numbers.empty:
            return None
        names = list(dict.fromkeys(numbers["name"]))
        panels = list(dict.fromkeys(numbers["number"]))
        height = 0.9 + 0.28 * len(names)
        figure, axes = _panels(len(panels), height=height, columns=3)
        colours = data.colours
        for index, (ax, number) in enumerate(zip(axes, panels, strict=True)):
            rows = numbers[numbers["number"] == number]
            where = rows["name"].map({name: i for i, name in enumerate(names)})
            for (_, row), y in zip(rows.iterrows(), where, strict=True):
                spread = np.nan_to_num([[row["mean"] - row["ci_low"]], [row["ci_high"] - row["mean"]]])
                ax.errorbar(row["mean"], y, xerr=spread, fmt="o", capsize=2, color=colours[row["label"]])
                if row["arm"] == "baseline":
                    ax.axvline(row["mean"], color=colours[row["label"]], linestyle="--", linewidth=1)
            ax.set_yticks(range(len(names)), names if index % 3 == 0 else [""] * len(names))
            ax.set_ylim(len(names) - 0.5, -0.5)
            ax.set_title(_title(number), fontsize="medium")
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))  # more labels would overlap
            _percent_axis(ax, rows["metric"].iloc[0], axis="x")
            ax.tick_params(axis="y", labelsize="small")
        return figure

    return draw


def curves(measure: str, value: str, x: str, panel: str, xlabel: str, skip: tuple[str, str] | None = None) -> Draw:
    """Metric ``value`` of ``measure`` against setting ``x``, one panel per value of setting ``panel``: mean over
    seeds with its interval band, one line per configuration (baselines dashed); records whose setting ``skip[0]``
    is ``skip[1]`` are left out."""

    def draw(data: StudyData, headline: pd.DataFrame) -> Figure | None:
        records = data.select(measure, value)
        x_column, panel_column = f"setting.{x}", f"setting.{panel}"
        if records.empty or x_column not in records:
            return None
        if panel_column not in records:
            records = records.assign(**{panel_column: measure})
        if skip is not None and f"setting.{skip[0]}" in records:
            records = records[records[f"setting.{skip[0]}"] != skip[1]]
        records = records[records[x_column].notna()]
        if records.empty:
            return None
        kinds = list(dict.fromkeys(records[panel_column]))
        figure, axes = _panels(len(kinds), height=3.4)
        colours = data.colours
        markers = dict(zip(data.contexts, itertools.cycle("os^Dv<>p"), strict=False))  # contexts share a panel
        bounds, level = metric(value).bounds, data.config.report.confidence
        for ax, kind in zip(axes, kinds, strict=True):
            for _, rows in _by_group(data, records[records[panel_column] == kind]):
                label, cells = rows["label"].iloc[0], rows.assign(cell=rows[x_column].astype(float))
                line = summarise(cells, group="cell", value="value", confidence=level, bounds=bounds)
                line = line.sort_values("cell")
                style = "--" if is_baseline(rows).iloc[0] else "-"
                ax.plot(line["cell"], line["mean"], marker=markers[rows["context"].iloc[0]], markersize=3,
                        linestyle=style, color=colours[label], label=rows["name"].iloc[0])  # fmt: skip
                ax.fill_between(line["cell"], line["ci_low"], line["ci_high"], color=colours[label], alpha=0.12,
                                linewidth=0)  # fmt: skip
            ax.set(xlabel=xlabel, ylabel=value.replace("_", " "), title=_title(str(kind)))
            _percent_axis(ax, value)
        _legend(figure, axes)
        return figure

    return draw


def corruption_heatmap(data: StudyData, headline: pd.DataFrame) -> Figure | None:
    """Accuracy per configuration (rows) and corruption (columns), mean over severities and seeds."""
    accuracy = data.select("corruptions", "accuracy")
    if accuracy.empty:
        return None
    rows = [group["name"].iloc[0] for _, group in _by_group(data, accuracy)]
    columns = list(dict.fromkeys(accuracy["setting.corruption"]))
    grid = accuracy.groupby(["name", "setting.corruption"])["value"].mean().unstack()
    values = grid.reindex(index=rows, columns=columns).to_numpy(float) * 100
    width = min(WIDTH, 2.2 + 0.075 * max(map(len, rows)) + 0.5 * len(columns))
    height = 1.4 + 0.075 * max(map(len, columns)) + 0.32 * len(rows)
    figure = Figure(figsize=(width, height), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(values, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(columns)), columns, rotation=50, ha="right", fontsize="small")
    ax.set_yticks(range(len(rows)), rows, fontsize="small")
    figure.colorbar(image, ax=ax, label="accuracy (%)")
    if values.size <= ANNOTATED_CELLS:
        middle = np.nanmean(values)
        for (i, j), value in np.ndenumerate(values):
            colour = "white" if value < middle else "black"
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize="x-small", color=colour)
    return figure


def reliability_diagrams(data: StudyData, headline: pd.DataFrame) -> Figure | None:
    """Accuracy against mean confidence per confidence bin, one panel per configuration, before (dashed) and after
    (solid) temperature scaling, pooled over seeds weighted by the bin counts, which show as grey bars (right
    axis); empty bins are left out."""
    accuracy = data.select("calibration", "bin_accuracy")
    confidence = data.select("calibration", "bin_confidence")
    if accuracy.empty or confidence.empty:
        return None
    keys = ["key", "setting"]
    bins = accuracy.merge(confidence[[*keys, "value"]].rename(columns={"value": "confidence"}), on=keys)
    bins = bins[bins["value"].notna() & bins["confidence"].notna()]
    weight = pd.to_numeric(bins["n"], errors="coerce").fillna(1.0)
    bins = bins.assign(weight=weight, correct=bins["value"] * weight, confident=bins["confidence"] * weight,
                       scaled=flag(bins, "setting.scaled"))  # fmt: skip
    groups = list(_by_group(data, bins))
    figure, axes = _panels(len(groups), height=2.9, columns=3)
    colours = data.colours
    for ax, (_, rows) in zip(axes, groups, strict=True):
        colour = colours[rows["label"].iloc[0]]
        counts = ax.twinx()
        for scaled, part in rows.groupby("scaled"):
            pooled = part.groupby(["setting.bin", "setting.low", "setting.high"])[["weight", "correct", "confident"]]
            pooled = pooled.sum().reset_index()
            pooled = pooled[pooled["weight"] > 0]
            label = "after temperature scaling" if scaled else "before"
            ax.plot(pooled["confident"] / pooled["weight"], pooled["correct"] / pooled["weight"], marker="o",
                    markersize=3, color=colour, linestyle="-" if scaled else "--", label=label)  # fmt: skip
            if not scaled:
                widths = pooled["setting.high"] - pooled["setting.low"]
                counts.bar(pooled["setting.low"], pooled["weight"], width=widths, align="edge", color="0.5",
                           alpha=0.25, zorder=0)  # fmt: skip
        ax.plot([0, 1], [0, 1], color="0.5", linestyle=":", linewidth=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy")
        ax.set_title(_title(rows["name"].iloc[0]), fontsize="medium")
        ax.set_zorder(counts.get_zorder() + 1)
        ax.patch.set_visible(False)
        top = counts.get_ylim()[1]
        counts.set_ylim(0, top * 3)  # the bars fill the lower third
        counts.tick_params(axis="y", labelsize="x-small", colors="0.45")
        counts.set_ylabel("samples", fontsize="x-small", color="0.45")
    handles = [Line2D([], [], color="0.2", linestyle="--", marker="o", markersize=3, label="before scaling"),
               Line2D([], [], color="0.2", marker="o", markersize=3, label="after temperature scaling")]  # fmt: skip
    figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small", frameon=False)
    return figure


FIGURES: dict[str, tuple[str, Draw]] = {
    "headline_vs_strength": ("Difference to the baseline against noise strength (paired by seed; band: interval)",
                             headline_vs_strength),
    "cost_vs_benefit": ("Cost against benefit: difference to the baseline against training time per epoch",
                        cost_vs_benefit),
    "training_curves": ("Training curves (mean over seeds; bands: the range of the seeds)", training_curves),
}  # fmt: skip
"""The headline figures, by file stem: (caption, drawing function)."""
MEASURE_FIGURES: dict[str, list[tuple[str, str, Draw]]] = {
    "clean": [("clean", "Clean test performance (mean and interval over seeds)", key_dots("clean"))],
    "noise_sweep": [("noise_sweep", "Accuracy under test-time noise (mean and interval over seeds)",
                     curves("noise_sweep", "accuracy", "strength", "kind", "noise strength at test time"))],
    "adversarial": [("adversarial", "Accuracy under attack against eps (mean and interval over seeds)",
                     curves("adversarial", "accuracy", "eps", "attack", "eps", skip=("attack", "none")))],
    "corruptions": [("corruption_heatmap", "Accuracy (%) under common corruptions (mean over severities and seeds)",
                     corruption_heatmap)],
    "calibration": [("calibration", "Calibration (mean and interval over seeds)", key_dots("calibration")),
                    ("reliability_diagrams", "Reliability diagrams (pooled over seeds; bars: samples per bin)",
                     reliability_diagrams)],
    "uncertainty": [("uncertainty", "Uncertainty (mean and interval over seeds)", key_dots("uncertainty"))],
    "flatness": [("flatness", "Flatness (mean and interval over seeds)", key_dots("flatness"))],
    "certified": [("certified", "Certified accuracy against L2 radius (mean and interval over seeds)",
                   curves("certified", "certified_accuracy", "radius", "sigma", "L2 radius"))],
    "cost": [("cost", "Cost (mean over seeds)", key_dots("cost"))],
}  # fmt: skip
"""Each measure's figures: (file stem, caption, drawing function)."""


def render(data: StudyData, headline: pd.DataFrame) -> list[Plot]:
    """Draw every figure whose records exist, as PNG: the headline figures, then each evaluated measure's."""
    measures = list(dict.fromkeys(data.records["measure"]))
    chosen = [(name, title, draw, None) for name, (title, draw) in FIGURES.items()]
    chosen += [(name, title, draw, m) for m in measures for name, title, draw in MEASURE_FIGURES.get(m, [])]
    plots = []
    for name, title, draw, measure in chosen:
        figure = draw(data, headline)
        if figure is None:
            log.info("figure %s left out: the study has no records for it", name)
            continue
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
        plots.append(Plot(name, title, buffer.getvalue(), measure))
    return plots


def _strength_lines(data: StudyData, headline: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(context, legend, rows sorted by strength ``_x``) of every line of ``headline_vs_strength``."""
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
            legend = f"{arm}: {strength.rsplit('.', 1)[-1]}" + (f" ({extra})" if extra else "")
            lines.append((context, legend, line.assign(_x=line[strength].astype(float)).sort_values("_x")))
    return lines


def _by_group(data: StudyData, frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The rows of ``frame`` per group, groups in grid order."""
    order = data.group_order
    return sorted(frame.groupby("group", sort=False), key=lambda item: order[item[0]])


def _panels(count: int, *, height: float = 3.4, columns: int = 2) -> tuple[Figure, list[Axes]]:
    """A figure ``WIDTH`` wide (narrower for one panel) with ``count`` panels, up to ``columns`` a row, each
    ``height`` inches high."""
    across = max(1, min(count, columns))
    down = math.ceil(count / across)
    width = WIDTH if across > 1 else WIDTH * 0.7
    figure = Figure(figsize=(width, height * down + 0.8), layout="constrained")
    axes = figure.subplots(down, across, squeeze=False).ravel().tolist()
    for extra in axes[count:]:
        figure.delaxes(extra)
    return figure, axes[:count]


def _legend(figure: Figure, axes: list[Axes]) -> None:
    """One legend for the whole figure below its panels: every labelled line once, in a readable size."""
    handles = {label: h for ax in axes for h, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    if handles:  # as many columns as the figure's width holds (about 13 characters an inch), at most 3
        columns = max(1, min(3, int(figure.get_figwidth() * 13) // (max(map(len, handles)) + 6)))
        rows = math.ceil(len(handles) / columns)
        figure.set_figheight(figure.get_figheight() + LEGEND_ROW * rows)  # the panels keep their size
        figure.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=columns,
                      fontsize="small", frameon=False)  # fmt: skip


def _percent_axis(ax: Axes, name: str, *, axis: str = "y", points: bool = False) -> None:
    """Show a proportion's axis in % (differences in percentage points)."""
    if metric(name).percent:
        target = ax.yaxis if axis == "y" else ax.xaxis
        target.set_major_formatter(PercentFormatter(1.0, decimals=None, symbol=" pt" if points else "%"))


def _title(text: str) -> str:
    return textwrap.fill(text, TITLE_CHARACTERS) if text else ""


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))
