"""The shared argument checks: what passes, and the message (field, allowed values) of what does not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from noisetrain.checks import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_pair,
    check_range,
    check_seed,
)
from noisetrain.data.dataset import DATASETS
from noisetrain.registry import ConfigError


@pytest.mark.parametrize(
    ("value", "kwargs"),
    [
        (0, {}),
        (1, {}),
        (0.5, {"low_open": True, "high_open": True}),
        (np.float32(0.25), {}),
    ],
)
def test_range_accepts_values_inside(value: float, kwargs: dict) -> None:
    check_range("p", value, 0, 1, **kwargs)


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (1.5, {}, r"p must be in \[0, 1\], got 1.5"),
        (-0.1, {}, r"p must be in \[0, 1\], got -0.1"),
        (0, {"low_open": True}, r"p must be in \(0, 1\], got 0"),
        (1, {"high_open": True}, r"p must be in \[0, 1\), got 1"),
        (1.0, {"low_open": True, "high_open": True}, r"p must be in \(0, 1\), got 1.0"),
        (math.nan, {}, r"p must be in \[0, 1\], got nan"),
        ("a", {}, r"p must be a number, got 'a'"),
        (None, {}, r"p must be a number, got None"),
        ([0.5], {}, r"p must be a number, got \[0.5\]"),
        (True, {}, r"p must be a number, got True"),  # in range as 1, but a YAML 'true' is no number
    ],
)
def test_range_rejects_with_interval_or_type(value: object, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_range("p", value, 0, 1, **kwargs)


def test_range_infinite_bounds_are_shown_open() -> None:
    check_range("std", 1e9, 0)
    with pytest.raises(ConfigError, match=r"std must be in \[0, inf\), got -1"):
        check_range("std", -1, 0)
    with pytest.raises(ConfigError, match=r"shift must be in \(-inf, 2\], got 3"):
        check_range("shift", 3, high=2)


def test_number_returns_a_float_and_refuses_bools_strings_and_infinity() -> None:
    value = check_number("eps", 1, 0)
    assert value == 1.0 and isinstance(value, float)
    assert check_number("step", 0.5, 0, 1, high_open=True) == 0.5
    for bad, message in [
        (True, r"eps must be a number, got True"),
        ("0.1", r"eps must be a number, got '0.1'"),
        (math.inf, r"eps must be in \[0, inf\), got inf"),
        (-0.5, r"eps must be in \[0, inf\), got -0.5"),
    ]:
        with pytest.raises(ConfigError, match=message):
            check_number("eps", bad, 0)
    with pytest.raises(ConfigError, match=r"shift must be in \(-inf, inf\), got -inf"):
        check_number("shift", -math.inf)
    with pytest.raises(ConfigError, match=r"step must be in \(0, inf\), got 0"):
        check_number("step", 0, 0, low_open=True)
    with pytest.raises(ConfigError, match=r"val_size must be in \[0, 1\), got 1"):
        check_number("val_size", 1, 0, 1, high_open=True)


def test_int_refuses_bools_and_floats_and_checks_the_closed_interval() -> None:
    check_int("k", 3, 1, 3)
    for bad in (True, 2.0, "2", None):
        with pytest.raises(ConfigError, match=f"k must be an int, got {bad!r}"):
            check_int("k", bad, 1)
    with pytest.raises(ConfigError, match=r"k must be in \[1, 3\], got 4"):
        check_int("k", 4, 1, 3)
    with pytest.raises(ConfigError, match=r"seed must be in \[0, inf\), got -1"):
        check_int("seed", -1, 0)


def test_bool_returns_the_flag_and_refuses_anything_else() -> None:
    assert check_bool("flatten", False) is False
    assert check_bool("flatten", True) is True
    for bad in (0, 1, "yes", None):
        with pytest.raises(ConfigError, match=f"flatten must be true or false, got {bad!r}"):
            check_bool("flatten", bad)


def test_seed_is_none_or_a_non_negative_int() -> None:
    check_seed("PGD.seed", None)
    check_seed("PGD.seed", 0)
    for bad in (-1, True, 1.0, "3"):
        with pytest.raises(ConfigError, match=f"PGD.seed must be a non-negative int or None, got {bad!r}"):
            check_seed("PGD.seed", bad)


def test_choice_lists_the_allowed_values() -> None:
    check_choice("norm", "l2", ("linf", "l2"))
    with pytest.raises(ConfigError, match="norm must be one of 'linf', 'l2'; got 'l1'"):
        check_choice("norm", "l1", ("linf", "l2"))
    with pytest.raises(ConfigError, match="fill must be one of 'zero', None; got 0"):
        check_choice("fill", 0, ("zero", None))


def test_pair_returns_floats_in_order() -> None:
    assert check_pair("bounds", (0, 1)) == (0.0, 1.0)
    assert check_pair("bounds", [-1, 2.5], -1, 3) == (-1.0, 2.5)
    assert check_pair("bounds", (2, 2)) == (2.0, 2.0)  # equal ends pass unless strict


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        ((1, 0), {}, r"bounds must be \(low, high\) with low <= high, got \(1, 0\)"),
        ((2, 2), {"strict": True}, r"bounds must be \(low, high\) with low < high, got \(2, 2\)"),
        (0.5, {}, r"bounds must be a pair \(low, high\), got 0.5"),
        ((0, 1, 2), {}, r"bounds must be a pair \(low, high\), got \(0, 1, 2\)"),
        (("a", 1), {}, r"bounds must be a number, got 'a'"),
        ((0, 2), {"high": 1}, r"bounds must be in \(-inf, 1\], got 2"),
        ((0, 1), {"low": 0, "low_open": True}, r"bounds must be in \(0, inf\), got 0"),
    ],
)
def test_pair_rejects_with_a_message(value: object, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_pair("bounds", value, **kwargs)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "wine", "val_size": "a"}, "val_size must be a number, got 'a'"),
        ({"kind": "text", "test_size": False}, "test_size must be a number, got False"),
        ({"kind": "timeseries", "frequency": ("1", 2)}, "frequency must be a number, got '1'"),
    ],
)
def test_data_sources_report_non_numbers_as_config_errors(spec: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DATASETS.build(spec)
