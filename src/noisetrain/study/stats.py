"""Statistics of a grid study over seeds: per-group summaries, paired comparisons with a baseline, power.

Results come in long format, one row per (group, seed) with a numeric value such as test accuracy.
A comparison pairs a group's seeds with the baseline's and tests the per-seed differences. Methods:

- interval of a mean: Student t, ``mean ± t(n-1) · s / sqrt(n)`` (Student 1908), cut to the metric's bounds
  (an accuracy interval stays in [0, 1]);
- the test: an exact sign-flip permutation test of the mean difference (Fisher 1935, "The Design of
  Experiments", §21; all 2**n sign patterns for n <= 16 pairs, seeded Monte Carlo beyond), the same
  p-values as ``scipy.stats.permutation_test`` with ``permutation_type="samples"``. With n pairs its
  smallest two-sided p is 2 / 2**n (0.25 with 3 seeds, 0.0625 with 5), reported as ``min_p``;
- extra columns: the paired t-test (``scipy.stats.ttest_rel``) and the Wilcoxon signed-rank test (Wilcoxon
  1945): the sign-flip test of the signed ranks (midranks for ties, zero differences dropped), exact up to 16
  pairs with or without ties, as ``scipy.stats.wilcoxon``'s exact p where scipy has one;
- Holm's correction across the compared groups (Holm 1979, "A simple sequentially rejective multiple test
  procedure", Scandinavian Journal of Statistics 6:65-70), for each test;
- effect size: Cohen's d_z, mean difference / standard deviation of the differences (Cohen 1988);
- power: the minimum detectable difference at the observed spread and the seeds needed to detect an
  effect, with the paired t-test's power (noncentral t; Cohen 1988, ch. 2) at level ``1 - confidence``
  and 80% power, and never fewer seeds than the sign-flip test needs to reach that level at all.

A comparison is *testable* only when it can be: fewer than 3 pairs, or differences that are all equal
(no spread to test against; equal up to a relative ``FLAT``, as accuracies k/N of the same k are after
rounding) are not testable, and get no p-value, effect size or power (NaN) and a ``note`` with the reason,
never p = 0 or an infinite effect. Values equal up to ``FLAT`` have std 0 in ``summarise``. Missing values
(NaN) are left out: ``n`` counts the values present, and a pair needs both of its values.

Example:
    >>> compare(results, baseline="none", value="test_accuracy")
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, stats

from ..checks import check_choice, check_number
from ..registry import ConfigError
from ..text import counted

ALTERNATIVES = ("two-sided", "less", "greater")
SUMMARY_COLUMNS = ("n", "mean", "std", "sem", "ci_low", "ci_high")
PAIRED_COLUMNS = (
    "n_pairs", "mean_diff", "ci_low", "ci_high", "p", "min_p", "t_stat", "t_p", "wilcoxon_p", "effect_size",
    "mdd", "seeds_needed", "testable", "note",
)  # fmt: skip
COMPARISON_COLUMNS = (*PAIRED_COLUMNS, "p_holm", "t_p_holm", "wilcoxon_p_holm", "significant", "underpowered")
MIN_PAIRS = 3
"""Fewest pairs a comparison is tested with (2 pairs: the sign-flip test's smallest p is 0.5)."""
EXACT_PAIRS = 16
"""Up to this many pairs the sign-flip test enumerates all 2**n sign patterns; beyond, it samples them."""
RESAMPLES = 100_000
"""Sign patterns the Monte Carlo sign-flip test draws (p = (count + 1) / (RESAMPLES + 1))."""
POWER = 0.8
"""Power at which the minimum detectable difference and the seeds needed are computed."""
MAX_SEEDS = 10_000
"""Beyond this many seeds, ``seeds_needed`` is NaN (the effect is too small to chase with seeds)."""
FLAT = 1e-9
"""Values whose range is at most this share of their largest magnitude are equal: what float rounding leaves of
equal values (3 accuracies of 343/360 have a std of 1e-16, not 0)."""


def summarise(
    frame: pd.DataFrame,
    *,
    group: str = "group",
    value: str = "value",
    confidence: float = 0.95,
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> pd.DataFrame:
    """Mean, standard deviation and Student t confidence interval of ``value`` for every group.

    Args:
        frame: long-format results, one row per run.
        group: column naming the configuration; the output keeps the groups' first-appearance order.
        value: numeric column to summarise (e.g. test accuracy).
        confidence: level of the two-sided interval, in (0, 1).
        bounds: the values the metric can take, e.g. ``(0, 1)`` for an accuracy; intervals are cut to them.

    Returns:
        One row per group with columns ``group`` (named as the ``group`` argument), ``n``, ``mean``,
        ``std`` (ddof=1), ``sem``, ``ci_low``, ``ci_high``; a group of one value has NaN std, sem and interval, and
        one of equal values (``flat``) std 0 and a NaN interval: the seeds give no spread to estimate it from.
    """
    _check_frame(frame, [group, value], value)
    check_number("confidence", confidence, 0, 1, low_open=True, high_open=True)
    rows = []
    for name, values in frame.groupby(group, sort=False)[value]:
        x = values.dropna().to_numpy(float)
        n = len(x)
        mean = x.mean() if n else math.nan
        same = n > 1 and flat(x)
        std = (0.0 if same else x.std(ddof=1)) if n > 1 else math.nan
        sem = std / math.sqrt(n) if n > 1 else math.nan
        low, high = clip_interval(_t_interval(mean, math.nan if same else sem, n - 1, confidence, "two-sided"), bounds)
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
    effect: float | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Compare every group with ``baseline`` over the seeds both share: sign-flip test, Holm, effect size, power.

    A group's values are paired with the baseline's by the ``pair`` column; only pairs present (and not
    NaN) in both count. Per group:

    - ``n_pairs``; ``mean_diff`` (group - baseline) with its Student t interval ``ci_low``, ``ci_high``
      (one-sided, with an infinite end, for a one-sided ``alternative``);
    - ``p``: the sign-flip permutation test of the mean difference; ``min_p``: the smallest p it can give with
      ``n_pairs`` pairs (``2 / 2**n`` two-sided, ``1 / 2**n`` one-sided);
    - ``t_stat``, ``t_p``: the paired t-test; ``wilcoxon_p``: the Wilcoxon signed-rank test (exact for small
      samples without ties, zero differences dropped);
    - ``effect_size``: Cohen's d_z;
    - ``mdd``: the smallest difference the t-test detects with 80% power at the observed spread and
      ``n_pairs``, at Holm's first level, ``1 - confidence`` over the testable comparisons (NaN when the
      sign-flip test cannot reach that level with these pairs);
    - ``seeds_needed``: pairs for 80% power at that level to detect ``effect`` (default: the observed difference);
    - ``testable`` and ``note``: why a comparison is not testable (then every p, d_z and power is NaN), or why
      it is underpowered;
    - ``p_holm``, ``t_p_holm``, ``wilcoxon_p_holm``: Holm-adjusted across the testable groups;
    - ``significant``: testable and ``p_holm < 1 - confidence``;
    - ``underpowered``: testable, not significant, and either ``min_p`` is above the level, or the smallest
      ``min_p`` of the testable comparisons times their number is (Holm's correction can then reach the level
      for none), or the power to detect ``effect`` at Holm's first level is below 80%. Without ``effect`` no
      power is judged: the power to detect the observed difference says no more than p (Hoenig & Heisey 2001,
      "The Abuse of Power").

    Args:
        frame: long-format results, one row per (group, pair).
        baseline: the group every other group is compared with (e.g. the run without noise).
        group: column naming the configuration; the output keeps the groups' first-appearance order.
        pair: column pairing runs across groups (the seed).
        value: numeric column compared (e.g. test accuracy).
        confidence: interval level; ``1 - confidence`` is the significance level.
        alternative: ``"two-sided"``, ``"less"`` or ``"greater"`` (group below/above baseline), for every test.
        effect: the difference worth detecting, in the value's units (> 0), for ``seeds_needed`` and
            ``underpowered``; None: each group's observed difference for ``seeds_needed``, no power judged.
        seed: seed of the Monte Carlo sign-flip test (more than 16 pairs).

    Returns:
        One row per non-baseline group: ``group`` (named as the ``group`` argument) and ``COMPARISON_COLUMNS``.
    """
    _check_frame(frame, [group, pair, value], value)
    check_number("confidence", confidence, 0, 1, low_open=True, high_open=True)
    check_choice("alternative", alternative, ALTERNATIVES)
    if effect is not None:
        check_number("effect", effect, 0, math.inf, low_open=True, high_open=True)
    groups = list(frame[group].unique())
    if baseline not in groups:
        raise ConfigError(f"baseline {baseline!r} is not a value of column {group!r}; groups: {_listing(groups)}")
    duplicated = frame[frame.duplicated([group, pair])]
    if len(duplicated):
        found = _listing(list(zip(duplicated[group], duplicated[pair], strict=True))[:5])
        raise ConfigError(f"each ({group}, {pair}) must appear once, found repeated: {found}")
    wide = frame.pivot(index=pair, columns=group, values=value)
    alpha = 1 - confidence
    pairs = {name: wide[[name, baseline]].dropna().to_numpy(float) for name in groups if name != baseline}
    diffs = {name: both[:, 0] - both[:, 1] for name, both in pairs.items()}
    level = alpha / max(1, sum(untestable(diff) is None for diff in diffs.values()))  # Holm's first step
    rows = [{group: name, **_paired(diff, alpha, level, alternative, effect, seed)} for name, diff in diffs.items()]
    result = pd.DataFrame(rows, columns=[group, *PAIRED_COLUMNS, "underpowered"])
    for column in ("p", "t_p", "wilcoxon_p"):
        result[f"{column}_holm"] = holm(result[column].astype(float))
    testable = result["testable"].astype(bool)
    result["significant"] = testable & (result["p_holm"] < alpha)
    # a significant difference was shown: the power to show it (at the observed difference) is beside the point
    shown = result["significant"] & result["underpowered"].astype(bool)
    result.loc[shown, ["note", "underpowered"]] = ["", False]
    tested = int(testable.sum())
    if tested and result.loc[testable, "min_p"].min() * tested > alpha:  # Holm: the smallest p times m
        for index in result.index[testable]:  # Holm's first level, alpha / m, sets the seeds each one needs
            n = int(result.at[index, "n_pairs"])
            result.at[index, "note"] = holm_floor_note(n, tested, alpha, alternative)
            result.at[index, "underpowered"] = True
    return result[[group, *COMPARISON_COLUMNS]]


def holm_floor_note(n: int, comparisons: int, alpha: float, alternative: str = "two-sided") -> str:
    """Why ``n`` pairs cannot make any of ``comparisons`` significant after Holm's correction: the smallest p,
    ``min_p(n)``, times the number of comparisons is above ``alpha``."""
    floor = min(1.0, min_p(n, alternative) * comparisons)
    return (f"underpowered: with {n} seeds and {comparisons} comparisons, the smallest p after Holm's correction "
            f"is {floor:.2g} > {alpha:.2g}; use at least {fewest_seeds(alpha / comparisons, alternative)} seeds")


def sign_flip_test(
    diff: ArrayLike, *, alternative: str = "two-sided", resamples: int = RESAMPLES, seed: int = 0
) -> float:
    """p-value of the sign-flip permutation test of ``mean(diff) = 0`` (paired differences, Fisher 1935).

    Under the null each difference is as likely positive as negative, so the null distribution of the mean is
    that of ``mean(s * diff)`` over sign patterns ``s``: all ``2**n`` of them for ``n <= EXACT_PAIRS``, else
    ``resamples`` drawn with ``seed`` (p = (count + 1) / (resamples + 1)). Ties within 100 machine epsilons of
    the mean absolute difference count as at least as extreme (so a mean that rounding left near 0 ties with
    its sign-flipped images); two-sided p is twice the smaller one-sided p, capped at 1 (as
    ``scipy.stats.permutation_test``).

    Example:
        >>> sign_flip_test([0.01, 0.02, 0.015, 0.03, 0.01])   # 2 / 2**5 = 0.0625: all five differences positive
    """
    d = np.asarray(diff, dtype=float)
    check_choice("alternative", alternative, ALTERNATIVES)
    if d.ndim != 1 or not len(d):
        raise ConfigError(f"diff must be a non-empty 1-D array, got shape {d.shape}")
    if len(d) <= EXACT_PAIRS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
        adjustment = 0
    else:
        generator = np.random.default_rng(seed)
        signs = generator.choice((1.0, -1.0), size=(resamples, len(d)))
        adjustment = 1
    null = signs @ d / len(d)
    observed = d.mean()
    tolerance = np.abs(d).mean() * np.finfo(float).eps * 100
    less = (np.count_nonzero(null <= observed + tolerance) + adjustment) / (len(null) + adjustment)
    greater = (np.count_nonzero(null >= observed - tolerance) + adjustment) / (len(null) + adjustment)
    p = {"less": less, "greater": greater, "two-sided": 2 * min(less, greater)}[alternative]
    return float(min(p, 1.0))


def min_p(n: int, alternative: str = "two-sided") -> float:
    """The smallest p-value the sign-flip test can give with ``n`` pairs: ``2 / 2**n`` (two-sided) or ``1 / 2**n``
    when exact, and ``2 / (RESAMPLES + 1)`` or ``1 / (RESAMPLES + 1)`` beyond ``EXACT_PAIRS``; NaN for no pairs."""
    if n < 1:
        return math.nan
    patterns = 2.0**n if n <= EXACT_PAIRS else RESAMPLES + 1.0
    return min(1.0, (2.0 if alternative == "two-sided" else 1.0) / patterns)


def power(effect: float, sd: float, n: int, alpha: float = 0.05, alternative: str = "two-sided") -> float:
    """Power of the paired t-test with ``n`` pairs to detect a mean difference ``effect`` when the differences
    have standard deviation ``sd`` (noncentral t; Cohen 1988). NaN below 2 pairs or for ``sd <= 0``."""
    if n < 2 or not sd > 0:
        return math.nan
    df, shift = n - 1, effect / sd * math.sqrt(n)
    if alternative == "two-sided":
        critical = stats.t.ppf(1 - alpha / 2, df)
        return float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))
    critical = stats.t.ppf(1 - alpha, df)
    return float(stats.nct.sf(critical, df, shift if alternative == "greater" else -shift))


def detectable(sd: float, n: int, alpha: float = 0.05, alternative: str = "two-sided") -> float:
    """The minimum detectable difference: the smallest ``|effect|`` that ``n`` pairs with differences of
    standard deviation ``sd`` detect with 80% power (NaN when the sign-flip test cannot reach ``alpha`` with
    ``n`` pairs, or when ``sd`` is not positive)."""
    if n < 2 or not sd > 0 or min_p(n, alternative) > alpha:
        return math.nan
    sign = -1.0 if alternative == "less" else 1.0
    target = lambda effect: power(sign * effect, sd, n, alpha, alternative) - POWER  # noqa: E731
    high = sd
    while target(high) < 0:
        high *= 2
    return float(optimize.brentq(target, 0.0, high, xtol=sd * 1e-9))


def fewest_seeds(alpha: float = 0.05, alternative: str = "two-sided") -> int:
    """The fewest pairs with which the sign-flip test can reach ``alpha`` (6 for 0.05 two-sided), and at least
    ``MIN_PAIRS``."""
    return max(MIN_PAIRS, next(n for n in itertools.count(1) if min_p(n, alternative) <= alpha))


def seeds_needed(effect: float, sd: float, alpha: float = 0.05, alternative: str = "two-sided") -> float:
    """Pairs (seeds) needed to detect the mean difference ``effect`` with 80% power when the differences have
    standard deviation ``sd``, and never fewer than ``fewest_seeds``. NaN for no effect, an effect against a
    one-sided ``alternative`` or more than ``MAX_SEEDS`` seeds; ``fewest_seeds`` when ``sd`` is 0."""
    if not math.isfinite(effect) or effect == 0:
        return math.nan
    if alternative != "two-sided" and (effect > 0) != (alternative == "greater"):
        return math.nan
    low = high = fewest_seeds(alpha, alternative)
    if not sd > 0:
        return float(low)
    if power(effect, sd, MAX_SEEDS, alpha, alternative) < POWER:
        return math.nan
    while power(effect, sd, high, alpha, alternative) < POWER:
        low, high = high, min(2 * high, MAX_SEEDS)
    while low < high:  # power grows with n: the first n that reaches POWER
        middle = (low + high) // 2
        low, high = (middle + 1, high) if power(effect, sd, middle, alpha, alternative) < POWER else (low, middle)
    return float(high)


def wilcoxon(diff: np.ndarray, alternative: str = "two-sided", seed: int = 0) -> float:
    """The Wilcoxon signed-rank p of paired differences: the sign-flip test of their signed ranks (midranks for
    tied magnitudes, zero differences dropped; 1 when all are zero). Exact up to ``EXACT_PAIRS`` pairs with ties
    too, where the normal approximation gives p = 0.042 for five positive differences with a tie, below their
    smallest possible p, 0.0625."""
    nonzero = diff[diff != 0]
    if not len(nonzero):
        return 1.0
    signed_ranks = np.sign(nonzero) * stats.rankdata(np.abs(nonzero))
    return sign_flip_test(signed_ranks, alternative=alternative, seed=seed)


def untestable(diff: np.ndarray) -> str | None:
    """Why paired differences cannot be tested, or None: fewer than ``MIN_PAIRS`` pairs, or no spread."""
    if len(diff) < MIN_PAIRS:
        return (f"not testable: {counted(len(diff), 'paired seed')}; a test needs at least {MIN_PAIRS} "
                f"(with 2 the smallest possible p is 0.5)")  # fmt: skip
    if flat(diff):
        return f"not testable: every seed gives the same difference ({diff[0]:.4g}), so a test has nothing to weigh"
    return None


def flat(values: np.ndarray) -> bool:
    """Whether ``values`` are all equal up to float rounding: their range is at most ``FLAT`` of their largest
    magnitude."""
    return bool(np.ptp(values) <= FLAT * np.abs(values).max())


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


def clip_interval(interval: tuple[float, float], bounds: tuple[float, float]) -> tuple[float, float]:
    """``(low, high)`` cut to ``bounds`` (NaN ends stay NaN)."""
    low, high = interval
    return (max(low, bounds[0]) if not math.isnan(low) else low, min(high, bounds[1]) if not math.isnan(high) else high)


def _paired(
    diff: np.ndarray, alpha: float, level: float, alternative: str, effect: float | None, seed: int
) -> dict[str, object]:
    """The ``PAIRED_COLUMNS`` and ``underpowered`` of the paired differences ``diff``: tested at ``alpha``, the
    power figures at ``level`` (Holm's first step, ``alpha`` over the comparisons)."""
    n, nan = len(diff), math.nan
    mean = diff.mean() if n else nan
    sd = diff.std(ddof=1) if n > 1 else nan
    spread = n > 1 and not flat(diff)  # equal differences: the seeds give no spread to estimate an interval from
    low, high = _t_interval(mean, sd / math.sqrt(n) if spread else nan, n - 1, 1 - alpha, alternative)
    smallest = min_p(n, alternative)
    row = {"n_pairs": n, "mean_diff": mean, "ci_low": low, "ci_high": high, "min_p": smallest}
    reason = untestable(diff)
    if reason is not None:
        nans = dict.fromkeys(("p", "t_stat", "t_p", "wilcoxon_p", "effect_size", "mdd", "seeds_needed"), nan)
        return {**row, **nans, "testable": False, "note": reason, "underpowered": False}
    t = stats.ttest_rel(diff, np.zeros(n), alternative=alternative)
    wanted = effect if effect is not None else abs(mean)
    wanted = -wanted if alternative == "less" else wanted
    note = ""
    if smallest > alpha:
        note = (f"underpowered: with {n} seeds the sign-flip test's smallest p is {smallest:.2g} > {alpha:.2g}; "
                f"use at least {fewest_seeds(alpha, alternative)} seeds")  # fmt: skip
    elif effect is not None and (reached := power(wanted, sd, n, level, alternative)) < POWER:
        note = f"underpowered: {reached:.0%} power to detect the chosen effect ({effect:.3g})"
    return {
        **row, "p": sign_flip_test(diff, alternative=alternative, seed=seed), "t_stat": float(t.statistic),
        "t_p": float(t.pvalue), "wilcoxon_p": wilcoxon(diff, alternative, seed), "effect_size": mean / sd,
        "mdd": detectable(sd, n, level, alternative), "seeds_needed": seeds_needed(wanted, sd, level, alternative),
        "testable": True, "note": note, "underpowered": bool(note),
    }  # fmt: skip


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
