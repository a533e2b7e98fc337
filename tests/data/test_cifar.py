"""CIFAR-10: the shared subset, tiny batches the tests write, the restricted unpickler and the download path."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from noisetrain.data.cifar import CIFAR10, CIFAR100, load_pickle
from noisetrain.data.dataset import DATASETS
from noisetrain.data.download import Resource, md5_of
from noisetrain.data.load import load_data
from noisetrain.registry import ConfigError

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def index_of(x: torch.Tensor) -> torch.Tensor:
    """The index a tiny test image carries in its first pixel."""
    return (x.flatten(1)[:, 0] * 255).round().long()


# -- the shared subset: 5 x 1,017 training and 1,017 test images -------------------------
@pytest.fixture(scope="module")
def cifar(shared_data: Path):
    return CIFAR10(root=shared_data, val_size=0.0).load()


def test_shared_cifar_sizes_and_values(cifar) -> None:
    assert (len(cifar.train), len(cifar.val), len(cifar.test)) == (5_085, 0, 1_017)
    assert cifar.name == "cifar10" and cifar.num_classes == 10 and cifar.input_shape == (3, 32, 32)
    assert cifar.info["classes"] == CLASSES
    for split in (cifar.train, cifar.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.min() == 0.0 and split.x.max() == 1.0
        counts = torch.bincount(split.y, minlength=10)
        assert counts.min() > 0.7 * len(split) / 10 and counts.max() < 1.3 * len(split) / 10  # near uniform
    # CIFAR-10's well-known channel means (0.491, 0.482, 0.447) and stds (0.247, 0.243, 0.261)
    assert cifar.info["mean"] == pytest.approx([0.491, 0.482, 0.447], abs=0.01)
    assert cifar.info["std"] == pytest.approx([0.247, 0.243, 0.261], abs=0.01)


def test_shared_cifar_decodes_channel_major(shared_data: Path, cifar) -> None:
    with open(shared_data / "cifar-10-batches-py" / "test_batch", "rb") as file:
        batch = pickle.load(file, encoding="latin1")  # the trusted shared file, read the official way
    row = batch["data"][5]
    image = (cifar.test.x[5] * 255).round().to(torch.uint8).numpy()
    np.testing.assert_array_equal(image[0], row[:1024].reshape(32, 32))  # red plane
    np.testing.assert_array_equal(image[2, 31], row[-32:])  # last row of the blue plane
    assert cifar.test.y[:20].tolist() == batch["labels"][:20]


def test_shared_cifar_validation_split(shared_data: Path) -> None:
    data = CIFAR10(root=shared_data, val_size=0.2, train_size=1000, seed=0, flatten=True).load()
    assert (len(data.train), len(data.val), len(data.test)) == (1000, 1017, 1017)
    assert data.input_shape == (3072,)


# -- tiny batches --------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_tiny_batches_in_every_pickle_protocol(tmp_path: Path, cifar_writer, protocol: int) -> None:
    cifar_writer(tmp_path / "cifar-10-batches-py", per_batch=12, protocol=protocol)
    data = CIFAR10(root=tmp_path, val_size=0.0).load()
    assert data.train.x.shape == (60, 3, 32, 32) and data.test.x.shape == (12, 3, 32, 32)
    assert sorted(index_of(data.train.x).tolist()) == list(range(60))
    assert index_of(data.test.x).tolist() == list(range(60, 72))
    assert torch.equal(data.train.y, index_of(data.train.x) % 10)
    assert data.info["classes"] == CLASSES


def test_split_is_seeded_and_disjoint(tmp_path: Path, cifar_writer) -> None:
    cifar_writer(tmp_path / "cifar-10-batches-py")
    a, b, c = (CIFAR10(root=tmp_path, val_size=0.2, seed=s).load() for s in (7, 7, 8))
    assert (len(a.train), len(a.val)) == (48, 12)
    train, val = set(index_of(a.train.x).tolist()), set(index_of(a.val.x).tolist())
    assert not train & val and train | val == set(range(60))
    assert torch.equal(a.val.x, b.val.x)
    assert set(index_of(c.val.x).tolist()) != val


class Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_restricted_unpickler_refuses_code(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Exploit(), "labels": []}, protocol=protocol))
    with pytest.raises(ConfigError, match=r"refusing to load (posix|os|nt)\.system"):
        load_pickle(path)


class Huge:
    """Pickles as an array that claims a shape of 2**42 bytes but carries 4."""

    def __reduce__(self):
        function, arguments, state = np.zeros(4, dtype=np.uint8).__reduce__()
        return (function, arguments, (state[0], (2**42,), *state[2:]))


@pytest.mark.parametrize("protocol", [2, 4])
def test_an_array_shape_larger_than_its_bytes_is_refused_before_allocating(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Huge(), "labels": []}, protocol=protocol))
    assert path.stat().st_size < 500
    with pytest.raises(ConfigError, match=r"shape \(4398046511104,\) needs 4,398,046,511,104 bytes, but the file"):
        load_pickle(path)
    good = tmp_path / "good"
    good.write_bytes(pickle.dumps({"data": np.arange(6, dtype=np.uint8).reshape(2, 3)}, protocol=protocol))
    assert load_pickle(good)["data"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_a_tampered_batch_in_the_folder_is_refused(tmp_path: Path, cifar_writer) -> None:
    folder = cifar_writer(tmp_path / "cifar-10-batches-py")
    (folder / "data_batch_3").write_bytes(b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(
        ConfigError, match=r"data_batch_3: cannot read as a CIFAR pickle: refusing to load builtins\.eval"
    ):
        CIFAR10(root=tmp_path).load()


def test_truncated_pickle(tmp_path: Path, cifar_writer) -> None:
    folder = cifar_writer(tmp_path / "cifar-10-batches-py")
    (folder / "test_batch").write_bytes((folder / "test_batch").read_bytes()[:-50])
    with pytest.raises(ConfigError, match="test_batch: cannot read as a CIFAR pickle"):
        CIFAR10(root=tmp_path).load()


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({"data": np.zeros((4, 3072), np.uint8)}, "expected a dict with key 'labels', found \\['data'\\]"),
        ([1, 2], "expected a dict with key 'data', found list"),
        ({"data": np.zeros((4, 3000), np.uint8), "labels": [0] * 4}, r"must be a uint8 array of shape \(N, 3072\)"),
        ({"data": np.zeros((4, 3072), np.float32), "labels": [0] * 4}, "found float32 of shape"),
        ({"data": np.zeros((4, 3072), np.uint8), "labels": [0] * 3}, "'labels' must be 4 integers"),
        ({"data": np.zeros((4, 3072), np.uint8), "labels": ["a"] * 4}, "'labels' must be 4 integers"),
        ({"data": np.zeros((4, 3072), np.uint8), "labels": [10] * 4}, r"labels must lie in \[0, 9\]"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [[1], [2, 3]]}, "'labels' must be a list of integers"),
    ],
)
def test_malformed_batches(tmp_path: Path, cifar_writer, batch: object, message: str) -> None:
    folder = cifar_writer(tmp_path / "cifar-10-batches-py")
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ConfigError, match=message):
        CIFAR10(root=tmp_path).load()


def test_bad_meta_and_missing_file(tmp_path: Path, cifar_writer) -> None:
    folder = cifar_writer(tmp_path / "cifar-10-batches-py")
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": ["a", "b"]}))
    with pytest.raises(ConfigError, match="label_names must be a list of 10 strings"):
        CIFAR10(root=tmp_path).load()
    (folder / "data_batch_2").unlink()
    with pytest.raises(ConfigError, match=r"CIFAR-10 files not found(.|\n)*missing data_batch_2"):
        CIFAR10(root=tmp_path).load()


# -- download ------------------------------------------------------------------------------
def publish(tmp_path: Path, cifar_writer, evil: bool = False) -> Resource:
    """A cifar-10-python.tar.gz written by the test (with a ``../evil`` member if ``evil``) and its resource."""
    folder = cifar_writer(tmp_path / "build" / "cifar-10-batches-py")
    archive = tmp_path / "server" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
        if evil:
            tar.add(folder / "test_batch", arcname="../evil")
    return Resource(archive.name, archive.as_uri(), md5_of(archive))


def test_download_and_extract(tmp_path: Path, cifar_writer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CIFAR10, "resources", (publish(tmp_path, cifar_writer),))
    data = CIFAR10(root=tmp_path / "root", download=True, val_size=0.0).load()
    assert data.info["source"] == str(tmp_path / "root" / "cifar-10-batches-py")
    assert index_of(data.test.x).tolist() == list(range(60, 72))
    assert (tmp_path / "root" / "cifar-10-python.tar.gz").is_file()


def test_download_refuses_path_traversal(tmp_path: Path, cifar_writer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CIFAR10, "resources", (publish(tmp_path, cifar_writer, evil=True),))
    with pytest.raises(ConfigError, match=r"refusing to extract '\.\./evil'"):
        CIFAR10(root=tmp_path / "root", download=True).load()
    assert not (tmp_path / "evil").exists() and not (tmp_path / "root" / "cifar-10-batches-py").exists()


def test_download_with_a_wrong_checksum(tmp_path: Path, cifar_writer, monkeypatch: pytest.MonkeyPatch) -> None:
    good = publish(tmp_path, cifar_writer)
    monkeypatch.setattr(CIFAR10, "resources", (Resource(good.filename, good.url, "f" * 32),))
    with pytest.raises(ConfigError, match=f"expected md5 f{{32}}, got {good.md5}"):
        CIFAR10(root=tmp_path / "root", download=True).load()
    assert not (tmp_path / "root").exists()  # nor the folder made for it


def test_registered() -> None:
    assert "cifar10" in DATASETS and DATASETS.get("cifar10") is CIFAR10


# -- CIFAR-100 -------------------------------------------------------------------------------
@pytest.mark.parametrize(("labels", "classes", "modulus"), [("fine", 100, 100), ("coarse", 20, 20)])
def test_cifar100_fine_and_coarse_labels(tmp_path: Path, cifar100_writer, labels: str, classes: int, modulus: int):
    cifar100_writer(tmp_path / "cifar-100-python")
    data = CIFAR100(root=tmp_path, val_size=0.0, labels=labels).load()
    assert data.name == "cifar100" and data.num_classes == classes
    assert data.train.x.shape == (40, 3, 32, 32) and data.test.x.shape == (10, 3, 32, 32)
    assert torch.equal(data.train.y, index_of(data.train.x) % modulus)
    assert index_of(data.test.x).tolist() == list(range(150, 160))
    assert torch.equal(data.test.y, torch.arange(150, 160) % modulus)
    assert data.info["classes"][:2] == [f"{labels}0", f"{labels}1"] and len(data.info["classes"]) == classes


def test_cifar100_from_a_spec_with_label_noise(tmp_path: Path, cifar100_writer) -> None:
    cifar100_writer(tmp_path / "cifar-100-python", n_train=250)  # indices stay below 256
    spec = {"kind": "cifar100", "root": str(tmp_path), "labels": "coarse", "val_size": 0.0, "label_noise": 0.5}
    data = load_data(spec)
    flipped = (data.train.y != index_of(data.train.x) % 20).float().mean().item()
    assert abs(flipped - 0.5) < 0.08  # symmetric noise moves every flipped label to another class
    assert torch.equal(data.test.y, torch.arange(150, 160) % 20)


def test_cifar100_errors(tmp_path: Path, cifar100_writer) -> None:
    with pytest.raises(ConfigError, match="labels must be one of 'fine', 'coarse'; got 'medium'"):
        CIFAR100(root=tmp_path, labels="medium")
    folder = cifar100_writer(tmp_path / "cifar-100-python")
    (folder / "meta").write_bytes(pickle.dumps({"coarse_label_names": ["a"]}))
    with pytest.raises(ConfigError, match="meta: expected a dict with key 'fine_label_names'"):
        CIFAR100(root=tmp_path).load()
    (folder / "meta").unlink()
    with pytest.raises(ConfigError, match="CIFAR-100 files not found"):
        CIFAR100(root=tmp_path).load()
    assert DATASETS.get("cifar100") is CIFAR100


def test_cifar100_download(tmp_path: Path, cifar100_writer, monkeypatch: pytest.MonkeyPatch) -> None:
    source = cifar100_writer(tmp_path / "publish" / "cifar-100-python")
    archive = tmp_path / "publish" / "cifar-100-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="cifar-100-python")
    resource = Resource(archive.name, archive.as_uri(), md5_of(archive))
    monkeypatch.setattr(CIFAR100, "resources", (resource,))
    data = CIFAR100(root=tmp_path / "root", download=True, val_size=0.0).load()
    assert len(data.train) == 40 and data.info["source"] == str(tmp_path / "root" / "cifar-100-python")
