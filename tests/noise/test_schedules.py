import math

import pytest

from noisetrain.noise.schedules import (
    SCHEDULES,
    Anneal,
    Constant,
    Cosine,
    Exponential,
    Linear,
    Step,
    Warmup,
    build_schedule,
)
from noisetrain.registry import ConfigError


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (Constant(0.3), {0.0: 0.3, 0.5: 0.3, 1.0: 0.3}),
        (Linear(0.2, 0.0), {0.0: 0.2, 0.25: 0.15, 1.0: 0.0}),
        (Cosine(1.0, 0.0), {0.0: 1.0, 0.5: 0.5, 1.0: 0.0}),
        (Exponential(1.0, 0.01), {0.0: 1.0, 0.5: 0.1, 1.0: 0.01}),
        (Step([0.1, 0.05, 0.0], [0.5, 0.75]), {0.0: 0.1, 0.49: 0.1, 0.5: 0.05, 0.8: 0.0}),
        (Warmup(0.1, warmup=0.2), {0.0: 0.0, 0.1: 0.05, 0.2: 0.1, 1.0: 0.1}),
        (Anneal(1.0, gamma=0.5, rate=3.0), {0.0: 1.0, 1.0: 0.5}),
    ],
)
def test_values(schedule, expected):
    for progress, value in expected.items():
        assert schedule(progress) == pytest.approx(value)


def test_progress_is_clamped():
    assert Linear(0.0, 1.0)(-1.0) == 0.0
    assert Linear(0.0, 1.0)(2.0) == 1.0


def test_anneal_is_large_early_small_late():
    schedule = Anneal(0.3)
    values = [schedule(p / 10) for p in range(11)]
    assert values == sorted(values, reverse=True)
    assert values[-1] < values[0] / 5


@pytest.mark.parametrize("kind", SCHEDULES.names())
def test_round_trip_through_config(kind):
    examples = {
        "constant": {"value": 0.1},
        "linear": {"start": 0.1, "end": 0.0},
        "cosine": {"start": 0.1, "end": 0.01},
        "exponential": {"start": 0.1, "end": 0.01},
        "step": {"values": [0.1, 0.0], "milestones": [0.5]},
        "warmup": {"value": 0.1, "warmup": 0.3},
        "anneal": {"start": 0.1, "gamma": 0.55, "rate": 10.0},
    }
    schedule = build_schedule({"kind": kind, **examples[kind]})
    rebuilt = build_schedule(schedule.to_config())
    assert rebuilt == schedule
    assert all(rebuilt(p / 7) == schedule(p / 7) for p in range(8))
    assert kind in repr(schedule).lower()


def test_bounds():
    assert Linear(0.3, 0.1).bounds() == pytest.approx((0.1, 0.3))
    assert Cosine(0.0, 2.0).bounds() == pytest.approx((0.0, 2.0))
    assert Step([0.0, 1.5, 0.0], [0.501, 0.51]).bounds() == (0.0, 1.5)  # held between two sampled points


def test_a_step_value_out_of_range_is_refused_however_briefly_it_holds():
    from noisetrain.noise.labels import LabelNoise

    with pytest.raises(ConfigError, match=r"LabelNoise\.rate must be in \[0, 1\]"):
        LabelNoise(rate=Step([0.0, 1.5, 0.0], [0.501, 0.51]), num_classes=10)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "nope"}, "known kinds: anneal, constant, cosine"),
        ({"kind": "linear", "start": 0.1}, "linear"),
        ({"kind": "linear", "start": 0.1, "end": 0, "slope": 2}, "no parameter 'slope'; accepted: start, end"),
        ({"kind": "exponential", "start": 0.0, "end": 1.0}, r"exponential schedule: start must be in \(0, inf\)"),
        ({"kind": "cosine", "start": True}, "cosine schedule: start must be a number, got True"),
        ({"kind": "linear", "start": "0.5", "end": 0}, "linear schedule: start must be a number, got .0.5."),
        ({"kind": "anneal", "start": 1, "gamma": -1}, r"anneal schedule: gamma must be in \[0, inf\)"),
        ({"kind": "step", "values": [1, 2], "milestones": [1.5]}, r"step schedule: milestones\[0\] must be in"),
        ({"kind": "constant", "value": float("nan")}, "constant schedule: value must be in"),
        ({"kind": "step", "values": [1, 2], "milestones": [0.2, 0.4]}, "one more value than milestones"),
        ({"kind": "step", "values": [1, 2, 3], "milestones": [0.6, 0.4]}, "increasing"),
        ({"kind": "warmup", "value": 1, "warmup": 0}, "warmup must be in"),
        ("fast", "must be a number or a schedule spec"),
    ],
)
def test_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        build_schedule(spec)


def test_numbers_pass_through():
    assert build_schedule(3) == 3.0 and isinstance(build_schedule(3), float)
    assert math.isinf(build_schedule(math.inf))
