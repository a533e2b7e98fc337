"""CIFAR-10 and CIFAR-100 from their python batches (Krizhevsky, "Learning Multiple Layers of Features from
Tiny Images", 2009; https://www.cs.toronto.edu/~kriz/cifar.html).

The folder ``cifar-10-batches-py`` holds ``data_batch_1`` ... ``data_batch_5``, ``test_batch`` and
``batches.meta``; ``cifar-100-python`` holds ``train``, ``test`` and ``meta``. Each is a pickled dict
(torchvision's ``datasets.CIFAR10/100`` unpack the same archives into the same folders). A batch has
``data`` (N x 3072 uint8: the red, green, then blue 32x32 plane, rows in order) and its labels
(``labels``; CIFAR-100: ``fine_labels`` and ``coarse_labels``); the meta file has the class names
(``label_names``; ``fine_label_names``, ``coarse_label_names``). Pickles are read by
:class:`RestrictedUnpickler`, which builds numpy arrays and plain containers only, so a tampered file
cannot run code.

Example:
    >>> data = CIFAR10(root="../shared/data", val_size=0.1).load()   # x: (N, 3, 32, 32) in [0, 1]
"""

from __future__ import annotations

import codecs
import math
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import check_choice
from ..registry import ConfigError
from .dataset import DATASETS, Split
from .download import Resource, extract_tar, fetch
from .images import ImageSource, image_split


class CheckedArray(np.ndarray):
    """The array class a CIFAR pickle gets: its state must hold the bytes its shape needs, checked before numpy
    allocates the shape (a file of a few bytes cannot ask for terabytes)."""

    def __setstate__(self, state: Any) -> None:
        shape, dtype, raw = state[1], state[2], state[-1]
        if isinstance(raw, (bytes, bytearray)):
            needed = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
            if needed != len(raw):
                raise pickle.UnpicklingError(
                    f"an array of shape {tuple(shape)} needs {needed:,} bytes, but the file holds {len(raw):,}"
                )
        super().__setstate__(state)


def allowed_globals() -> dict[tuple[str, str], Any]:
    """The globals a pickled numpy array may name (numpy 1.x and 2.x spellings, pickle protocols 0-5); arrays are
    built as ``CheckedArray``."""
    reconstruct = np.zeros(0).__reduce__()[0]  # numpy's _reconstruct, wherever this numpy keeps it
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]  # numpy's _frombuffer, used by protocol 5
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): CheckedArray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # bytes in protocol 0-2 pickles written by Python 3
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{package}.numeric", "_frombuffer")] = frombuffer
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only numpy arrays, dtypes and plain Python values; any other global is refused."""

    allowed = allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a CIFAR file holds only numpy arrays, lists, dicts, "
                "numbers and strings"
            ) from None


def load_pickle(path: Path) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` (``encoding="latin1"``, as the publisher advises)."""
    try:
        with open(path, "rb") as file:
            return RestrictedUnpickler(file, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            MemoryError) as error:  # fmt: skip
        raise ConfigError(f"{path}: cannot read as a CIFAR pickle: {error}") from error


def entry(record: Any, key: str, path: Path) -> Any:
    """``record[key]`` of an unpickled dict, or ``ConfigError`` naming the file and the key."""
    if not isinstance(record, dict) or key not in record:
        found = sorted(map(str, record)) if isinstance(record, dict) else type(record).__name__
        raise ConfigError(f"{path}: expected a dict with key {key!r}, found {found}")
    return record[key]


class CIFARBatches(ImageSource):
    """Base of the CIFAR sources: images and labels from pickled batches, class names from a meta file.

    A subclass names its ``train_files``, ``test_file``, ``meta_file`` and the dict keys of the labels
    (``label_key``) and of the class names (``names_key``).
    """

    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: str
    names_key: str
    image_shape = (3, 32, 32)

    def fetch_into(self, base: Path) -> None:
        """Download the archive into ``base`` and unpack it there (it holds the subfolder)."""
        for resource in self.resources:
            extract_tar(fetch(resource, base), base)

    def read(self, folder: Path) -> tuple[Split, Split, list[str]]:
        meta = folder / self.meta_file
        names = entry(load_pickle(meta), self.names_key, meta)
        if not isinstance(names, list) or len(names) != self.num_classes or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{meta}: {self.names_key} must be a list of {self.num_classes} strings, got {names!r}")
        batches = [self.read_batch(folder / name) for name in self.train_files]
        images = np.concatenate([images for images, _ in batches])
        labels = np.concatenate([labels for _, labels in batches])
        source = f"{folder}/{self.train_files[0] if len(self.train_files) == 1 else 'data_batch_*'}"
        train = image_split(images, labels, num_classes=self.num_classes, source=source)
        test_path = folder / self.test_file
        test = image_split(*self.read_batch(test_path), num_classes=self.num_classes, source=str(test_path))
        return train, test, names

    def read_batch(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` of one batch file."""
        batch = load_pickle(path)
        data, labels = entry(batch, "data", path), entry(batch, self.label_key, path)
        try:
            labels = np.asarray(labels)
        except ValueError as error:  # a ragged list
            raise ConfigError(f"{path}: {self.label_key!r} must be a list of integers ({error})") from error
        size = int(np.prod(self.image_shape))
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != size:
            found = f"{data.dtype} of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
            raise ConfigError(f"{path}: 'data' must be a uint8 array of shape (N, {size}), found {found}")
        if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(data):
            raise ConfigError(
                f"{path}: {self.label_key!r} must be {len(data)} integers, one per image, "
                f"found {labels.dtype} of shape {labels.shape}"
            )
        return data.reshape(-1, *self.image_shape), labels


@DATASETS.register("cifar10")
class CIFAR10(CIFARBatches):
    """CIFAR-10: 50,000 training and 10,000 test 32x32 colour images in 10 classes (Krizhevsky, 2009).

    Files in ``<root>/cifar-10-batches-py/``; ``download=True`` fetches and unpacks the publisher's
    archive into ``<root>``. Options as in :class:`~noisetrain.data.images.ImageSource`.
    """

    title = "CIFAR-10"
    subfolder = "cifar-10-batches-py"
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_file, meta_file, label_key, names_key = "test_batch", "batches.meta", "labels", "label_names"
    required = tuple((name,) for name in (*train_files, test_file, meta_file))
    resources = (
        Resource(
            "cifar-10-python.tar.gz",
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            "c58f30108f718f92721af3b95e74349a",
        ),
    )


CIFAR100_LABELS = {"fine": 100, "coarse": 20}
"""CIFAR-100's two label sets and their numbers of classes."""


@DATASETS.register("cifar100")
class CIFAR100(CIFARBatches):
    """CIFAR-100: 50,000 training and 10,000 test 32x32 colour images in 100 classes (fine labels) grouped
    into 20 superclasses (coarse labels) (Krizhevsky, 2009).

    Files in ``<root>/cifar-100-python/``; ``download=True`` fetches and unpacks the publisher's archive
    into ``<root>``. ``labels``: ``fine`` (100 classes) or ``coarse`` (20); other options as in
    :class:`~noisetrain.data.images.ImageSource`.
    """

    title = "CIFAR-100"
    subfolder = "cifar-100-python"
    train_files = ("train",)
    test_file, meta_file = "test", "meta"
    required = tuple((name,) for name in (*train_files, test_file, meta_file))
    resources = (
        Resource(
            "cifar-100-python.tar.gz",
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
            "eb9058c3a382ffc7106e4002c42a8d85",
        ),
    )

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        download: bool = False,
        val_size: float = 0.1,
        train_size: int | None = None,
        seed: int = 0,
        flatten: bool = False,
        labels: str = "fine",
    ) -> None:
        super().__init__(root, download, val_size, train_size, seed, flatten)
        check_choice("labels", labels, tuple(CIFAR100_LABELS))
        self.labels = labels
        self.num_classes = CIFAR100_LABELS[labels]
        self.label_key, self.names_key = f"{labels}_labels", f"{labels}_label_names"
