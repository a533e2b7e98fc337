"""IDX reading and the MNIST / Fashion-MNIST sources, on the shared MNIST and on tiny files the tests write."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from noisetrain.data import DATASETS, load_data
from noisetrain.data.download import md5_of, published
from noisetrain.data.idx import MNIST, FashionMNIST, read_idx
from noisetrain.registry import ConfigError

MNIST_TRAIN_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]  # shared/data/README.md
T10K_IMAGES_MD5 = "2646ac647ad5339dbf082846283269ea"


def index_of(x: torch.Tensor) -> torch.Tensor:
    """The index a tiny test image carries in its first pixel."""
    return (x.flatten(1)[:, 0] * 255).round().long()


# -- read_idx ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path: Path, idx_writer, dtype: str, gz: bool) -> None:
    array = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    path = idx_writer(tmp_path / "a-idx3", array, gz=gz)
    read = read_idx(path)
    assert read.dtype == np.dtype(dtype) and read.dtype.isnative
    np.testing.assert_array_equal(read, array)


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path, idx_writer) -> None:
    array = np.arange(4, dtype=np.uint8)
    path = idx_writer(tmp_path / "labels", array, gz=True).rename(tmp_path / "labels-without-suffix")
    np.testing.assert_array_equal(read_idx(path), array)


def test_truncated_file_says_what_was_expected(tmp_path: Path, idx_writer) -> None:
    path = idx_writer(tmp_path / "images", np.zeros((10, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    expected = 16 + 10 * 28 * 28
    with pytest.raises(ConfigError) as error:
        read_idx(path)
    message = str(error.value)
    assert str(path) in message and "10 x 28 x 28" in message
    assert f"{expected} bytes" in message and f"holds {expected - 100} bytes (truncated)" in message


def test_extra_bytes_are_an_error(tmp_path: Path, idx_writer) -> None:
    path = idx_writer(tmp_path / "labels", np.zeros(5, dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ConfigError, match=r"5 values of type uint8, i\.e\. 13 bytes in all, but the file holds 14"):
        read_idx(path)


@pytest.mark.parametrize(
    ("data", "found"),
    [(b"\x01\x00\x08\x01" + bytes(8), "01000801"), (b"\x00\x00\x07\x01" + bytes(8), "00000701"), (b"", "missing")],
)
def test_bad_magic_number(tmp_path: Path, data: bytes, found: str) -> None:
    (tmp_path / "bad").write_bytes(data)
    with pytest.raises(ConfigError, match=f"not an IDX file; its magic number is {found}"):
        read_idx(tmp_path / "bad")


def test_truncated_header_and_truncated_gzip(tmp_path: Path, idx_writer) -> None:
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x03" + bytes(5))
    with pytest.raises(ConfigError, match="truncated IDX header: 3 dimensions need 16 bytes, found 9"):
        read_idx(tmp_path / "short")
    path = idx_writer(tmp_path / "images", np.zeros((10, 28, 28), dtype=np.uint8), gz=True)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ConfigError, match="corrupt or truncated gzip file"):
        read_idx(path)


# -- the shared MNIST (10,000 training and 10,000 test images) ---------------------------
@pytest.fixture(scope="module")
def mnist(shared_data: Path):
    return MNIST(root=shared_data, val_size=0.0).load()


def test_shared_mnist_counts_come_from_the_headers(mnist) -> None:
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (10_000, 0, 10_000)
    assert mnist.name == "mnist" and mnist.task == "classification" and mnist.num_classes == 10
    assert mnist.input_shape == (1, 28, 28)
    assert torch.bincount(mnist.train.y, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert mnist.info["classes"] == [str(d) for d in range(10)]


def test_shared_mnist_values(mnist) -> None:
    for split in (mnist.train, mnist.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.min() == 0.0 and split.x.max() == 1.0
    # the decoded test images re-encode to the official file, byte for byte
    pixels = (mnist.test.x * 255).round().to(torch.uint8).numpy().tobytes()
    header = bytes([0, 0, 8, 3]) + np.array([10_000, 28, 28], dtype=">u4").tobytes()
    assert hashlib.md5(header + pixels).hexdigest() == T10K_IMAGES_MD5
    assert 0.12 < mnist.info["mean"][0] < 0.14 and 0.29 < mnist.info["std"][0] < 0.32  # MNIST's 0.1307, 0.3081


def test_shared_mnist_uncompressed_file_matches_published_md5(shared_data: Path) -> None:
    raw = gzip.decompress((shared_data / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    assert hashlib.md5(raw).hexdigest() == T10K_IMAGES_MD5


def test_shared_mnist_validation_split(shared_data: Path, mnist) -> None:
    data = MNIST(root=shared_data, val_size=0.1, seed=3).load()
    assert (len(data.train), len(data.val), len(data.test)) == (9_000, 1_000, 10_000)
    assert torch.equal(data.test.x, mnist.test.x)
    # together the two splits hold exactly the training file's labels
    counts = torch.bincount(torch.cat([data.train.y, data.val.y]), minlength=10)
    assert counts.tolist() == MNIST_TRAIN_COUNTS


# -- tiny files --------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_tiny_files_gzip_or_not(tmp_path: Path, mnist_like, gz: bool) -> None:
    mnist_like(tmp_path / "mnist", gz=gz)
    data = MNIST(root=tmp_path, val_size=0.0).load()
    assert data.train.x.shape == (60, 1, 28, 28) and data.test.x.shape == (20, 1, 28, 28)
    assert sorted(index_of(data.train.x).tolist()) == list(range(60))  # split_off shuffles even at val_size 0
    assert index_of(data.test.x).tolist() == list(range(200, 220))
    assert torch.equal(data.train.y, index_of(data.train.x) % 10)


def test_fashion_mnist(tmp_path: Path, mnist_like) -> None:
    mnist_like(tmp_path / "fashion_mnist")
    data = FashionMNIST(root=tmp_path, val_size=0.0, flatten=True).load()
    assert data.name == "fashion_mnist"
    assert data.train.x.shape == (60, 784) and data.test.x.shape == (20, 784)
    assert data.info["classes"][0] == "T-shirt/top" and data.info["classes"][9] == "Ankle boot"
    assert data.info["source"] == str(tmp_path / "fashion_mnist")


def test_mnist_folder_is_not_fashion_mnist(tmp_path: Path, mnist_like) -> None:
    mnist_like(tmp_path / "mnist")
    with pytest.raises(ConfigError, match="Fashion-MNIST files not found"):
        FashionMNIST(root=tmp_path).load()


def test_image_and_label_counts_must_match(tmp_path: Path, mnist_like, idx_writer) -> None:
    folder = mnist_like(tmp_path / "mnist")
    idx_writer(folder / "train-labels-idx1-ubyte", np.zeros(59, dtype=np.uint8), gz=True)
    with pytest.raises(ConfigError, match="60 images but 59 labels"):
        MNIST(root=tmp_path).load()


def test_wrong_file_kinds_and_labels(tmp_path: Path, mnist_like, idx_writer) -> None:
    folder = mnist_like(tmp_path / "mnist")
    idx_writer(folder / "train-labels-idx1-ubyte", np.full(60, 10, dtype=np.uint8), gz=True)
    with pytest.raises(ConfigError, match=r"labels must lie in \[0, 9\], found 10..10"):
        MNIST(root=tmp_path).load()
    idx_writer(folder / "train-labels-idx1-ubyte", np.zeros((60, 1), dtype=np.uint8), gz=True)
    with pytest.raises(ConfigError, match="expected a uint8 label vector"):
        MNIST(root=tmp_path).load()
    idx_writer(folder / "train-labels-idx1-ubyte", np.zeros(60, dtype=np.uint8), gz=True)
    idx_writer(folder / "t10k-images-idx3-ubyte", np.zeros((20, 32, 32), dtype=np.uint8), gz=True)
    with pytest.raises(ConfigError, match=r"t10k-images-idx3-ubyte.gz: expected uint8 images of shape \(N, 28, 28\)"):
        MNIST(root=tmp_path).load()


def test_uncompressed_file_is_preferred_over_gzip(tmp_path: Path, mnist_like, idx_writer) -> None:
    folder = mnist_like(tmp_path / "mnist")
    idx_writer(folder / "t10k-labels-idx1-ubyte", np.full(20, 7, dtype=np.uint8))
    assert (MNIST(root=tmp_path).load().test.y == 7).all()


def test_split_and_subset(tmp_path: Path, mnist_like) -> None:
    mnist_like(tmp_path / "mnist")
    a = MNIST(root=tmp_path, val_size=0.25, train_size=30, seed=1).load()
    b = MNIST(root=tmp_path, val_size=0.25, train_size=30, seed=1).load()
    c = MNIST(root=tmp_path, val_size=0.25, train_size=30, seed=2).load()
    assert (len(a.train), len(a.val), len(a.test)) == (30, 15, 20)
    train, val = set(index_of(a.train.x).tolist()), set(index_of(a.val.x).tolist())
    assert not train & val and train | val <= set(range(60))
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.val.y, b.val.y)
    assert set(index_of(c.val.x).tolist()) != val
    # the statistics are those of the training split actually used
    assert a.info["mean"] == pytest.approx([a.train.x.mean().item()], rel=1e-5)
    assert a.info["std"] == pytest.approx([a.train.x.std().item()], rel=1e-5)


def test_train_size_larger_than_the_training_split(tmp_path: Path, mnist_like) -> None:
    mnist_like(tmp_path / "mnist")
    with pytest.raises(ConfigError, match=r"train_size must be an integer in \[1, 54\]"):
        MNIST(root=tmp_path, train_size=55).load()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"val_size": 1.0}, "val_size"),
        ({"val_size": -0.1}, "val_size"),
        ({"val_size": "0.1"}, "val_size"),
        ({"train_size": 0}, "train_size"),
        ({"train_size": 2.5}, "train_size"),
        ({"seed": "a"}, "seed"),
        ({"flatten": 1}, "flatten"),
        ({"download": "yes"}, "download"),
        ({"root": 5}, "root"),
    ],
)
def test_options_are_validated_on_construction(options: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        MNIST(**options)


def test_registered_and_built_from_a_spec(tmp_path: Path, mnist_like) -> None:
    assert {"mnist", "fashion_mnist"} <= set(DATASETS.names())
    mnist_like(tmp_path / "mnist")
    data = load_data({"kind": "mnist", "root": str(tmp_path), "val_size": 0.5, "seed": 0})
    assert (len(data.train), len(data.val)) == (30, 30)
    assert "MNIST(root=" in repr(DATASETS.build({"kind": "mnist", "root": str(tmp_path)}))


def test_download_from_published_files(tmp_path: Path, mnist_like, monkeypatch: pytest.MonkeyPatch) -> None:
    server = mnist_like(tmp_path / "server")
    md5s = {path.name: md5_of(path) for path in server.iterdir()}
    monkeypatch.setattr(MNIST, "resources", published(server.as_uri() + "/", md5s))
    with pytest.raises(ConfigError, match="download=True"):
        MNIST(root=tmp_path / "root").load()
    data = MNIST(root=tmp_path / "root", download=True, val_size=0.0).load()
    assert sorted(p.name for p in (tmp_path / "root" / "mnist").iterdir()) == sorted(md5s)
    assert index_of(data.test.x).tolist() == list(range(200, 220))


def test_download_with_a_wrong_checksum_fails(tmp_path: Path, mnist_like, monkeypatch: pytest.MonkeyPatch) -> None:
    server = mnist_like(tmp_path / "server")
    md5s = {path.name: "0" * 32 for path in server.iterdir()}
    monkeypatch.setattr(FashionMNIST, "resources", published(server.as_uri() + "/", md5s))
    with pytest.raises(ConfigError, match=r"checksum mismatch .*expected md5 0{32}, got [0-9a-f]{32}"):
        FashionMNIST(root=tmp_path / "root", download=True).load()
    assert not (tmp_path / "root").exists()  # nor the folders made for it


@pytest.mark.parametrize(("source", "folder"), [(MNIST, "MNIST/raw"), (FashionMNIST, "FashionMNIST/raw")])
def test_torchvision_layout_is_found(tmp_path: Path, mnist_like, monkeypatch: pytest.MonkeyPatch, source, folder):
    mnist_like(tmp_path / folder, gz=False)  # torchvision keeps the unpacked files in <root>/<Class>/raw
    data = source(root=tmp_path, val_size=0.0).load()
    assert data.info["source"] == str(tmp_path / folder) and len(data.train) == 60 and len(data.test) == 20
    monkeypatch.setenv("NOISETRAIN_DATA", str(tmp_path))
    assert source(val_size=0.0).load().info["source"] == str(tmp_path / folder)
