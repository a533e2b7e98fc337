"""Noise on targets: flipped class labels, jittered regression targets, label smoothing.

``flip_labels`` builds noisy training sets for label-noise robustness studies; the
injectors act on ``(x, y)`` batches through ``handle.batch`` (``LabelNoise``,
``TargetNoise``) or on the loss through ``handle.loss`` (``LabelSmoothing``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import torch

from ..checks import check_choice, check_int, check_range
from ..registry import ConfigError
from .base import NOISE, Injector, Number
from .inputs import gaussian_noise
from .sources import Source, exact

LABEL_MODES = ("symmetric", "asymmetric")


def _label_settings(
    prefix: str, num_classes: int, mode: str, transition: torch.Tensor | Sequence[Sequence[float]] | None
) -> torch.Tensor | None:
    """Validate the label-noise settings (``prefix`` names their owner in errors); the transition as float64."""
    check_int(f"{prefix}num_classes", num_classes, 2)
    check_choice(f"{prefix}mode", mode, LABEL_MODES)
    if transition is None:
        return None
    if mode != "asymmetric":
        raise ConfigError(f"{prefix}transition needs mode='asymmetric', got mode={mode!r}")
    matrix = torch.as_tensor(transition, dtype=torch.float64, device="cpu")
    if matrix.shape != (num_classes, num_classes):
        raise ConfigError(
            f"{prefix}transition must have shape (num_classes, num_classes) = ({num_classes}, {num_classes}), "
            f"got {tuple(matrix.shape)}"
        )
    if (matrix < 0).any() or not torch.allclose(matrix.sum(1), torch.ones(num_classes, dtype=torch.float64)):
        raise ConfigError(f"{prefix}transition must be row-stochastic: entries >= 0, every row summing to 1")
    return matrix


def flip_labels(
    y: torch.Tensor,
    rate: float,
    *,
    num_classes: int,
    mode: str = "symmetric",
    transition: torch.Tensor | Sequence[Sequence[float]] | None = None,
    generator: Source = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip each class label with probability ``rate``; returns ``(y_noisy, flipped_mask)``.

    Conventions (as in Patrini et al. 2017, "Making Deep Neural Networks Robust to Label Noise:
    a Loss Correction Approach", arXiv:1609.03683, and Han et al. 2018, "Co-teaching",
    arXiv:1804.06872):

    - ``"symmetric"``: a flipped label becomes a uniformly chosen *different* class, so the
      realised noise rate is ``rate``. (Drawing from all classes, as DisturbLabel does, is
      ``rate = alpha * (C - 1) / C`` here.)
    - ``"asymmetric"`` (class-dependent): a flipped label ``i`` becomes ``(i + 1) mod C``, or, with
      ``transition``, a class drawn from row ``i`` of it: ``P(noisy=j | clean=i) =
      (1 - rate) [i = j] + rate * transition[i, j]``; ``rate=1`` makes ``transition`` the whole
      noise matrix.

    Args:
        y: integer class labels in ``[0, num_classes)``, any shape (typically ``(N,)``).
        rate: flip probability in [0, 1].
        num_classes: number of classes C (>= 2).
        mode: ``"symmetric"`` (default) or ``"asymmetric"``.
        transition: optional row-stochastic ``(C, C)`` matrix (``mode="asymmetric"`` only).
        generator: source of randomness, on ``y``'s device.

    Returns ``y_noisy`` (dtype and shape of ``y``) and the bool mask ``y_noisy != y``.
    Labels out of range raise ``ValueError`` on the CPU; on CUDA (no host sync) a device-side assert.

    Example: ``y_noisy, flipped = flip_labels(y, 0.4, num_classes=10, generator=g)``.
    """
    check_range("rate", rate, 0, 1)
    matrix = _label_settings("", num_classes, mode, transition)
    return _flip(y, rate, num_classes, mode, matrix, generator)


def _flip(
    y: torch.Tensor,
    rate: float,
    num_classes: int,
    mode: str,
    matrix: torch.Tensor | None,
    generator: Source,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``flip_labels`` once its settings are validated (``LabelNoise`` validates them once, at construction)."""
    if torch.is_floating_point(y) or torch.is_complex(y) or y.dtype == torch.bool:
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    try:  # asynchronous on CUDA: no host sync in the training step
        torch._assert_async(((y >= 0) & (y < num_classes)).all(), f"labels must lie in [0, {num_classes})")
    except RuntimeError as error:
        raise ValueError(str(error)) from None
    labels = y.long()
    generator = exact(generator)  # one draw per label: the fast source's table serves per-element draws
    flip = torch.rand(y.shape, generator=generator, device=y.device) < rate
    if matrix is not None:
        rows = matrix.to(y.device)[labels.flatten()]
        target = torch.multinomial(rows, 1, generator=generator).view(y.shape)
    else:
        shift = (
            torch.randint(1, num_classes, y.shape, generator=generator, device=y.device) if mode == "symmetric" else 1
        )
        target = (labels + shift) % num_classes
    noisy = torch.where(flip, target, labels).to(y.dtype)
    return noisy, noisy != y


@NOISE.register("label_noise")
class LabelNoise(Injector):
    """Random label flips, redrawn for every training batch.

    Fresh flips at each batch act as a regulariser (DisturbLabel, Xie et al. 2016,
    "DisturbLabel: Regularizing CNN on the Loss Layer", arXiv:1605.00055; its ``alpha`` is
    ``rate = alpha * (C - 1) / C`` here, see ``flip_labels``). For a fixed noisy data set, call
    ``flip_labels`` once on the labels instead.

    Args:
        rate: flip probability in [0, 1], or a schedule.
        num_classes: number of classes C (>= 2).
        mode: ``"symmetric"`` (default) or ``"asymmetric"``; see ``flip_labels``.
        transition: row-stochastic ``(C, C)`` flip matrix for ``mode="asymmetric"``, or None. A float64
            buffer: ``injector.to(device)`` moves it (else it is copied to the labels' device at each call).
        seed: seed of this injector's generator (None: drawn from torch's global generator once).

    Call: ``n(x, y) -> (x, y_noisy)`` with ``y`` integer labels ``(N,)``; ``x`` passes through.

    Example: ``handle = inject(model, LabelNoise(0.2, num_classes=10)); x, y = handle.batch(x, y)``.
    """

    strength = "rate"
    positions = frozenset({"batch"})
    default_at = "batch"

    def __init__(
        self,
        rate: Number,
        num_classes: int,
        *,
        mode: str = "symmetric",
        transition: torch.Tensor | Sequence[Sequence[float]] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.register_buffer("transition", _label_settings(f"{type(self).__name__}.", num_classes, mode, transition))
        self.rate = self.number("rate", rate, 0, 1)
        self.num_classes = num_classes
        self.mode = mode

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.active:
            return x, y
        noisy, _ = _flip(
            y, self.current("rate"), self.num_classes, self.mode, self.transition, self.generator(y.device)
        )
        return x, noisy


@NOISE.register("target_noise")
class TargetNoise(Injector):
    """Additive Gaussian noise on regression targets: ``(x, y) -> (x, y + std * eps)``.

    Args:
        std: noise standard deviation (>= 0) in the units of ``y``, or a schedule. Default 0.1.
        seed: seed of this injector's generator (None: drawn from torch's global generator once).

    Call: ``n(x, y)`` with floating targets ``y`` of any shape; same shape and dtype out.

    Example: ``handle = inject(model, TargetNoise(std=0.05)); x, y = handle.batch(x, y)``.
    """

    strength = "std"
    positions = frozenset({"batch"})
    default_at = "batch"

    def __init__(self, std: Number = 0.1, *, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.std = self.number("std", std, 0)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.active:
            return x, y
        if not torch.is_floating_point(y):
            raise ValueError(f"TargetNoise needs floating regression targets, got {y.dtype} (class labels: LabelNoise)")
        return x, gaussian_noise(y, self.current("std"), generator=self.generator(y.device))


@NOISE.register("label_smoothing")
class LabelSmoothing(Injector):
    """Label smoothing (Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer
    Vision", arXiv:1512.00567): the target becomes ``(1 - eps) * one_hot + eps / C``.

    It does nothing by itself: ``NoiseHandle.loss`` passes its current ``eps`` (0 in eval mode) to
    ``F.cross_entropy(..., label_smoothing=eps)``.

    Args:
        eps: smoothing in [0, 1], or a schedule. Default 0.1.

    Example: ``handle = inject(model, LabelSmoothing(0.1)); loss = handle.loss(model(x), y)``.
    """

    strength = "eps"
    positions = frozenset({"loss"})
    default_at = "loss"

    def __init__(self, eps: Number = 0.1) -> None:
        super().__init__()
        self.eps = self.number("eps", eps, 0, 1)

    def forward(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(
            "LabelSmoothing is not applied to tensors: it sets the loss's label_smoothing. Use "
            "handle.loss(logits, y) after inject(model, LabelSmoothing(eps)), or "
            "F.cross_entropy(logits, y, label_smoothing=eps)"
        )
