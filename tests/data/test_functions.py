"""Benchmark-function regression: function values, sampling, clean test targets, noise on train/val only,
scaling fitted on the noisy training split, errors."""

from __future__ import annotations

import math

import pytest
import torch

from noisetrain.data import DATASETS, load_data
from noisetrain.data.functions import FUNCTIONS, BenchmarkFunction, ackley, griewank, rastrigin, rosenbrock, sphere
from noisetrain.registry import ConfigError


@pytest.mark.parametrize("dim", [1, 2, 5])
@pytest.mark.parametrize("function", [sphere, rastrigin, ackley, griewank])
def test_minimum_zero_at_origin(function, dim: int) -> None:
    value = function(torch.zeros(3, dim, dtype=torch.float64))
    assert value.shape == (3,)
    torch.testing.assert_close(value, torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("dim", [2, 5])
def test_rosenbrock_minimum_zero_at_ones(dim: int) -> None:
    assert torch.equal(rosenbrock(torch.ones(2, dim)), torch.zeros(2))


@pytest.mark.parametrize(
    ("function", "point", "value"),
    [
        (sphere, [1.0, 2.0], 5.0),
        (rosenbrock, [0.0, 0.0], 1.0),
        (rosenbrock, [-1.0, 1.0, 1.0], 4.0),  # 4 + 100 * 0 + 0 from the second pair
        (rastrigin, [0.5, 0.5], 40.5),  # 20 + 2 * (0.25 + 10)
        (rastrigin, [1.0, 1.0], 2.0),
        (ackley, [1.0, 1.0], 20 * (1 - math.exp(-0.2))),
        (griewank, [10.0, 0.0], 1.025 - math.cos(10.0)),
    ],
)
def test_known_values(function, point: list[float], value: float) -> None:
    x = torch.tensor([point], dtype=torch.float64)
    assert float(function(x)[0]) == pytest.approx(value, rel=1e-12)


def test_minima_are_below_random_points() -> None:
    x = torch.rand(100, 3, generator=torch.Generator().manual_seed(0)) * 4 - 2
    for name, (function, _) in FUNCTIONS.items():
        minimum = torch.ones(1, 3) if name == "rosenbrock" else torch.zeros(1, 3)
        assert float(function(x).min()) > float(function(minimum)[0]), name


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_splits_sizes_domain_and_dtypes(name: str) -> None:
    data = load_data({"kind": "function", "name": name, "dim": 3, "n_train": 50, "n_val": 10, "n_test": 20})
    low, high = FUNCTIONS[name][1]
    assert data.task == "regression" and data.name == name and data.num_outputs == 1
    assert (len(data.train), len(data.val), len(data.test)) == (50, 10, 20)
    assert data.input_shape == (3,) and data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.float32
    assert data.info["domain"] == [low, high] and data.info["dim"] == 3
    for split in (data.train, data.val, data.test):
        assert float(split.x.min()) >= low and float(split.x.max()) < high  # kept as drawn, not standardised


def test_custom_domain_is_used_for_every_coordinate() -> None:
    data = BenchmarkFunction("ackley", dim=4, domain=(-1, 2), n_train=500).load()
    assert data.info["domain"] == [-1.0, 2.0]
    assert float(data.train.x.min()) >= -1 and float(data.train.x.max()) < 2
    assert float(data.train.x.min()) < -0.9 and float(data.train.x.max()) > 1.9


def test_target_noise_on_train_and_val_only_test_is_clean() -> None:
    data = BenchmarkFunction(
        "rastrigin", target_noise=2.0, scale_target="none", n_train=4000, n_val=4000, n_test=500, seed=3
    ).load()
    assert torch.equal(data.test.y, rastrigin(data.test.x))
    for split in (data.train, data.val):
        residual = split.y - rastrigin(split.x)
        assert float(residual.std()) == pytest.approx(2.0, rel=0.05)
        assert abs(float(residual.mean())) < 0.1


def test_noise_free_targets_equal_the_function() -> None:
    data = BenchmarkFunction("griewank", scale_target="none", n_train=30, n_val=5, n_test=5).load()
    for split in (data.train, data.val, data.test):
        assert torch.equal(split.y, griewank(split.x))


def test_targets_standardised_with_training_statistics() -> None:
    data = BenchmarkFunction("sphere", target_noise=1.0, n_train=300, seed=2).load()
    assert data.info["target_scaling"] == "standard"
    mean, std = data.info["target_offset"], data.info["target_scale"]
    assert float(data.train.y.mean()) == pytest.approx(0, abs=1e-5)
    assert float(data.train.y.std()) == pytest.approx(1, abs=1e-5)
    assert abs(float(data.test.y.mean())) > 1e-3  # other samples, other statistics
    torch.testing.assert_close(data.test.y * std + mean, sphere(data.test.x), rtol=1e-5, atol=1e-4)


def test_minmax_targets_fitted_on_the_noisy_training_split() -> None:
    options = {"name": "sphere", "n_train": 200, "n_val": 50, "n_test": 50, "seed": 5}
    raw = BenchmarkFunction(**options, target_noise=3.0, scale_target="none").load()
    data = BenchmarkFunction(**options, target_noise=3.0, scale_target="minmax").load()
    low, high = float(raw.train.y.min()), float(raw.train.y.max())  # noisy training targets
    clean_train = sphere(raw.train.x)
    assert low < float(clean_train.min()) and high > float(clean_train.max())  # the noise widens the range
    assert data.info["target_scaling"] == "minmax"
    assert data.info["target_offset"] == low and data.info["target_scale"] == pytest.approx(high - low, rel=1e-6)
    assert (float(data.train.y.min()), float(data.train.y.max())) == (0.0, 1.0)
    torch.testing.assert_close(data.val.y, (raw.val.y - low) / (high - low))
    torch.testing.assert_close(data.test.y, (sphere(data.test.x) - low) / (high - low))  # clean test, same map
    assert float(data.test.y.min()) > 0  # clean values never reach the noisy minimum (below 0)


def test_inputs_kept_as_drawn_by_default_or_scaled_on_the_training_inputs() -> None:
    options = {"name": "rastrigin", "dim": 3, "n_train": 300, "seed": 1}
    raw = BenchmarkFunction(**options).load()
    assert raw.info["scaling"] == "none" and raw.info["offset"] == [0.0] * 3 and raw.info["scale"] == [1.0] * 3
    minmax = BenchmarkFunction(**options, scale="minmax").load()
    low, high = raw.train.x.amin(0), raw.train.x.amax(0)
    assert minmax.train.x.amin(0).tolist() == [0.0] * 3 and minmax.train.x.amax(0).tolist() == [1.0] * 3
    torch.testing.assert_close(minmax.test.x, (raw.test.x - low) / (high - low))
    assert torch.equal(minmax.test.y, raw.test.y)  # targets scaled by their own option only
    standard = BenchmarkFunction(**options, scale="standard").load()
    torch.testing.assert_close(standard.train.x.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(standard.train.x.std(0), torch.ones(3), atol=1e-5, rtol=0)
    restored = standard.val.x * torch.tensor(standard.info["scale"]) + torch.tensor(standard.info["offset"])
    torch.testing.assert_close(restored, raw.val.x)


def test_test_set_does_not_depend_on_n_train_or_noise_and_seeds_matter() -> None:
    a = BenchmarkFunction("ackley", n_train=20, target_noise=0.0, scale_target="none").load()
    b = BenchmarkFunction("ackley", n_train=80, target_noise=0.5, scale_target="none").load()
    c = BenchmarkFunction("ackley", n_train=20, target_noise=0.0, scale_target="none").load()
    d = BenchmarkFunction("ackley", n_train=20, target_noise=0.0, scale_target="none", seed=1).load()
    assert torch.equal(a.test.x, b.test.x) and torch.equal(a.test.y, b.test.y)
    assert torch.equal(a.train.x, b.train.x[:20])  # same inputs, noisy targets
    assert torch.equal(a.train.x, c.train.x) and torch.equal(a.val.y, c.val.y)
    assert not torch.equal(a.train.x, d.train.x) and not torch.equal(a.test.x, d.test.x)


def test_noise_direction_is_shared_across_noise_levels() -> None:
    options = {"name": "sphere", "n_train": 50, "scale_target": "none"}
    small = BenchmarkFunction(**options, target_noise=0.1).load()
    large = BenchmarkFunction(**options, target_noise=0.3).load()
    clean = sphere(small.train.x)
    torch.testing.assert_close(large.train.y - clean, 3 * (small.train.y - clean), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "himmelblau"}, "name must be one of 'sphere', 'rosenbrock', 'rastrigin', 'ackley', 'griewank'"),
        ({"target_noise": -0.1}, r"target_noise must be in \[0, inf\)"),
        ({"name": "rosenbrock", "dim": 1}, r"dim must be in \[2, inf\)"),
        ({"dim": 0}, r"dim must be in \[1, inf\)"),
        ({"domain": (1.0, -1.0)}, "domain must be"),
        ({"domain": (1.0, 1.0)}, "domain must be"),
        ({"n_train": 1}, r"n_train must be in \[2, inf\)"),
        ({"n_test": -1}, r"n_test must be in \[0, inf\)"),
        ({"scale_target": "no"}, "scale_target must be one of 'standard', 'minmax', 'none'; got 'no'"),
        ({"scale_target": False}, "scale_target must be one of 'standard', 'minmax', 'none'; got False"),
        ({"scale": "unit"}, "scale must be one of 'standard', 'minmax', 'none'; got 'unit'"),
        ({"standardize_target": False}, "has no parameter 'standardize_target'; accepted: .*scale, scale_target, seed"),
        ({"noise": 0.1}, "has no parameter 'noise'"),
    ],
)
def test_bad_options_raise_config_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DATASETS.build({"kind": "function", **options})
