"""In-memory data sets: three splits of tensors, batched by index on the target device.

Every loader returns a :class:`Dataset`. Features are float tensors (images in [0, 1],
shape ``(N, C, H, W)``; tabular data scaled with training-split statistics, see ``scaling``);
class labels are ``int64`` in ``[0, num_classes)``; regression targets are float.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch

from ..checks import check_int, check_number
from ..registry import ConfigError, Registry

DATASETS: Registry[Any] = Registry("dataset", shared=("label_noise", "label_noise_mode"))
"""Data sources by name; each is a class whose constructor stores options and whose ``load()`` returns a Dataset.
Every source also takes the label-noise options, applied once it has loaded (see ``label_noise``)."""

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class Split:
    """Features ``x`` (N, ...) and targets ``y`` (N,) or (N, k) of one split."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ConfigError(f"split has {len(self.x)} inputs but {len(self.y)} targets")

    def __len__(self) -> int:
        return len(self.x)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))

    def subset(self, index: torch.Tensor) -> Split:
        return Split(self.x[index], self.y[index])

    def batches(
        self,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` batches by index; the order is drawn on the CPU from ``generator``.

        Drawing the order on the CPU makes it the same on every device for the same seed;
        it is copied to the data's device once per pass.
        """
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        order = order.to(self.x.device, non_blocking=True)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            index = order[start : start + batch_size]
            yield self.x[index], self.y[index]


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test splits plus what a model and the loss need to know.

    ``info`` holds loader-specific facts (normalisation statistics, vocabulary size,
    class names, the pad id, ...).
    """

    name: str
    task: Task
    train: Split
    val: Split
    test: Split
    num_classes: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in ("classification", "regression"):
            raise ConfigError(
                f"dataset {self.name!r}: task must be 'classification' or 'regression', got {self.task!r}"
            )
        for name in ("train", "val", "test"):
            check_split(self, name, getattr(self, name))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. ``(1, 28, 28)`` or ``(64,)``."""
        return tuple(self.train.x.shape[1:])

    @property
    def num_outputs(self) -> int:
        """Number of model outputs: classes, or regression targets."""
        if self.task == "classification":
            assert self.num_classes is not None
            return self.num_classes
        return 1 if self.train.y.ndim == 1 else int(self.train.y.shape[1])

    def to(self, device: torch.device | str) -> Dataset:
        return replace(self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device))


def inside(x: torch.Tensor, low: float, high: float) -> bool:
    """Whether every entry of ``x`` lies in ``[low, high]`` (an empty ``x`` does; NaN does not)."""
    return bool(((x >= low) & (x <= high)).all())


def check_split(dataset: Dataset, name: str, split: Split) -> None:
    """Reject NaN/inf features and out-of-range labels with a message naming the split."""
    where = f"dataset {dataset.name!r}, {name} split"
    for what, tensor in (("features", split.x), ("targets", split.y)):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            count = int((~torch.isfinite(tensor)).sum())
            raise ConfigError(f"{where}: {count} {what} are NaN or inf")
    if dataset.task == "classification":
        if dataset.num_classes is None or dataset.num_classes < 2:
            raise ConfigError(f"{where}: a classification data set needs num_classes >= 2, got {dataset.num_classes}")
        if split.y.dtype != torch.int64 or split.y.ndim != 1:
            shape = tuple(split.y.shape)
            raise ConfigError(f"{where}: labels must be an int64 vector, got {split.y.dtype} of shape {shape}")
        if len(split) and (int(split.y.min()) < 0 or int(split.y.max()) >= dataset.num_classes):
            raise ConfigError(
                f"{where}: labels must lie in [0, {dataset.num_classes - 1}], "
                f"found {int(split.y.min())}..{int(split.y.max())}"
            )


def check_split_options(*, val_size: float, test_size: float | None, train_size: int | None, seed: int) -> None:
    """Validate a data source's split options: ``val_size`` and ``test_size`` fractions in [0, 1)
    (``test_size`` None where the source has a fixed test split), ``train_size`` a positive int or None,
    ``seed`` a non-negative int."""
    check_number("val_size", val_size, 0, 1, high_open=True)
    if test_size is not None:
        check_number("test_size", test_size, 0, 1, high_open=True)
    if train_size is not None:
        check_int("train_size", train_size, 1)
    check_int("seed", seed, 0)


def split_off(split: Split, fraction: float, *, seed: int, field: str = "val_size") -> tuple[Split, Split]:
    """Split ``split`` at random into ``(rest, part)`` with ``part`` holding ``fraction`` of it."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"{field} must be in [0, 1), got {fraction!r}")
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    size = round(fraction * len(split))
    return split.subset(order[size:]), split.subset(order[:size])


def take(split: Split, size: int | None, *, seed: int, field: str = "train_size") -> Split:
    """A random subset of ``size`` samples (all of them for ``None``)."""
    if size is None:
        return split
    if not isinstance(size, int) or not 1 <= size <= len(split):
        raise ConfigError(f"{field} must be an integer in [1, {len(split)}] or null, got {size!r}")
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    return split.subset(order[:size])


def train_val(split: Split, *, val_size: float, train_size: int | None, seed: int) -> tuple[Split, Split]:
    """Split ``val_size`` of ``split`` off for validation, then keep ``train_size`` of the rest:
    ``(train, val)``, both drawn at random from ``seed``."""
    train, val = split_off(split, val_size, seed=seed, field="val_size")
    return take(train, train_size, seed=seed, field="train_size"), val


def three_way(
    full: Split, *, test_size: float, val_size: float, train_size: int | None, seed: int
) -> tuple[Split, Split, Split]:
    """``(train, val, test)`` of ``full``: ``test_size`` of it held out for testing, then ``train_val`` on
    the rest, all drawn at random from ``seed``."""
    rest, test = split_off(full, test_size, seed=seed, field="test_size")
    return (*train_val(rest, val_size=val_size, train_size=train_size, seed=seed), test)
