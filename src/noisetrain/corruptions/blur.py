"""Blur corruptions of CIFAR-10-C (Hendrycks & Dietterich 2019, "Benchmarking Neural Network Robustness to
Common Corruptions and Perturbations", arXiv:1903.12261), with the severity parameters of the paper's
``make_cifar_c.py``.

Pixel-unit parameters (blur std, disk radius, motion length, glass displacement) are the CIFAR ones for
32 x 32 images, multiplied by ``min(H, W) / 32`` for larger images (kept for smaller ones); zoom factors
are relative and not scaled.

At 32 x 32 each reproduces the original, tested against a port of it (tests/corruptions/cifar10c.py): defocus
(its disk kernel), zoom and Gaussian blur exactly; motion blur (ImageMagick's) and glass blur exactly given the
same random angle or moves, which come from a torch generator instead of numpy's global state. Not reproduced:
the 8-bit PNG round trip of motion blur's result and a float accident of glass blur's truncation to 8 bits
(see each function).
"""

from __future__ import annotations

import numpy as np
import torch

from . import _ops
from ._ops import clipped_zoom, disk_kernel, filter2d, image_op, magick_motion_blur, pixel_grid, spatial_scale
from .base import corruption

DEFOCUS = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1))
"""(disk radius, anti-alias blur std) in pixels."""
GLASS = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))
"""(blur std in pixels, move range ``d`` in pixels, shuffling passes); moves are uniform in ``-d..d-1`` per axis."""
MOTION = ((6, 1.0), (6, 1.5), (6, 2.0), (8, 2.0), (9, 2.5))
"""(ImageMagick radius, sigma) in pixels; the angle is uniform in [-45, 45) degrees per image."""
ZOOM_ENDS = (1.06, 1.11, 1.16, 1.21, 1.26)
"""The image is averaged with its zooms by the factors ``np.arange(1, end, 0.01)``, as in the original: by float
rounding these end at 1.06, 1.11, 1.15, 1.20 and 1.25 (7, 12, 16, 21 and 26 zooms) and are ``1 + k *
0.010000000000000009`` (numpy's fill rule), which decides whole-pixel sizes (at 32 px, severity 5's last zoom
enlarges a 26-pixel crop to 33 pixels, not 32)."""
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
    """Gaussian blur, truncation to 8 bits, local pixel shuffling, Gaussian blur again (frosted glass), as the
    CIFAR-10-C generator.

    A shuffling pass visits rows and columns ``d + 1 .. size - d`` (the original's loop bounds: at 32 x 32 the
    top two rows and left two columns take no new value, the bottom and right edges do) and gives each visited
    pixel, all channels together, the value that its neighbour at a move ``(dy, dx)``, uniform in ``-d..d-1``
    per axis, has at that moment (``_shuffle``). The original runs this as a loop from the bottom-right pixel
    to the top-left one, with a tuple "swap" through numpy views that copies the neighbour into the pixel and
    leaves the neighbour as it was. Given the same moves, the result is exactly the original's, for any ``d``
    (``d`` = 1 at 32 x 32). The moves come from ``generator`` instead of numpy's global state: the same
    distribution, other draws.

    The truncation to 8 bits is the original's ``np.uint8(v * 255)``, ``floor(255 v) / 255``, with values
    within 16 rounding units of ``x``'s dtype below an 8-bit level counted as that level (in float32 5e-4
    level, in float64 1e-12), so that flat areas keep their level. The original's float64 blur leaves some flat
    areas a hair below their level and so drops them by one (at blur std 0.4, 56 of the 256 levels): an
    accident of its arithmetic, not reproduced.
    """
    sigma, max_delta, passes = GLASS[severity - 1]
    scale = spatial_scale(x)
    delta = max(1, round(max_delta * scale))
    levels = _ops.gaussian_blur(x, sigma * scale) * 255
    x = torch.floor(levels + 255 * 16 * torch.finfo(x.dtype).eps) / 255
    for _ in range(passes):
        moves = torch.randint(-delta, delta, (2, x.shape[0], *x.shape[-2:]), generator=generator, device=x.device)
        x = _shuffle(x, moves, delta)
    return _ops.gaussian_blur(x, sigma * scale)


def _shuffle(x: torch.Tensor, moves: torch.Tensor, delta: int) -> torch.Tensor:
    """One shuffling pass of glass blur over ``x`` (N, C, H, W): ``moves`` (2, N, H, W) holds each pixel's
    ``(dy, dx)``, used where the pass visits.

    The original visits pixels in decreasing raster order, so a visited pixel whose source pixel is visited and
    later in raster order takes the source's new value, and so on along a chain of moves; otherwise it takes the
    source's value from before the pass. At ``d`` = 1 every move points up or left, so there are no chains and
    the pass is a gather; for larger ``d`` the chains are followed by pointer jumping (each round doubles the
    length followed), then the pass is one gather of pixels from before it.
    """
    batch, channels, height, width = x.shape
    rows, cols = (grid.long() for grid in pixel_grid(x))
    visited = ((rows > delta) & (rows <= height - delta) & (cols > delta) & (cols <= width - delta)).flatten()
    here = (rows * width + cols).flatten()
    source = torch.where(visited, ((rows + moves[0]) * width + cols + moves[1]).view(batch, -1), here)
    link = torch.where(visited[source] & (source > here), source, here)  # where the new value comes from
    while not torch.equal(further := link.gather(1, link), link):
        link = further
    source = source.gather(1, link)[:, None].expand(-1, channels, -1)
    return x.flatten(2).gather(2, source).view_as(x)


@corruption("motion_blur")
@image_op
def motion_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """One-sided motion blur along a random direction (uniform in [-45, 45) degrees per image), exactly
    ImageMagick's MotionBlurImage as the original calls it (``_ops.magick_motion_blur``), given the angle;
    the original's 8-bit PNG round trip of the result is left out."""
    radius, sigma = MOTION[severity - 1]
    scale = spatial_scale(x)
    angle = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device) * 90.0 - 45.0
    return magick_motion_blur(x, radius * scale, sigma * scale, angle)


@corruption("zoom_blur")
@image_op
def zoom_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Mean of the image and its clipped zooms by the factors of ``ZOOM_ENDS``: the original's, exactly (whole-pixel
    crops and offsets of its ``clipped_zoom``, see ``_ops.clipped_zoom``; float rounding apart)."""
    factors = np.arange(1, ZOOM_ENDS[severity - 1], 0.01).tolist()
    out = x.clone()
    for factor in factors:
        out = out + clipped_zoom(x, factor)
    return out / (len(factors) + 1)


@corruption("gaussian_blur", held_out=True)
@image_op
def gaussian_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur with std 0.4..1.0 px by severity (truncated at 4 std, edges repeated, as skimage)."""
    return _ops.gaussian_blur(x, GAUSSIAN_STD[severity - 1] * spatial_scale(x))
