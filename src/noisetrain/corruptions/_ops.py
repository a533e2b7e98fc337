"""Tensor helpers shared by the corruptions: dtype handling, image-size scaling, Gaussian and disk
filters, pixel gathers and bilinear resampling at pixel coordinates, ImageMagick's motion blur and the
clipped zoom of CIFAR-10-C, and RGB <-> HSV.

Images are float (N, C, H, W) in [0, 1]; pixel coordinates are (row, column) in pixel units with
pixel centres at integers.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from .base import Fn

LUMA = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights of R, G, B (cv2.COLOR_RGB2GRAY; also JPEG's Y)."""

REFERENCE_SIZE = 32
"""CIFAR-10 image side: spatial parameters of CIFAR-10-C are defined for 32 x 32 images."""


def image_op(fn: Fn) -> Fn:
    """Wrap a corruption: compute in float32 for half/bfloat16 input (float32/float64 as given), then clip
    to [0, 1] and cast back to the input dtype."""

    @functools.wraps(fn)
    def wrapped(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
        work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        return fn(work, severity, generator).clamp(0.0, 1.0).to(x.dtype)

    return wrapped


def spatial_scale(x: torch.Tensor) -> float:
    """Factor by which pixel-unit parameters defined for 32 x 32 CIFAR images grow with ``x``'s size:
    ``max(1, min(H, W) / 32)``. Smaller images (28 x 28 MNIST) keep the CIFAR values: shrinking them
    would collapse the discrete kernels (a disk of radius 0.9 is a single pixel)."""
    return max(1.0, min(x.shape[-2:]) / REFERENCE_SIZE)


def fold_index(index: torch.Tensor, n: int, mode: str) -> torch.Tensor:
    """Map out-of-range integer indices into ``0..n-1`` by a boundary rule (scipy.ndimage names):
    ``nearest`` repeats the edge, ``reflect`` mirrors including the edge (abc|cba), ``mirror``
    mirrors about the edge pixel (abc|b a)."""
    if mode == "nearest":
        return index.clamp(0, n - 1)
    if mode == "reflect":
        index = index.remainder(2 * n)
        return torch.where(index >= n, 2 * n - 1 - index, index)
    if mode == "mirror":
        if n == 1:
            return torch.zeros_like(index)
        index = index.remainder(2 * n - 2)
        return torch.where(index >= n, 2 * n - 2 - index, index)
    raise ValueError(f"unknown boundary mode {mode!r}")


def gaussian_weights(sigma: float, truncate: float, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Normalised 1-D Gaussian taps at offsets ``-r..r``, ``r = int(truncate * sigma + 0.5)`` (scipy's rule)."""
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def gaussian_matrix(
    n: int, sigma: float, truncate: float, mode: str, *, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The (n, n) matrix of 1-D Gaussian smoothing with boundary ``mode`` (see ``fold_index``), so that
    smoothing any radius, even wider than the signal, is one matrix product. ``sigma <= 0``: identity."""
    if sigma <= 0:
        return torch.eye(n, dtype=dtype, device=device)
    weights = gaussian_weights(sigma, truncate, dtype=dtype, device=device)
    radius = (weights.numel() - 1) // 2
    rows = torch.arange(n, device=device)[:, None].expand(n, weights.numel())
    cols = fold_index(rows + torch.arange(-radius, radius + 1, device=device), n, mode)
    matrix = torch.zeros(n, n, dtype=dtype, device=device)
    return matrix.index_put_((rows, cols), weights.expand(n, -1), accumulate=True)


def gaussian_blur(x: torch.Tensor, sigma: float, *, truncate: float = 4.0, mode: str = "nearest") -> torch.Tensor:
    """Separable Gaussian blur of the last two dims with std ``sigma`` pixels, like
    ``scipy.ndimage.gaussian_filter`` (and ``skimage.filters.gaussian``, whose default mode is nearest)."""
    rows = gaussian_matrix(x.shape[-2], sigma, truncate, mode, dtype=x.dtype, device=x.device)
    cols = gaussian_matrix(x.shape[-1], sigma, truncate, mode, dtype=x.dtype, device=x.device)
    return separable(x, rows, cols)


def separable(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``rows @ x @ cols.T`` for ``x`` (..., H, W), ``rows`` (H', H), ``cols`` (W', W): a separable linear map
    of the last two dims, as two plain matrix products (broadcasting ``rows`` over the batch is much slower)."""
    height, width = x.shape[-2:]
    out = rows @ (x.reshape(-1, width) @ cols.T).view(-1, height, cols.shape[0])
    return out.view(*x.shape[:-2], rows.shape[0], cols.shape[0])


def filter2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate every channel of ``x`` (N, C, H, W) with the 2-D ``kernel`` (k, k), k odd, with mirrored
    borders (OpenCV's default BORDER_REFLECT_101); edges repeat where the kernel exceeds the image. One
    depthwise convolution of the batch as the channels of a single image (on the CPU 3x faster than per image)."""
    planes = x.shape[0] * x.shape[1]
    padded = mirror_pad(x, kernel.shape[-1] // 2)
    weight = kernel.to(x.dtype).expand(planes, 1, *kernel.shape)
    return F.conv2d(padded.reshape(1, planes, *padded.shape[-2:]), weight, groups=planes).view_as(x)


def mirror_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """``x`` (N, C, H, W) padded by ``pad`` on every side with mirrored borders (BORDER_REFLECT_101), or with
    repeated edges where the image is too small to mirror (``pad >= H`` or ``W``)."""
    mode = "reflect" if pad < min(x.shape[-2:]) else "replicate"
    return F.pad(x, (pad, pad, pad, pad), mode=mode)


def disk_kernel(radius: float, alias_blur: float, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Anti-aliased disk: the normalised indicator of ``x^2 + y^2 <= radius^2`` on the integer grid, smoothed
    by a 3 x 3 Gaussian of std ``alias_blur`` (the defocus kernel of Hendrycks & Dietterich 2019)."""
    half = math.ceil(radius) + 1
    grid = torch.arange(-half, half + 1, dtype=dtype, device=device)
    disk = ((grid[:, None] ** 2 + grid[None, :] ** 2) <= radius**2).to(dtype)
    disk = disk / disk.sum()
    taps = torch.exp(-0.5 * (torch.arange(-1, 2, dtype=dtype, device=device) / alias_blur) ** 2)
    taps = taps / taps.sum()
    return F.conv2d(disk[None, None], (taps[:, None] * taps[None, :])[None, None], padding=1)[0, 0]


def pixel_grid(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column coordinates (H, W) of ``x``'s pixels."""
    height, width = x.shape[-2:]
    rows = torch.arange(height, dtype=x.dtype, device=x.device)[:, None].expand(height, width)
    cols = torch.arange(width, dtype=x.dtype, device=x.device)[None, :].expand(height, width)
    return rows, cols


def gather_pixels(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Pick pixels (all channels) of ``x`` (N, C, H, W) at integer coordinates ``rows``, ``cols``
    (broadcastable to (N, H, W)), clamped to the image (edges repeat)."""
    batch, channels, height, width = x.shape
    index = rows.clamp(0, height - 1) * width + cols.clamp(0, width - 1)
    index = index.expand(batch, height, width).reshape(batch, 1, height * width).expand(-1, channels, -1)
    return x.flatten(2).gather(2, index).view_as(x)


def sample(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, *, padding: str = "border") -> torch.Tensor:
    """Bilinearly resample ``x`` (N, C, H, W) at pixel coordinates ``rows``, ``cols`` (N, H', W',
    broadcastable): ``grid_sample`` with pixel centres at integers; ``padding`` is border (repeat edge) or reflection
    (mirror about the edge pixel)."""
    height, width = x.shape[-2:]
    grid_x = cols * (2.0 / max(width - 1, 1)) - 1.0
    grid_y = rows * (2.0 / max(height - 1, 1)) - 1.0
    grid_x, grid_y = torch.broadcast_tensors(grid_x, grid_y)
    grid = torch.stack((grid_x, grid_y), dim=-1).expand(x.shape[0], -1, -1, -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=True)


def magick_motion_blur(x: torch.Tensor, radius: float, sigma: float, angle: torch.Tensor) -> torch.Tensor:
    """ImageMagick's MotionBlurImage of ``x`` (N, C, H, W) along ``angle`` (N,), degrees per image (0: to the
    right, 90: down): ``2 ceil(radius) + 1`` taps ``i = 0, 1, ...`` with weights ``exp(-i^2 / (2 sigma^2))``
    (normalised), each the pixel ``ceil(i sin(angle) - 0.5)`` rows and ``ceil(i cos(angle) - 0.5)`` columns
    away, edges repeated (ImageMagick's default virtual pixels)."""
    taps = 2 * math.ceil(radius) + 1
    weights = torch.exp(-0.5 * (torch.arange(taps, dtype=torch.float64) / sigma) ** 2)
    angle = torch.deg2rad(angle.double())  # offsets in double precision, as ImageMagick's
    direction = torch.stack((angle.sin(), angle.cos()))[:, :, None]  # (row, column) per image
    rows, cols = (torch.arange(n, device=x.device) for n in x.shape[-2:])
    out = torch.zeros_like(x)
    for i, weight in enumerate((weights / weights.sum()).tolist()):
        offset = torch.ceil(i * direction - 0.5).long()
        out.add_(gather_pixels(x, (rows + offset[0])[:, :, None], (cols + offset[1])[:, None, :]), alpha=weight)
    return out


def clipped_zoom_coordinates(n: int, factor: float) -> torch.Tensor:
    """Where each of ``n`` output pixels samples the input along one axis in the ``clipped_zoom`` of the
    CIFAR-10-C generator (float64, (n,)).

    It crops the central ``c = ceil(n / factor)`` pixels (starting at ``(n - c) // 2``: the odd pixel left over
    goes to the bottom/right), zooms them to ``m = round(c * factor)`` pixels with ``scipy.ndimage.zoom`` (linear,
    first and last pixels aligned: output ``j`` samples crop position ``j (c - 1) / (m - 1)``) and keeps ``n`` of
    them starting at ``(m - n) // 2``. Against a zoom about the exact centre this shifts the image by up to a
    pixel towards the top-left and rounds the zoom to whole pixels.
    """
    crop = math.ceil(n / factor)
    zoomed = round(crop * factor)
    step = (crop - 1) / (zoomed - 1) if zoomed > 1 else 0.0
    return (n - crop) // 2 + (torch.arange(n, dtype=torch.float64) + (zoomed - n) // 2) * step


@functools.lru_cache(maxsize=512)
def clipped_zoom_matrix(n: int, factor: float) -> torch.Tensor:
    """The (n, n) float64 matrix of ``clipped_zoom`` along one axis: row ``j`` holds the linear interpolation
    weights of output pixel ``j`` at ``clipped_zoom_coordinates(n, factor)[j]``."""
    coordinates = clipped_zoom_coordinates(n, factor)
    low = coordinates.floor().long().clamp(max=n - 1)
    weight = coordinates - low
    rows = torch.arange(n)
    matrix = torch.zeros(n, n, dtype=torch.float64)
    matrix.index_put_((rows, low), 1 - weight, accumulate=True)
    return matrix.index_put_((rows, (low + 1).clamp(max=n - 1)), weight, accumulate=True)


def clipped_zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x`` (N, C, H, W) zoomed by ``factor`` >= 1 about its centre and clipped to its size, as the CIFAR-10-C
    generator's ``clipped_zoom`` (see ``clipped_zoom_coordinates``): bilinear, exact to float rounding. Two
    matrix products (``clipped_zoom_matrix``): at CIFAR's size faster than ``grid_sample``, their cost per
    pixel grows with the image side."""
    rows, cols = (clipped_zoom_matrix(n, factor).to(device=x.device, dtype=x.dtype) for n in x.shape[-2:])
    return separable(x, rows, cols)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB (N, 3, H, W) in [0, 1] -> HSV with hue, saturation, value in [0, 1] (hue 0 for grays), as
    ``skimage.color.rgb2hsv``."""
    red, green, blue = x.unbind(1)
    value, argmax = x.max(dim=1)
    delta = value - x.min(dim=1).values
    safe_delta = torch.where(delta > 0, delta, torch.ones_like(delta))
    hue = torch.stack(
        (
            ((green - blue) / safe_delta).remainder(6.0),
            (blue - red) / safe_delta + 2.0,
            (red - green) / safe_delta + 4.0,
        )
    )
    hue = torch.where(delta > 0, hue.gather(0, argmax[None]).squeeze(0) / 6.0, torch.zeros_like(delta))
    saturation = torch.where(value > 0, delta / torch.where(value > 0, value, torch.ones_like(value)), 0.0)
    return torch.stack((hue.remainder(1.0), saturation, value), dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """HSV (N, 3, H, W) in [0, 1] -> RGB in [0, 1], the inverse of ``rgb_to_hsv``: channel ``c`` of
    (r, g, b) is ``v - v * s * clamp(min(k, 4 - k), 0, 1)`` with ``k = (n_c + 6 h) mod 6``, n = (5, 3, 1)."""
    hue, saturation, value = x[:, :1], x[:, 1:2], x[:, 2:]
    n = torch.tensor([5.0, 3.0, 1.0], dtype=x.dtype, device=x.device)[:, None, None]
    k = (n + 6.0 * hue).remainder(6.0)
    return value - value * saturation * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
