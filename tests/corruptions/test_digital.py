"""Digital corruptions of CIFAR-10-C: contract, seeding, severity order, colour, pixelate and JPEG references."""

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.colors import rgb_to_hsv as reference_rgb_to_hsv

from noisetrain.corruptions import _ops, digital, jpeg_roundtrip

from corruptkit import distances, natural, run

NAMES = ["brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression", "saturate"]
SHAPES = [(2, 3, 32, 32), (2, 1, 28, 28), (1, 3, 40, 24)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_other_float_dtypes_kept(dtype):
    x = natural((1, 3, 16, 16))
    for name in NAMES:
        y = run(x.to(dtype), name, 4)
        assert y.dtype == dtype and 0 <= y.min() and y.max() <= 1
        if name not in ("elastic_transform", "jpeg_compression"):  # random draws / 8-bit rounding differ
            assert torch.allclose(y.float(), run(x, name, 4), atol=0.02 if dtype == torch.bfloat16 else 1e-5)


@pytest.mark.parametrize("name", ["brightness", "contrast", "pixelate", "jpeg_compression"])
@pytest.mark.parametrize("shape", SHAPES)
def test_distance_grows_with_severity(name, shape):
    # pixelate's error on a few sharp edges depends on how they align with the boxes: use a texture
    texture = lambda shape: torch.rand(shape, generator=torch.Generator().manual_seed(0))  # noqa: E731
    distance = distances(name, shape, texture if name == "pixelate" else natural)
    assert distance == sorted(distance) and len(set(distance)) == 5


def test_saturate_order_within_its_two_directions():
    # the paper's severities 1-2 desaturate (x0.3, x0.1) and 3-5 saturate (x1.5, x2 + 0.1, x2.5 + 0.2)
    distance = distances("saturate")
    assert distance[0] < distance[1] and distance[2] < distance[3] < distance[4]
    saturation = [_ops.rgb_to_hsv(run(natural((4, 3, 32, 32)), "saturate", s))[:, 1].mean() for s in range(1, 6)]
    assert saturation[1] < saturation[0] < saturation[2] < saturation[3] < saturation[4]


def test_saturate_leaves_gray_images_gray():
    gray = natural((2, 1, 16, 16))
    for severity in (1, 2, 3):
        assert torch.allclose(run(gray, "saturate", severity), gray, atol=1e-6)
    assert torch.all(run(gray, "saturate", 5) <= gray + 1e-6)  # the hue-0 tint of gray only darkens its luma


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("severity", range(1, 6))
def test_brightness_adds_to_gray(channels, severity):
    gray = torch.full((1, channels, 4, 4), 0.5)
    expected = 0.5 + digital.BRIGHTNESS_SHIFT[severity - 1]
    assert torch.allclose(run(gray, "brightness", severity), torch.full_like(gray, expected), atol=1e-6)
    assert torch.all(run(torch.full_like(gray, 0.9), "brightness", 5) == 1.0)


def test_brightness_keeps_hue_and_saturation():
    x = natural((2, 3, 16, 16))
    hsv, bright = _ops.rgb_to_hsv(x), _ops.rgb_to_hsv(run(x, "brightness", 3))
    unclipped = hsv[:, 2] + 0.15 < 1
    assert torch.allclose(bright[:, 2][unclipped], hsv[:, 2][unclipped] + 0.15, atol=1e-5)
    assert torch.allclose(bright[:, :2], hsv[:, :2], atol=1e-4)


def test_hsv_matches_matplotlib_and_round_trips():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x[0, :, 0, 0] = 0.4  # a gray pixel: hue and saturation 0
    hsv = _ops.rgb_to_hsv(x)
    expected = reference_rgb_to_hsv(x.permute(0, 2, 3, 1).numpy()).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(hsv.numpy(), expected, atol=1e-12)
    assert torch.allclose(_ops.hsv_to_rgb(hsv), x, atol=1e-12)


@pytest.mark.parametrize("severity", range(1, 6))
def test_contrast_keeps_mean_and_scales_deviation(severity):
    x = natural((2, 3, 16, 16))
    y = run(x, "contrast", severity)
    assert torch.allclose(y.mean(dim=(-2, -1)), x.mean(dim=(-2, -1)), atol=1e-6)
    factor = digital.CONTRAST_FACTOR[severity - 1]
    assert torch.allclose(y.std(dim=(-2, -1)), x.std(dim=(-2, -1)) * factor, atol=1e-6)


def test_elastic_severity_1_is_affine_and_severity_5_is_not():
    # the paper's severity 1 has no displacement field (alpha 0), only the affine jitter
    rows, cols = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    ramp = (0.2 + 0.4 * cols + 0.2 * rows).expand(4, 1, 32, 32)

    def curvature(y: torch.Tensor) -> float:
        inner = y[..., 8:-8, 8:-8]
        return (inner[..., 2:] - 2 * inner[..., 1:-1] + inner[..., :-2]).abs().mean().item()

    assert curvature(run(ramp, "elastic_transform", 1)) < 1e-6
    assert curvature(run(ramp, "elastic_transform", 5)) > 1e-3
    assert not torch.allclose(run(ramp, "elastic_transform", 1), ramp, atol=1e-3)


def test_elastic_keeps_constant_images():
    x = torch.full((2, 3, 24, 20), 0.6)
    assert torch.allclose(run(x, "elastic_transform", 5), x, atol=1e-6)


@pytest.mark.parametrize("severity", range(1, 6))
def test_pixelate_matches_pil_box_resize(severity):
    image = pytest.importorskip("PIL.Image")
    pixels = torch.randint(0, 256, (32, 40, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    factor = digital.PIXELATE_FACTOR[severity - 1]
    pil = image.fromarray(pixels.numpy()).resize((int(40 * factor), int(32 * factor)), image.BOX)
    expected = torch.from_numpy(np.array(pil.resize((40, 32), image.BOX))).permute(2, 0, 1).float()
    y = run(pixels.permute(2, 0, 1)[None].float() / 255, "pixelate", severity)[0] * 255
    assert (y - expected).abs().max() < 1.0 + 1e-3  # PIL rounds its intermediate image to 8 bits


def smooth(channels: int) -> torch.Tensor:
    low = torch.rand(4, channels, 4, 4, generator=torch.Generator().manual_seed(0))
    return F.interpolate(low, size=(32, 40), mode="bicubic", align_corners=False).clamp(0, 1)


def blockiness(x: torch.Tensor) -> float:
    """Mean horizontal step across 8 x 8 block boundaries over the mean step inside blocks."""
    step = (x[..., 1:] - x[..., :-1]).abs().mean(dim=(0, 1, 2))
    return (step[7::8].mean() / torch.cat([step[j::8] for j in range(7)]).mean()).item()


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_quality_100_is_near_identity_and_low_quality_is_blocky(channels):
    x = smooth(channels)
    exact = jpeg_roundtrip(x, 100)
    # 4:2:0 chroma subsampling is kept at quality 100 (as PIL), so colour loses a little more
    assert (exact - x).abs().mean() < (0.5 if channels == 1 else 2.0) / 255
    assert blockiness(exact - x) < 1.2
    assert blockiness(jpeg_roundtrip(x, 40) - x) > 2.0
    assert blockiness(jpeg_roundtrip(x, 10) - x) > 2.5


@pytest.mark.parametrize("quality", [100, 80, 40, 10])
@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_close_to_libjpeg(quality, channels):
    image = pytest.importorskip("PIL.Image")
    pixels = (smooth(channels)[0] * 255).round().to(torch.uint8)
    buffer = io.BytesIO()
    array = pixels[0].numpy() if channels == 1 else pixels.permute(1, 2, 0).numpy()
    image.fromarray(array).save(buffer, "JPEG", quality=quality)
    decoded = torch.from_numpy(np.array(image.open(buffer))).float()
    decoded = decoded[None] if channels == 1 else decoded.permute(2, 0, 1)
    ours = jpeg_roundtrip(pixels[None].float() / 255, quality)[0] * 255
    assert torch.equal(ours, ours.round())  # decoded to 8-bit levels
    assert (ours - decoded).abs().mean() < (0.5 if channels == 1 else 2.0)
