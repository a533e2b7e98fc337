"""What the image data sources share: their options, finding or downloading the files, and the splits.

Images stay in [0, 1] (pixel value / 255) so that noise strengths and attack radii are in pixel
units; the per-channel mean and std of the training split are reported in ``info`` for models
that normalise their input themselves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..checks import check_bool
from ..registry import ConfigError, parameter_names
from .dataset import Dataset, Split, check_split_options, train_val
from .download import Resource, fetch
from .paths import Required, candidate_folders, check_root, data_root, find_folder, missing, not_found


def image_split(images: np.ndarray, labels: np.ndarray, *, num_classes: int, source: str) -> Split:
    """A split from uint8 images ``(N, C, H, W)`` and integer labels ``(N,)`` read from ``source``.

    Images become float32 in [0, 1], labels int64; a count mismatch or a label outside
    ``[0, num_classes)`` raises ``ConfigError`` naming ``source``.
    """
    if len(images) != len(labels):
        raise ConfigError(f"{source}: {len(images)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ConfigError(f"{source}: labels must lie in [0, {num_classes - 1}], found {labels.min()}..{labels.max()}")
    x = torch.from_numpy(images.astype(np.float32)).div_(255)
    return Split(x, torch.from_numpy(labels.astype(np.int64)))


class ImageSource:
    """Base of the image data sources: stores the options; ``load()`` finds the files and builds the splits.

    Args:
        root: folder holding the data set's subfolder, or that subfolder itself; None searches
            ``$NOISETRAIN_DATA`` and the cache folder (see :mod:`noisetrain.data.paths`).
        download: fetch the published files (checked against their MD5) into the root when none are found.
        val_size: fraction of the training file split off at random as the validation split, in [0, 1).
        train_size: keep a random subset of this many training images (after the validation split); None keeps all.
        seed: seed of the validation split and of the subset.
        flatten: give inputs of shape ``(N, C*H*W)`` instead of ``(N, C, H, W)``.

    A subclass names its ``subfolder`` (and torchvision's, ``also``), ``required`` files, published ``resources`` and
    ``image_shape``, and implements ``read(folder) -> (train, test, class names)``.
    """

    kind: ClassVar[str]
    title: ClassVar[str]
    subfolder: ClassVar[str]
    also: ClassVar[tuple[str, ...]] = ()
    """Other subfolders that hold the same files: torchvision's layout."""
    required: ClassVar[Required]
    resources: ClassVar[tuple[Resource, ...]]
    image_shape: ClassVar[tuple[int, int, int]]
    num_classes: ClassVar[int] = 10
    train_only: ClassVar[frozenset[str]] = frozenset({"download", "val_size", "train_size", "flatten"})
    """Options that change the training and validation splits but not the test split."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        download: bool = False,
        val_size: float = 0.1,
        train_size: int | None = None,
        seed: int = 0,
        flatten: bool = False,
    ) -> None:
        check_root(root)
        check_bool("download", download)
        check_split_options(val_size=val_size, test_size=None, train_size=train_size, seed=seed)
        check_bool("flatten", flatten)
        self.root = root
        self.download = download
        self.val_size = val_size
        self.train_size = train_size
        self.seed = seed
        self.flatten = flatten

    def __repr__(self) -> str:
        names = parameter_names(type(self))
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    def locate(self) -> Path:
        """The folder holding every required file, downloading them first if allowed and needed."""
        candidates = candidate_folders(self.root, self.subfolder, self.also)
        folder = find_folder(candidates, self.required)
        if folder is not None:
            return folder
        base = data_root(self.root)
        target = base / self.subfolder
        if not self.download:
            raise not_found(self.title, candidates, self.required, target, [r.url for r in self.resources])
        self.fetch_into(base)
        lacks = missing(target, self.required)
        if lacks:
            raise ConfigError(f"after downloading {self.title}, {target} still lacks {', '.join(lacks)}")
        return target

    def fetch_into(self, base: Path) -> None:
        """Download the published files into ``base/subfolder``."""
        for resource in self.resources:
            fetch(resource, base / self.subfolder)

    def read(self, folder: Path) -> tuple[Split, Split, list[str]]:
        """The full training and test splits in ``folder`` and the class names."""
        raise NotImplementedError

    def load(self) -> Dataset:
        """Read the files, split off the validation set, subsample, and report channel statistics."""
        folder = self.locate()
        train, test, classes = self.read(folder)
        train, val = train_val(train, val_size=self.val_size, train_size=self.train_size, seed=self.seed)
        std, mean = torch.std_mean(train.x, dim=(0, 2, 3))
        splits = [train, val, test]
        if self.flatten:
            splits = [Split(s.x.flatten(1), s.y) for s in splits]
        info: dict[str, Any] = {"classes": classes, "source": str(folder), "mean": mean.tolist(), "std": std.tolist()}
        return Dataset(self.kind, "classification", *splits, num_classes=self.num_classes, info=info)
