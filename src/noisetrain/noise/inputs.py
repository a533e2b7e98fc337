"""Noise on tensors: inputs, activations or weights, wherever ``inject`` places it.

Each noise is a pure function of a tensor plus a thin ``Injector`` module that
stores the hyperparameters. The functions take an explicit ``generator`` and
draw noise values in the input's dtype and device; masks (which entries or boxes
are hit) are drawn in float32, so that a probability such as ``p=0.01`` is exact
for bfloat16 inputs too.

Families: additive noise (``gaussian``, ``uniform``), speckle noise (which is
``GaussianNoise(mode="multiplicative")``, ``x * (1 + std * eps)``), impulse noise
(``salt_pepper``), masking noise (``feature_mask``) and occlusion of image boxes
(``cutout``, ``random_erasing``; their box sampler ``random_boxes`` also serves CutMix).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..checks import check_choice, check_int, check_pair, check_range
from ..registry import ConfigError
from .base import NOISE, Injector, Number
from .sources import Source, below, exact, mapped, normal, uniform

GAUSSIAN_MODES = ("additive", "multiplicative")
RELATIVE_TO = (None, "feature", "tensor")
MASK_FILLS = ("zero", "mean")


def tensor_std(x: torch.Tensor) -> torch.Tensor:
    """The std of all entries of ``x`` (with Bessel's correction, as ``x.std()``), without gradient.

    On the CPU a large float tensor takes one pass of sums, ``sum(x)`` and ``x·x``: about a third of the time of
    torch's ``std`` (a Welford reduction), which weight noise with ``relative="tensor"`` pays at every step, and the
    same value to about 1e-5 while the mean is within 10 stds of 0; beyond that (digits lost to cancellation), and
    on other devices, ``x.std()``.
    """
    x = x.detach()
    n = x.numel()
    if n < 2**16 or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return x.std()
    flat = x.reshape(-1)
    squared_mean = (flat.sum() / n).square()
    variance = (torch.dot(flat, flat) / n - squared_mean) * (n / (n - 1))
    if variance.item() < 0.01 * squared_mean.item():  # on the CPU: no device to wait for
        return x.std()
    return variance.sqrt()


class _ScaledNoise(torch.autograd.Function):
    """``x + scale * eps`` for a ``scale`` with a gradient (learnable noise's ``alpha``) of one value or one per
    index of ``x``'s first dim: its gradient is one dot product per value of the output's gradient with ``eps``.
    ``addcmul``'s backward multiplies and then reduces: 2-4 times the time on a 512 x 784 weight and 5 times on a
    CNN's 128 x 32 x 32 x 32 feature maps (side by side, 2 threads)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, scale: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(x, eps, scale)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        _, scale, eps = inputs
        ctx.save_for_backward(eps)
        ctx.scale_shape = scale.shape

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, None]:
        (eps,) = ctx.saved_tensors
        if not ctx.needs_input_grad[1]:
            return grad, None, None
        rows = ctx.scale_shape.numel()
        if rows == 1:  # torch.dot: a fifth of the time of a product and a sum on the CPU
            scale_grad = torch.dot(grad.reshape(-1), eps.reshape(-1))
        else:
            scale_grad = torch.linalg.vecdot(grad.reshape(rows, -1), eps.reshape(rows, -1))
        return grad, scale_grad.reshape(ctx.scale_shape), None

    @staticmethod
    def serves(x: torch.Tensor, scale: torch.Tensor) -> bool:
        """Whether ``scale`` takes a gradient and is one value, or one per index of ``x``'s first dim, and ``x`` is
        large enough to repay a Python backward (below 2**16 entries it costs more than it saves)."""
        per_row = scale.dim() == x.dim() and scale.shape[0] == x.shape[0] and scale.shape[1:].numel() == 1
        wanted = scale.requires_grad and torch.is_grad_enabled() and x.numel() >= 2**16
        return wanted and (scale.numel() == 1 or per_row)


def add_scaled(x: torch.Tensor, scale: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``x + scale * eps`` in one pass; a ``scale`` with a gradient takes it as dot products where it can
    (``_ScaledNoise``)."""
    return _ScaledNoise.apply(x, scale, eps) if _ScaledNoise.serves(x, scale) else torch.addcmul(x, eps, scale)


def _check_floating(kind: str, x: torch.Tensor) -> None:
    """``ConfigError`` unless ``x`` is floating: real-valued noise on integers (token ids) means nothing."""
    if not x.is_floating_point():
        raise ConfigError(f"{kind} noise adds real values to a floating tensor, got {x.dtype} (token ids? use "
                          "token_mask on them, or put the noise at output:Embedding)")  # fmt: skip


def gaussian_noise(
    x: torch.Tensor,
    std: float,
    *,
    mode: str = "additive",
    scale: torch.Tensor | None = None,
    clip: tuple[float, float] | None = None,
    generator: Source = None,
) -> torch.Tensor:
    """Gaussian noise: ``x + std * scale * eps`` (additive) or ``x * (1 + std * eps)`` (multiplicative).

    Args:
        x: any floating tensor.
        std: standard deviation (>= 0), in the units of ``x`` (additive) or relative (multiplicative).
        mode: ``"additive"`` or ``"multiplicative"`` (speckle noise).
        scale: optional tensor broadcastable to ``x`` multiplying ``std`` (e.g. per-feature std of the data).
        clip: optional ``(low, high)`` range the result is clamped to (e.g. ``(0, 1)`` for images).
        generator: source of randomness.

    Example: ``gaussian_noise(x, 0.1, clip=(0.0, 1.0))``.
    """
    check_range("std", std, 0)
    check_choice("mode", mode, GAUSSIAN_MODES)
    _check_floating("gaussian", x)
    if mode == "multiplicative" and scale is None:  # x * (1 + std * eps): one pass forward, one backward

        def factor(eps: torch.Tensor) -> torch.Tensor:
            return eps.mul(std).add_(1.0)

        shape, key = x.shape, ("factor", std, x.dtype)
        out = x * mapped("normal", factor, key, shape, generator, device=x.device, dtype=x.dtype)
    else:
        eps = normal(x.shape, generator, device=x.device, dtype=x.dtype)
        if scale is None:  # one fused pass
            out = x.add(eps, alpha=std)
        else:
            sigma = scale if std == 1 else std * scale  # std 1 (Bayesian layers): no pass over a per-entry scale
            if mode == "multiplicative":
                out = x * (1 + eps * sigma)
            else:
                out = add_scaled(x, sigma, eps)
    return out if clip is None else out.clamp(*check_pair("clip", clip, strict=True))


@NOISE.register("gaussian")
class GaussianNoise(Injector):
    """Gaussian noise on inputs, activations or weights (placement decides).

    Additive Gaussian input noise is Tikhonov regularisation in expectation
    (Bishop 1995, "Training with Noise is Equivalent to Tikhonov Regularization");
    multiplicative noise on activations is Gaussian dropout (Srivastava et al. 2014).

    Args:
        std: noise standard deviation (>= 0), or a schedule. Default 0.1.
        mode: ``"additive"`` (default) or ``"multiplicative"``.
        relative: None (``std`` is absolute), ``"feature"`` (times each feature's std over
            the batch dimension; from ``fit(data)`` if called, else from the current batch, where a batch of one
            example has std 0) or
            ``"tensor"`` (times the std of the whole tensor, e.g. of each weight tensor).
        clip: ``(low, high)`` range to clamp the noisy tensor to, or None.
        seed: seed of this injector's generator (None: drawn from torch's global generator once).

    Shapes: any ``(N, *)`` in, same shape and dtype out.

    Example: ``inject(model, GaussianNoise(std=0.1, clip=(0, 1)))``.
    """

    strength = "std"
    positions = frozenset({"input", "output", "weights"})

    def __init__(
        self,
        std: Number = 0.1,
        *,
        mode: str = "additive",
        relative: str | None = None,
        clip: tuple[float, float] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        check_choice(f"{type(self).__name__}.mode", mode, GAUSSIAN_MODES)
        check_choice(f"{type(self).__name__}.relative", relative, RELATIVE_TO)
        self.std = self.number("std", std, 0)
        self.mode = mode
        self.relative = relative
        self.clip = None if clip is None else check_pair(f"{type(self).__name__}.clip", clip, strict=True)
        self.register_buffer("feature_std_", None)

    def fit(self, data: torch.Tensor) -> GaussianNoise:
        """Store the per-feature std of ``data`` (N, *) for ``relative="feature"``."""
        self.feature_std_ = data.detach().float().std(dim=0)
        return self

    def prepare(self, weight: torch.Tensor) -> None:
        """At weights, ``relative="feature"`` takes each entry's std over the output rows: refuse a weight with
        one row (a one-output layer), which would get no noise."""
        if self.relative == "feature" and len(weight) < 2:
            raise ConfigError(
                f"{type(self).__name__}.relative='feature' scales by each weight entry's std over the output rows, "
                f"and this weight {tuple(weight.shape)} has one row: use relative='tensor' or None"
            )

    def scale(self, x: torch.Tensor) -> torch.Tensor | None:
        """What ``std`` is relative to for ``x``: each feature's std, the tensor's std, or None (absolute)."""
        if self.relative == "feature":  # a batch of one example has std 0 (no noise), not an undefined one (NaN)
            fitted, single = self.feature_std_, len(x) == 1
            std = fitted if fitted is not None else x.detach().float().std(dim=0, correction=0 if single else 1)
            return std.to(device=x.device, dtype=x.dtype)  # fitted on another device than x: move it
        return tensor_std(x) if self.relative == "tensor" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        return gaussian_noise(
            x, self.current("std"), mode=self.mode, scale=self.scale(x), clip=self.clip,
            generator=self.generator(x.device),
        )  # fmt: skip


def uniform_noise(
    x: torch.Tensor,
    width: float,
    *,
    clip: tuple[float, float] | None = None,
    generator: Source = None,
) -> torch.Tensor:
    """Additive uniform noise: ``x + u`` with ``u ~ U(-width/2, width/2)`` (std ``width / sqrt(12)``).

    With ``width`` the quantisation step of the data it is the dequantisation noise of
    discrete data (e.g. ``width=1/255`` for 8-bit images scaled to [0, 1]).

    Args:
        x: any floating tensor.
        width: full width of the interval (>= 0), in the units of ``x``.
        clip: optional ``(low, high)`` range the result is clamped to.
        generator: source of randomness.

    Example: ``uniform_noise(images, 1 / 255, clip=(0.0, 1.0))``.
    """
    check_range("width", width, 0)
    _check_floating("uniform", x)
    u = uniform(x.shape, generator, device=x.device, dtype=x.dtype)
    out = x + width * (u - 0.5)
    return out if clip is None else out.clamp(*check_pair("clip", clip, strict=True))


@NOISE.register("uniform")
class UniformNoise(Injector):
    """Additive uniform noise ``U(-width/2, width/2)`` on inputs or activations.

    Args:
        width: full width of the noise interval (>= 0), or a schedule. Default 1/255 (8-bit images in [0, 1]).
        clip: ``(low, high)`` range to clamp the noisy tensor to, or None.
        seed: seed of this injector's generator.

    Shapes: any ``(N, *)`` in, same shape and dtype out.

    Example: ``inject(model, UniformNoise(width=1 / 255, clip=(0, 1)))``.
    """

    strength = "width"

    def __init__(
        self, width: Number = 1 / 255, *, clip: tuple[float, float] | None = None, seed: int | None = None
    ) -> None:
        super().__init__(seed=seed)
        self.width = self.number("width", width, 0)
        self.clip = None if clip is None else check_pair(f"{type(self).__name__}.clip", clip, strict=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        return uniform_noise(x, self.current("width"), clip=self.clip, generator=self.generator(x.device))


def salt_and_pepper(
    x: torch.Tensor,
    p: float,
    *,
    low: float = 0.0,
    high: float = 1.0,
    salt: float = 0.5,
    generator: Source = None,
) -> torch.Tensor:
    """Salt-and-pepper (impulse) noise: each entry is replaced with probability ``p``,
    by ``high`` (salt) with probability ``salt``, else by ``low`` (pepper).

    Args:
        x: any floating tensor.
        p: replacement probability per entry, in [0, 1].
        low, high: pepper and salt values (default 0 and 1, for images in [0, 1]).
        salt: share of the replaced entries set to ``high``, in [0, 1]. Default 0.5.
        generator: source of randomness.

    Example: ``salt_and_pepper(images, 0.05)``.
    """
    check_range("p", p, 0, 1)
    check_range("salt", salt, 0, 1)

    def replacement(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return u < p, torch.where(u < p * salt, high, low).to(x.dtype)

    key = ("salt_pepper", p, salt, low, high, x.dtype)
    replaced, value = mapped("uniform", replacement, key, x.shape, generator, device=x.device)
    return torch.where(replaced, value, x)


@NOISE.register("salt_pepper")
class SaltPepperNoise(Injector):
    """Salt-and-pepper noise on inputs or activations (see ``salt_and_pepper``).

    Args:
        p: replacement probability per entry in [0, 1], or a schedule. Default 0.05.
        low, high: pepper and salt values. Default 0 and 1.
        salt: share of replaced entries set to ``high``, in [0, 1], or a schedule. Default 0.5.
        seed: seed of this injector's generator.

    Shapes: any ``(N, *)`` in, same shape and dtype out.

    Example: ``inject(model, SaltPepperNoise(p=0.02))``.
    """

    strength = "p"

    def __init__(
        self,
        p: Number = 0.05,
        *,
        low: float = 0.0,
        high: float = 1.0,
        salt: Number = 0.5,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.p = self.number("p", p, 0, 1)
        self.low, self.high = check_pair(f"{type(self).__name__}.low/high", (low, high))
        self.salt = self.number("salt", salt, 0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        return salt_and_pepper(
            x,
            self.current("p"),
            low=self.low,
            high=self.high,
            salt=self.current("salt"),
            generator=self.generator(x.device),
        )


def feature_mask(
    x: torch.Tensor,
    p: float,
    *,
    fill: str = "zero",
    mean: torch.Tensor | None = None,
    generator: Source = None,
) -> torch.Tensor:
    """Masking noise: each entry is dropped with probability ``p``, to 0 or to its feature's mean.

    The corruption of denoising autoencoders (Vincent et al. 2008, "Extracting and Composing Robust
    Features with Denoising Autoencoders"). Unlike dropout the kept entries are not rescaled.

    Args:
        x: tabular data (N, F), or any (N, *) whose trailing dimensions are the features.
        p: drop probability per entry, in [0, 1].
        fill: ``"zero"`` or ``"mean"`` (the value of ``mean``, else the batch mean over dim 0).
        mean: per-feature means broadcastable to ``x.shape[1:]`` (used with ``fill="mean"``).
        generator: source of randomness.

    Example: ``feature_mask(table, 0.2, fill="mean")``.
    """
    check_range("p", p, 0, 1)
    check_choice("fill", fill, MASK_FILLS)
    drop = below(p, x.shape, generator, device=x.device)
    if fill == "zero":
        return torch.where(drop, 0.0, x)
    value = x.detach().mean(dim=0) if mean is None else mean.to(device=x.device, dtype=x.dtype)
    return torch.where(drop, value, x)


@NOISE.register("feature_mask")
class FeatureMask(Injector):
    """Masking noise for tabular data (see ``feature_mask``).

    Args:
        p: drop probability per entry in [0, 1], or a schedule. Default 0.1.
        fill: ``"zero"`` (default) or ``"mean"``: the feature means from ``fit(data)`` if called,
            else those of the current batch (a batch of one example is its own mean: it stays unchanged).
        seed: seed of this injector's generator.

    Shapes: (N, F) (or any (N, *)) in, same shape and dtype out.

    Example: ``inject(model, FeatureMask(p=0.2, fill="mean").fit(train_x))``.
    """

    strength = "p"

    def __init__(self, p: Number = 0.1, *, fill: str = "zero", seed: int | None = None) -> None:
        super().__init__(seed=seed)
        check_choice(f"{type(self).__name__}.fill", fill, MASK_FILLS)
        self.p = self.number("p", p, 0, 1)
        self.fill = fill
        self.register_buffer("mean_", None)

    def fit(self, data: torch.Tensor) -> FeatureMask:
        """Store the per-feature mean of ``data`` (N, *) for ``fill="mean"``."""
        self.mean_ = data.detach().float().mean(dim=0)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        return feature_mask(x, self.current("p"), fill=self.fill, mean=self.mean_, generator=self.generator(x.device))


def random_boxes(
    height: int,
    width: int,
    box_h: torch.Tensor,
    box_w: torch.Tensor,
    *,
    inside: bool = False,
    generator: Source = None,
) -> torch.Tensor:
    """Boolean masks of random axis-aligned boxes, one per entry of ``box_h``/``box_w``.

    The box sampler shared by Cutout, Random Erasing and CutMix. Box sides are in pixels
    (rounded, at most the image side). ``inside=False``: the box centre is a uniformly
    drawn pixel and the box is clipped at the borders (Cutout, CutMix); ``inside=True``:
    the box is placed uniformly among the positions where it fits whole (Random Erasing).

    Shapes: ``box_h``, ``box_w`` floating (*B) -> mask (*B, height, width), on their device.

    Example: ``random_boxes(32, 32, torch.full((n, 1), 8.0), torch.full((n, 1), 8.0))`` -> (n, 1, 32, 32).
    """
    rows = _span(height, box_h, inside, generator)
    cols = _span(width, box_w, inside, generator)
    return rows[..., :, None] & cols[..., None, :]


def _span(length: int, side: torch.Tensor, inside: bool, generator: Source) -> torch.Tensor:
    """(*B, length) mask of one random interval of ``side`` cells per entry (see ``random_boxes``)."""
    side = side.round().clamp(0, length)
    u = torch.rand(side.shape, generator=exact(generator), device=side.device)
    start = (u * (length - side + 1)).floor() if inside else (u * length).floor() - (side / 2).floor()
    grid = torch.arange(length, device=side.device)
    return (grid >= start[..., None]) & (grid < (start + side)[..., None])


def cutout(
    x: torch.Tensor,
    size: float,
    *,
    count: int = 1,
    fill: float | str = 0.0,
    generator: Source = None,
) -> torch.Tensor:
    """Cutout: erase ``count`` squares of side ``size`` per image (the same box on all channels).

    DeVries & Taylor 2017, "Improved Regularization of Convolutional Neural Networks with
    Cutout", arXiv:1708.04552: the square's centre is uniform over the image and the square
    is clipped at the borders, so boxes near an edge erase less.

    Args:
        x: images (N, C, H, W).
        size: side of the square in pixels (>= 0, rounded). The paper uses 16 on CIFAR-10.
        count: squares per image (>= 1); they may overlap.
        fill: a number, or ``"noise"`` for standard normal values (suits normalised images).
        generator: source of randomness.

    Example: ``cutout(images, 16)``.
    """
    check_range("size", size, 0)
    _check_erasing("", count, fill)
    n, _, height, width = _image_shape(x, "cutout")
    sides = torch.full((n, count), float(size), device=x.device)
    mask = random_boxes(height, width, sides, sides, generator=generator).any(dim=1, keepdim=True)
    return _erase(x, mask, fill, generator)


def random_erasing(
    x: torch.Tensor,
    *,
    p: float = 1.0,
    area: tuple[float, float] = (0.02, 0.33),
    aspect: tuple[float, float] = (0.3, 3.3),
    count: int = 1,
    fill: float | str = 0.0,
    generator: Source = None,
) -> torch.Tensor:
    """Random Erasing: with probability ``p`` per image, erase ``count`` boxes of random area and shape.

    Zhong et al. 2017, "Random Erasing Data Augmentation", arXiv:1708.04896. Each box covers
    a fraction ``s ~ U(area)`` of the image with aspect ratio (height / width) ``r``, and lies
    wholly inside the image. Two departures from the paper's sampling loop: ``r`` is drawn
    log-uniformly in ``aspect`` (tall and wide boxes alike, as torchvision does; the paper
    draws it uniformly), and a box taller or wider than the image is cut to the image
    (the paper redraws it).

    Args:
        x: images (N, C, H, W).
        p: probability that an image is erased, in [0, 1].
        area: range of the erased fraction of the image, within [0, 1].
        aspect: range of the box aspect ratio (height / width), > 0.
        count: boxes per erased image (>= 1); they may overlap.
        fill: a number, or ``"noise"`` for standard normal values (suits normalised images).
        generator: source of randomness.

    Example: ``random_erasing(images, p=0.5, fill="noise")``.
    """
    check_range("p", p, 0, 1)
    area = check_pair("area", area, 0, 1)
    log_aspect = [math.log(a) for a in check_pair("aspect", aspect, 0, low_open=True)]
    _check_erasing("", count, fill)
    n, _, height, width = _image_shape(x, "random_erasing")
    u = torch.rand((2, n, count), generator=exact(generator), device=x.device)
    target = (area[0] + (area[1] - area[0]) * u[0]) * (height * width)
    ratio = torch.exp(log_aspect[0] + (log_aspect[1] - log_aspect[0]) * u[1])
    chosen = torch.rand((n, 1), generator=exact(generator), device=x.device) < p
    box_h = torch.where(chosen, (target * ratio).sqrt(), 0.0)
    box_w = (target / ratio).sqrt()
    mask = random_boxes(height, width, box_h, box_w, inside=True, generator=generator).any(dim=1, keepdim=True)
    return _erase(x, mask, fill, generator)


def _image_shape(x: torch.Tensor, who: str) -> torch.Size:
    if x.dim() != 4:
        raise ValueError(f"{who} expects images of shape (N, C, H, W), got shape {tuple(x.shape)}")
    return x.shape


def _check_erasing(prefix: str, count: int, fill: float | str) -> None:
    check_int(f"{prefix}count", count, 1)
    if isinstance(fill, str):
        check_choice(f"{prefix}fill", fill, ("noise",))
    elif isinstance(fill, bool) or not isinstance(fill, (int, float)):
        raise ConfigError(f"{prefix}fill must be a number or 'noise', got {fill!r}")


def _erase(x: torch.Tensor, mask: torch.Tensor, fill: float | str, generator: Source) -> torch.Tensor:
    value = normal(x.shape, generator, device=x.device, dtype=x.dtype) if fill == "noise" else fill
    return torch.where(mask, value, x)


@NOISE.register("cutout")
class Cutout(Injector):
    """Cutout on images or feature maps (see ``cutout``; DeVries & Taylor 2017, arXiv:1708.04552).

    Args:
        size: side of each square in pixels (>= 0), or a schedule. Default 16 (the paper's CIFAR-10 value).
        count: squares per image (>= 1). Default 1.
        fill: a number (default 0) or ``"noise"`` (standard normal values).
        seed: seed of this injector's generator.

    Shapes: (N, C, H, W) in, same shape and dtype out.

    Example: ``inject(model, Cutout(size=16))``.
    """

    strength = "size"

    def __init__(self, size: Number = 16, *, count: int = 1, fill: float | str = 0.0, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        _check_erasing(f"{type(self).__name__}.", count, fill)
        self.size = self.number("size", size, 0)
        self.count = count
        self.fill = fill

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        return cutout(x, self.current("size"), count=self.count, fill=self.fill, generator=self.generator(x.device))


@NOISE.register("random_erasing")
class RandomErasing(Injector):
    """Random Erasing on images or feature maps (see ``random_erasing``; Zhong et al. 2017, arXiv:1708.04896).

    Args:
        p: probability that an image is erased, in [0, 1], or a schedule. Default 0.5 (the paper's).
        area: range of the erased fraction of the image. Default (0.02, 0.33).
        aspect: range of the box aspect ratio (height / width). Default (0.3, 3.3).
        count: boxes per erased image (>= 1). Default 1.
        fill: a number (default 0) or ``"noise"`` (standard normal values).
        seed: seed of this injector's generator.

    Shapes: (N, C, H, W) in, same shape and dtype out.

    Example: ``inject(model, RandomErasing(p=0.5, fill="noise"))``.
    """

    strength = "p"

    def __init__(
        self,
        p: Number = 0.5,
        *,
        area: tuple[float, float] = (0.02, 0.33),
        aspect: tuple[float, float] = (0.3, 3.3),
        count: int = 1,
        fill: float | str = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        name = type(self).__name__
        _check_erasing(f"{name}.", count, fill)
        self.p = self.number("p", p, 0, 1)
        self.area = check_pair(f"{name}.area", area, 0, 1)
        self.aspect = check_pair(f"{name}.aspect", aspect, 0, low_open=True)
        self.count = count
        self.fill = fill

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        return random_erasing(
            x,
            p=self.current("p"),
            area=self.area,
            aspect=self.aspect,
            count=self.count,
            fill=self.fill,
            generator=self.generator(x.device),
        )
