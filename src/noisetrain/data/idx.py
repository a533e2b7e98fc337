"""MNIST and Fashion-MNIST from their IDX files (gzip-compressed as published, or uncompressed).

IDX format (LeCun et al., "Gradient-based learning applied to document recognition", 1998;
http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the number of dimensions,
each dimension as a big-endian uint32, then the values in C order. Fashion-MNIST (Xiao, Rasul,
Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms",
2017, arXiv:1708.07747) uses the same files and names. Counts come from the headers.

Example:
    >>> data = MNIST(root="../shared/data", val_size=0.1, seed=0).load()   # x: (N, 1, 28, 28) in [0, 1]
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..registry import ConfigError
from .dataset import DATASETS, Split
from .download import published
from .images import ImageSource, image_split
from .paths import pick

IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX type codes and the big-endian numpy types they name."""

GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """The contents of ``path``, decompressed if it is gzip (recognised by its content, not its name)."""
    raw = path.read_bytes()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise ConfigError(f"{path}: corrupt or truncated gzip file ({error})") from error


def read_idx(path: Path) -> np.ndarray:
    """The array stored in the IDX file at ``path`` (gzip or not), in native byte order.

    Checks the magic number (zero bytes, a known type code, at least one dimension) and that the
    data length matches the header; raises ``ConfigError`` naming the file otherwise.
    """
    raw = read_bytes(path)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES or raw[3] == 0:
        known = ", ".join(f"0x{code:02x}" for code in IDX_TYPES)
        raise ConfigError(
            f"{path}: not an IDX file; its magic number is {raw[:4].hex() or 'missing'}, expected 0000 then "
            f"a type code ({known}) and a number of dimensions >= 1"
        )
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ConfigError(f"{path}: truncated IDX header: {ndim} dimensions need {start} bytes, found {len(raw)}")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = start + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        dims = " x ".join(map(str, shape))
        raise ConfigError(
            f"{path}: the header says {dims} values of type {dtype.name}, i.e. {expected} bytes in all, "
            f"but the file holds {len(raw)} bytes" + (" (truncated)" if len(raw) < expected else "")
        )
    array = np.frombuffer(raw, dtype=dtype, offset=start).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


class IdxImages(ImageSource):
    """Base of MNIST-like sources: 28x28 grey images in four IDX files (see :class:`ImageSource` for options)."""

    image_shape = (1, 28, 28)
    files: ClassVar[dict[str, tuple[str, str]]] = {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }
    required = tuple((name, name + ".gz") for pair in files.values() for name in pair)
    classes: ClassVar[tuple[str, ...]]

    def read(self, folder: Path) -> tuple[Split, Split, list[str]]:
        train, test = (self.read_pair(folder, *self.files[split]) for split in ("train", "test"))
        return train, test, list(self.classes)

    def read_pair(self, folder: Path, images_name: str, labels_name: str) -> Split:
        """The split stored in one images file and one labels file of ``folder``."""
        images_path = pick(folder, (images_name, images_name + ".gz"))
        labels_path = pick(folder, (labels_name, labels_name + ".gz"))
        assert images_path is not None and labels_path is not None  # locate() found them
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.dtype != np.uint8 or images.shape[1:] != self.image_shape[1:]:
            raise ConfigError(
                f"{images_path}: expected uint8 images of shape (N, 28, 28) (IDX magic 0x00000803), "
                f"found {images.dtype} of shape {images.shape}"
            )
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise ConfigError(
                f"{labels_path}: expected a uint8 label vector (IDX magic 0x00000801), "
                f"found {labels.dtype} of shape {labels.shape}"
            )
        source = f"{images_path} and {labels_path}"
        return image_split(images[:, None], labels, num_classes=self.num_classes, source=source)


@DATASETS.register("mnist")
class MNIST(IdxImages):
    """MNIST handwritten digits (LeCun, Cortes, Burges, 1998): 60,000 training and 10,000 test images.

    Files in ``<root>/mnist/`` or torchvision's ``<root>/MNIST/raw/``; downloads come from the PyTorch
    mirror of the original files.
    """

    title = "MNIST"
    subfolder = "mnist"
    also = ("MNIST/raw",)
    classes = tuple(str(digit) for digit in range(10))
    resources = published(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    )


@DATASETS.register("fashion_mnist")
class FashionMNIST(IdxImages):
    """Fashion-MNIST (Xiao et al., 2017, arXiv:1708.07747): Zalando article images in MNIST's format.

    Files in ``<root>/fashion_mnist/`` or torchvision's ``<root>/FashionMNIST/raw/``; downloads come from
    the authors' S3 bucket.
    """

    title = "Fashion-MNIST"
    subfolder = "fashion_mnist"
    also = ("FashionMNIST/raw",)
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    resources = published(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    )
