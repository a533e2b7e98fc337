"""Statistics of a study checked against scipy on known numbers, and Holm against a hand-worked example."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from noisetrain.registry import ConfigError
from noisetrain.study.stats import compare, holm, summarise

BASE = np.array([0.90, 0.92, 0.91, 0.89, 0.93])
NOISY = np.array([0.92, 0.95, 0.91, 0.93, 0.94])  # differences 0.02, 0.03, 0.00, 0.04, 0.01
WORSE = np.array([0.85, 0.90, 0.86, 0.88, 0.87])


def long_frame(**groups: np.ndarray) -> pd.DataFrame:
    """One row per (group, seed), seeds 0.. in order, with an extra column carried along."""
    rows = [(name, seed, v, "mlp") for name, values in groups.items() for seed, v in enumerate(values)]
    return pd.DataFrame(rows, columns=["group", "seed", "value", "model"])


def test_summarise_matches_scipy_t_interval_and_keeps_group_order() -> None:
    frame = long_frame(zeta=NOISY, none=BASE)
    table = summarise(frame, confidence=0.9)
    assert list(table.columns) == ["group", "n", "mean", "std", "sem", "ci_low", "ci_high"]
    assert table["group"].tolist() == ["zeta", "none"]
    row = table.iloc[0]
    sem = stats.sem(NOISY)
    low, high = stats.t.interval(0.9, len(NOISY) - 1, loc=NOISY.mean(), scale=sem)
    assert row["n"] == 5
    assert row["mean"] == pytest.approx(0.93)
    assert row["std"] == pytest.approx(np.std(NOISY, ddof=1))
    assert row["sem"] == pytest.approx(sem)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))


def test_summarise_single_value_gives_nan_spread_and_drops_missing_values() -> None:
    frame = pd.DataFrame({"config": ["a", "b", "b", "b"], "acc": [0.5, 0.6, math.nan, 0.8]})
    table = summarise(frame, group="config", value="acc").set_index("config")
    assert table.loc["a", "n"] == 1 and table.loc["a", "mean"] == 0.5
    assert table.loc["a", ["std", "sem", "ci_low", "ci_high"]].isna().all()
    assert table.loc["b", "n"] == 2 and table.loc["b", "mean"] == pytest.approx(0.7)
    assert table.loc["b", "std"] == pytest.approx(math.sqrt(0.02))


def test_compare_matches_scipy_paired_tests() -> None:
    frame = long_frame(none=BASE, noisy=NOISY, worse=WORSE)
    table = compare(frame, baseline="none")
    assert list(table.columns) == [
        "group", "n_pairs", "mean_diff", "ci_low", "ci_high", "t_stat", "t_p", "wilcoxon_p",
        "t_p_holm", "wilcoxon_p_holm", "effect_size", "significant",
    ]  # fmt: skip
    assert table["group"].tolist() == ["noisy", "worse"]
    for row, values in zip(table.itertuples(), (NOISY, WORSE), strict=True):
        t = stats.ttest_rel(values, BASE)
        diff = values - BASE
        assert row.n_pairs == 5
        assert row.mean_diff == pytest.approx(diff.mean())
        assert (row.t_stat, row.t_p) == pytest.approx((t.statistic, t.pvalue))
        assert (row.ci_low, row.ci_high) == pytest.approx(tuple(t.confidence_interval(0.95)))
        assert row.wilcoxon_p == pytest.approx(stats.wilcoxon(values, BASE).pvalue)
        assert row.effect_size == pytest.approx(diff.mean() / diff.std(ddof=1))
    np.testing.assert_allclose(table["t_p_holm"], holm(table["t_p"]))
    np.testing.assert_allclose(table["wilcoxon_p_holm"], holm(table["wilcoxon_p"]))
    assert table["significant"].tolist() == (table["t_p_holm"] < 0.05).tolist()


def test_compare_pairs_by_seed_not_by_row_order() -> None:
    frame = long_frame(none=BASE, noisy=NOISY)
    # shuffle the rows and drop seed 2 of the noisy group: pairs are matched on 'seed', four remain
    shuffled = frame.drop(index=7).sample(frac=1.0, random_state=0)
    row = compare(shuffled, baseline="none").iloc[0]
    keep = [0, 1, 3, 4]
    assert row["n_pairs"] == 4
    assert row["t_p"] == pytest.approx(stats.ttest_rel(NOISY[keep], BASE[keep]).pvalue)
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(NOISY[keep], BASE[keep]).pvalue)


def test_compare_one_sided_alternative_gives_one_sided_interval() -> None:
    frame = long_frame(none=BASE, worse=WORSE)
    row = compare(frame, baseline="none", alternative="less", confidence=0.9).iloc[0]
    t = stats.ttest_rel(WORSE, BASE, alternative="less")
    assert row["t_p"] == pytest.approx(t.pvalue)
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(WORSE, BASE, alternative="less").pvalue)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(t.confidence_interval(0.9)))
    assert row["ci_low"] == -math.inf


def test_compare_degenerate_differences() -> None:
    frame = long_frame(none=BASE, same=BASE, lonely=BASE[:1], three=BASE[:3] + np.array([0.1, 0.2, 0.3]))
    table = compare(frame, baseline="none").set_index("group")
    same, lonely, three = (table.loc[name] for name in ("same", "lonely", "three"))
    assert (same["t_stat"], same["t_p"], same["wilcoxon_p"], same["effect_size"]) == (0.0, 1.0, 1.0, 0.0)
    assert (same["ci_low"], same["ci_high"]) == (0.0, 0.0)
    assert lonely["n_pairs"] == 1 and lonely["mean_diff"] == 0.0
    assert lonely[["t_p", "wilcoxon_p", "t_p_holm", "wilcoxon_p_holm", "effect_size"]].isna().all()
    assert not lonely["significant"]
    assert three["wilcoxon_p"] == pytest.approx(0.25)  # the smallest two-sided exact p with 3 seeds
    # Holm counts only the groups with a p-value: same and three
    present = table["t_p"].dropna()
    np.testing.assert_allclose(table["t_p_holm"].dropna(), holm(present.to_numpy()))


def test_compare_zero_sd_nonzero_mean_gives_infinite_effect() -> None:
    frame = long_frame(none=np.zeros(4), shifted=np.ones(4))
    row = compare(frame, baseline="none").iloc[0]
    assert (row["mean_diff"], row["t_stat"], row["t_p"], row["effect_size"]) == (1.0, math.inf, 0.0, math.inf)
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(np.ones(4)).pvalue)
    assert compare(frame, baseline="none", alternative="less").iloc[0]["t_p"] == 1.0
    assert compare(frame, baseline="shifted").iloc[0]["effect_size"] == -math.inf


def test_holm_hand_worked_example() -> None:
    # sorted 0.01, 0.03, 0.04, 0.20 times 4, 3, 2, 1 = 0.04, 0.09, 0.08, 0.20; running max 0.04, 0.09, 0.09, 0.20
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.20]), [0.04, 0.09, 0.09, 0.20])


def test_holm_nan_passthrough_cap_and_edge_cases() -> None:
    np.testing.assert_allclose(holm([math.nan, 0.01, 0.04, math.nan, 0.03, 0.20]),
                               [math.nan, 0.04, 0.09, math.nan, 0.09, 0.20])  # fmt: skip
    np.testing.assert_allclose(holm([0.5, 0.6, 0.9]), [1.0, 1.0, 1.0])
    assert holm([]).shape == (0,)
    assert np.isnan(holm([math.nan])).all()
    adjusted = holm([0.02, 0.02, 0.001])
    np.testing.assert_allclose(adjusted, [0.04, 0.04, 0.003])


def test_holm_matches_statsmodels_when_installed() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(0).uniform(0, 0.2, size=12)
    np.testing.assert_allclose(holm(p), multitest.multipletests(p, method="holm")[1])


def test_errors_name_the_field_and_the_allowed_values() -> None:
    frame = long_frame(none=BASE, noisy=NOISY)
    with pytest.raises(ConfigError, match=r"baseline 'clean' .*'group'.*'none', 'noisy'"):
        compare(frame, baseline="clean")
    with pytest.raises(ConfigError, match=r"no column 'accuracy'; columns: 'group', 'seed', 'value', 'model'"):
        compare(frame, baseline="none", value="accuracy")
    with pytest.raises(ConfigError, match=r"no column 'run'"):
        summarise(frame, group="run")
    with pytest.raises(ConfigError, match=r"\(group, seed\) must appear once.*\('noisy', 1\)"):
        compare(pd.concat([frame, frame.iloc[[6]]]), baseline="none")
    with pytest.raises(ConfigError, match="value column 'model' must be numeric"):
        summarise(frame, value="model")
    with pytest.raises(ConfigError, match="confidence"):
        summarise(frame, confidence=95)
    with pytest.raises(ConfigError, match="alternative must be one of 'two-sided', 'less', 'greater'"):
        compare(frame, baseline="none", alternative="bigger")
    with pytest.raises(ConfigError, match=r"pvalues must be in \[0, 1\]"):
        holm([0.1, 1.5])
    with pytest.raises(ConfigError, match="pvalues must be 1-D"):
        holm([[0.1, 0.2]])
