"""Statistics of a grid study over seeds: per-group summaries and paired comparisons with a baseline.

Results come in long format, one row per (group, seed) with a numeric value such as test accuracy.
Methods and sources:

- confidence intervals: Student t interval of a mean, ``mean ± t(n-1) · s / sqrt(n)``
  (Student 1908, "The probable error of a mean");
- paired t-test of a group against the baseline over shared seeds (``scipy.stats.ttest_rel``);
- Wilcoxon signed-rank test of the same pairs (Wilcoxon 1945, "Individual comparisons by ranking
  methods"; ``scipy.stats.wilcoxon``);
- Holm correction across the compared groups (Holm 1979, "A simple sequentially rejective multiple
  test procedure", Scandinavian Journal of Statistics 6:65-70);
- effect size: Cohen's d_z for paired samples, mean difference / standard deviation of the differences
  (Cohen 1988, "Statistical Power Analysis for the Behavioral Sciences").

Missing values (NaN) are left out: ``n`` counts the values present, and a pair needs both of its values.

Example:
    >>> compare(results, baseline="none", value="test_accuracy")
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from ..checks import check_choice, check_number
from ..registry import ConfigError

ALTERNATIVES = ("two-sided", "less", "greater")
SUMMARY_COLUMNS = ("n", "mean", "std", "sem", "ci_low", "ci_high")
PAIRED_COLUMNS = ("n_pairs", "mean_diff", "ci_low", "ci_high", "t_stat", "t_p", "wilcoxon_p", "effect_size")
COMPARISON_COLUMNS = (*PAIRED_COLUMNS[:-1], "t_p_holm", "wilcoxon_p_holm", "effect_size", "significant")


def summarise(
    frame: pd.DataFrame, *, group: str = "group", value: str = "value", confidence: float = 0.95
) -> pd.DataFrame:
    """Mean, standard deviation and Student t confidence interval of ``value`` for every group.

    Args:
        frame: long-format results, one row per run.
        group: column naming the configuration; the output keeps the groups' first-appearance order.
        value: numeric column to summarise (e.g. test accuracy).
        confidence: level of the two-sided interval, in (0, 1).

    Returns:
        One row per group with columns ``group`` (named as the ``group`` argument), ``n``, ``mean``,
        ``std`` (ddof=1), ``sem``, ``ci_low``, ``ci_high``; a group of one value has NaN std, sem and interval.
    """
    _check_frame(frame, [group, value], value)
    check_number("confidence", confidence, 0, 1, low_open=True, high_open=True)
    rows = []
    for name, values in frame.groupby(group, sort=False)[value]:
        x = values.dropna().to_numpy(float)
        n = len(x)
        mean = x.mean() if n else math.nan
        std = x.std(ddof=1) if n > 1 else math.nan
        sem = std / math.sqrt(n) if n > 1 else math.nan
        low, high = _t_interval(mean, sem, n - 1, confidence, "two-sided")
        rows.append((name, n, mean, std, sem, low, high))
    return pd.DataFrame(rows, columns=[group, *SUMMARY_COLUMNS])


def compare(
    frame: pd.DataFrame,
    *,
    baseline: object,
    group: str = "group",
    pair: str = "seed",
    value: str = "value",
    confidence: float = 0.95,
    alternative: str = "two-sided",
) -> pd.DataFrame:
    """Compare every group with ``baseline`` over the seeds both share: paired tests, Holm correction, effect size.

    A group's values are paired with the baseline's by the ``pair`` column; only pairs present (and not
    NaN) in both count. Per group: ``n_pairs``; ``mean_diff`` (group - baseline) with its Student t interval
    (``ci_low``, ``ci_high``; one-sided, with an infinite end, for a one-sided ``alternative``); the paired
    t-test ``t_stat``, ``t_p`` (``scipy.stats.ttest_rel``); the Wilcoxon signed-rank ``wilcoxon_p``
    (``scipy.stats.wilcoxon``, defaults: exact for small samples without ties, zero differences dropped;
    with 3 seeds the smallest two-sided p is 2 / 2**3 = 0.25, so Wilcoxon cannot reject at 0.05 below
    6 seeds); Holm-adjusted ``t_p_holm`` and ``wilcoxon_p_holm`` across the compared groups; Cohen's d_z
    ``effect_size`` (mean / sd of the differences: 0 when both are 0, +-inf when only the sd is 0); and
    ``significant`` (``t_p_holm < 1 - confidence``).

    Fewer than 2 pairs give NaN statistics. Differences that are all zero give t_stat 0, both p-values
    1.0 and effect size 0 (no evidence of a difference); equal non-zero ones give t_stat and effect size
    +-inf and t_p 0 (1 when the alternative points the other way), where scipy would warn.

    Args:
        frame: long-format results, one row per (group, pair).
        baseline: the group every other group is compared with (e.g. the run without noise).
        group: column naming the configuration; the output keeps the groups' first-appearance order.
        pair: column pairing runs across groups (the seed).
        value: numeric column compared (e.g. test accuracy).
        confidence: interval level; ``1 - confidence`` is the significance level of ``significant``.
        alternative: ``"two-sided"``, ``"less"`` or ``"greater"`` (group below/above baseline), for both tests.

    Returns:
        One row per non-baseline group: ``group`` (named as the ``group`` argument) and the columns above.
    """
    _check_frame(frame, [group, pair, value], value)
    check_number("confidence", confidence, 0, 1, low_open=True, high_open=True)
    check_choice("alternative", alternative, ALTERNATIVES)
    groups = list(frame[group].unique())
    if baseline not in groups:
        raise ConfigError(f"baseline {baseline!r} is not a value of column {group!r}; groups: {_listing(groups)}")
    duplicated = frame[frame.duplicated([group, pair])]
    if len(duplicated):
        found = _listing(list(zip(duplicated[group], duplicated[pair], strict=True))[:5])
        raise ConfigError(f"each ({group}, {pair}) must appear once, found repeated: {found}")
    wide = frame.pivot(index=pair, columns=group, values=value)
    rows = []
    for name in groups:
        if name != baseline:
            both = wide[[name, baseline]].dropna().to_numpy(float)
            rows.append((name, *_paired(both[:, 0], both[:, 1], confidence, alternative)))
    result = pd.DataFrame(rows, columns=[group, *PAIRED_COLUMNS])
    result["t_p_holm"] = holm(result["t_p"])
    result["wilcoxon_p_holm"] = holm(result["wilcoxon_p"])
    result["significant"] = result["t_p_holm"] < 1 - confidence
    return result[[group, *COMPARISON_COLUMNS]]


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values (Holm 1979, "A simple sequentially rejective multiple test procedure").

    The i-th smallest of m p-values becomes ``max_{j <= i} (m - j + 1) p_(j)``, capped at 1; rejecting where
    the adjusted p is below alpha controls the family-wise error rate at alpha. NaNs pass through and do not
    count towards m.

    Args:
        pvalues: 1-D p-values in [0, 1] (NaN allowed).

    Returns:
        Adjusted p-values, shape of ``pvalues``, in the same order.

    Example:
        >>> holm([0.01, 0.04, 0.03, 0.20])  # -> [0.04, 0.09, 0.09, 0.20]
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ConfigError(f"pvalues must be 1-D, got shape {p.shape}")
    present = ~np.isnan(p)
    if np.any((p[present] < 0) | (p[present] > 1)):
        raise ConfigError(f"pvalues must be in [0, 1] or NaN, got {p.tolist()}")
    order = np.argsort(p[present], kind="stable")
    m = len(order)
    stepped = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[present][order]), 1.0)
    adjusted = np.full_like(p, np.nan)
    adjusted[np.flatnonzero(present)[order]] = stepped
    return adjusted


def _paired(
    a: np.ndarray, b: np.ndarray, confidence: float, alternative: str
) -> tuple[int, float, float, float, float, float, float, float]:
    """n_pairs, mean_diff, ci_low, ci_high, t_stat, t_p, wilcoxon_p, effect_size of the pairs ``a - b``."""
    diff = a - b
    n = len(diff)
    if n < 2:
        nan = math.nan
        return n, diff.mean() if n else nan, nan, nan, nan, nan, nan, nan
    mean, sd = diff.mean(), diff.std(ddof=1)
    low, high = _t_interval(mean, sd / math.sqrt(n), n - 1, confidence, alternative)
    wilcoxon_p = stats.wilcoxon(a, b, alternative=alternative).pvalue if diff.any() else 1.0
    if sd > 0:
        t = stats.ttest_rel(a, b, alternative=alternative)
        t_stat, t_p, effect = float(t.statistic), float(t.pvalue), mean / sd
    elif mean == 0:  # all differences zero: no evidence of a difference
        t_stat, t_p, effect = 0.0, 1.0, 0.0
    else:  # all differences equal, not zero: t is +-inf, its p is 0 unless the alternative points the other way
        t_stat = effect = math.copysign(math.inf, mean)
        t_p = 0.0 if alternative == "two-sided" or (alternative == "greater") == (mean > 0) else 1.0
    return n, mean, low, high, t_stat, t_p, float(wilcoxon_p), effect


def _t_interval(mean: float, sem: float, df: int, confidence: float, alternative: str) -> tuple[float, float]:
    """Student t interval of a mean with standard error ``sem``; one-sided ones have an infinite end."""
    if df < 1:
        return math.nan, math.nan
    if alternative == "two-sided":
        half = stats.t.ppf((1 + confidence) / 2, df) * sem
        return mean - half, mean + half
    half = stats.t.ppf(confidence, df) * sem
    return (mean - half, math.inf) if alternative == "greater" else (-math.inf, mean + half)


def _check_frame(frame: pd.DataFrame, columns: list[str], value: str) -> None:
    """ConfigError naming the missing columns and the available ones, or a non-numeric ``value`` column."""
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"frame has no column {_listing(missing)}; columns: {_listing(list(frame.columns))}")
    if not pd.api.types.is_numeric_dtype(frame[value]):
        raise ConfigError(f"value column {value!r} must be numeric, got dtype {frame[value].dtype}")


def _listing(items: Sequence[object]) -> str:
    """Items as a comma-separated list of their reprs, for error messages."""
    return ", ".join(map(repr, items))
