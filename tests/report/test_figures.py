"""The report's figures: valid PNGs, the plotted numbers, and figures left out when their records are absent."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.image import imread

from noisetrain.report import FIGURES, headline, load, render
from noisetrain.report.figures import accuracy_vs_strength, reliability_diagrams, training_curves

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_figure_renders_as_png(full_study: Path) -> None:
    data = load(full_study)
    plots = render(data, headline(data))
    assert [p.name for p in plots] == list(FIGURES)
    for plot in plots:
        assert plot.png.startswith(PNG)
        height, width, _ = imread(io.BytesIO(plot.png)).shape
        assert height > 100 and width > 100


def test_figures_without_their_records_are_left_out(study_factory) -> None:
    data = load(study_factory(("clean",)))
    names = [p.name for p in render(data, headline(data))]
    assert names == ["accuracy_vs_strength", "training_curves", "cost_vs_benefit"]
    data = load(study_factory(("clean", "noise_sweep"), baseline=False))
    names = [p.name for p in render(data, headline(data))]
    assert names == ["accuracy_vs_strength", "robustness_curves", "training_curves"]  # no baseline: no cost/benefit


def test_accuracy_vs_strength_plots_the_headline_means_and_the_baseline(full_study: Path, truth) -> None:
    data = load(full_study)
    table = headline(data)
    figure = accuracy_vs_strength(data, table)
    assert len(figure.axes) == len(truth.LRS)  # one panel per context
    ax = figure.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines) == ["baseline", "gaussian: gaussian.std"]  # dropout has no numeric factor
    part = table[(table["train.optimizer.lr"] == truth.LRS[0])]
    gaussian = part[part["arm"] == "gaussian"].sort_values("noise.gaussian.std")
    np.testing.assert_allclose(lines["gaussian: gaussian.std"].get_xdata(), [0.1, 0.2])
    np.testing.assert_allclose(lines["gaussian: gaussian.std"].get_ydata(), gaussian["mean"])
    assert lines["baseline"].get_ydata()[0] == pytest.approx(part[part["arm"] == "baseline"]["mean"].iloc[0])


def test_accuracy_vs_strength_one_line_per_position(study_factory) -> None:
    noise = {"gaussian": [{"kind": "gaussian", "std": [0.1, 0.2, 0.3], "at": ["input", "output:ReLU"]}]}
    data = load(study_factory(("clean",), noise=noise))
    ax = accuracy_vs_strength(data, headline(data)).axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["baseline", "gaussian: gaussian.std (at=input)", "gaussian: gaussian.std (at=output:ReLU)"]
    np.testing.assert_allclose(ax.get_lines()[1].get_xdata(), [0.1, 0.2, 0.3])


def test_reliability_diagram_pools_seeds_weighted_by_bin_counts(full_study: Path, truth: SimpleNamespace) -> None:
    data = load(full_study)
    figure = reliability_diagrams(data, headline(data))
    assert len(figure.axes) == len(truth.LRS) * len(truth.EFFECT)  # one panel per group
    ax = figure.axes[0]  # the first baseline, all 4 seeds finished
    before, after = ax.get_lines()[:2]
    assert (before.get_label(), after.get_label()) == ("before scaling", "temperature scaled")
    for line, scaled in ((before, False), (after, True)):
        bins = [b for b in range(3) if sum(truth.bin_count(b, s) for s in truth.SEEDS) > 0]
        counts = np.array([[truth.bin_count(b, s) for s in truth.SEEDS] for b in bins], float)
        accuracy = np.array([[truth.bin_accuracy(b, s, scaled) for s in truth.SEEDS] for b in bins])
        confidence = np.array([[truth.bin_confidence(b, s) for s in truth.SEEDS] for b in bins])
        np.testing.assert_allclose(line.get_xdata(), (confidence * counts).sum(1) / counts.sum(1))
        np.testing.assert_allclose(line.get_ydata(), (accuracy * counts).sum(1) / counts.sum(1))


def test_training_curves_average_over_seeds(full_study: Path, truth: SimpleNamespace) -> None:
    data = load(full_study)
    ax = training_curves(data, headline(data)).axes[0]
    line = ax.get_lines()[0]  # the baseline of the first context
    assert line.get_label() == "baseline" and ax.get_ylabel() == "val_accuracy"
    mean = np.mean([truth.accuracy(truth.LRS[0], "baseline", s) for s in truth.SEEDS])
    np.testing.assert_allclose(line.get_ydata(), [mean - 0.1, mean - 0.05])
