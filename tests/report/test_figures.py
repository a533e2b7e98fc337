"""The report's figures: valid PNGs, the plotted numbers, one colour per configuration, readable sizes, and
figures left out when their records are absent."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.image import imread
from scipy import stats

from noisetrain.report import headline, load, render
from noisetrain.report.figures import (
    DPI,
    WIDTH,
    curves,
    headline_vs_strength,
    key_dots,
    reliability_diagrams,
    training_curves,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_figure_renders_as_png_no_wider_than_the_page(full_study: Path) -> None:
    data = load(full_study)
    plots = render(data, headline(data))
    assert [(p.name, p.measure) for p in plots] == [
        ("headline_vs_strength", None), ("cost_vs_benefit", None), ("training_curves", None), ("clean", "clean"),
        ("noise_sweep", "noise_sweep"), ("corruption_heatmap", "corruptions"), ("calibration", "calibration"),
        ("reliability_diagrams", "calibration"), ("adversarial", "adversarial"),
    ]  # fmt: skip
    for plot in plots:
        assert plot.png.startswith(PNG)
        height, width, _ = imread(io.BytesIO(plot.png)).shape
        assert 100 < width <= WIDTH * DPI and height > 100


def test_figures_without_their_records_are_left_out(study_factory) -> None:
    data = load(study_factory(("clean",)))
    assert [p.name for p in render(data, headline(data))] == [
        "headline_vs_strength", "cost_vs_benefit", "training_curves", "clean"
    ]  # fmt: skip
    data = load(study_factory(("clean", "noise_sweep"), baseline=False))
    names = [p.name for p in render(data, headline(data))]
    assert names == ["training_curves", "clean", "noise_sweep"]  # no baseline: no differences, no cost


def test_headline_vs_strength_plots_the_paired_differences(full_study: Path, truth) -> None:
    data = load(full_study)
    table = headline(data)
    figure = headline_vs_strength(data, table)
    assert len(figure.axes) == len(truth.LRS)  # one panel per context
    ax = figure.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines) == ["baseline", "gaussian: std"]  # dropout has no numeric factor
    part = table[(table["train.optimizer.lr"] == truth.LRS[0])]
    gaussian = part[part["arm"] == "gaussian"].sort_values("noise.gaussian.std")
    np.testing.assert_allclose(lines["gaussian: std"].get_xdata(), [0.1, 0.2])
    np.testing.assert_allclose(lines["gaussian: std"].get_ydata(), gaussian["diff"])
    assert lines["baseline"].get_ydata()[0] == 0


def test_headline_vs_strength_one_line_per_position(study_factory) -> None:
    noise = {"gaussian": [{"kind": "gaussian", "std": [0.1, 0.2, 0.3], "at": ["input", "output:ReLU"]}]}
    data = load(study_factory(("clean",), noise=noise))
    ax = headline_vs_strength(data, headline(data)).axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["baseline", "gaussian: std (at=input)", "gaussian: std (at=output:ReLU)"]
    np.testing.assert_allclose(ax.get_lines()[1].get_xdata(), [0.1, 0.2, 0.3])


def test_one_colour_per_configuration_in_every_figure(full_study: Path) -> None:
    data = load(full_study)
    colours = data.colours
    assert len(colours) == 5 and colours["baseline"] == "#333333"
    assert len(set(colours.values())) == 5  # an arm's configurations are shades of one hue
    table = headline(data)
    seen = {}
    for figure in (training_curves(data, table), key_dots("clean")(data, table)):
        for ax in figure.axes:
            for line in ax.get_lines():
                if line.get_label() in colours:
                    seen.setdefault(line.get_label(), set()).add(to_hex(line.get_color()))
    assert seen and all(found == {colours[label]} for label, found in seen.items())


def test_reliability_diagram_pools_seeds_weighted_by_bin_counts(full_study: Path, truth: SimpleNamespace) -> None:
    data = load(full_study)
    figure = reliability_diagrams(data, headline(data))
    panels = [ax for ax in figure.axes if ax.get_ylabel() == "accuracy"]
    assert len(panels) == len(truth.LRS) * len(truth.EFFECT)  # one panel per group, each with a count axis
    ax = panels[0]  # the first baseline, every seed finished
    before, after = ax.get_lines()[:2]
    assert (before.get_linestyle(), after.get_linestyle()) == ("--", "-")
    for line, scaled in ((before, False), (after, True)):
        bins = [b for b in range(3) if sum(truth.bin_count(b, s) for s in truth.SEEDS) > 0]
        counts = np.array([[truth.bin_count(b, s) for s in truth.SEEDS] for b in bins], float)
        accuracy = np.array([[truth.bin_accuracy(b, s, scaled) for s in truth.SEEDS] for b in bins])
        confidence = np.array([[truth.bin_confidence(b, s) for s in truth.SEEDS] for b in bins])
        np.testing.assert_allclose(line.get_xdata(), (confidence * counts).sum(1) / counts.sum(1))
        np.testing.assert_allclose(line.get_ydata(), (accuracy * counts).sum(1) / counts.sum(1))
    counts_axis = next(other for other in figure.axes if other.get_ylabel() == "samples")
    heights = sorted(bar.get_height() for bar in counts_axis.patches)
    assert heights == pytest.approx(sorted(sum(truth.bin_count(b, s) for s in truth.SEEDS) for b in bins))


def test_training_curves_show_the_mean_and_the_range_of_the_seeds(full_study: Path, truth: SimpleNamespace) -> None:
    data = load(full_study)
    ax = training_curves(data, headline(data)).axes[0]
    line = ax.get_lines()[0]  # the baseline of the first context
    assert line.get_label() == "baseline" and ax.get_ylabel() == "val accuracy"
    values = np.array([truth.accuracy(truth.LRS[0], "baseline", s) for s in truth.SEEDS])
    np.testing.assert_allclose(line.get_ydata(), [values.mean() - 0.1 / e for e in (1, 2, 3)])
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(values.min() - 0.1) and band.max() == pytest.approx(values.max() - 0.1 / 3)


@pytest.mark.parametrize("confidence", [0.8, 0.99])
def test_curve_bands_are_intervals_at_the_reports_confidence(study_factory, confidence: float) -> None:
    data = load(study_factory(("clean", "noise_sweep"), report={"confidence": confidence}))
    figure = curves("noise_sweep", "accuracy", "strength", "kind", "noise strength")(data, headline(data))
    ax = figure.axes[0]
    line, band = ax.get_lines()[0], ax.collections[0].get_paths()[0].vertices[:, 1]
    records = data.select("noise_sweep", "accuracy")
    label = line.get_label()
    first = records[(records["name"] == label) & (records["setting.kind"] == records["setting.kind"].iloc[0])]
    values = first[first["setting.strength"] == first["setting.strength"].min()]["value"].to_numpy()
    half = stats.t.ppf((1 + confidence) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    assert line.get_ydata()[0] == pytest.approx(values.mean()) and 0 < half < 0.5
    for end in (values.mean() - half, values.mean() + half):  # the band at the first strength
        assert np.isclose(band, min(max(end, 0.0), 1.0)).any(), (end, band)


def test_contexts_sharing_a_panel_have_their_own_markers_and_the_legend_fits(full_study: Path) -> None:
    data = load(full_study)
    figure = curves("noise_sweep", "accuracy", "strength", "kind", "noise strength at test time")(data, headline(data))
    assert figure is not None and len(data.contexts) == 2
    markers = {line.get_label(): line.get_marker() for ax in figure.axes for line in ax.get_lines()}
    by_context = {context: {m for name, m in markers.items() if name.endswith(f"[{context}]")} for context in
                  data.contexts}  # fmt: skip
    assert all(len(found) == 1 for found in by_context.values())  # one marker per context ...
    assert len(set().union(*by_context.values())) == 2  # ... and a different one for each
    figure.canvas.draw()  # the legend's right edge stays inside the figure
    legend = figure.legends[0].get_window_extent()
    assert legend.x0 >= 0 and legend.x1 <= figure.bbox.width


def test_key_number_panels_have_few_enough_ticks_to_read(full_study: Path) -> None:
    """A third of the figure's width held seven labels such as 1.50%, which ran into each other."""
    data = load(full_study)
    figure = key_dots("calibration")(data, headline(data))
    figure.canvas.draw()
    for ax in figure.axes:
        inside = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert 2 <= len(inside) <= 5, (ax.get_title(), inside)
