"""Blur corruptions of CIFAR-10-C: contract, seeding, severity order, kernels against references."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from noisetrain.corruptions import _ops, blur

from corruptkit import distances, natural, run

NAMES = ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur"]
RANDOM = {"glass_blur", "motion_blur"}
SHAPES = [(2, 3, 32, 32), (2, 1, 28, 28), (1, 3, 40, 24)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_other_float_dtypes_kept(dtype):
    x = natural((1, 3, 8, 8))
    for name in NAMES:
        y = run(x.to(dtype), name, 5)
        assert y.dtype == dtype and 0 <= y.min() and y.max() <= 1
        if name not in RANDOM:  # random draws depend on the dtype
            assert torch.allclose(y.float(), run(x, name, 5), atol=0.02 if dtype == torch.bfloat16 else 1e-5)


@pytest.mark.parametrize("name", ["defocus_blur", "zoom_blur", "gaussian_blur"])
@pytest.mark.parametrize("shape", SHAPES)
def test_distance_grows_with_severity(name, shape):
    distance = distances(name, shape)
    assert distance == sorted(distance) and len(set(distance)) == 5


def test_motion_blur_distance_grows_except_severity_4_equals_3():
    # severity 4 only lengthens the kernel (radius 6 -> 8) past taps of weight < 1e-4 at sigma 2
    distance = distances("motion_blur")
    assert distance[0] < distance[1] < distance[2] < distance[4]
    assert distance[3] == pytest.approx(distance[2], rel=0.01)


def test_glass_blur_more_iterations_distort_more():
    # the paper's (sigma, iterations) are not ordered: the second blur smooths part of the shuffle away,
    # so (as with the original sequential swaps) only these orderings hold
    distance = distances("glass_blur")
    assert distance[3] > distance[1] and distance[4] > distance[2]


@pytest.mark.parametrize("name", NAMES)
def test_constant_image_unchanged(name):
    x = torch.full((2, 3, 20, 20), 77 / 255)  # an 8-bit level: glass blur truncates to 8 bits
    assert torch.allclose(run(x, name, 5), x, atol=1e-6)


def test_glass_blur_truncates_to_8_bits_keeping_levels():
    for level in range(256):  # at blur std 0.4 float rounding leaves flat areas a hair below their level
        x = torch.full((1, 3, 12, 12), level / 255)
        assert torch.allclose(run(x, "glass_blur", 3), x, atol=1e-6)
    assert torch.allclose(run(torch.full((1, 3, 12, 12), 0.3), "glass_blur", 1), torch.tensor(76 / 255))


def test_glass_blur_moves_only_up_and_left_within_the_loop_bounds():
    # moves are -1 or 0 per axis at 32 x 32 and only rows and columns 2..31 take new values: a single bright
    # pixel spreads only down and right, and never into rows or columns 0 and 1
    x = torch.zeros(64, 1, 32, 32)
    x[..., 1, 1] = x[..., 20, 20] = 1.0
    y = run(x, "glass_blur", 1)  # blur std 0.05: no blur, one shuffling pass
    assert y[..., 1, 1].eq(1).all() and y[..., :2, :].sum() == 1 * 64 and y[..., :, :2].sum() == 1 * 64
    moved = y[..., 2:, 2:].nonzero()[:, 2:] + 2
    assert {tuple(p) for p in moved.tolist()} == {(20, 20), (21, 20), (20, 21), (21, 21), (2, 2)}


@pytest.mark.parametrize("severity", range(1, 6))
def test_gaussian_blur_matches_scipy(severity):
    x = torch.rand(2, 3, 32, 24, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma = blur.GAUSSIAN_STD[severity - 1]
    expected = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="nearest", truncate=4.0)
    np.testing.assert_allclose(run(x, "gaussian_blur", severity).numpy(), expected, atol=1e-12)


def test_spatial_parameters_scale_with_larger_images():
    x = torch.rand(1, 1, 64, 80, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, 2.0, 2.0), mode="nearest", truncate=4.0)
    np.testing.assert_allclose(run(x, "gaussian_blur", 5).numpy(), expected, atol=1e-12)  # std 1 px at 32


@pytest.mark.parametrize("shape", [(1, 1, 8, 8), (1, 1, 64, 64)])
@pytest.mark.parametrize("name", ["zoom_blur", "gaussian_blur"])
def test_mismatched_range_still_clipped(name, shape):
    x = torch.ones(shape) * 1.5
    assert run(x, name, 1).max() == 1


def test_defocus_kernels():
    options = {"dtype": torch.float64, "device": torch.device("cpu")}
    taps = torch.exp(-0.5 * (torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64) / 0.4) ** 2)
    taps = taps / taps.sum()
    small = _ops.disk_kernel(0.3, 0.4, **options)  # the disk of radius 0.3 is one pixel
    assert torch.allclose(small[1:4, 1:4], taps[:, None] * taps[None, :]) and small.sum() == pytest.approx(1)
    cross = _ops.disk_kernel(1.0, 1e-3, **options)  # radius 1: the centre and its 4 neighbours
    assert torch.allclose(cross[1:4, 1:4], torch.tensor([[0, 1, 0], [1, 1, 1], [0, 1, 0]], **options) / 5)
    large = _ops.disk_kernel(1.5, 0.1, **options)
    assert torch.allclose(large, large.T) and torch.allclose(large, large.flip(0)) and large.sum() == pytest.approx(1)


def test_motion_blur_is_one_sided_within_45_degrees():
    x = torch.zeros(4, 1, 41, 41)
    x[..., 20, 20] = 1.0
    y = run(x, "motion_blur", 5)[:, 0]
    assert torch.allclose(y.sum(dim=(-2, -1)), torch.ones(4))  # weights sum to 1, no mass lost
    rows, cols = torch.nonzero(y > 0)[:, 1:].T
    assert torch.all(cols <= 20) and torch.all((rows - 20).abs() <= 20 - cols + 1)
    assert (20 - cols).max() >= 6  # reaches several sigma (2.5 px) along the motion
