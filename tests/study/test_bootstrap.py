"""The hierarchical bootstrap: variances from each level match their formulas; shared test sets are resampled
together; bounds hold; the same seed gives the same replicates."""

from __future__ import annotations

import numpy as np
import pytest

from noisetrain.registry import ConfigError
from noisetrain.study.bootstrap import example_replicates, paired_means, percentile_interval, supported


def correct(n: int, accuracy: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < accuracy


def test_example_level_variance_is_the_binomial_variance() -> None:
    values = correct(400, 0.9, 0)
    replicates = example_replicates({"a": values}, {"a": "t"}, "accuracy", replicates=4000)["a"]
    p = values.mean()
    assert replicates.mean() == pytest.approx(p, abs=0.002)
    assert replicates.std() == pytest.approx(np.sqrt(p * (1 - p) / 400), rel=0.06)
    error = example_replicates({"a": values}, {"a": "t"}, "error", replicates=4000)["a"]
    np.testing.assert_allclose(error, 1 - replicates)  # same seed, same resamples


def test_runs_sharing_a_test_set_share_each_resample() -> None:
    a = correct(300, 0.9, 1)
    same = example_replicates({"a": a, "b": a.copy()}, {"a": "t", "b": "t"}, "accuracy")
    np.testing.assert_array_equal(same["a"], same["b"])  # a difference of identical predictions is exactly 0
    apart = example_replicates({"a": a, "b": a.copy()}, {"a": "t0", "b": "t1"}, "accuracy")
    assert np.std(apart["a"] - apart["b"]) == pytest.approx(np.sqrt(2 * 0.9 * 0.1 / 300), rel=0.1)


def test_paired_difference_sees_only_the_examples_where_predictions_differ() -> None:
    a = correct(1000, 0.9, 2)
    b = a.copy()
    b[:10] = ~b[:10]  # the two models differ on 10 examples
    replicates = example_replicates({"a": a, "b": b}, {"a": "t", "b": "t"}, "accuracy", replicates=4000)
    diff = replicates["a"] - replicates["b"]
    # the paired difference is (sum of +-1 over the 10 differing examples) / N: its spread is sqrt(10) / N
    assert diff.std() == pytest.approx(np.sqrt(10) / 1000, rel=0.08)


def test_seed_level_resampling_matches_the_variance_of_a_mean() -> None:
    generator = np.random.default_rng(3)
    seeds = generator.normal(0.0, 1.0, 8)
    per_seed = np.tile(seeds, (20_000, 1))  # no example-level noise: replicates are the seed values
    means = paired_means(per_seed, seed=1)
    assert means.mean() == pytest.approx(seeds.mean(), abs=0.01)
    assert means.std() == pytest.approx(seeds.std(ddof=0) / np.sqrt(8), rel=0.03)  # the plug-in variance


def test_bounded_metrics_stay_in_bounds_and_degenerate_cases() -> None:
    all_right = np.ones(50, dtype=bool)
    replicates = example_replicates({"a": all_right}, {"a": "t"}, "accuracy")["a"]
    assert percentile_interval(paired_means(replicates[:, None])) == (1.0, 1.0)
    mixed = example_replicates({"a": correct(50, 0.97, 4)}, {"a": "t"}, "accuracy")["a"]
    low, high = percentile_interval(paired_means(mixed[:, None]))
    assert 0 <= low < high <= 1


def test_regression_metrics_from_absolute_errors() -> None:
    errors = np.full(100, 0.5)
    replicates = example_replicates({"a": errors}, {"a": "t"}, "rmse")
    np.testing.assert_allclose(replicates["a"], 0.5)
    spread = np.abs(np.random.default_rng(5).normal(size=500))
    rmse = example_replicates({"a": spread}, {"a": "t"}, "rmse")["a"]
    mae = example_replicates({"a": spread}, {"a": "t"}, "mae")["a"]
    assert rmse.mean() == pytest.approx(np.sqrt(np.mean(spread**2)), rel=0.01)
    assert mae.mean() == pytest.approx(spread.mean(), rel=0.01)
    assert supported("rmse") and not supported("nll")


def test_same_seed_same_replicates_and_errors() -> None:
    values = {"a": correct(64, 0.8, 6), "b": correct(64, 0.7, 7)}
    sets = {"a": "t", "b": "t"}
    first = example_replicates(values, sets, "accuracy", seed=9)
    np.testing.assert_array_equal(first["b"], example_replicates(values, sets, "accuracy", seed=9)["b"])
    assert not np.array_equal(first["b"], example_replicates(values, sets, "accuracy", seed=10)["b"])
    with pytest.raises(ConfigError, match="no per-example bootstrap for metric 'nll'; supported: accuracy, error"):
        example_replicates(values, sets, "nll")
    with pytest.raises(ConfigError, match=r"sharing test set 't' have per-example values of sizes \[10, 64\]"):
        example_replicates({**values, "c": np.ones(10)}, {**sets, "c": "t"}, "accuracy")
    with pytest.raises(ConfigError, match=r"per_seed must be \(replicates, seeds\)"):
        paired_means(np.ones(5))
