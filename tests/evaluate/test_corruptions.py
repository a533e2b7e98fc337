import logging

import pytest
import torch
from torch import nn

from noisetrain import inject
from noisetrain.corruptions import names
from noisetrain.data import Dataset, Split
from noisetrain.evaluate import evaluate
from noisetrain.registry import ConfigError


def images(n: int = 64) -> Dataset:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, 16, 16, generator=g) * 0.5
    y = torch.arange(n) % 2
    x[y == 1, :, :8] += 0.5  # class 1: a bright top half
    split = Split(x, y)
    return Dataset("bright", "classification", split, split, split, num_classes=2)


class TopHalf(nn.Module):
    """Class 1 when the top half is brighter than the bottom half by more than 0.25."""

    def __init__(self, scale: float = 20.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale))

    def forward(self, x):
        gap = x[:, :, :8].mean(dim=(1, 2, 3)) - x[:, :, 8:].mean(dim=(1, 2, 3))
        return torch.stack([0.25 - gap, gap - 0.25], 1) * self.scale


def test_accuracy_per_corruption_and_severity_and_means():
    records = evaluate(TopHalf(), images(), [{"kind": "corruptions", "severities": [1, 5]}])
    accuracy = {(r.setting["corruption"], r.setting["severity"]): r.value for r in records if r.metric == "accuracy"}
    assert set(accuracy) == {(c, s) for c in names() for s in (1, 5)}
    assert accuracy[("brightness", 1)] == 1.0  # brightness shifts both halves alike
    assert accuracy[("gaussian_noise", 5)] < accuracy[("gaussian_noise", 1)] + 1e-9
    means = {r.setting["set"]: r.value for r in records if r.metric == "mean_accuracy"}
    common = [v for (c, _), v in accuracy.items() if c in names(held_out=False)]
    assert means["common"] == pytest.approx(sum(common) / len(common))
    again = evaluate(TopHalf(), images(), [{"kind": "corruptions", "severities": [1, 5]}])
    assert [r.value for r in again] == [r.value for r in records]


class AlwaysZero(nn.Module):
    def forward(self, x):
        return torch.zeros(len(x), 2) + torch.tensor([1.0, 0.0])


def test_mce_against_a_baseline():
    chosen = ["gaussian_noise", "contrast", "speckle_noise"]
    spec = {"kind": "corruptions", "corruptions": chosen, "severities": [3, 5], "baseline": AlwaysZero()}
    records = evaluate(TopHalf(), images(), [spec])
    errors = {c: sum(1 - r.value for r in records if r.metric == "accuracy" and r.setting["corruption"] == c)
              for c in chosen}  # fmt: skip
    ce = {r.setting["corruption"]: r.value for r in records if r.metric == "ce"}
    assert ce == pytest.approx({c: e / (2 * 0.5) for c, e in errors.items()})  # the baseline errs on half
    mce = [r.value for r in records if r.metric == "mce"]
    assert mce == pytest.approx([(ce["gaussian_noise"] + ce["contrast"]) / 2])  # held-out speckle not in mCE


def test_overlap_with_training_noise_is_warned_and_recorded(caplog):
    model = TopHalf()
    inject(model, [{"kind": "gaussian", "std": 0.1}])
    with caplog.at_level(logging.WARNING):
        spec = {"kind": "corruptions", "corruptions": ["gaussian_noise"], "severities": [1]}
        records = evaluate(model, images(), [spec])
    assert "trained with 'gaussian' noise" in caplog.text
    assert any(r.metric == "trained_on_corruption" and r.setting["corruption"] == "gaussian_noise" for r in records)


def test_bad_options():
    with pytest.raises(ConfigError, match=r"corruptions must be one of 'defocus_blur', .*; got 'rain'"):
        evaluate(TopHalf(), images(), [{"kind": "corruptions", "corruptions": ["rain"]}])
    with pytest.raises(ConfigError, match=r"severities must be in \[1, 5\]"):
        evaluate(TopHalf(), images(), [{"kind": "corruptions", "severities": [0]}])
    flat = Split(torch.rand(8, 5), torch.arange(8) % 2)
    tabular = Dataset("t", "classification", flat, flat, flat, num_classes=2)
    with pytest.raises(ConfigError, match="need image classification data"):
        evaluate(nn.Linear(5, 2), tabular, ["corruptions"])


def test_ce_against_a_baseline_without_errors_is_undefined_not_infinite():
    spec = {"kind": "corruptions", "corruptions": ["brightness"], "severities": [1], "baseline": TopHalf()}
    records = evaluate(TopHalf(), images(), [spec])
    ce = [r.value for r in records if r.metric in ("ce", "mce")]
    assert len(ce) == 2 and all(v != v for v in ce)  # NaN: the baseline made no error, so no ratio exists
