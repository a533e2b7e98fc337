"""Digital corruptions of CIFAR-10-C (Hendrycks & Dietterich 2019, "Benchmarking Neural Network Robustness to
Common Corruptions and Perturbations", arXiv:1903.12261), with the severity parameters of the paper's
``make_cifar_c.py``.

Colour corruptions (brightness, saturate) act in HSV; a one-channel image is treated as the gray RGB image
with that value in each channel and mapped back by ITU-R BT.601 luma (brightness is then exactly
``x + c``; saturate leaves grays gray except for the hue-0 (red) tint that severities 4-5 give them,
which survives only as a slight darkening). Elastic parameters are fractions of ``min(H, W)``; pixelate
factors are relative; JPEG works on 8 x 8 pixel blocks at any size.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ._ops import LUMA, gaussian_blur, hsv_to_rgb, image_op, pixel_grid, rgb_to_hsv, sample, separable
from .base import corruption

BRIGHTNESS_SHIFT = (0.05, 0.1, 0.15, 0.2, 0.3)
CONTRAST_FACTOR = (0.75, 0.5, 0.4, 0.3, 0.15)
ELASTIC = ((0.0, 0.0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03))
"""(displacement scale alpha, displacement smoothing std, affine point jitter), as fractions of min(H, W)."""
PIXELATE_FACTOR = (0.95, 0.9, 0.85, 0.75, 0.65)
JPEG_QUALITY = (80, 65, 58, 50, 40)
SATURATE = ((0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2))
"""(saturation factor, saturation shift)."""


# JPEG standard (ITU-T T.81, Annex K) quantisation tables, row-major 8 x 8.
LUMINANCE_TABLE = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
CHROMINANCE_TABLE = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
    *((99,) * 8,) * 4,
)


def _in_rgb(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Apply an RGB -> RGB ``fn``; a one-channel ``x`` goes through as gray RGB and comes back as luma."""
    if x.shape[1] == 3:
        return fn(x)
    luma = torch.tensor(LUMA, dtype=x.dtype, device=x.device)
    return torch.einsum("nchw,c->nhw", fn(x.expand(-1, 3, -1, -1)), luma)[:, None]


def _scale_hsv(x: torch.Tensor, channel: int, factor: float, shift: float) -> torch.Tensor:
    hsv = rgb_to_hsv(x)
    hsv[:, channel] = (hsv[:, channel] * factor + shift).clamp(0.0, 1.0)
    return hsv_to_rgb(hsv)


@corruption("brightness")
@image_op
def brightness(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """HSV value + 0.05..0.3 by severity, clipped to 1. Hue and saturation stay, so this is the HSV round trip
    without its cost: every channel scales by ``v' / v`` (``v`` the largest channel), black becomes gray
    ``v'``; a one-channel image is its own value."""
    value = x.amax(1, keepdim=True)
    raised = (value + BRIGHTNESS_SHIFT[severity - 1]).clamp(max=1.0)
    return torch.where(value > 0, x * raised / value.clamp_min(torch.finfo(x.dtype).tiny), raised)


@corruption("saturate", held_out=True)
@image_op
def saturate(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """HSV saturation ``s * a + b``, (a, b) = (0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2) by severity
    (not monotone: severities 1-2 desaturate, 3-5 saturate)."""
    factor, shift = SATURATE[severity - 1]
    return _in_rgb(functools.partial(_scale_hsv, channel=1, factor=factor, shift=shift), x)


@corruption("contrast")
@image_op
def contrast(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Pull every channel towards its image mean: ``(x - mean) * c + mean``, c = 0.75..0.15 by severity."""
    mean = x.mean(dim=(-2, -1), keepdim=True)
    return (x - mean) * CONTRAST_FACTOR[severity - 1] + mean


@corruption("elastic_transform")
@image_op
def elastic_transform(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Random affine warp plus a smooth random displacement field (Simard et al. 2003 style).

    The affine maps three points around the centre (at +-min(H, W)//3) to themselves plus uniform jitter in
    ``[-j, j]``; the displacement per axis is ``alpha * gaussian(U(-1, 1), std)`` (truncated at 3 std,
    mirrored edges). Parameters are exact; the two resamplings of the original (cv2 warpAffine, then
    map_coordinates) are fused into one bilinear sample with mirrored borders.
    """
    size = min(x.shape[-2:])
    alpha, smooth, jitter = (value * size for value in ELASTIC[severity - 1])
    batch, height = x.shape[0], x.shape[-2]
    options = {"dtype": x.dtype, "device": x.device}
    # affine: solve for the map from jittered points back to the points, i.e. output -> source (col, row)
    centre = torch.tensor([x.shape[-1] // 2, height // 2], **options)
    half = size // 3
    points = centre + half * torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]], **options)
    moved = points + jitter * (2 * torch.rand((batch, 3, 2), generator=generator, **options) - 1)
    system = torch.cat((moved, torch.ones(batch, 3, 1, **options)), dim=2)
    affine = torch.linalg.solve(system, points.expand(batch, 3, 2))  # (N, 3, 2): [col, row, 1] @ affine
    # smooth displacement field (rows, cols)
    field = 2 * torch.rand((batch, 2, *x.shape[-2:]), generator=generator, **options) - 1
    field = alpha * gaussian_blur(field, smooth, truncate=3.0, mode="reflect")
    rows, cols = pixel_grid(x)
    rows, cols = rows + field[:, 0], cols + field[:, 1]
    src_cols = affine[:, 0, 0, None, None] * cols + affine[:, 1, 0, None, None] * rows + affine[:, 2, 0, None, None]
    src_rows = affine[:, 0, 1, None, None] * cols + affine[:, 1, 1, None, None] * rows + affine[:, 2, 1, None, None]
    return sample(x, src_rows, src_cols, padding="reflection")


def _box_matrix(n_in: int, n_out: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(n_out, n_in) resampling matrix of PIL's BOX filter: each output pixel averages the input pixels
    whose centres fall in its footprint (for enlarging, the one input pixel under its centre)."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (torch.arange(n_out, dtype=torch.float64, device=device) + 0.5) * scale
    offsets = (torch.arange(n_in, dtype=torch.float64, device=device) + 0.5 - centres[:, None]) / support
    weights = ((offsets > -0.5) & (offsets <= 0.5)).to(torch.float64)
    return (weights / weights.sum(dim=1, keepdim=True)).to(dtype)


@corruption("pixelate")
@image_op
def pixelate(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Box-downsample each side to ``int(side * f)``, f = 0.95..0.65 by severity, and box-upsample back
    (PIL's ``Image.resize(..., BOX)`` twice, as the original)."""
    factor = PIXELATE_FACTOR[severity - 1]
    height, width = x.shape[-2:]
    options = {"dtype": x.dtype, "device": x.device}
    small_h, small_w = max(1, int(height * factor)), max(1, int(width * factor))
    rows = _box_matrix(small_h, height, **options) @ _box_matrix(height, small_h, **options)
    cols = _box_matrix(small_w, width, **options) @ _box_matrix(width, small_w, **options)
    return separable(x, rows, cols)


def _quant_table(base: tuple[tuple[int, ...], ...], quality: int, *, options: dict) -> torch.Tensor:
    """libjpeg's quality scaling of a base table: factor 5000/q below 50, 200 - 2q from 50; entries in 1..255."""
    factor = 5000 / quality if quality < 50 else 200 - 2 * quality
    return torch.floor((torch.tensor(base, **options) * factor + 50) / 100).clamp(1, 255)


def _dct_matrix(options: dict) -> torch.Tensor:
    """Orthonormal 8-point DCT-II matrix D (coefficients = D @ block @ D.T)."""
    k = torch.arange(8, **options)[:, None]
    n = torch.arange(8, **options)[None, :]
    matrix = torch.cos(math.pi * (2 * n + 1) * k / 16) * math.sqrt(2 / 8)
    matrix[0] = math.sqrt(1 / 8)
    return matrix


def _quantise_blocks(plane: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Level-shift, 8 x 8 block DCT, quantise with ``table``, dequantise, inverse DCT of planes (N, P, H, W)
    in 0..255; edges are padded by repetition to whole blocks and cropped after."""
    height, width = plane.shape[-2:]
    pad_h, pad_w = -height % 8, -width % 8
    plane = F.pad(plane, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else plane
    n, p, h, w = plane.shape
    blocks = (plane - 128).view(n, p, h // 8, 8, w // 8, 8).transpose(3, 4)  # (n, p, bh, bw, 8, 8)
    dct = _dct_matrix({"dtype": plane.dtype, "device": plane.device})
    coefficients = torch.round(separable(blocks, dct, dct) / table) * table
    blocks = separable(coefficients, dct.T, dct.T) + 128
    return blocks.transpose(3, 4).reshape(n, p, h, w)[..., :height, :width]


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode and decode ``x`` (N, C, H, W) in [0, 1] as baseline JPEG at ``quality`` (1..100), in torch.

    RGB -> YCbCr (JFIF), chroma subsampled 2 x 2 (4:2:0, PIL's default; decoded with bilinear "fancy"
    upsampling), 8 x 8 block DCT, quantisation with the standard tables scaled by libjpeg's quality rule,
    inverse DCT, and rounding to 8-bit levels. One channel: luminance only. Entropy coding is lossless and
    omitted; expect agreement with libjpeg to about one gray level.
    """
    options = {"dtype": x.dtype, "device": x.device}
    luma_table = _quant_table(LUMINANCE_TABLE, quality, options=options)
    pixels = x * 255
    if x.shape[1] == 1:
        return _quantise_blocks(pixels, luma_table).round().clamp(0, 255) / 255
    to_ycbcr = torch.tensor([LUMA, (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312)], **options)
    ycbcr = (
        torch.einsum("kc,nchw->nkhw", to_ycbcr, pixels) + torch.tensor([0.0, 128.0, 128.0], **options)[:, None, None]
    )
    luma = _quantise_blocks(ycbcr[:, :1], luma_table)
    height, width = x.shape[-2:]
    chroma = F.pad(ycbcr[:, 1:], (0, width % 2, 0, height % 2), mode="replicate")
    chroma = _quantise_blocks(F.avg_pool2d(chroma, 2), _quant_table(CHROMINANCE_TABLE, quality, options=options))
    chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)[..., :height, :width]
    to_rgb = torch.tensor([[1.0, 0.0, 1.402], [1.0, -0.344136, -0.714136], [1.0, 1.772, 0.0]], **options)
    ycbcr = torch.cat((luma, chroma - 128), dim=1)
    return torch.einsum("kc,nchw->nkhw", to_rgb, ycbcr).round().clamp(0, 255) / 255


@corruption("jpeg_compression")
@image_op
def jpeg_compression(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """JPEG round trip at quality 80, 65, 58, 50, 40 by severity (see ``jpeg_roundtrip``)."""
    return jpeg_roundtrip(x, JPEG_QUALITY[severity - 1])
