"""Key numbers, failed checks and the records' DataFrame."""

import math

import pytest

from noisetrain.evaluate import Record, failed_checks, key_numbers, records_frame
from noisetrain.evaluate.keys import Key, show, show_difference, show_interval


def records() -> list[Record]:
    return [
        Record("clean", "accuracy", 0.97861, {}, (0.961, 0.989), 360),
        Record("clean", "error", 0.02139, {}, (0.011, 0.039), 360),
        Record("clean", "nll", 0.08123, {}, None, 360),
        Record("adversarial", "accuracy", 0.97861, {"attack": "none", "eps": 0.0}, (0.961, 0.989), 360),
        Record("adversarial", "accuracy", 0.5, {"attack": "pgd", "eps": 0.0313725}, (0.45, 0.55), 360),
        Record("adversarial", "check", 0.0, {"check": "monotone_in_eps", "rises": [0.1]}),
        Record("adversarial", "check", 1.0, {"check": "gradient"}),
        Record("calibration", "ece", 0.031, {"temperature_scaled": False, "num_bins": 15}),
        Record("calibration", "ece", 0.012, {"temperature_scaled": True, "num_bins": 15}),
        Record("calibration", "adaptive_ece", 0.034, {"temperature_scaled": False, "num_bins": 15}),
        Record("calibration", "temperature", 1.4321, {"fit_on": "val"}),
        Record("mystery", "score", 3.0),
    ]


def test_key_numbers_follow_each_measures_declaration() -> None:
    rows = key_numbers(records())
    assert rows == [
        ("clean", "accuracy", "97.86%", "[96.10, 98.90]"),
        ("clean", "NLL", "0.0812", ""),
        ("adversarial", "pgd eps=0.0314", "50.00%", "[45.00, 55.00]"),  # eps 0 and the checks are not key numbers
        ("calibration", "ECE", "3.10%", ""),
        ("calibration", "ECE after TS", "1.20%", ""),
        ("calibration", "adaptive ECE", "3.40%", ""),
        ("calibration", "T", "1.43", ""),
        ("mystery", "(no key numbers: see the records)", "", ""),
    ]


def test_failed_checks_name_the_check_and_its_detail() -> None:
    assert failed_checks(records()) == ["adversarial: monotone_in_eps failed (rises: [0.1])"]


def test_records_frame_has_a_column_per_setting_key() -> None:
    frame = records_frame(records())
    assert list(frame.columns[:7]) == ["measure", "metric", "value", "ci_low", "ci_high", "n", "setting"]
    assert {"setting.attack", "setting.eps", "setting.temperature_scaled"} <= set(frame.columns)
    row = frame[frame["setting.attack"] == "pgd"].iloc[0]
    assert row["value"] == 0.5 and row["ci_low"] == 0.45 and row["setting"] == '{"attack": "pgd", "eps": 0.0313725}'
    assert math.isnan(frame.loc[2, "ci_low"])


@pytest.mark.parametrize(
    ("metric", "value", "shown", "difference"),
    [
        ("accuracy", 0.97861, "97.86%", "+97.86 pt"),
        ("accuracy", -0.0093, "-0.93%", "-0.93 pt"),
        ("nll", 0.0812345, "0.0812", "+0.0812"),
        ("parameters", 85002.0, "85,002", "+85,002"),
        ("mce", 1.23456, "1.23", "+1.23"),
        ("hessian_top_eigenvalue", 4.4941, "4.49", "+4.49"),
        ("accuracy", math.nan, "not testable", "not testable"),
    ],
)
def test_values_are_shown_by_kind(metric: str, value: float, shown: str, difference: str) -> None:
    assert show(metric, value) == shown and show_difference(metric, value) == difference


def test_intervals_and_key_names() -> None:
    assert show_interval("accuracy", 0.9, 0.95) == "[90.00, 95.00]" and show_interval("nll", 0.1, 0.25) == "[0.1, 0.25]"
    assert show_interval("accuracy", math.nan, 0.9) == ""
    assert show_interval("accuracy", -4e-6, 0.0052) == "[0.00, 0.52]"  # not -0.00
    key = Key("accuracy", "{attack} eps={eps:.3g}", lambda s: s["eps"] > 0)
    assert key.matches("accuracy", {"eps": 0.1}) and not key.matches("accuracy", {"eps": 0})
    assert not key.matches("check", {"eps": 0.1}) and key.name({"attack": "fgsm", "eps": 0.0313}) == "fgsm eps=0.0313"
    assert key.name({"eps": "big"}) == "accuracy eps=big"  # a setting the label does not fit
