"""Statistics of a study checked against scipy on known numbers, and Holm against a hand-worked example."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from noisetrain.registry import ConfigError
from noisetrain.study.stats import (
    POWER,
    compare,
    detectable,
    fewest_seeds,
    holm,
    min_p,
    power,
    seeds_needed,
    sign_flip_test,
    summarise,
    wilcoxon,
)

BASE = np.array([0.90, 0.92, 0.91, 0.89, 0.93])
NOISY = np.array([0.92, 0.95, 0.91, 0.93, 0.94])  # differences 0.02, 0.03, 0.00, 0.04, 0.01
WORSE = np.array([0.85, 0.90, 0.86, 0.88, 0.87])


def signed_rank_p(diff: np.ndarray, alternative: str = "two-sided") -> float:
    """Wilcoxon's p by scipy's exact permutation test of the signed (mid)ranks, zero differences dropped."""
    nonzero = diff[diff != 0]
    signed_ranks = np.sign(nonzero) * stats.rankdata(np.abs(nonzero))
    test = (signed_ranks,)
    return stats.permutation_test(test, np.mean, permutation_type="samples", n_resamples=math.inf,
                                  alternative=alternative).pvalue  # fmt: skip


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


def test_summarise_cuts_intervals_to_the_metric_bounds() -> None:
    frame = long_frame(high=np.array([0.99, 1.0, 0.97]))
    free = summarise(frame).iloc[0]
    bounded = summarise(frame, bounds=(0.0, 1.0)).iloc[0]
    assert free["ci_high"] > 1.0  # the t interval leaves [0, 1] ...
    assert bounded["ci_high"] == 1.0 and bounded["ci_low"] == pytest.approx(free["ci_low"])  # ... the bounded one not


def test_compare_matches_scipy_tests() -> None:
    frame = long_frame(none=BASE, noisy=NOISY, worse=WORSE)
    table = compare(frame, baseline="none")
    assert list(table.columns) == [
        "group", "n_pairs", "mean_diff", "ci_low", "ci_high", "p", "min_p", "t_stat", "t_p", "wilcoxon_p",
        "effect_size", "mdd", "seeds_needed", "testable", "note", "p_holm", "t_p_holm", "wilcoxon_p_holm",
        "significant", "underpowered",
    ]  # fmt: skip
    assert table["group"].tolist() == ["noisy", "worse"]
    for row, values in zip(table.itertuples(), (NOISY, WORSE), strict=True):
        t = stats.ttest_rel(values, BASE)
        diff = values - BASE
        exact = stats.permutation_test((diff,), np.mean, permutation_type="samples", n_resamples=math.inf)
        assert row.n_pairs == 5 and row.testable
        assert row.mean_diff == pytest.approx(diff.mean())
        assert row.p == pytest.approx(exact.pvalue)
        assert row.min_p == 2 / 2**5
        assert (row.t_stat, row.t_p) == pytest.approx((t.statistic, t.pvalue))
        assert (row.ci_low, row.ci_high) == pytest.approx(tuple(t.confidence_interval(0.95)))
        assert row.wilcoxon_p == pytest.approx(signed_rank_p(diff))
        assert row.effect_size == pytest.approx(diff.mean() / diff.std(ddof=1))
    np.testing.assert_allclose(table["p_holm"], holm(table["p"]))
    np.testing.assert_allclose(table["t_p_holm"], holm(table["t_p"]))
    np.testing.assert_allclose(table["wilcoxon_p_holm"], holm(table["wilcoxon_p"]))
    # 5 seeds cannot reach p < 0.05 with the sign-flip test: nothing is significant, everything underpowered
    assert not table["significant"].any() and table["underpowered"].all()
    # with Holm over the 2 comparisons: 2 / 2**5 * 2 > 0.05, and 7 seeds reach 0.05 / 2 (2 / 2**7 <= 0.025 < 2 / 2**6)
    note = "with 5 seeds and 2 comparisons, the smallest p after Holm's correction is 0.12 > 0.05; use at least 7 seeds"
    assert table["note"].str.contains(note, regex=False).all()
    assert table["mdd"].isna().all()


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
@pytest.mark.parametrize("n", [3, 4, 7, 12])
def test_sign_flip_test_equals_scipy_exact_permutation_test(alternative: str, n: int) -> None:
    generator = np.random.default_rng(n)
    for diff in (generator.normal(0.01, 0.02, n), np.round(generator.normal(0, 2, n)), np.r_[np.zeros(n - 2), 1, -1]):
        ours = sign_flip_test(diff, alternative=alternative)
        theirs = stats.permutation_test(
            (diff,), np.mean, permutation_type="samples", alternative=alternative, n_resamples=math.inf
        ).pvalue
        assert ours == pytest.approx(theirs, abs=1e-12)


def test_sign_flip_test_monte_carlo_beyond_16_pairs_is_seeded_and_close_to_exact() -> None:
    diff = np.random.default_rng(1).normal(0.3, 1.0, 20)
    p = sign_flip_test(diff, seed=3)
    assert p == sign_flip_test(diff, seed=3) != sign_flip_test(diff, seed=4)
    # the exact p of 20 pairs (2**20 patterns) computed here in chunks, against the 100k-draw estimate
    signs = 1 - 2 * ((np.arange(2**20)[:, None] >> np.arange(20)) & 1)
    null = signs @ diff / 20
    exact = 2 * min(np.mean(null >= diff.mean() - 1e-12), np.mean(null <= diff.mean() + 1e-12))
    assert p == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / 100_000))


def test_min_p_is_reached_when_every_difference_has_the_same_sign() -> None:
    for n in (3, 5, 6, 10):
        diff = np.linspace(0.01, 0.02, n)
        assert sign_flip_test(diff) == pytest.approx(min_p(n)) == pytest.approx(2 / 2**n)
        assert sign_flip_test(diff, alternative="greater") == pytest.approx(min_p(n, "greater"))
    assert fewest_seeds(0.05) == 6 and fewest_seeds(0.05, "greater") == 5 and fewest_seeds(0.5) == 3


def test_compare_pairs_by_seed_not_by_row_order() -> None:
    frame = long_frame(none=BASE, noisy=NOISY)
    # shuffle the rows and drop seed 2 of the noisy group: pairs are matched on 'seed', four remain
    shuffled = frame.drop(index=7).sample(frac=1.0, random_state=0)
    row = compare(shuffled, baseline="none").iloc[0]
    keep = [0, 1, 3, 4]
    assert row["n_pairs"] == 4
    assert row["t_p"] == pytest.approx(stats.ttest_rel(NOISY[keep], BASE[keep]).pvalue)
    assert row["p"] == pytest.approx(sign_flip_test(NOISY[keep] - BASE[keep]))


def test_compare_one_sided_alternative_gives_one_sided_interval_and_test() -> None:
    frame = long_frame(none=BASE, worse=WORSE)
    row = compare(frame, baseline="none", alternative="less", confidence=0.9).iloc[0]
    t = stats.ttest_rel(WORSE, BASE, alternative="less")
    assert row["t_p"] == pytest.approx(t.pvalue)
    assert row["p"] == pytest.approx(1 / 32)  # every difference negative: the smallest one-sided p
    assert row["wilcoxon_p"] == pytest.approx(signed_rank_p(WORSE - BASE, "less"))  # tied differences: exact too
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(t.confidence_interval(0.9)))
    assert row["ci_low"] == -math.inf


def test_degenerate_comparisons_are_not_testable_never_p_zero_or_infinite_effect() -> None:
    frame = long_frame(
        none=BASE, same=BASE, lonely=BASE[:1], two=BASE[:2] + 0.05, shifted=BASE + 0.005571,
        three=BASE[:3] + np.array([0.1, 0.2, 0.3]),
    )  # fmt: skip
    table = compare(frame, baseline="none").set_index("group")
    statistics = ["p", "p_holm", "t_stat", "t_p", "wilcoxon_p", "effect_size", "mdd", "seeds_needed"]
    for name, reason in [
        ("same", "every seed gives the same difference (0)"),
        ("shifted", "every seed gives the same difference (0.005571)"),
        ("lonely", "1 paired seed; a test needs at least 3"),
        ("two", "2 paired seeds; a test needs at least 3 (with 2 the smallest possible p is 0.5)"),
    ]:
        row = table.loc[name]
        assert not row["testable"] and not row["significant"] and not row["underpowered"]
        assert row[statistics].isna().all(), name
        assert reason in row["note"] and row["note"].startswith("not testable")
    assert table.loc["shifted", "mean_diff"] == pytest.approx(0.005571)
    assert table.loc["lonely", "n_pairs"] == 1 and math.isnan(table.loc["lonely", "ci_low"])
    three = table.loc["three"]
    assert three["testable"] and three["p"] == pytest.approx(0.25) == three["min_p"]
    assert three["wilcoxon_p"] == pytest.approx(0.25)
    assert three["p_holm"] == pytest.approx(0.25)  # Holm counts only the testable comparisons: one here


def test_ties_and_zero_differences_count_as_in_scipy() -> None:
    frame = long_frame(none=np.zeros(6), tied=np.array([0.0, 0.01, 0.01, -0.01, 0.01, 0.0]))
    row = compare(frame, baseline="none").iloc[0]
    diff = np.array([0.0, 0.01, 0.01, -0.01, 0.01, 0.0])
    exact = stats.permutation_test((diff,), np.mean, permutation_type="samples", n_resamples=math.inf)
    assert row["testable"] and row["p"] == pytest.approx(exact.pvalue)


def test_power_matches_a_simulated_paired_t_test() -> None:
    generator = np.random.default_rng(0)
    diffs = generator.normal(0.5, 1.0, size=(20_000, 10))
    rejected = stats.ttest_1samp(diffs, 0.0, axis=1).pvalue < 0.05
    assert power(0.5, 1.0, 10) == pytest.approx(rejected.mean(), abs=0.01)
    assert power(0.5, 1.0, 10, alternative="greater") > power(0.5, 1.0, 10) > power(0.5, 1.0, 10, alternative="less")
    assert math.isnan(power(0.5, 0.0, 10)) and math.isnan(power(0.5, 1.0, 1))


def test_minimum_detectable_difference_and_seeds_needed() -> None:
    mdd = detectable(1.0, 10)
    assert power(mdd, 1.0, 10) == pytest.approx(POWER, abs=1e-6)
    assert detectable(2.0, 10) == pytest.approx(2 * mdd)  # scales with the spread
    assert math.isnan(detectable(1.0, 5))  # 5 pairs: the sign-flip test cannot reach 0.05
    n = seeds_needed(0.5, 1.0)
    assert power(0.5, 1.0, int(n)) >= POWER > power(0.5, 1.0, int(n) - 1)
    assert seeds_needed(10.0, 1.0) == 6  # a huge effect still needs the sign-flip test's 6 seeds
    assert seeds_needed(0.5, 0.0) == 6
    assert math.isnan(seeds_needed(0.0, 1.0)) and math.isnan(seeds_needed(1e-6, 1.0))  # > 10,000 seeds
    assert math.isnan(seeds_needed(-0.5, 1.0, alternative="greater"))


def test_compare_judges_power_for_a_chosen_effect_at_holms_first_level() -> None:
    generator = np.random.default_rng(2)
    base = generator.normal(0.9, 0.01, 12)
    big, small = base + generator.normal(0.05, 0.01, 12), base + generator.normal(0.002, 0.01, 12)
    frame = long_frame(none=base, big=big, small=small)
    table = compare(frame, baseline="none").set_index("group")
    big, small = table.loc["big"], table.loc["small"]
    assert big["significant"] and not big["underpowered"] and big["note"] == ""
    # no effect chosen: the power to detect the observed difference is not judged (it restates p)
    assert not small["underpowered"] and small["note"] == ""
    sd = float(np.std(frame_diff(frame, "small"), ddof=1))
    assert small["mdd"] == pytest.approx(detectable(sd, 12, 0.05 / 2))  # at Holm's first level: 2 comparisons
    assert small["mdd"] > detectable(sd, 12, 0.05) > abs(small["mean_diff"])
    assert small["seeds_needed"] == seeds_needed(abs(small["mean_diff"]), sd, 0.05 / 2) > 12
    chosen = compare(frame, baseline="none", effect=0.05).set_index("group")
    assert not chosen.loc["small", "underpowered"]  # 12 seeds detect a 0.05 difference at this spread
    assert chosen.loc["small", "seeds_needed"] <= 12
    tiny = compare(frame, baseline="none", effect=0.005).set_index("group").loc["small"]
    assert tiny["underpowered"] and tiny["note"].startswith("underpowered: ")
    assert tiny["note"] == f"underpowered: {power(0.005, sd, 12, 0.025):.0%} power to detect the chosen effect (0.005)"


def frame_diff(frame: pd.DataFrame, name: str) -> np.ndarray:
    """The paired differences of group ``name`` minus ``none`` in a ``long_frame``."""
    wide = frame.pivot(index="seed", columns="group", values="value")
    return (wide[name] - wide["none"]).to_numpy()


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


def test_comparisons_that_holms_correction_cannot_make_significant_are_underpowered() -> None:
    rng = np.random.default_rng(0)
    rows = [("base", seed, 0.3 + rng.normal(0, 0.01)) for seed in range(6)]
    rows += [(f"g{i}", seed, 0.9 + rng.normal(0, 0.01)) for i in range(3) for seed in range(6)]
    frame = pd.DataFrame(rows, columns=["group", "seed", "value"])
    three = compare(frame, baseline="base", group="group", pair="seed")
    assert three["p"].tolist() == [pytest.approx(2 / 2**6)] * 3  # as small as 6 seeds allow: 0.031 < 0.05
    assert three["p_holm"].tolist() == [pytest.approx(3 * 2 / 2**6)] * 3  # 0.094: none can pass 0.05
    assert three["underpowered"].all() and not three["significant"].any()
    assert three["note"].iloc[0] == ("underpowered: with 6 seeds and 3 comparisons, the smallest p after Holm's "
                                     "correction is 0.094 > 0.05; use at least 7 seeds")  # fmt: skip
    one = compare(frame[frame["group"].isin(["base", "g0"])], baseline="base", group="group", pair="seed")
    assert one["significant"].all() and not one["underpowered"].any()  # one comparison: 0.031 passes


@pytest.mark.parametrize(
    ("diff", "expected"),
    [
        (np.array([1, 1, 3, 4, 5]) / 360, 2 / 2**5),  # ties: all positive, the smallest p of 5 pairs (0.042 before)
        (np.array([1, 2, 3, 4, 5, 0]) / 360, 2 / 2**5),  # a zero difference is dropped
        (np.array([0.01, 0.01, -0.02, 0.0, 0.04, 0.06]), 0.3125),  # scipy 1.17's exact p
        (np.zeros(4), 1.0),
    ],
)
def test_wilcoxon_is_exact_with_ties_and_zeros(diff, expected) -> None:
    assert wilcoxon(diff) == pytest.approx(expected)
    with_no_ties = np.array([0.011, 0.023, -0.002, 0.041, 0.035, 0.017, -0.006])
    assert wilcoxon(with_no_ties) == pytest.approx(stats.wilcoxon(with_no_ties, method="exact").pvalue)


def test_a_difference_that_rounding_alone_varies_is_not_testable() -> None:
    """Accuracies k/N of every seed shifted by the same 3 images: equal differences up to the last bits (sd 6e-17)
    are not testable, not "significant" with p = 0 and an effect size of 1e14."""
    correct = np.array([340, 342, 338, 345, 341, 339])
    frame = long_frame(none=correct / 360, shifted=(correct + 3) / 360)
    assert np.ptp((correct + 3) / 360 - correct / 360) > 0  # the rounding left a spread
    row = compare(frame, baseline="none").iloc[0]
    assert not row["testable"] and not row["significant"] and math.isnan(row["p"]) and math.isnan(row["effect_size"])
    assert row["note"].startswith("not testable: every seed gives the same difference (0.008333)")
    assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])  # no [d, d]: no spread to estimate one from
    same = summarise(long_frame(none=np.full(3, 343 / 360) + np.array([0, 1e-17, -1e-17]))).iloc[0]
    assert same["std"] == 0 and math.isnan(same["ci_low"]) and math.isnan(same["ci_high"])  # not a zero-width one


def test_a_significant_comparison_is_never_called_underpowered() -> None:
    """A (10 seeds) ranks first under Holm, so B (6 seeds, p = 2 / 2**6) is tested at the level itself: significant,
    though its own smallest p times the 2 comparisons is above 0.05; and no power note on a shown difference."""
    from noisetrain.study.stats import power

    base = 0.5 + np.random.default_rng(1).normal(0, 0.01, 10)
    small = np.array([0.001, 0.002, 0.03, 0.001, 0.05, 0.004])  # all positive, uneven: low observed power
    frame = long_frame(base=base, a=base + np.linspace(0.1, 0.2, 10), b=base[:6] + small)
    table = compare(frame, baseline="base").set_index("group")
    assert table.loc["b", "p"] == pytest.approx(2 / 2**6) and table.loc["b", "p_holm"] == pytest.approx(2 / 2**6)
    assert table["significant"].all() and not table["underpowered"].any() and (table["note"] == "").all()
    assert power(small.mean(), small.std(ddof=1), 6) < POWER  # what the dropped note said
