"""Weather corruptions: snow, frost, fog and spatter, as batched tensor operations.

After Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations" (ICLR 2019, arXiv:1903.12261), with the CIFAR-10-C severity parameters of their
``make_cifar_c.py``. Every function takes images ``x`` (N, C, H, W) in [0, 1] with C in {1, 3}, a
severity in 1..5 and a ``torch.Generator`` on ``x``'s device, and returns the same shape and dtype,
clipped to [0, 1]. Example: ``fog(x, 3, torch.Generator().manual_seed(0))``.

Spatial parameters (motion-blur radii and sigmas, spatter's mud sigma and distance cap, frost needle
length) are those of 32x32 CIFAR scaled by ``s = sqrt(H * W) / 32``. The spatter liquid layer is drawn
and blurred on an (H/s, W/s) grid and resized, so blob sizes stay relative to the image; the fog fractal
is drawn on the next power of two above ``max(H, W)`` and cropped, so its structure follows the image
size by construction; the snow layer is per pixel (flake size in pixels, as in ImageNet-C). Where this
differs from the original code:

- snow and the frost needles use a bilinear line blur (taps at sub-pixel offsets) in place of
  ImageMagick's motion blur (integer offsets); the snow layer is not quantised to 8 bits;
- frost is a procedural texture (hexagonal ice needles over a plasma-fractal density), not a crop of
  one of the six frost photographs, which are not shipped;
- liquid spatter (severities 1-3) finds edges as the boundary of the thresholded liquid mask (in
  place of Canny), measures distance by octagonal dilation (in place of cv2's 5x5 chamfer L2) and
  equalises by rank (in place of the 8-bit histogram).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._ops import LUMA, gaussian_blur, image_op, mirror_pad
from .base import corruption

# Severity parameters of CIFAR-10-C (make_cifar_c.py).
# snow: mean, std of the snow layer; zoom; threshold; motion-blur radius, sigma; weight of the clean image.
_SNOW = (
    (0.1, 0.2, 1.0, 0.6, 8, 3, 0.95),
    (0.1, 0.2, 1.0, 0.5, 10, 4, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
)
# frost: weight of the image, weight of the frost texture.
_FROST = ((1.0, 0.2), (1.0, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))
# fog: strength, decay of the fractal's roughness per octave.
_FOG = ((0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75))
# spatter: mean, std of the liquid layer; blur sigma; threshold; strength (liquid) or mud sigma; mode.
_SPATTER = (
    (0.62, 0.1, 0.7, 0.7, 0.5, 0),
    (0.65, 0.1, 0.8, 0.7, 0.5, 0),
    (0.65, 0.3, 1.0, 0.69, 0.5, 0),
    (0.65, 0.1, 0.7, 0.69, 0.6, 1),
    (0.65, 0.1, 0.5, 0.68, 0.6, 1),
)
_WATER = (175 / 255, 238 / 255, 238 / 255)  # pale turquoise
_MUD = (63 / 255, 42 / 255, 20 / 255)  # mud brown
_ICE = (0.88, 0.95, 1.0)  # a faint blue tint for the frost texture
_EMBOSS = ((-2.0, -1.0, 0.0), (-1.0, 1.0, 1.0), (0.0, 1.0, 2.0))


# ---------------------------------------------------------------- helpers


def _scale(x: torch.Tensor) -> float:
    """Size of ``x``'s images relative to 32x32 CIFAR."""
    return math.sqrt(x.shape[-2] * x.shape[-1]) / 32.0


def _rand(x: torch.Tensor, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=x.device, dtype=x.dtype)


def _randn(x: torch.Tensor, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)


def _color(x: torch.Tensor, rgb: tuple[float, float, float]) -> torch.Tensor:
    """``rgb`` as a (1, C, 1, 1) tensor; its luma for grayscale ``x``."""
    if x.shape[1] == 1:
        rgb = (sum(w * c for w, c in zip(LUMA, rgb, strict=True)),)
    return torch.tensor(rgb, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """Luma (N, 1, H, W) of ``x`` (N, C, H, W)."""
    return x if x.shape[1] == 1 else (x * _color(x, LUMA)).sum(1, keepdim=True)


def _box3(x: torch.Tensor) -> torch.Tensor:
    """3x3 mean filter with reflected edges (cv2.blur)."""
    return F.avg_pool2d(mirror_pad(x, 1), 3, stride=1)


def _clipped_zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Zoom into the centre of ``x`` by ``factor`` >= 1, keeping the size (bilinear)."""
    if factor == 1:
        return x
    h, w = x.shape[-2:]
    ch, cw = math.ceil(h / factor), math.ceil(w / factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[..., top : top + ch, left : left + cw]
    return F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)


def _line_blur(x: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Sum over taps of ``weights[k] * x`` sampled ``offsets[k]`` pixels along direction ``angle``.

    x: (N, C, H, W); offsets, weights: (K,); angle: (N,) in degrees (0 = +x, 90 = +y, i.e. down).
    Bilinear sampling, edges replicated. A one-sided Gaussian-weighted line is ImageMagick's motion blur.
    """
    n, _, h, w = x.shape
    rad = torch.deg2rad(angle)
    # pixel step along the line in grid_sample's normalised coordinates (align_corners=True)
    step_x = (torch.cos(rad) * 2 / max(w - 1, 1)).view(n, 1, 1)
    step_y = (torch.sin(rad) * 2 / max(h - 1, 1)).view(n, 1, 1)
    gy, gx = torch.meshgrid(
        torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype),
        torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype),
        indexing="ij",
    )
    out = torch.zeros_like(x)
    for offset, weight in zip(offsets.tolist(), weights.tolist(), strict=True):
        grid = torch.stack((gx + offset * step_x, gy + offset * step_y), dim=-1)
        out = out + weight * F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out


def _plasma_fractal(x: torch.Tensor, n: int, decay: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` diamond-square height maps (n, 1, H, W) in [0, 1], drawn on a power-of-two square and cropped.

    The random displacement at each octave is ``wibble * U(-wibble, wibble)``, ``wibble`` starting at
    100 and divided by ``decay`` per octave (as in make_cifar_c.py); maps are rescaled to [0, 1].
    """
    h, w = x.shape[-2:]
    size = 1 << max(1, (max(h, w) - 1).bit_length())
    grid = torch.zeros(n, size, size, device=x.device, dtype=x.dtype)
    step, wibble = size, 100.0

    def wibbled_mean(total: torch.Tensor) -> torch.Tensor:
        return total / 4 + wibble * wibble * (2 * _rand(x, tuple(total.shape), generator) - 1)

    while step >= 2:
        half = step // 2
        corners = grid[:, 0::step, 0::step]
        square = corners + corners.roll(-1, 1)
        grid[:, half::step, half::step] = wibbled_mean(square + square.roll(-1, 2))
        centres, corners = grid[:, half::step, half::step], grid[:, 0::step, 0::step]
        grid[:, 0::step, half::step] = wibbled_mean(centres + centres.roll(1, 1) + corners + corners.roll(-1, 2))
        grid[:, half::step, 0::step] = wibbled_mean(centres + centres.roll(1, 2) + corners + corners.roll(-1, 1))
        step, wibble = half, wibble / decay
    grid = grid[:, None, :h, :w]
    low = grid.amin((2, 3), keepdim=True)
    high = grid.amax((2, 3), keepdim=True)
    return (grid - low) / (high - low).clamp_min(1e-12)


def _dilate(mask: torch.Tensor, square: bool) -> torch.Tensor:
    """One step of binary dilation of (N, 1, H, W) float ``mask`` by a 3x3 square or a plus."""
    if square:
        return F.max_pool2d(mask, 3, stride=1, padding=1)
    horizontal = F.max_pool2d(mask, (1, 3), stride=1, padding=(0, 1))
    return torch.maximum(horizontal, F.max_pool2d(mask, (3, 1), stride=1, padding=(1, 0)))


def _edge_distance(mask: torch.Tensor, limit: int) -> torch.Tensor:
    """Distance (N, 1, H, W) of each pixel to the inner boundary of ``mask``, truncated at ``limit``.

    Octagonal metric: dilation alternates the 3x3 plus and square, a close approximation of Euclidean.
    Where ``mask`` has no boundary the distance is ``limit`` everywhere.
    """
    eroded = 1 - _dilate(1 - mask, square=True)
    reached = mask - eroded  # pixels of the mask with a neighbour outside it
    dist = torch.where(reached > 0, 0.0, float(limit)).to(mask.dtype)
    for k in range(1, limit):
        grown = _dilate(reached, square=k % 2 == 0)
        dist = torch.where((grown > 0) & (reached == 0), float(k), dist)
        reached = grown
    return dist


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of each image (N, 1, H, W) to [0, 255], by rank (cv2.equalizeHist)."""
    flat = x.flatten(1).contiguous()
    ordered = flat.sort(dim=1).values
    cdf = torch.searchsorted(ordered, flat, right=True).to(x.dtype) / flat.shape[1]
    low = cdf.amin(1, keepdim=True)
    return ((cdf - low) / (1 - low).clamp_min(1e-12) * 255).view_as(x)


def _frost_texture(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A procedural frost texture (N, 1, H, W) in [0, 1], mean about 0.4-0.5.

    Ice needles: sparse seeds (5% of pixels) streaked into tapering lines along three directions 60
    degrees apart (hexagonal crystals, random orientation per image), half-length 3 px at 32x32; their
    brightness and a haze follow a plasma-fractal density (thick and thin patches of frost).
    """
    n, _, h, w = x.shape
    density = _plasma_fractal(x, n, 2.0, generator)
    seeds = (_rand(x, (n, 1, h, w), generator) < 0.05).to(x.dtype) * (0.5 + 0.5 * _rand(x, (n, 1, h, w), generator))
    theta = 180 * _rand(x, (n,), generator)
    half = max(1, round(3 * _scale(x)))
    offsets = torch.arange(-half, half + 1, dtype=x.dtype)
    weights = 1 - offsets.abs() / (half + 1)
    needles = torch.stack([_line_blur(seeds, offsets, weights, theta + 60 * k) for k in range(3)]).amax(0)
    needles = gaussian_blur(needles, 0.5)  # anti-alias the rasterised needles
    needles = needles / needles.amax((2, 3), keepdim=True).clamp_min(1e-12)
    return (0.15 + 0.3 * density + needles * (0.5 + 0.5 * density)).clamp(0, 1)


# ---------------------------------------------------------------- corruptions


@corruption("snow")
@image_op
def snow(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Snow: a thresholded, zoomed Gaussian snow layer, motion-blurred at a random angle in [-135, -45]
    degrees, added twice (as drawn and rotated by 180 degrees) to the image brightened towards
    ``1.5 * luma + 0.5``. x: (N, C, H, W) in [0, 1]."""
    mean, std, zoom, threshold, radius, sigma, keep = _SNOW[severity - 1]
    n, _, h, w = x.shape
    layer = _clipped_zoom(mean + std * _randn(x, (n, 1, h, w), generator), zoom)
    layer = torch.where(layer < threshold, 0.0, layer).clamp(0, 1)
    angle = -135 + 90 * _rand(x, (n,), generator)
    radius, sigma = radius * _scale(x), sigma * _scale(x)
    offsets = torch.arange(0, math.ceil(min(2 * radius, 3 * sigma)) + 1, dtype=x.dtype)
    weights = torch.exp(-(offsets**2) / (2 * sigma**2))
    layer = _line_blur(layer, offsets, weights / weights.sum(), angle)
    x = keep * x + (1 - keep) * torch.maximum(x, 1.5 * _gray(x) + 0.5)
    return x + layer + layer.flip(-2, -1)


@corruption("frost")
@image_op
def frost(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Frost: ``c0 * x + c1 * texture`` with a procedural, faintly blue frost texture (see
    ``_frost_texture``; the paper crops photographs of frost). x: (N, C, H, W) in [0, 1]."""
    keep, amount = _FROST[severity - 1]
    texture = _frost_texture(x, generator) * _color(x, _ICE)
    return keep * x + amount * texture


@corruption("fog")
@image_op
def fog(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Fog: add ``c0`` times a diamond-square plasma fractal (one per image, gray), then rescale by
    ``max / (max + c0)`` with ``max`` the image's clean maximum. x: (N, C, H, W) in [0, 1]."""
    amount, decay = _FOG[severity - 1]
    top = x.amax((1, 2, 3), keepdim=True)
    return (x + amount * _plasma_fractal(x, x.shape[0], decay, generator)) * top / (top + amount)


@corruption("spatter", held_out=True)
@image_op
def spatter(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Spatter: blobs of a blurred, thresholded Gaussian layer; pale-turquoise embossed water added to
    the image at severities 1-3, opaque mud-brown splashes at 4-5. x: (N, C, H, W) in [0, 1]."""
    mean, std, sigma, threshold, strength, mode = _SPATTER[severity - 1]
    n, _, h, w = x.shape
    scale = _scale(x)
    # drawn and blurred at CIFAR scale, then resized: blob sizes stay relative and the threshold keeps its meaning
    grid = (max(2, round(h / scale)), max(2, round(w / scale)))
    liquid = gaussian_blur(mean + std * _randn(x, (n, 1, *grid), generator), sigma)
    if grid != (h, w):
        liquid = F.interpolate(liquid, size=(h, w), mode="bilinear", align_corners=False)
    liquid = torch.where(liquid < threshold, 0.0, liquid)
    if mode == 0:
        dist = _edge_distance((liquid > 0).to(x.dtype), max(2, round(20 * scale)))
        dist = _equalize(_box3(dist))
        kernel = torch.tensor(_EMBOSS, device=x.device, dtype=x.dtype).view(1, 1, 3, 3)
        dist = _box3(F.conv2d(mirror_pad(dist, 1), kernel).clamp(0, 255))
        m = liquid.clamp(0, 1) * dist
        m = strength * m / m.amax((2, 3), keepdim=True).clamp_min(1e-12)
        x = x + m * _color(x, _WATER)
    else:
        m = gaussian_blur((liquid > threshold).to(x.dtype), strength * scale)
        m = torch.where(m < 0.8, 0.0, m)
        x = x * (1 - m) + m * _color(x, _MUD)
    return x
