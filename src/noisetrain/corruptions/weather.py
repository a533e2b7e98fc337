"""Weather corruptions: snow, frost, fog and spatter, as batched tensor operations.

After Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations" (ICLR 2019, arXiv:1903.12261), with the CIFAR-10-C severity parameters of their
``make_cifar_c.py``. Every function takes images ``x`` (N, C, H, W) in [0, 1] with C in {1, 3}, a
severity in 1..5 and a ``torch.Generator`` on ``x``'s device, and returns the same shape and dtype,
clipped to [0, 1]. Example: ``fog(x, 3, torch.Generator().manual_seed(0))``.

Spatial parameters (motion-blur radii and sigmas, frost needle length) are those of 32x32 CIFAR scaled by
``s = sqrt(H * W) / 32``. Spatter is computed on an (H/s, W/s) grid, CIFAR's scale, and its mask resized to
the image, so blobs and water stay relative to the image; the fog fractal is drawn on the next power of two
above ``max(H, W)`` and cropped, so its structure follows the image size by construction; the snow layer is
per pixel (flake size in pixels, as in ImageNet-C); frost photographs are resized by ``0.2 * max(1, min(H,
W) / 32)``.

What matches the original (given the same random draws; ours come from a torch generator instead of numpy's
global state, so the draws differ but not their distribution):

- snow, every step: the clipped zoom of the Gaussian layer with the original's whole-pixel crop, threshold,
  truncation to 8 bits, ImageMagick's motion blur (integer offsets) and rounding back to 8 bits;
- spatter, every step at 32 x 32: the blurred, thresholded Gaussian liquid layer; for water (severities 1-3)
  its 8-bit version, ``cv2.Canny`` edges at thresholds 50 and 150, ``cv2.distanceTransform`` (L2, 5 x 5
  chamfer mask) cut at 20, the 3 x 3 mean and truncation to 8 bits, ``cv2.equalizeHist``, the emboss filter
  saturated to 8 bits and the rounded 3 x 3 mean (``_canny``, ``_edge_distance``, ``_equalize``); for mud
  (severities 4-5) the blurred blob mask cut at 0.8. Quirks included: the uint8 cast of the liquid layer
  wraps values of 256/255 and more around to dark ones (numpy on x86; about one image in six at severity 3
  has such a pixel, often its brightest, which also sets the mask's scale), and the distances are OpenCV
  3/4's fixed-point ones (OpenCV 5 computes them in float32: up to 1e-5 apart);
- frost with the original's photographs, when they are installed (``FROST_SOURCE``): they come with the
  ``imagecorruptions`` package (``pip install noisetrain[frost]``), whose files are read without importing
  it. Photographs 1-5 (the original never draws the sixth), resized by 0.2 with OpenCV's linear rule
  (at 32 x 32 exactly every fifth pixel, from the third), a crop at a uniform offset ``0 .. size - 33``, as
  ``np.random.randint(0, size - 32)``.

Where this differs from the original: without the photographs, frost is a procedural texture (hexagonal ice
needles over a plasma-fractal density, ``FROST_SOURCE == "procedural"``), and its records say so
(``Corruption.variant``), so that they never mix with results on the photographs.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ._ops import LUMA, clipped_zoom, gaussian_blur, image_op, magick_motion_blur, mirror_pad, spatial_scale
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
_SOBEL = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))  # d/dx; its transpose is d/dy
_TAN_22 = 13573  # OpenCV's Canny: round(tan(22.5 degrees) * 2^15)
_CHAMFER_UNIT = 65536  # OpenCV 3/4's distance transform works in integer units of 2^-16 pixel
_CHAMFER = (65536, 91750, 143976)  # round(2^16 * (1, 1.4, 2.1969)): its 5x5 mask's steps (straight, diagonal, knight)
FROST_PHOTOS = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
"""The photographs the original draws from with ``np.random.randint(5)`` (its sixth, frost6.jpg, is never used)."""


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
    """3x3 mean filter with reflected edges (cv2.blur): the sum of the 9 pixels divided by 9."""
    padded = mirror_pad(x, 1)
    rows = padded[..., :-2] + padded[..., 1:-1] + padded[..., 2:]
    return (rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]) / 9


def _filter3(padded: torch.Tensor, kernel: tuple[tuple[float, ...], ...]) -> torch.Tensor:
    """Correlation of ``padded`` (N, 1, H + 2, W + 2) with a 3x3 ``kernel``, as a sum of shifted slices (on the
    CPU much faster than conv2d or pooling with one channel)."""
    height, width = padded.shape[-2] - 2, padded.shape[-1] - 2
    taps = [(weight, r, c) for r, row in enumerate(kernel) for c, weight in enumerate(row) if weight]
    out = taps[0][0] * padded[..., taps[0][1] : taps[0][1] + height, taps[0][2] : taps[0][2] + width]
    for weight, r, c in taps[1:]:
        out = out + weight * padded[..., r : r + height, c : c + width]
    return out


def _dilate3(mask: torch.Tensor) -> torch.Tensor:
    """Binary dilation of a bool (N, 1, H, W) ``mask`` by a 3x3 square."""
    padded = F.pad(mask, (1, 1, 1, 1))
    rows = padded[..., :-2] | padded[..., 1:-1] | padded[..., 2:]
    return rows[..., :-2, :] | rows[..., 1:-1, :] | rows[..., 2:, :]


def _line_blur(x: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Sum over taps of ``weights[k] * x`` sampled ``offsets[k]`` pixels along direction ``angle``.

    x: (N, C, H, W); offsets, weights: (K,); angle: (N,) in degrees (0 = +x, 90 = +y, i.e. down).
    Bilinear sampling, edges replicated: the needles of the procedural frost texture.
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


def _canny(image: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Edges (N, 1, H, W, bool) of 8-bit images (N, 1, H, W) (integer values as floats), as ``cv2.Canny(image,
    low, high)`` (3x3 Sobel, L1 gradient magnitude).

    Sobel derivatives with repeated edges; a pixel above ``low`` is kept if its magnitude is a maximum along its
    gradient direction, quantised with OpenCV's fixed-point slopes to horizontal, vertical or one of the
    diagonals, with OpenCV's tie rules (strictly above the left/top neighbour, at least the right/bottom one;
    strictly above both diagonal ones) and zero magnitude outside the image; kept pixels above ``high`` are
    edges, and so are kept pixels connected to an edge through kept pixels (8-neighbourhood, hysteresis).
    """
    padded = F.pad(image.float(), (1, 1, 1, 1), mode="replicate")  # float32 holds these integer sums exactly
    dx = _filter3(padded, _SOBEL).int()
    dy = _filter3(padded, tuple(zip(*_SOBEL, strict=True))).int()
    magnitude = dx.abs() + dy.abs()
    around = F.pad(magnitude, (1, 1, 1, 1))
    height, width = image.shape[-2:]

    def neighbour(row: int, col: int) -> torch.Tensor:
        return around[..., 1 + row : 1 + row + height, 1 + col : 1 + col + width]

    slope = dy.abs() << 15  # |dy| / |dx| against tan(22.5) and tan(67.5) = tan(22.5) + 2, in units of 2^-15
    horizontal = slope < dx.abs() * _TAN_22
    vertical = slope > dx.abs() * (_TAN_22 + (2 << 15))
    rising = (dx < 0) != (dy < 0)  # the gradient runs along the top-right / bottom-left diagonal
    peak = torch.where(
        horizontal,
        (magnitude > neighbour(0, -1)) & (magnitude >= neighbour(0, 1)),
        torch.where(
            vertical,
            (magnitude > neighbour(-1, 0)) & (magnitude >= neighbour(1, 0)),
            torch.where(
                rising,
                (magnitude > neighbour(-1, 1)) & (magnitude > neighbour(1, -1)),
                (magnitude > neighbour(-1, -1)) & (magnitude > neighbour(1, 1)),
            ),
        ),
    )
    kept = peak & (magnitude > low)
    edges = kept & (magnitude > high)
    while not torch.equal(grown := kept & _dilate3(edges), edges):
        edges = grown
    return edges


def _edge_distance(edges: torch.Tensor, limit: int) -> torch.Tensor:
    """Distance (N, 1, H, W) of each pixel to the nearest ``edges`` pixel (N, 1, H, W, bool), cut at ``limit``
    pixels, as ``cv2.distanceTransform(..., cv2.DIST_L2, 5)`` then ``cv2.threshold(..., THRESH_TRUNC)``; float32.

    OpenCV's two passes over its 5x5 chamfer mask (steps 1 straight, 1.4 diagonal, 2.1969 a knight's move, in
    its integer units of 2^-16 pixel): top to bottom, each pixel takes the cheapest of its neighbours in the two
    rows above plus the step, and of its left neighbour plus 1, a running minimum along the row (``cummin``);
    then bottom to top and right to left, likewise, keeping its value where cheaper. Outside the image counts
    as far; values past ``limit`` are cut as they go (a distance below it never passes through one above it).
    """
    cap = limit * _CHAMFER_UNIT
    straight, diagonal, knight = _CHAMFER
    n, _, height, width = edges.shape
    dist = torch.full((n, height + 4, width + 4), cap, dtype=torch.int32, device=edges.device)  # 2 rows/cols out
    ramp = torch.arange(width, dtype=torch.int32, device=edges.device) * straight
    for down in (True, False):
        back = -1 if down else 1  # towards the rows this pass has done
        for i in range(height) if down else range(height - 1, -1, -1):
            near, far = dist[:, i + 2 + back], dist[:, i + 2 + 2 * back]
            best = torch.minimum(near[:, 2:-2] + straight, torch.minimum(near[:, 1:-3], near[:, 3:-1]) + diagonal)
            knights = torch.minimum(torch.minimum(near[:, :-4], near[:, 4:]), torch.minimum(far[:, 1:-3], far[:, 3:-1]))
            best = torch.minimum(best, knights + knight)
            if down:  # edges are 0; then left to right: min over k <= j of best[k] + (j - k) * straight
                best = torch.where(edges[:, 0, i], 0, best)
                best = torch.cummin(best - ramp, dim=1).values + ramp
            else:  # keep the first pass's value where cheaper; then right to left
                best = torch.minimum(best, dist[:, i + 2, 2:-2])
                best = torch.cummin((best + ramp).flip(1), dim=1).values.flip(1) - ramp
            dist[:, i + 2, 2:-2] = best.clamp(max=cap)
    return dist[:, None, 2:-2, 2:-2].float() / _CHAMFER_UNIT


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of 8-bit images (N, 1, H, W) (integer values as floats), as ``cv2.equalizeHist``:
    value ``v`` becomes ``round(255 * (count(<= v) - count(lowest)) / (count(all) - count(lowest)))`` (float32
    arithmetic); a constant image keeps its value."""
    flat = x.flatten(1).long()
    counts = torch.zeros(flat.shape[0], 256, dtype=torch.long, device=x.device)
    counts.scatter_add_(1, flat, torch.ones_like(flat))
    lowest = flat.amin(1, keepdim=True)
    first = counts.gather(1, lowest)
    others = (flat.shape[1] - first).clamp_min(1).float()
    scale = torch.full_like(others, 255.0) / others  # rounded as OpenCV's 255.f / n (255 / tensor is 255 * (1 / n))
    table = torch.round((counts.cumsum(1) - first).float() * scale)
    table = torch.where(first == flat.shape[1], lowest.float(), table)
    return table.gather(1, flat).to(x.dtype).view_as(x)


def _water(liquid: torch.Tensor, strength: float) -> torch.Tensor:
    """The water mask (N, 1, h, w) of spatter, maximum ``strength``, from the thresholded liquid layer, step by
    step as the original with OpenCV (see the module's notes)."""
    layer = torch.floor(liquid * 255).remainder(256)  # numpy's uint8 cast wraps values of 256 and more around
    dist = _edge_distance(_canny(layer, 50, 150), 20)
    # cv2.blur sums in double and rounds to float32; float32 holds these sums exactly and rounds the same
    dist = _box3(dist).floor().to(liquid.dtype)  # then the uint8 cast
    dist = _filter3(mirror_pad(_equalize(dist), 1), _EMBOSS).clamp(0, 255)
    mask = layer * torch.round(_box3(dist))
    return strength * mask / mask.amax((2, 3), keepdim=True).clamp_min(1e-12)


@functools.cache
def _frost_folder() -> Path | None:
    """The folder of the frost photographs in the installed ``imagecorruptions``, found without importing the
    package (it imports ``pkg_resources``, which recent setuptools no longer ship), or None."""
    spec = importlib.util.find_spec("imagecorruptions")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "frost"
    return folder if all((folder / name).is_file() for name in FROST_PHOTOS) else None


FROST_SOURCE = "photos" if _frost_folder() is not None else "procedural"
"""Where frost comes from: the original's ``"photos"`` when ``imagecorruptions`` is installed, else the
``"procedural"`` texture; recorded with every frost result (``Corruption.variant``)."""


@functools.lru_cache(maxsize=8)
def _frost_photos(height: int, width: int, scale: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The five photographs resized for (height, width) images of ``spatial_scale`` ``scale``, RGB in [0, 1],
    zero-padded into one tensor (5, rows, cols, 3), and each one's size (5, 2).

    Resized by ``0.2 * scale`` (more where a photograph would be too small for the image) with OpenCV's linear
    rule: output pixel ``i`` samples ``(i + 0.5) / f - 0.5``, no antialiasing.
    """
    from PIL import Image  # a dependency of imagecorruptions, as of matplotlib

    folder = _frost_folder()
    if folder is None:
        raise FileNotFoundError("the frost photographs come with imagecorruptions: pip install noisetrain[frost]")
    photos = []
    for name in FROST_PHOTOS:
        with Image.open(folder / name) as file:
            photo = torch.from_numpy(np.array(file.convert("RGB"))).permute(2, 0, 1)[None].float() / 255
        factor = max(0.2 * scale, (height + 1) / photo.shape[-2], (width + 1) / photo.shape[-1])
        photos.append(F.interpolate(photo, scale_factor=factor, mode="bilinear", recompute_scale_factor=False)[0])
    sizes = torch.tensor([photo.shape[-2:] for photo in photos])
    padded = torch.zeros(len(photos), 3, *sizes.amax(0).tolist())
    for i, photo in enumerate(photos):
        padded[i, :, : photo.shape[-2], : photo.shape[-1]] = photo
    return padded.permute(0, 2, 3, 1).contiguous().to(device), sizes.to(device)


def _frost_crops(x: torch.Tensor, photo: torch.Tensor, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """Crops (N, 3, H, W) of the frost photographs: of photograph ``photo[i]`` from row ``top[i]`` and column
    ``left[i]`` for image ``i``."""
    height, width = x.shape[-2:]
    photos, _ = _frost_photos(height, width, spatial_scale(x), x.device)
    rows = top[:, None, None] + torch.arange(height, device=x.device)[:, None]
    cols = left[:, None, None] + torch.arange(width, device=x.device)[None, :]
    return photos[photo[:, None, None], rows, cols].permute(0, 3, 1, 2).to(x.dtype)


def _frost_photo_texture(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crops (N, C, H, W) of the frost photographs: a photograph uniform among the five and an offset
    uniform in ``0 .. size - H - 1`` (rows) and ``0 .. size - W - 1`` (columns), per image; luma for C = 1."""
    n, _, height, width = x.shape
    _, sizes = _frost_photos(height, width, spatial_scale(x), x.device)
    photo = torch.randint(len(FROST_PHOTOS), (n,), generator=generator, device=x.device)
    room = sizes[photo] - torch.tensor([height, width], device=x.device)
    offset = (torch.rand(n, 2, generator=generator, device=x.device, dtype=torch.float64) * room).long()
    crops = _frost_crops(x, photo, offset[:, 0], offset[:, 1])
    return _gray(crops) if x.shape[1] == 1 else crops


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
    ``1.5 * luma + 0.5``, as the original (``_snow``). x: (N, C, H, W) in [0, 1]."""
    n, _, h, w = x.shape
    noise = _randn(x, (n, 1, h, w), generator)
    return _snow(x, noise, -135 + 90 * _rand(x, (n,), generator), severity)


def _snow(x: torch.Tensor, noise: torch.Tensor, angle: torch.Tensor, severity: int) -> torch.Tensor:
    """Snow of ``x`` from ``noise`` (N, 1, H, W), standard normal (the layer is ``mean + std * noise``), blurred
    along ``angle`` (N,) degrees: the layer's clipped zoom (``_ops.clipped_zoom``), its truncation to 8 bits
    (the original writes it as a PNG for ImageMagick), ImageMagick's motion blur (``_ops.magick_motion_blur``),
    rounded back to 8 bits."""
    mean, std, zoom, threshold, radius, sigma, keep = _SNOW[severity - 1]
    layer = clipped_zoom(mean + std * noise, zoom)
    layer = torch.floor(torch.where(layer < threshold, 0.0, layer).clamp(0, 1) * 255) / 255
    layer = torch.round(magick_motion_blur(layer, radius * _scale(x), sigma * _scale(x), angle) * 255) / 255
    x = keep * x + (1 - keep) * torch.maximum(x, 1.5 * _gray(x) + 0.5)
    return x + layer + layer.flip(-2, -1)


@corruption("frost", variant=FROST_SOURCE)
@image_op
def frost(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Frost: ``c0 * x + c1 * texture``, the texture a random crop of one of the original's frost photographs
    when they are installed (``FROST_SOURCE == "photos"``), else a procedural, faintly blue frost texture (see
    ``_frost_texture``). x: (N, C, H, W) in [0, 1]."""
    keep, amount = _FROST[severity - 1]
    if FROST_SOURCE == "photos":
        texture = _frost_photo_texture(x, generator)
    else:
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
    """Spatter: blobs of a blurred, thresholded Gaussian layer; pale-turquoise embossed water added to the
    image at severities 1-3, opaque mud-brown splashes at 4-5, as the original (see the module's notes).
    x: (N, C, H, W) in [0, 1]."""
    n, _, h, w = x.shape
    scale = _scale(x)
    grid = (max(2, round(h / scale)), max(2, round(w / scale)))  # CIFAR's scale
    return _spatter(x, _randn(x, (n, 1, *grid), generator), severity)


def _spatter(x: torch.Tensor, noise: torch.Tensor, severity: int) -> torch.Tensor:
    """Spatter of ``x`` from ``noise`` (N, 1, h, w), standard normal: the liquid layer is ``mean + std * noise``
    on an (h, w) grid; the water or mud mask is resized from there to ``x``'s size."""
    mean, std, sigma, threshold, strength, mode = _SPATTER[severity - 1]
    liquid = gaussian_blur(mean + std * noise, sigma)
    liquid = torch.where(liquid < threshold, 0.0, liquid)
    if mode == 0:
        return x + _resized(_water(liquid, strength), x) * _color(x, _WATER)
    mud = gaussian_blur((liquid > threshold).to(x.dtype), strength)
    mud = _resized(torch.where(mud < 0.8, 0.0, mud), x)
    return x * (1 - mud) + mud * _color(x, _MUD)


def _resized(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``mask`` (N, 1, h, w) resized (bilinear) to ``x``'s size, if it differs."""
    if mask.shape[-2:] == x.shape[-2:]:
        return mask
    return F.interpolate(mask, size=x.shape[-2:], mode="bilinear", align_corners=False)
