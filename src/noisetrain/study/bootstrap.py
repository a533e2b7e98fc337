"""A paired hierarchical bootstrap over seeds and test examples: intervals that cover both sources of variance.

The spread over seeds covers the training randomness (initialisation, data order, noise) but not the
sampling of the test set, which every seed of a study shares unless the data draw follows the seed
(``data.seed: run``). On a 360-image test set a 0.5-point difference is 2 images. Following Bouthillier
et al. 2021, "Accounting for variance in machine learning benchmarks" (MLSys, arXiv:2103.03098), each
bootstrap replicate resamples both: the seeds (with replacement) and the test examples (with replacement;
one resample per distinct test set and replicate, so seeds that share a test set share its resample, as
in the pigeonhole bootstrap for crossed factors, Owen 2007, Annals of Applied Statistics 1(2)). Pairs
(configuration and baseline of the same seed) are resampled together, so a difference's interval is
paired. With ``data.seed: run`` every seed has its own test set, and resampling both levels counts the
test-set variance once more than a seed-only bootstrap would (Ren et al. 2010). Yet the percentile interval over
few seeds is too narrow (3 seeds with seed variance only: about 77% coverage for a nominal 95%; 5 seeds: 87%),
so the report never gives an interval narrower than the t interval over seeds (``report.comparisons``).
Percentile intervals of metrics bounded like accuracy stay inside their bounds.

The per-example values are what ``clean`` stores: correctness (0/1) for accuracy and error, the absolute
error for MAE and RMSE.

Example:
    >>> replicates = example_replicates({"a": correct_a, "b": correct_b}, {"a": "t", "b": "t"}, "accuracy")
    >>> percentile_interval(paired_means(replicates["a"][:, None] - replicates["b"][:, None]))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ..registry import ConfigError

Transform = Callable[[np.ndarray], np.ndarray]
_identity: Transform = lambda x: x  # noqa: E731
AGGREGATES: dict[str, tuple[str, Transform, Transform]] = {
    "accuracy": ("accuracy", _identity, _identity),
    "error": ("accuracy", _identity, lambda mean: 1 - mean),
    "mae": ("mae", _identity, _identity),
    "rmse": ("mae", np.square, np.sqrt),
}
"""metric -> (the metric whose record holds the per-example values, per-example transform f, outer transform g):
the metric on a resample is ``g(weighted mean of f(values))``."""
REPLICATES = 2000
CHUNK = 256
"""Replicates whose example weights are drawn at once (memory: CHUNK x test examples)."""


def supported(metric: str) -> bool:
    """Whether ``metric`` can be computed from stored per-example values."""
    return metric in AGGREGATES


def source(metric: str) -> str:
    """The metric of the ``clean`` record whose per-example values give ``metric``."""
    return AGGREGATES[metric][0]


def example_replicates(
    values: Mapping[str, np.ndarray],
    test_sets: Mapping[str, str],
    metric: str,
    *,
    replicates: int = REPLICATES,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Bootstrap replicates of ``metric`` for each run, over its test examples.

    Args:
        values: run key -> per-example values on the test split, in test order (see ``AGGREGATES``).
        test_sets: run key -> identity of its test set; runs with the same identity must have the same number
            of examples, and share each replicate's resample of them.
        metric: one of ``AGGREGATES`` (accuracy, error, mae, rmse).
        replicates: number of replicates R.
        seed: seed of the resampling; the same inputs and seed give the same replicates.

    Returns:
        run key -> R values of the metric, replicate r of every run computed on resample r of its test set.
    """
    if metric not in AGGREGATES:
        raise ConfigError(f"no per-example bootstrap for metric {metric!r}; supported: {', '.join(AGGREGATES)}")
    _, inner, outer = AGGREGATES[metric]
    generator = np.random.default_rng(seed)
    found: dict[str, np.ndarray] = {}
    for test_set in sorted(set(test_sets[key] for key in values)):
        keys = [key for key in values if test_sets[key] == test_set]
        sizes = {len(values[key]) for key in keys}
        if len(sizes) != 1 or 0 in sizes:
            raise ConfigError(f"runs sharing test set {test_set!r} have per-example values of sizes {sorted(sizes)}")
        matrix = np.stack([inner(np.asarray(values[key], dtype=float)) for key in keys], axis=1)  # N x runs
        n = len(matrix)
        means = np.empty((replicates, len(keys)))
        for start in range(0, replicates, CHUNK):
            rows = min(CHUNK, replicates - start)
            picks = generator.integers(0, n, size=(rows, n)) + n * np.arange(rows)[:, None]
            weights = np.bincount(picks.ravel(), minlength=rows * n).reshape(rows, n)
            means[start : start + rows] = weights @ matrix / n
        for index, key in enumerate(keys):
            found[key] = outer(means[:, index])
    return found


def paired_means(per_seed: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Resample the seeds of per-seed replicates: ``per_seed`` is (R, n), replicate r of each of n seeds (or of
    the per-seed differences of a pair); returns R means, each over n seeds drawn with replacement."""
    per_seed = np.asarray(per_seed, dtype=float)
    if per_seed.ndim != 2 or not per_seed.shape[1]:
        raise ConfigError(f"per_seed must be (replicates, seeds) with at least one seed, got shape {per_seed.shape}")
    count, seeds = per_seed.shape
    picks = np.random.default_rng(seed).integers(0, seeds, size=(count, seeds))
    return per_seed[np.arange(count)[:, None], picks].mean(axis=1)


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates (Efron & Tibshirani 1993, ch. 13)."""
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return float(low), float(high)
