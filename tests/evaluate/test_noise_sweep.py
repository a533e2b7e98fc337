import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from noisetrain.data import load_data
from noisetrain.evaluate.clean import clean
from noisetrain.evaluate.noise_sweep import KINDS, corrupt, noise_sweep, resolve_clip, trapezoid_auc
from noisetrain.registry import ConfigError

from testkit import toy_data


@pytest.fixture(scope="module")
def digits():
    """sklearn's 8x8 digits as images in [0, 1] (bundled with sklearn, offline)."""
    return load_data({"kind": "digits", "images": True})


@pytest.fixture(scope="module")
def model(digits):
    """An MLP fitted to the digits by 100 full-batch Adam steps (about 0.2 s)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(100):
        optimizer.zero_grad()
        F.cross_entropy(net(digits.train.x), digits.train.y).backward()
        optimizer.step()
    return net


def curves(records):
    accuracy = {(r.setting["kind"], r.setting["strength"]): r for r in records if r.metric == "accuracy"}
    auc = {r.setting["kind"]: r.value for r in records if r.metric == "auc"}
    return accuracy, auc


def test_strength_zero_is_clean_and_accuracy_falls_with_strength(digits, model):
    records = noise_sweep(model, digits, kinds=KINDS, batch_size=100)
    accuracy, auc = curves(records)
    clean_accuracy = next(r.value for r in clean(model, digits) if r.metric == "accuracy")
    assert clean_accuracy > 0.9
    for kind in KINDS:
        grid = sorted(s for k, s in accuracy if k == kind)
        values = [accuracy[kind, s].value for s in grid]
        assert grid[0] == 0.0 and values[0] == clean_accuracy
        assert values[-1] < values[0] - 0.05, kind  # the strongest noise hurts
        assert all(b <= a + 0.02 for a, b in itertools.pairwise(values)), kind  # falls, up to draw noise
        assert values[-1] < auc[kind] < values[0]
        for s in grid:
            low, high = accuracy[kind, s].ci
            assert low <= accuracy[kind, s].value <= high and accuracy[kind, s].n == len(digits.test)


def test_same_seed_same_numbers_and_repeats_average(digits, model):
    options = {"kinds": ("gaussian",), "strengths": {"gaussian": (0.3,)}}
    first = noise_sweep(model, digits, seed=1, **options)
    assert first == noise_sweep(model, digits, seed=1, **options)
    assert first != noise_sweep(model, digits, seed=2, **options)
    both = noise_sweep(model, digits, seed=1, repeats=2, **options)[0]
    assert both.value * 2 * len(digits.test) == pytest.approx(round(both.value * 2 * len(digits.test)))


def test_evaluates_in_eval_mode_and_restores_flags(digits):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 10)).train()
    records = noise_sweep(net, digits, strengths={"gaussian": (0.0, 0.0001)})
    assert net.training and net[1].training
    accuracy, _ = curves(records)
    assert accuracy["gaussian", 0.0].value == next(r.value for r in clean(net, digits) if r.metric == "accuracy")


def test_trapezoid_auc_hand_values():
    assert trapezoid_auc([0.0, 0.5, 1.0], [1.0, 0.5, 0.5]) == pytest.approx(0.625)
    assert trapezoid_auc([0.0, 2.0], [1.0, 0.0]) == pytest.approx(0.5)
    assert trapezoid_auc([0.1, 0.2, 0.4], [0.9, 0.9, 0.9]) == pytest.approx(0.9)
    assert trapezoid_auc([0.3], [0.7]) == 0.7


def test_corrupt_ops():
    x = torch.full((2000, 10), 0.5)
    g = torch.Generator().manual_seed(0)
    noise = dict(clip=None, extremes=(0.0, 1.0), generator=g)
    for kind in KINDS:
        assert corrupt(x, kind, 0.0, **noise) is x
    assert (corrupt(x, "gaussian", 0.2, **noise) - x).std().item() == pytest.approx(0.2, rel=0.03)
    uniform = corrupt(x, "uniform", 0.2, **noise) - x  # half-width 0.2: U(-0.2, 0.2)
    assert uniform.abs().max().item() <= 0.2 and uniform.abs().max().item() > 0.199
    assert uniform.std().item() == pytest.approx(0.4 / 12**0.5, rel=0.03)
    assert (corrupt(x, "mask", 0.3, **noise) == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    impulse = corrupt(x, "salt_pepper", 0.2, clip=None, extremes=(-3.0, 3.0), generator=g)
    assert (impulse == -3).float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert (impulse == 3).float().mean().item() == pytest.approx(0.1, abs=0.01)
    clipped = corrupt(x, "gaussian", 1.0, clip=(0.0, 1.0), extremes=(0.0, 1.0), generator=g)
    assert clipped.min().item() == 0.0 and clipped.max().item() == 1.0


def test_clip_defaults_to_the_data_range(digits):
    assert resolve_clip("auto", digits) == (0.0, 1.0)
    assert resolve_clip("auto", toy_data()) is None  # standardised tabular data: no clipping
    assert resolve_clip(None, digits) is None
    assert resolve_clip([-1, 1], digits) == (-1.0, 1.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kinds": ("gaussian", "speckle")}, "kinds must be one of 'gaussian', 'uniform', 'salt_pepper', 'mask'"),
        ({"kinds": ()}, "kinds must be a non-empty list"),
        ({"kinds": ("mask", "mask")}, "repeated"),
        ({"strengths": {"gaussian": (0.0, -0.1)}}, "strength for 'gaussian' must be in"),
        ({"kinds": ("mask",), "strengths": {"mask": (0.5, 1.5)}}, r"strength for 'mask' must be in \[0, 1\]"),
        ({"strengths": {"gaussian": ()}}, "non-empty list"),
        ({"strengths": 0.1}, "strengths must be a list or map kinds"),
        ({"strengths": {"uniform": (0.1,)}}, "not in kinds"),
        ({"repeats": 0}, "repeats"),
        ({"clip": (1, 0)}, "clip"),
        ({"clip": "sometimes"}, "clip"),
    ],
)
def test_bad_options(digits, options, message):
    with pytest.raises(ConfigError, match=message):
        noise_sweep(nn.Flatten(), digits, **options)


def test_needs_classification():
    with pytest.raises(ConfigError, match="classification"):
        noise_sweep(nn.Linear(8, 1), toy_data(task="regression"))
