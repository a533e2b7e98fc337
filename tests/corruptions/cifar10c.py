"""An independent port of the CIFAR-10-C generator for reference: numpy, scipy, scikit-image, OpenCV, Pillow.

The original is ``ImageNet-C/create_c/make_cifar_c.py`` of github.com/hendrycks/robustness (Hendrycks &
Dietterich 2019, arXiv:1903.12261). This port follows its algorithms and parameters one image at a time, as the
original does; ``noisetrain.corruptions`` is tested against it (tests/corruptions/test_reference.py) and
benchmarked against it (benchmarks/evaluate.py).

Every corruption takes one image, uint8 (H, W, 3) (CIFAR: 32 x 32), a severity in 1..5 and a
``numpy.random.Generator``, and returns float64 (H, W, 3) in [0, 1]: the original's output / 255 before the
generator stores it as uint8. Where a corruption's randomness is more than a number, a ``*_with`` function takes
the draws, so that a test can give ours and this port the same ones.

Where this port differs from the original, without changing what it computes:

- draws come from an explicit Generator instead of numpy's global state; glass blur draws all moves of a sweep
  at once and then runs the original's sequential loop over them;
- ImageMagick's motion blur (called through Wand in the original) is ported to numpy (``magick_motion_blur``),
  and its 8-bit PNG round trip is a rounding to 8 bits;
- the frost photographs (the original's own, shipped as package data of ``imagecorruptions``) are read and
  resized once, not on every call.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import color, filters, util

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]

FROST_PHOTOS = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
"""The photographs the original draws from (``np.random.randint(5)``: its sixth, frost6.jpg, is never used)."""


def _unit(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, dtype=np.float64) / 255


def _rgb_filter(x: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return np.stack([fn(x[..., c]) for c in range(x.shape[-1])], axis=-1)


# ---------------------------------------------------------------- noise


def gaussian_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = _unit(image)
    return np.clip(x + rng.normal(scale=(0.04, 0.06, 0.08, 0.09, 0.10)[severity - 1], size=x.shape), 0, 1)


def shot_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    photons = (500, 250, 100, 75, 50)[severity - 1]
    return np.clip(rng.poisson(_unit(image) * photons) / photons, 0, 1)


def impulse_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    amount = (0.01, 0.02, 0.03, 0.05, 0.07)[severity - 1]
    return np.clip(util.random_noise(_unit(image), mode="s&p", amount=amount, rng=rng), 0, 1)


def speckle_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = _unit(image)
    return np.clip(x + x * rng.normal(scale=(0.06, 0.10, 0.12, 0.16, 0.20)[severity - 1], size=x.shape), 0, 1)


# ---------------------------------------------------------------- blur


def gaussian_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma = (0.4, 0.6, 0.7, 0.8, 1.0)[severity - 1]
    return np.clip(filters.gaussian(_unit(image), sigma=sigma, channel_axis=-1), 0, 1)


GLASS = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))


def glass_sweep(pixels: np.ndarray, delta: int, moves: Iterator[tuple[int, int]]) -> None:
    """One pass of the original's shuffling loop over ``pixels`` (H, W, C), in place.

    Rows and then columns run from ``size - delta`` down to ``delta + 1``; each visited pixel takes the next
    ``(dx, dy)`` of ``moves`` and runs the original's tuple "swap" with the pixel at ``(h + dy, w + dx)``. With
    (H, W, C) arrays both sides are views, so the first assignment overwrites the pixel and the second writes it
    back into the neighbour: a copy of the neighbour into the pixel, kept here as written.
    """
    height, width = pixels.shape[:2]
    for h in range(height - delta, delta, -1):
        for w in range(width - delta, delta, -1):
            dx, dy = next(moves)
            pixels[h, w], pixels[h + dy, w + dx] = pixels[h + dy, w + dx], pixels[h, w]


def glass_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma, delta, iterations = GLASS[severity - 1]
    x = np.uint8(filters.gaussian(_unit(image), sigma=sigma, channel_axis=-1) * 255)
    visited = (x.shape[0] - 2 * delta) * (x.shape[1] - 2 * delta)
    for _ in range(iterations):
        glass_sweep(x, delta, iter(rng.integers(-delta, delta, size=(visited, 2)).tolist()))
    return np.clip(filters.gaussian(x / 255, sigma=sigma, channel_axis=-1), 0, 1)


def disk(radius: float, alias_blur: float) -> np.ndarray:
    """The defocus kernel: the normalised indicator of a disk on a 17 x 17 grid, smoothed by a 3 x 3 Gaussian."""
    grid = np.arange(-8, 9) if radius <= 8 else np.arange(-radius, radius + 1)
    rows, cols = np.meshgrid(grid, grid)
    kernel = (rows**2 + cols**2 <= radius**2).astype(np.float32)
    kernel /= kernel.sum()
    return cv2.GaussianBlur(kernel, ksize=(3, 3) if radius <= 8 else (5, 5), sigmaX=alias_blur)


def defocus_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, alias_blur = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))[severity - 1]
    kernel = disk(radius, alias_blur)
    return np.clip(_rgb_filter(_unit(image), lambda plane: cv2.filter2D(plane, -1, kernel)), 0, 1)


def magick_motion_blur(x: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick's MotionBlurImage on an (H, W[, C]) float image: ``2 ceil(radius) + 1`` taps ``i`` weighted by
    ``exp(-i^2 / (2 sigma^2))`` (normalised) at ``ceil(i cos(angle) - 0.5)`` columns and ``ceil(i sin(angle) -
    0.5)`` rows from the pixel, edges repeated (its default virtual pixels)."""
    taps = 2 * math.ceil(radius) + 1
    weights = np.exp(-(np.arange(taps) ** 2) / (2 * sigma**2))
    weights /= weights.sum()
    height, width = x.shape[:2]
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    sin, cos = math.sin(math.radians(angle)), math.cos(math.radians(angle))
    out = np.zeros_like(x, dtype=np.float64)
    for i, weight in enumerate(weights):
        down, right = math.ceil(i * sin - 0.5), math.ceil(i * cos - 0.5)
        out += weight * x[np.clip(rows + down, 0, height - 1), np.clip(cols + right, 0, width - 1)]
    return out


def motion_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, sigma = ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))[severity - 1]
    blurred = magick_motion_blur(image.astype(np.float64), radius, sigma, rng.uniform(-45, 45))
    return np.clip(np.round(blurred), 0, 255) / 255  # back through an 8-bit PNG


ZOOM_ENDS = (1.06, 1.11, 1.16, 1.21, 1.26)
"""``np.arange(1, end, 0.01)`` per severity: by float rounding 1.06 and 1.11 are included, 1.16, 1.21, 1.26 not."""


def clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """The original's ``clipped_zoom`` (per axis, for any H x W): crop the central ``ceil(size / factor)`` pixels
    (the odd one left over goes to the bottom/right), zoom the crop by ``factor`` with ``scipy.ndimage.zoom``
    (linear, corners aligned), then cut ``size`` pixels out of it starting ``(zoomed - size) // 2`` in."""
    height, width = x.shape[:2]
    crop_h, crop_w = math.ceil(height / factor), math.ceil(width / factor)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    zoomed = ndimage.zoom(x[top : top + crop_h, left : left + crop_w], (factor, factor) + (1,) * (x.ndim - 2), order=1)
    trim_top, trim_left = (zoomed.shape[0] - height) // 2, (zoomed.shape[1] - width) // 2
    return zoomed[trim_top : trim_top + height, trim_left : trim_left + width]


def zoom_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = _unit(image).astype(np.float32)
    factors = np.arange(1, ZOOM_ENDS[severity - 1], 0.01)
    total = x + sum(clipped_zoom(x, factor) for factor in factors)
    return np.clip(total / (len(factors) + 1), 0, 1).astype(np.float64)


# ---------------------------------------------------------------- weather


SNOW = (
    (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
    (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
)
"""Mean and std of the snow layer, its zoom and threshold, motion-blur radius and sigma, weight of the image."""


def snow_with(image: np.ndarray, severity: int, noise: np.ndarray, angle: float) -> np.ndarray:
    """Snow from ``noise``, a standard normal (H, W) draw (the layer is ``mean + std * noise``), blurred along
    ``angle`` degrees."""
    mean, std, zoom, threshold, radius, sigma, keep = SNOW[severity - 1]
    x = image.astype(np.float32) / 255
    layer = clipped_zoom((mean + std * noise)[..., None], zoom)[..., 0]
    layer[layer < threshold] = 0
    layer = (np.clip(layer, 0, 1) * 255).astype(np.uint8)  # an 8-bit PNG for ImageMagick
    layer = np.round(magick_motion_blur(layer.astype(np.float64), radius, sigma, angle)) / 255
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
    x = keep * x + (1 - keep) * np.maximum(x, gray * 1.5 + 0.5)
    return np.clip(x + layer[..., None] + layer[::-1, ::-1, None], 0, 1).astype(np.float64)


def snow(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return snow_with(image, severity, rng.standard_normal(image.shape[:2]), rng.uniform(-135, -45))


FROST = ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))


def frost_folder() -> Path | None:
    """The folder of the frost photographs in the installed ``imagecorruptions`` (not imported), or None."""
    spec = importlib.util.find_spec("imagecorruptions")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "frost"
    return folder if all((folder / name).is_file() for name in FROST_PHOTOS) else None


@functools.cache
def frost_photos() -> tuple[np.ndarray, ...]:
    """The five photographs as the original uses them: read by OpenCV, resized by 0.2 (linear), RGB."""
    folder = frost_folder()
    if folder is None:
        raise FileNotFoundError("the frost photographs come with the imagecorruptions package, not installed")
    return tuple(cv2.resize(cv2.imread(str(folder / name)), (0, 0), fx=0.2, fy=0.2)[..., ::-1] for name in FROST_PHOTOS)


def frost_with(image: np.ndarray, severity: int, photo: int, top: int, left: int) -> np.ndarray:
    keep, amount = FROST[severity - 1]
    height, width = image.shape[:2]
    crop = frost_photos()[photo][top : top + height, left : left + width]
    return np.clip(keep * image.astype(np.float64) + amount * crop, 0, 255) / 255


def frost(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    photo = int(rng.integers(len(FROST_PHOTOS)))
    rows, cols = frost_photos()[photo].shape[:2]
    top, left = rng.integers(0, rows - image.shape[0]), rng.integers(0, cols - image.shape[1])
    return frost_with(image, severity, photo, int(top), int(left))


def plasma_fractal(rng: np.random.Generator, size: int = 32, decay: float = 3) -> np.ndarray:
    """Diamond-square height map (size x size, a power of two) in [0, 1], displacements ``wibble * U(-wibble,
    wibble)`` with ``wibble`` 100 divided by ``decay`` per octave, periodic at the edges (as the original)."""
    grid = np.zeros((size, size))
    step, wibble = size, 100.0
    while step >= 2:
        half = step // 2
        corners = grid[0::step, 0::step]
        square = corners + np.roll(corners, -1, axis=0)
        square = square + np.roll(square, -1, axis=1)
        grid[half::step, half::step] = square / 4 + wibble * rng.uniform(-wibble, wibble, square.shape)
        centres, corners = grid[half::step, half::step], grid[0::step, 0::step]
        across = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        grid[0::step, half::step] = across / 4 + wibble * rng.uniform(-wibble, wibble, across.shape)
        down = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        grid[half::step, 0::step] = down / 4 + wibble * rng.uniform(-wibble, wibble, down.shape)
        step, wibble = half, wibble / decay
    grid -= grid.min()
    return grid / grid.max()


def fog(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    amount, decay = ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))[severity - 1]
    x = _unit(image)
    top = x.max()
    height, width = x.shape[:2]
    x = x + amount * plasma_fractal(rng, decay=decay)[:height, :width, None]
    return np.clip(x * top / (top + amount), 0, 1)


SPATTER = (
    (0.62, 0.1, 0.7, 0.7, 0.5, 0),
    (0.65, 0.1, 0.8, 0.7, 0.5, 0),
    (0.65, 0.3, 1, 0.69, 0.5, 0),
    (0.65, 0.1, 0.7, 0.69, 0.6, 1),
    (0.65, 0.1, 0.5, 0.68, 0.6, 1),
)
"""Mean, std and blur of the liquid layer, its threshold, then water strength (mode 0) or mud blur (mode 1)."""


def water_mask(liquid: np.ndarray, strength: float) -> np.ndarray:
    """The water of spatter (severities 1-3) from the thresholded liquid layer: 8 bits, Canny edges, distance
    to them (OpenCV's 5 x 5 chamfer, cut at 20), 3 x 3 mean, 8 bits, histogram equalisation, emboss, 3 x 3 mean,
    times the layer, scaled to a maximum of ``strength``."""
    layer = (liquid * 255).astype(np.uint8)
    dist = cv2.distanceTransform(255 - cv2.Canny(layer, 50, 150), cv2.DIST_L2, 5)
    dist = cv2.blur(cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)[1], (3, 3)).astype(np.uint8)
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)
    dist = cv2.blur(cv2.filter2D(cv2.equalizeHist(dist), cv2.CV_8U, emboss), (3, 3)).astype(np.float32)
    mask = layer * dist
    return mask / mask.max() * strength


def spatter_with(image: np.ndarray, severity: int, noise: np.ndarray) -> np.ndarray:
    """Spatter from ``noise``, a standard normal (H, W) draw (the liquid layer is ``mean + std * noise``)."""
    mean, std, sigma, threshold, strength, mode = SPATTER[severity - 1]
    x = image.astype(np.float32) / 255
    liquid = filters.gaussian(mean + std * noise, sigma=sigma)
    liquid[liquid < threshold] = 0
    if mode == 0:
        water = np.array([175, 238, 238]) / 255  # pale turquoise
        return np.clip(x + water_mask(liquid, strength)[..., None] * water, 0, 1).astype(np.float64)
    mud = filters.gaussian((liquid > threshold).astype(np.float32), sigma=strength)
    mud[mud < 0.8] = 0
    brown = np.array([63, 42, 20]) / 255
    return np.clip(x * (1 - mud[..., None]) + mud[..., None] * brown, 0, 1)


def spatter(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return spatter_with(image, severity, rng.standard_normal(image.shape[:2]))


# ---------------------------------------------------------------- digital


def contrast(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = _unit(image)
    means = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - means) * (0.75, 0.5, 0.4, 0.3, 0.15)[severity - 1] + means, 0, 1)


def _hsv(image: np.ndarray, channel: int, factor: float, shift: float) -> np.ndarray:
    hsv = color.rgb2hsv(_unit(image))
    hsv[..., channel] = np.clip(hsv[..., channel] * factor + shift, 0, 1)
    return np.clip(color.hsv2rgb(hsv), 0, 1)


def brightness(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return _hsv(image, 2, 1.0, (0.05, 0.1, 0.15, 0.2, 0.3)[severity - 1])


def saturate(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return _hsv(image, 1, *((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2))[severity - 1])


def jpeg_compression(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=(80, 65, 58, 50, 40)[severity - 1])
    return _unit(Image.open(buffer))


def pixelate(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    factor = (0.95, 0.9, 0.85, 0.75, 0.65)[severity - 1]
    height, width = image.shape[:2]
    small = Image.fromarray(image).resize((int(width * factor), int(height * factor)), Image.BOX)
    return _unit(small.resize((width, height), Image.BOX))


def elastic_transform(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    size = 32
    alpha, smooth, jitter = (
        (size * 0, size * 0, size * 0.08),
        (size * 0.05, size * 0.2, size * 0.07),
        (size * 0.08, size * 0.06, size * 0.06),
        (size * 0.1, size * 0.04, size * 0.05),
        (size * 0.1, size * 0.03, size * 0.03),
    )[severity - 1]
    x = image.astype(np.float32) / 255
    height, width = x.shape[:2]
    centre = np.float32((height, width)) // 2
    third = min(height, width) // 3
    corners = np.float32([centre + third, [centre[0] + third, centre[1] - third], centre - third])
    moved = corners + rng.uniform(-jitter, jitter, size=corners.shape).astype(np.float32)
    x = cv2.warpAffine(x, cv2.getAffineTransform(corners, moved), (width, height), borderMode=cv2.BORDER_REFLECT_101)

    def field() -> np.ndarray:
        noise = rng.uniform(-1, 1, size=(height, width))
        return (filters.gaussian(noise, smooth, mode="reflect", truncate=3) * alpha).astype(np.float32)

    dx, dy = field(), field()
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    coords = np.stack((rows + dy, cols + dx))
    out = _rgb_filter(x, lambda plane: ndimage.map_coordinates(plane, coords, order=1, mode="reflect"))
    return np.clip(out, 0, 1).astype(np.float64)


CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "zoom_blur": zoom_blur,
    "snow": snow,
    "frost": frost,
    "fog": fog,
    "brightness": brightness,
    "contrast": contrast,
    "elastic_transform": elastic_transform,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
    "speckle_noise": speckle_noise,
    "gaussian_blur": gaussian_blur,
    "spatter": spatter,
    "saturate": saturate,
}
"""The original's 15 common corruptions and 4 held-out ones, in its order."""
