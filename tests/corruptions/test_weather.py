"""Tests of the weather corruptions (snow, frost, fog, spatter) under fixed seeds."""

from __future__ import annotations

import pytest
import torch

from noisetrain.corruptions import weather
from noisetrain.corruptions.base import CORRUPTIONS, corrupt
from noisetrain.data import Dataset, Split
from noisetrain.evaluate import evaluate

NAMES = ("snow", "frost", "fog", "spatter")
SHAPES = ((2, 3, 32, 32), (2, 1, 28, 28), (1, 3, 40, 24))


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sample_image(shape: tuple[int, ...] = (4, 3, 32, 32)) -> torch.Tensor:
    """Smooth gradients plus a little texture, in [0.1, 0.9]."""
    n, c, h, w = shape
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 + 0.3 * torch.sin(6 * xx * yy)])[:c]
    return (base + 0.1 * torch.rand(n, c, h, w, generator=seeded(123))).clamp(0.1, 0.9)


def mean_abs_change(name: str, severity: int, x: torch.Tensor, seed: int = 0) -> float:
    return (corrupt(x, name, severity, generator=seeded(seed)) - x).abs().mean().item()


def test_registered_with_held_out_flags() -> None:
    assert {name: CORRUPTIONS[name].held_out for name in NAMES} == {
        "snow": False,
        "frost": False,
        "fog": False,
        "spatter": True,
    }
    assert CORRUPTIONS["fog"].fn is weather.fog


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", SHAPES)
def test_shape_dtype_range_every_severity(name: str, shape: tuple[int, ...]) -> None:
    x = torch.rand(shape, generator=seeded(1))
    for severity in range(1, 6):
        out = corrupt(x, name, severity, generator=seeded(severity))
        assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
        assert torch.isfinite(out).all()
        assert out.min() >= 0 and out.max() <= 1
        assert not torch.equal(out, x)


@pytest.mark.parametrize("name", NAMES)
def test_float64_and_half_keep_dtype(name: str) -> None:
    x = torch.rand(1, 3, 16, 16, generator=seeded(2))
    for dtype in (torch.float64, torch.bfloat16):
        out = corrupt(x.to(dtype), name, 3, generator=seeded(0))
        assert out.dtype == dtype and 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_output_other_seed_differs(name: str) -> None:
    x = sample_image((2, 3, 32, 32))
    for severity in (1, 5):
        a = corrupt(x, name, severity, generator=seeded(7))
        b = corrupt(x, name, severity, generator=seeded(7))
        c = corrupt(x, name, severity, generator=seeded(8))
        assert torch.equal(a, b)
        assert (a - c).abs().max() > 0.05


@pytest.mark.parametrize("name", NAMES)
def test_images_of_a_batch_get_different_draws(name: str) -> None:
    x = sample_image((1, 3, 32, 32)).expand(2, -1, -1, -1).contiguous()
    out = corrupt(x, name, 5, generator=seeded(0))
    assert (out[0] - out[1]).abs().max() > 0.05


@pytest.mark.parametrize("name", ["snow", "fog"])
def test_severity_monotonic_in_mean_abs_change(name: str) -> None:
    x = sample_image()
    changes = [mean_abs_change(name, s, x) for s in range(1, 6)]
    assert changes == sorted(changes) and len(set(changes)) == 5, changes


def test_spatter_severity_5_changes_more_than_severity_1() -> None:
    # Not monotonic by the paper's parameters: spatter switches from additive water (severities 1-3)
    # to opaque mud (4-5), which covers less of the image than water at severity 3.
    x = sample_image()
    assert mean_abs_change("spatter", 5, x) > 2 * mean_abs_change("spatter", 1, x)


def decorrelation(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """1 - Pearson correlation of each corrupted image with its clean image, averaged over the batch."""
    a = (x - x.mean((1, 2, 3), keepdim=True)).flatten(1)
    b = (out - out.mean((1, 2, 3), keepdim=True)).flatten(1)
    return (1 - (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).mean()


def test_frost_severity_raises_texture_share() -> None:
    # c0 * x + c1 * frost with (c0, c1) from the paper is not monotonic in mean |change|: severities
    # 3-5 also darken the image by (1 - c0) * x, so on mid-gray images severity 5 changes pixels less
    # than severity 1. The texture-to-image ratio c1 / c0 rises strictly (0.2, 0.3, 0.44, 0.47, 0.6),
    # so the corrupted image's correlation with the clean one falls strictly.
    x = sample_image()
    scores = [decorrelation(corrupt(x, "frost", s, generator=seeded(0)), x).item() for s in range(1, 6)]
    assert scores == sorted(scores) and len(set(scores)) == 5, scores
    dark = 0.3 * x  # where the added frost dominates, severity 5 changes more than severity 1
    assert mean_abs_change("frost", 5, dark) > 1.5 * mean_abs_change("frost", 1, dark)


def test_snow_brightens() -> None:
    x = sample_image()
    for severity in range(1, 6):
        out = corrupt(x, "snow", severity, generator=seeded(severity))
        assert out.mean() > x.mean() + 0.02
        assert (out >= x - 1e-6).float().mean() > 0.99  # snow only adds light, up to clipping


def test_snow_streaks_follow_the_fall_angle() -> None:
    # The blur runs at -135..-45 degrees (near vertical): the snow layer varies less along y than x.
    x = torch.zeros(4, 1, 64, 64)
    snow = corrupt(x, "snow", 5, generator=seeded(3))
    along_y = (snow[..., 1:, :] - snow[..., :-1, :]).abs().mean()
    along_x = (snow[..., :, 1:] - snow[..., :, :-1]).abs().mean()
    assert snow.mean() > 0.05 and along_y < along_x


def test_fog_difference_is_low_frequency() -> None:
    x = torch.full((4, 1, 32, 32), 0.5)
    diff = corrupt(x, "fog", 3, generator=seeded(0)) - x
    power = torch.fft.fft2(diff - diff.mean((2, 3), keepdim=True)).abs() ** 2
    freq = torch.fft.fftfreq(32).abs()
    low = (freq[:, None] <= 4 / 32) & (freq[None, :] <= 4 / 32)  # 81 of 1024 frequencies
    fraction = (power * low).sum() / power.sum()
    assert fraction > 0.8, fraction
    white = torch.rand(4, 1, 32, 32, generator=seeded(0))
    white_power = torch.fft.fft2(white - white.mean((2, 3), keepdim=True)).abs() ** 2
    assert (white_power * low).sum() / white_power.sum() < 0.15


def test_fog_follows_the_paper_formula_on_a_constant_image() -> None:
    # (x + c0 * fog) * max / (max + c0) with fog in [0, 1] spanning the full range: severity 5 has c0 = 1.5.
    x = torch.full((2, 3, 32, 32), 0.6)
    out = corrupt(x, "fog", 5, generator=seeded(0))
    scale = 0.6 / (0.6 + 1.5)
    torch.testing.assert_close(out.amin((1, 2, 3)), torch.full((2,), 0.6 * scale))
    torch.testing.assert_close(out.amax((1, 2, 3)), torch.full((2,), (0.6 + 1.5) * scale))
    assert torch.equal(out[:, 0], out[:, 2])  # gray fog


def test_plasma_fractal_is_normalised_and_crops_non_square() -> None:
    maps = weather._plasma_fractal(torch.zeros(1, 1, 40, 24), 3, 2.0, seeded(0))
    assert maps.shape == (3, 1, 40, 24)
    full = weather._plasma_fractal(torch.zeros(1, 1, 64, 64), 2, 2.0, seeded(0))
    torch.testing.assert_close(full.amin((1, 2, 3)), torch.zeros(2))
    torch.testing.assert_close(full.amax((1, 2, 3)), torch.ones(2))


@pytest.mark.parametrize("source", ["photos", "procedural"])
def test_frost_is_a_fixed_blend_of_image_and_texture(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # c0 * x + c1 * frost: the same seed gives the same texture at every severity.
    if source == "photos" and weather.FROST_SOURCE != "photos":
        pytest.skip("the frost photographs come with imagecorruptions (pip install noisetrain[frost])")
    monkeypatch.setattr(weather, "FROST_SOURCE", source)
    x = sample_image((2, 3, 32, 32)) * 0.5
    texture1 = (corrupt(x, "frost", 1, generator=seeded(4)) - x) / 0.2
    texture5 = (corrupt(x, "frost", 5, generator=seeded(4)) - 0.75 * x) / 0.45
    torch.testing.assert_close(texture1, texture5, atol=1e-5, rtol=0)
    assert 0.3 < texture1.mean() < 0.85 and texture1.std() > 0.08
    if source == "procedural":
        assert (texture1[:, 2] >= texture1[:, 0]).all()  # faint blue tint


def test_frost_records_its_texture() -> None:
    assert CORRUPTIONS["frost"].variant == weather.FROST_SOURCE in ("photos", "procedural")
    assert (weather.FROST_SOURCE == "photos") == (weather._frost_folder() is not None)
    assert all(CORRUPTIONS[name].variant is None for name in CORRUPTIONS if name != "frost")
    # every record frost's numbers enter says which texture it was
    x = sample_image((8, 3, 16, 16))
    split = Split(x, torch.arange(8) % 2)
    data = Dataset("tiny", "classification", split, split, split, num_classes=2)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2))
    spec = {"kind": "corruptions", "corruptions": ["frost", "fog", "spatter"], "severities": [1], "baseline": model}
    variant, marked = {"frost": weather.FROST_SOURCE}, []
    for record in evaluate(model, data, [spec]):
        with_frost = record.setting.get("corruption") == "frost" or record.setting.get("set") == "common"
        assert {k: v for k, v in record.setting.items() if k == "frost"} == (variant if with_frost else {}), record
        marked += [record.metric] if with_frost else []
    assert sorted(marked) == ["accuracy", "ce", "mce", "mean_accuracy"]


def test_spatter_water_brightens_mud_darkens() -> None:
    x = sample_image()
    water = corrupt(x, "spatter", 3, generator=seeded(0))
    mud = corrupt(x, "spatter", 5, generator=seeded(0))
    assert (water >= x - 1e-6).all() and water.mean() > x.mean()
    assert (mud <= x + 1e-6).sum() > 0.99 * x.numel() and mud.mean() < x.mean()
    touched = (water - x).abs().sum(1) > 1e-3
    assert 0.01 < touched.float().mean() < 0.6


def test_spatter_blobs_scale_with_image_size() -> None:
    # Drawn at CIFAR scale and resized: the covered fraction stays about the same at 4x the size.
    small = (corrupt(sample_image((8, 3, 32, 32)), "spatter", 5, generator=seeded(0)) < 0.3).all(1).float().mean()
    large = (corrupt(sample_image((8, 3, 128, 128)), "spatter", 5, generator=seeded(0)) < 0.3).all(1).float().mean()
    assert small > 0.01 and 0.4 < large / small < 2.5


def test_edge_distance_and_equalize_helpers() -> None:
    edges = torch.zeros(1, 1, 9, 9, dtype=torch.bool)
    edges[..., 4, 4] = True
    dist = weather._edge_distance(edges, 4)[0, 0]
    # OpenCV's 5x5 chamfer steps in units of 2^-16: 1, 1.4 and 2.1969 px; cut at 4
    assert dist[4, 4] == 0 and dist[4, 5] == 1 and dist[5, 5] == 91750 / 65536 and dist[6, 5] == 143976 / 65536
    assert dist[4, 8] == 4 and dist[0, 0] == 4 and dist[7, 7] == 4  # 3 * 91750 / 65536 = 4.2
    nowhere = weather._edge_distance(torch.zeros(1, 1, 5, 5, dtype=torch.bool), 20)
    assert nowhere.eq(20).all()
    eq = weather._equalize(torch.arange(16.0).view(1, 1, 4, 4))
    torch.testing.assert_close(eq.flatten(), torch.linspace(0, 255, 16))
    assert weather._equalize(torch.full((1, 1, 3, 3), 7.0)).eq(7).all()  # a constant image keeps its value


def test_canny_finds_the_outline_of_a_square() -> None:
    image = torch.zeros(1, 1, 12, 12)
    image[..., 3:9, 3:9] = 200.0
    edges = weather._canny(image, 50, 150)[0, 0]
    assert edges.any() and not edges[5:7, 5:7].any() and not edges[0].any()  # thin outline, empty inside
    assert not weather._canny(torch.full((1, 1, 8, 8), 90.0), 50, 150).any()
