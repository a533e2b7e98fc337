"""Scaling of features and targets with training statistics: standard, minmax, none; constants; errors."""

from __future__ import annotations

import pytest
import torch

from noisetrain.data import SCALINGS, Split, scale_splits
from noisetrain.registry import ConfigError


def splits() -> tuple[Split, Split]:
    """Training features with spread 3 around 5, a constant 2 and a negative range; a test split outside them."""
    g = torch.Generator().manual_seed(0)
    x = torch.cat(
        [torch.randn(200, 1, generator=g) * 3 + 5, torch.full((200, 1), 2.0), -torch.rand(200, 1, generator=g)], 1
    )
    train = Split(x, torch.linspace(10.0, 30.0, 200))
    test = Split(torch.tensor([[5.0, 4.0, 1.0], [100.0, 2.0, -0.5]]), torch.tensor([0.0, 40.0]))
    return train, test


def test_methods() -> None:
    assert SCALINGS == ("standard", "minmax", "none")


def test_standard_gives_training_mean_zero_std_one_and_only_centres_constants() -> None:
    train, test = splits()
    (train_s, test_s), info = scale_splits("standard", train, test)
    varying = train_s.x[:, [0, 2]]
    torch.testing.assert_close(varying.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(varying.std(0), torch.ones(2), atol=1e-5, rtol=0)
    assert torch.equal(train_s.x[:, 1], torch.zeros(200)) and float(test_s.x[0, 1]) == 2.0  # shifted, not divided
    assert info["scaling"] == "standard"
    assert info["offset"] == pytest.approx(train.x.mean(0).tolist(), abs=1e-6)
    assert info["scale"] == pytest.approx([float(train.x[:, 0].std()), 1.0, float(train.x[:, 2].std())], rel=1e-6)
    for original, scaled in ((train, train_s), (test, test_s)):  # original = scaled * scale + offset
        restored = scaled.x * torch.tensor(info["scale"]) + torch.tensor(info["offset"])
        torch.testing.assert_close(restored, original.x, rtol=1e-5, atol=1e-4)
        assert torch.equal(scaled.y, original.y)  # features only


def test_minmax_maps_training_features_exactly_to_the_unit_interval() -> None:
    train, test = splits()
    (train_s, test_s), info = scale_splits("minmax", train, test)
    assert train_s.x[:, [0, 2]].amin(0).tolist() == [0.0, 0.0]
    assert train_s.x[:, [0, 2]].amax(0).tolist() == [1.0, 1.0]
    assert torch.equal(train_s.x[:, 1], torch.zeros(200))  # constant: shifted to 0, scale 1
    low, high = train.x.amin(0), train.x.amax(0)
    assert info == {
        "scaling": "minmax",
        "offset": low.tolist(),
        "scale": [float(high[0] - low[0]), 1.0, float(high[2] - low[2])],
    }
    # The same affine map on the test split, which may leave [0, 1].
    expected = (test.x - low) / torch.tensor(info["scale"])
    torch.testing.assert_close(test_s.x, expected)
    assert float(test_s.x[1, 0]) > 1 and float(test_s.x[0, 2]) > 1 and float(test_s.x[0, 1]) == 2.0


def test_none_leaves_values_unchanged_and_records_the_identity() -> None:
    train, test = splits()
    (train_s, test_s), info = scale_splits("none", train, test)
    assert torch.equal(train_s.x, train.x) and torch.equal(test_s.x, test.x)
    assert info == {"scaling": "none", "offset": [0.0] * 3, "scale": [1.0] * 3}
    (_, test_t), target_info = scale_splits("none", train, test, targets=True)
    assert torch.equal(test_t.y, test.y)
    assert target_info == {"target_scaling": "none", "target_offset": 0.0, "target_scale": 1.0}


@pytest.mark.parametrize("method", ["standard", "minmax"])
def test_targets_get_one_offset_and_scale_from_the_training_split(method: str) -> None:
    train, test = splits()
    (train_s, test_s), info = scale_splits(method, train, test, targets=True)
    assert torch.equal(train_s.x, train.x)  # targets only
    assert info["target_scaling"] == method
    if method == "standard":
        assert info["target_offset"] == pytest.approx(20.0)
        assert info["target_scale"] == pytest.approx(float(train.y.std()))
        assert float(train_s.y.mean()) == pytest.approx(0, abs=1e-6) and float(train_s.y.std()) == pytest.approx(1)
    else:
        assert (info["target_offset"], info["target_scale"]) == (10.0, 20.0)
        assert (float(train_s.y.min()), float(train_s.y.max())) == (0.0, 1.0)
        assert test_s.y.tolist() == [-0.5, 1.5]  # (0 - 10) / 20 and (40 - 10) / 20: outside [0, 1]
    restored = test_s.y * info["target_scale"] + info["target_offset"]
    torch.testing.assert_close(restored, test.y, rtol=1e-6, atol=1e-5)


def test_statistics_per_channel_over_dims() -> None:
    x = torch.stack([torch.arange(12.0).reshape(3, 4), 10 * torch.arange(12.0).reshape(3, 4)], 1)  # (3, 2, 4)
    (train_s,), info = scale_splits("minmax", Split(x, torch.zeros(3)), dims=(0, 2))
    assert info["offset"] == [0.0, 0.0] and info["scale"] == [11.0, 110.0]
    assert float(train_s.x.amin()) == 0.0 and train_s.x.amax(dim=(0, 2)).tolist() == [1.0, 1.0]


def test_constant_targets_and_large_constant_features_are_only_shifted() -> None:
    train = Split(torch.full((50, 1), 1000.1), torch.full((50,), 3.7))
    for method in ("standard", "minmax"):
        (scaled,), info = scale_splits(method, train)
        assert info["scale"] == [1.0] and float(scaled.x.abs().max()) < 1e-3
        (scaled,), info = scale_splits(method, train, targets=True)
        assert info["target_scale"] == 1.0 and float(scaled.y.abs().max()) < 1e-5


def test_a_single_training_sample_is_only_shifted() -> None:
    (scaled,), info = scale_splits("standard", Split(torch.tensor([[4.0, -1.0]]), torch.zeros(1)))
    assert info["scale"] == [1.0, 1.0] and scaled.x.tolist() == [[0.0, 0.0]]


def test_bad_methods_and_integer_targets_are_refused_with_the_field_named() -> None:
    train, _ = splits()
    with pytest.raises(ConfigError, match="scale must be one of 'standard', 'minmax', 'none'; got 'zscore'"):
        scale_splits("zscore", train)
    with pytest.raises(ConfigError, match="scale_target must be one of 'standard', 'minmax', 'none'; got True"):
        scale_splits(True, train, targets=True, field="scale_target")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"scale_target: only float targets can be scaled, got torch\.int64"):
        scale_splits(
            "standard", Split(train.x, torch.zeros(200, dtype=torch.int64)), targets=True, field="scale_target"
        )
