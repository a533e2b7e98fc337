"""Fixtures for the data tests: the shared offline data, and writers of tiny files in the publishers' formats.

Tiny images carry their index: pixel 0 of image ``i`` is ``i`` and its label is ``i % 10``, so a
test can tell which images ended up in which split.
"""

from __future__ import annotations

import gzip
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

IDX_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype("i2"): 0x0B, np.dtype("i4"): 0x0C}
IDX_CODES |= {np.dtype("f4"): 0x0D, np.dtype("f8"): 0x0E}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The offline data folder: ``$NOISETRAIN_DATA``, else ``../shared/data`` next to the repository."""
    root = Path(os.environ.get("NOISETRAIN_DATA") or REPO.parent / "shared" / "data")
    if not (root / "mnist").is_dir() or not (root / "cifar-10-batches-py").is_dir():
        pytest.skip(f"offline data not found in {root} (set NOISETRAIN_DATA to the folder of shared/data/README.md)")
    return root


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` encoded as an IDX file: magic number, big-endian dimensions, big-endian values."""
    header = bytes([0, 0, IDX_CODES[array.dtype.newbyteorder("=")], array.ndim])
    dims = np.asarray(array.shape, dtype=">u4").tobytes()
    return header + dims + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed if ``gz``, with ``.gz`` appended to the name)."""
    data = idx_bytes(array)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tiny_images(n: int, shape: tuple[int, ...], *, start: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random uint8 images of ``shape`` whose first pixel is their index ``start + i``; labels ``index % 10``."""
    images = np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)
    index = np.arange(start, start + n)
    images.reshape(n, -1)[:, 0] = index
    return images, (index % 10).astype(np.uint8)


def write_mnist_like(folder: Path, n_train: int = 60, n_test: int = 20, *, gz: bool = True) -> Path:
    """Write the four IDX files of a tiny MNIST-like data set into ``folder``; returns ``folder``."""
    for prefix, n, start in (("train", n_train, 0), ("t10k", n_test, 200)):
        images, labels = tiny_images(n, (28, 28), start=start, seed=start)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz=gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz=gz)
    return folder


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar(folder: Path, per_batch: int = 12, *, protocol: int = 2) -> Path:
    """Write a tiny ``cifar-10-batches-py`` layout (5 training batches, a test batch, the meta file)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for number, name in enumerate(names):
        images, labels = tiny_images(per_batch, (3, 32, 32), start=number * per_batch, seed=number)
        batch = {"batch_label": name, "data": images.reshape(per_batch, -1), "labels": labels.tolist()}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    meta = {"num_cases_per_batch": per_batch, "label_names": CIFAR_CLASSES, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return folder


def write_cifar100(folder: Path, n_train: int = 40, n_test: int = 10, *, protocol: int = 2) -> Path:
    """Write a tiny ``cifar-100-python`` layout: fine label ``index % 100``, coarse label ``index % 20``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, n, start in (("train", n_train, 0), ("test", n_test, 150)):
        images, _ = tiny_images(n, (3, 32, 32), start=start, seed=start)
        index = np.arange(start, start + n)
        labels = {"fine_labels": (index % 100).tolist(), "coarse_labels": (index % 20).tolist()}
        batch = {"data": images.reshape(n, -1), **labels}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    meta = {f"{kind}_label_names": [f"{kind}{i}" for i in range(n)] for kind, n in (("fine", 100), ("coarse", 20))}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return folder


@pytest.fixture
def mnist_like() -> Callable[..., Path]:
    """The writer :func:`write_mnist_like`."""
    return write_mnist_like


@pytest.fixture
def idx_writer() -> Callable[..., Path]:
    """The writer :func:`write_idx`."""
    return write_idx


@pytest.fixture
def cifar_writer() -> Callable[..., Path]:
    """The writer :func:`write_cifar`."""
    return write_cifar


@pytest.fixture
def cifar100_writer() -> Callable[..., Path]:
    """The writer :func:`write_cifar100`."""
    return write_cifar100
