"""Blur corruptions of CIFAR-10-C (Hendrycks & Dietterich 2019, "Benchmarking Neural Network Robustness to
Common Corruptions and Perturbations", arXiv:1903.12261), with the severity parameters of the paper's
``make_cifar_c.py``.

Pixel-unit parameters (blur std, disk radius, motion length, glass displacement) are the CIFAR ones for
32 x 32 images, multiplied by ``min(H, W) / 32`` for larger images (kept for smaller ones); zoom factors
are relative and not scaled.
"""

from __future__ import annotations

import math

import torch

from . import _ops
from ._ops import disk_kernel, filter2d, gather_pixels, image_op, pixel_grid, sample, spatial_scale
from .base import corruption

DEFOCUS = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1))
"""(disk radius, anti-alias blur std) in pixels."""
GLASS = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))
"""(blur std in pixels, maximal displacement in pixels, iterations)."""
MOTION = ((6, 1.0), (6, 1.5), (6, 2.0), (8, 2.0), (9, 2.5))
"""(ImageMagick radius, sigma) in pixels; the angle is uniform in [-45, 45) degrees per image."""
ZOOM_MAX = (1.05, 1.10, 1.15, 1.20, 1.25)
"""Zoom factors 1.00, 1.01, ..., up to this value are averaged with the image."""
GAUSSIAN_STD = (0.4, 0.6, 0.7, 0.8, 1.0)


@corruption("defocus_blur")
@image_op
def defocus_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Convolution with an anti-aliased disk of radius 0.3..1.5 px (exact CIFAR-10-C kernel at 32 x 32)."""
    radius, alias_blur = DEFOCUS[severity - 1]
    scale = spatial_scale(x)
    kernel = disk_kernel(radius * scale, alias_blur * scale, dtype=x.dtype, device=x.device)
    return filter2d(x, kernel)


@corruption("glass_blur")
@image_op
def glass_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur, local pixel shuffling, Gaussian blur again (frosted glass).

    Approximation: the original swaps every pixel sequentially with a random up/left neighbour; here each
    pixel (all channels together) takes the value of a neighbour at an independent uniform displacement in
    ``-d..d`` per axis (edges clamped), repeated ``iterations`` times. Blur std and ``d`` are exact.
    """
    sigma, max_delta, iterations = GLASS[severity - 1]
    scale = spatial_scale(x)
    delta = max(1, round(max_delta * scale))
    rows, cols = (grid.long() for grid in pixel_grid(x))
    x = _ops.gaussian_blur(x, sigma * scale)
    for _ in range(iterations):
        shift = torch.randint(-delta, delta + 1, (2, x.shape[0], *x.shape[-2:]), generator=generator, device=x.device)
        x = gather_pixels(x, rows + shift[0], cols + shift[1])
    return _ops.gaussian_blur(x, sigma * scale)


@corruption("motion_blur")
@image_op
def motion_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """One-sided motion blur along a random direction (uniform in [-45, 45) degrees per image), as
    ImageMagick's MotionBlurImage: taps at integer-rounded offsets ``i * (sin a, cos a)`` (row, column),
    ``i = 0..2*ceil(radius)``, with half-Gaussian weights ``exp(-i^2 / (2 sigma^2))``; edges repeat."""
    radius, sigma = MOTION[severity - 1]
    scale = spatial_scale(x)
    taps = 2 * math.ceil(radius * scale) + 1
    weights = torch.exp(-0.5 * (torch.arange(taps, dtype=x.dtype, device=x.device) / (sigma * scale)) ** 2)
    weights = weights / weights.sum()
    angle = torch.deg2rad(torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device) * 90.0 - 45.0)
    direction = torch.stack((angle.sin(), angle.cos()))[:, :, None, None]  # (row, col) per image
    rows, cols = (grid.long() for grid in pixel_grid(x))
    out = torch.zeros_like(x)
    for i in range(taps):
        offset = torch.round(i * direction).long()
        out = out + weights[i] * gather_pixels(x, rows + offset[0], cols + offset[1])
    return out


@corruption("zoom_blur")
@image_op
def zoom_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Mean of the image and its centre zooms by 1.00, 1.01, ..., 1.05..1.25 (bilinear); the exact
    parameters, with sub-pixel differences to scipy's crop-and-zoom resampling."""
    height, width = x.shape[-2:]
    rows, cols = pixel_grid(x)
    centre_row, centre_col = (height - 1) / 2, (width - 1) / 2
    factors = [1.0 + 0.01 * k for k in range(round((ZOOM_MAX[severity - 1] - 1.0) / 0.01) + 1)]
    out = x.clone()
    for factor in factors:
        out = out + sample(x, centre_row + (rows - centre_row) / factor, centre_col + (cols - centre_col) / factor)
    return out / (len(factors) + 1)


@corruption("gaussian_blur", held_out=True)
@image_op
def gaussian_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur with std 0.4..1.0 px by severity (truncated at 4 std, edges repeated, as skimage)."""
    return _ops.gaussian_blur(x, GAUSSIAN_STD[severity - 1] * spatial_scale(x))
