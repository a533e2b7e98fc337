"""Synthetic waveform classification: shapes, waveforms, noise level, standardisation, seeds, errors."""

from __future__ import annotations

import pytest
import torch

from noisetrain.data.dataset import DATASETS, Dataset
from noisetrain.data.timeseries import SHAPES, SyntheticTimeSeries, waveforms
from noisetrain.registry import ConfigError


def raw(data: Dataset, split: str) -> torch.Tensor:
    """The series of ``split`` before scaling, (N, L)."""
    x = getattr(data, split).x[:, 0]
    return x * data.info["scale"][0] + data.info["offset"][0]


def test_shapes_dtypes_sizes_and_class_names() -> None:
    data = SyntheticTimeSeries(num_samples=300, length=64, num_classes=5, seed=1).load()
    assert (len(data.train), len(data.val), len(data.test)) == (216, 24, 60)
    assert data.input_shape == (1, 64) and data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.int64
    assert data.num_classes == 5 and data.info["class_names"] == list(SHAPES)
    assert set(data.train.y.tolist()) == set(range(5))
    assert SyntheticTimeSeries().num_classes == 4 and SHAPES[:4] == ("sine", "square", "sawtooth", "chirp")


def test_waveforms_at_known_phases() -> None:
    phase = torch.tensor([[0.0, 0.25, 0.5, 0.75, 1.25]])
    sine, square, sawtooth, chirp, triangle = waveforms(phase, phase)
    torch.testing.assert_close(sine, torch.tensor([[0.0, 1.0, 0.0, -1.0, 1.0]]), atol=1e-6, rtol=0)
    assert torch.equal(square[0, [1, 3, 4]], torch.tensor([1.0, -1.0, 1.0]))
    torch.testing.assert_close(sawtooth, torch.tensor([[-1.0, -0.5, 0.0, 0.5, -0.5]]))
    torch.testing.assert_close(triangle, torch.tensor([[1.0, 0.0, -1.0, 0.0, 0.0]]))
    assert torch.equal(chirp, sine)  # same phase, same values


def test_noise_free_series_follow_their_shape() -> None:
    data = SyntheticTimeSeries(num_samples=400, length=64, num_classes=5, noise=0.0).load()
    x, y = raw(data, "train"), data.train.y
    amplitude = x.abs().amax(1)
    assert float(amplitude.min()) > 0.45 and float(amplitude.max()) < 1.5 + 1e-4  # amplitudes in [0.5, 1.5]
    square = x[y == 1]
    torch.testing.assert_close(square.abs(), square.abs().amax(1, keepdim=True).expand_as(square), atol=1e-5, rtol=0)
    assert not bool(torch.isclose(x[y == 0].abs(), amplitude[y == 0, None]).all())  # a sine is not square


def test_noise_is_additive_gaussian_with_the_given_std() -> None:
    clean = SyntheticTimeSeries(num_samples=500, noise=0.0, seed=2).load()
    noisy = SyntheticTimeSeries(num_samples=500, noise=0.5, seed=2).load()
    assert torch.equal(clean.train.y, noisy.train.y)  # same draws apart from the noise
    difference = raw(noisy, "train") - raw(clean, "train")
    assert float(difference.std()) == pytest.approx(0.5, rel=0.03)
    assert abs(float(difference.mean())) < 0.01


def test_standardised_with_training_statistics_only() -> None:
    data = SyntheticTimeSeries(num_samples=300, seed=3).load()
    assert float(data.train.x.mean()) == pytest.approx(0, abs=1e-5)
    assert float(data.train.x.std()) == pytest.approx(1, abs=1e-5)
    assert float(data.test.x.mean()) != pytest.approx(0, abs=1e-5)
    assert data.info["scaling"] == "standard"
    assert len(data.info["offset"]) == len(data.info["scale"]) == 1  # one channel


def test_minmax_and_none_scaling_of_the_channel() -> None:
    plain = SyntheticTimeSeries(num_samples=300, seed=3, scale="none").load()
    minmax = SyntheticTimeSeries(num_samples=300, seed=3, scale="minmax").load()
    low, high = float(plain.train.x.min()), float(plain.train.x.max())
    assert (float(minmax.train.x.min()), float(minmax.train.x.max())) == (0.0, 1.0)
    assert minmax.info["offset"] == [low] and minmax.info["scale"] == [pytest.approx(high - low)]
    torch.testing.assert_close(minmax.test.x, (plain.test.x - low) / (high - low))
    assert (plain.info["scaling"], plain.info["offset"], plain.info["scale"]) == ("none", [0.0], [1.0])


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = (SyntheticTimeSeries(num_samples=100, seed=s).load() for s in (4, 4, 5))
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.x, c.train.x)


def test_train_size_subset_and_too_big() -> None:
    assert len(SyntheticTimeSeries(num_samples=100, train_size=10).load().train) == 10
    with pytest.raises(ConfigError, match=r"train_size must be an integer in \[1, 72\]"):
        SyntheticTimeSeries(num_samples=100, train_size=73).load()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_classes": 6}, r"num_classes must be in \[2, 5\]"),
        ({"noise": -0.1}, r"noise must be in \[0, inf\)"),
        ({"frequency": (0.0, 2.0)}, r"frequency must be in \(0, inf\)"),
        ({"frequency": (3.0, 2.0)}, "frequency must be"),
        ({"length": 4}, r"length must be in \[8, inf\)"),
        ({"test_size": -0.5}, r"test_size must be in \[0, 1\)"),
        ({"scale": "robust"}, "scale must be one of 'standard', 'minmax', 'none'; got 'robust'"),
    ],
)
def test_bad_options_raise_config_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DATASETS.build({"kind": "timeseries", **options})
