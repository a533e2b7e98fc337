"""The contract every noise, blur and digital corruption keeps: shape, dtype, range and seeding.

(The weather corruptions check the same contract, with their own extras, in test_weather.py.)
"""

import pytest
import torch

from noisetrain.corruptions import corrupt, names

from corruptkit import natural, run

NAMES = [
    "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur",
    "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression", "saturate",
]  # fmt: skip
RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur", "motion_blur",
          "elastic_transform"}  # fmt: skip
SHAPES = [(2, 3, 32, 32), (2, 1, 28, 28), (1, 3, 40, 24)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_range_kept(name, shape):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    for severity in range(1, 6):
        y = run(x, name, severity)
        assert y.shape == x.shape and y.dtype == x.dtype
        assert 0 <= y.min() and y.max() <= 1


@pytest.mark.parametrize("severity", [3, 5])
@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_output_other_seed_differs_if_random(name, severity):
    x = natural((2, 3, 16, 16))
    assert torch.equal(run(x, name, severity, seed=5), run(x, name, severity, seed=5))
    assert torch.equal(run(x, name, severity, seed=5), run(x, name, severity, seed=6)) == (name not in RANDOM)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_every_corruption_works_on_tiny_images(size):
    """All 19, weather included: mirrored padding falls back to repeated edges where an image is smaller."""
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    for name in [*names(), *names(held_out=True)]:
        for severity in (1, 5):
            out = corrupt(x, name, severity, generator=torch.Generator().manual_seed(1))
            assert out.shape == x.shape and torch.isfinite(out).all() and 0 <= out.min() <= out.max() <= 1, name
