"""The UCI data sets that scikit-learn ships inside its wheel (no download).

One base class splits and scales any of them; each data set is a thin
registered subclass naming its scikit-learn loader:

| kind | source | samples | features | task |
| --- | --- | --- | --- | --- |
| ``digits`` | UCI optical recognition of handwritten digits (Alpaydin, Kaynak 1998) | 1797 | 64 (8×8) | 10 classes |
| ``iris`` | Fisher's iris (Fisher 1936) | 150 | 4 | 3 classes |
| ``wine`` | UCI wine recognition (Aeberhard, Forina 1991) | 178 | 13 | 3 classes |
| ``breast_cancer`` | Wisconsin diagnostic breast cancer (Street, Wolberg, Mangasarian 1993) | 569 | 30 | 2 classes |
| ``diabetes`` | diabetes progression (Efron, Hastie, Johnstone, Tibshirani 2004) | 442 | 10 | regression |

Splits: ``test_size`` of all samples is held out for testing, then ``val_size`` of
the rest for validation, both at random from ``seed``; ``train_size`` keeps a
random subset of the training split. Features are ``float32``, scaled by ``scale``
(``standard``, ``minmax`` or ``none``; see ``noisetrain.data.scaling``) with statistics of the
training split only, recorded as ``info["scaling"]``, ``info["offset"]`` and ``info["scale"]``
(per feature: original = scaled * scale + offset); labels are ``int64``. Diabetes' targets are
scaled the same way by ``scale_target`` (``info["target_scaling"]``, ``info["target_offset"]``,
``info["target_scale"]``), so that errors are reported in the original units.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import torch

from ..checks import check_bool, check_choice
from ..registry import ConfigError
from .dataset import DATASETS, Dataset, Split, Task, check_split_options, three_way
from .scaling import SCALINGS, scale_splits


class SklearnTabular:
    """A data set bundled with scikit-learn, split at random and scaled.

    Args:
        scale: how the features are scaled, with statistics of the training split only:
            ``"standard"`` (default; mean 0, std 1), ``"minmax"`` (training split in [0, 1]) or ``"none"``.
        val_size: fraction of the non-test samples held out for validation, in [0, 1). Default 0.2.
        test_size: fraction of all samples held out for testing, in [0, 1). Default 0.2.
        train_size: number of training samples to keep (a random subset), or None for all.
        seed: seed of the random splits.

    Example: ``Wine().load().train.x.shape == (114, 13)``.
    """

    kind: ClassVar[str]
    loader: ClassVar[str]
    """Name of the ``sklearn.datasets`` function that returns the data."""
    task: ClassVar[Task] = "classification"
    train_only: ClassVar[frozenset[str]] = frozenset({"val_size", "train_size", "scale", "scale_target"})
    """Options that change the training and validation splits but not the test split."""

    def __init__(
        self,
        *,
        scale: str = "standard",
        val_size: float = 0.2,
        test_size: float = 0.2,
        train_size: int | None = None,
        seed: int = 0,
    ):
        check_choice("scale", scale, SCALINGS)
        check_split_options(val_size=val_size, test_size=test_size, train_size=train_size, seed=seed)
        self.scale = scale
        self.val_size = val_size
        self.test_size = test_size
        self.train_size = train_size
        self.seed = seed

    def bunch(self) -> Any:
        """What the scikit-learn loader returns (``data``, ``target``, ``feature_names``, ``target_names``)."""
        import sklearn.datasets

        return getattr(sklearn.datasets, self.loader)()

    def load(self) -> Dataset:
        bunch = self.bunch()
        full = Split(self.inputs(bunch), self.targets(bunch))
        train, val, test = three_way(
            full, test_size=self.test_size, val_size=self.val_size, train_size=self.train_size, seed=self.seed
        )
        (train, val, test), info = self.rescale(train, val, test)
        info["feature_names"] = [str(name) for name in bunch.feature_names]
        classes = self.task == "classification"
        if classes:
            info["class_names"] = [str(name) for name in bunch.target_names]
        num_classes = len(bunch.target_names) if classes else None
        return Dataset(self.kind, self.task, train, val, test, num_classes=num_classes, info=info)

    def inputs(self, bunch: Any) -> torch.Tensor:
        """Features (N, F) as float32."""
        return torch.as_tensor(bunch.data, dtype=torch.float32)

    def targets(self, bunch: Any) -> torch.Tensor:
        """Labels (N,) as int64 (regression sets override this)."""
        return torch.as_tensor(bunch.target, dtype=torch.int64)

    def rescale(self, train: Split, val: Split, test: Split) -> tuple[list[Split], dict[str, Any]]:
        """Scale the features by ``scale`` fitted on ``train``; the splits and their ``info`` entries."""
        return scale_splits(self.scale, train, val, test)


@DATASETS.register("digits")
class Digits(SklearnTabular):
    """UCI handwritten digits, 8×8 images of 1797 digits in 10 classes (Alpaydin, Kaynak 1998).

    Args:
        images: False (default): 64 features per sample, scaled by ``scale``; True: images
            (N, 1, 8, 8) with pixel values in [0, 1] (the 0..16 counts divided by 16), never scaled:
            ``scale`` must then stay at its default or be ``"none"`` (``"minmax"`` is refused), and
            ``info`` has no scaling entries.
        scale, val_size, test_size, train_size, seed: as in ``SklearnTabular``.

    Example: ``Digits(images=True).load().input_shape == (1, 8, 8)``.
    """

    loader = "load_digits"

    def __init__(
        self,
        *,
        images: bool = False,
        scale: str = "standard",
        val_size: float = 0.2,
        test_size: float = 0.2,
        train_size: int | None = None,
        seed: int = 0,
    ):
        super().__init__(scale=scale, val_size=val_size, test_size=test_size, train_size=train_size, seed=seed)
        self.images = check_bool("images", images)
        if images and scale == "minmax":
            raise ConfigError(
                "scale 'minmax' does not apply to digits with images=True: the pixels are kept in [0, 1] "
                "(counts / 16) and never scaled; leave scale out or set 'none'"
            )

    def bunch(self) -> Any:
        """``load_digits()``'s arrays, read from the CSV file scikit-learn ships as that function does, without
        importing scikit-learn (its import pulls in scipy and pandas: most of the time ``study validate`` takes on
        the demo); through ``load_digits`` where the file is not found."""
        spec = importlib.util.find_spec("sklearn")
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
        path = Path(folders[0], "datasets", "data", "digits.csv.gz") if folders else None
        if path is None or not path.is_file():
            return super().bunch()
        with gzip.open(path, "rt") as file:
            values = np.loadtxt(file, delimiter=",")
        names = [f"pixel_{row}_{column}" for row in range(8) for column in range(8)]
        return SimpleNamespace(data=values[:, :-1], target=values[:, -1].astype(int), feature_names=names,
                               target_names=np.arange(10))  # fmt: skip

    def inputs(self, bunch: Any) -> torch.Tensor:
        x = super().inputs(bunch)
        return (x / 16).reshape(-1, 1, 8, 8) if self.images else x

    def rescale(self, train: Split, val: Split, test: Split) -> tuple[list[Split], dict[str, Any]]:
        return ([train, val, test], {}) if self.images else super().rescale(train, val, test)


@DATASETS.register("iris")
class Iris(SklearnTabular):
    """Fisher's iris flowers: 150 samples, 4 features, 3 classes (Fisher 1936)."""

    loader = "load_iris"


@DATASETS.register("wine")
class Wine(SklearnTabular):
    """UCI wine recognition: 178 samples, 13 chemical features, 3 cultivars (Aeberhard, Forina 1991)."""

    loader = "load_wine"


@DATASETS.register("breast_cancer")
class BreastCancer(SklearnTabular):
    """Wisconsin diagnostic breast cancer: 569 samples, 30 features, 2 classes (Street et al. 1993)."""

    loader = "load_breast_cancer"


@DATASETS.register("diabetes")
class Diabetes(SklearnTabular):
    """Diabetes disease progression after one year: 442 patients, 10 features, float32 targets (N,).

    From Efron, Hastie, Johnstone, Tibshirani 2004, "Least Angle Regression".

    Args:
        scale: as in ``SklearnTabular``.
        scale_target: how the targets are scaled, with statistics of the training split only:
            ``"standard"`` (default), ``"minmax"`` or ``"none"``; recorded as ``info["target_offset"]``
            and ``info["target_scale"]`` so that errors are reported in the original units.
        val_size, test_size, train_size, seed: as in ``SklearnTabular``.

    Example: ``Diabetes().load().info["target_scale"]`` (the training std, about 77).
    """

    loader = "load_diabetes"
    task = "regression"

    def __init__(
        self,
        *,
        scale: str = "standard",
        scale_target: str = "standard",
        val_size: float = 0.2,
        test_size: float = 0.2,
        train_size: int | None = None,
        seed: int = 0,
    ):
        super().__init__(scale=scale, val_size=val_size, test_size=test_size, train_size=train_size, seed=seed)
        check_choice("scale_target", scale_target, SCALINGS)
        self.scale_target = scale_target

    def targets(self, bunch: Any) -> torch.Tensor:
        return torch.as_tensor(bunch.target, dtype=torch.float32)

    def rescale(self, train: Split, val: Split, test: Split) -> tuple[list[Split], dict[str, Any]]:
        splits, info = super().rescale(train, val, test)
        splits, target_info = scale_splits(self.scale_target, *splits, targets=True, field="scale_target")
        return splits, {**info, **target_info}
