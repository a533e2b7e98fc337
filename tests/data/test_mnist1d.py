"""MNIST-1D generated offline: shapes, splits, seeds, untouched global generators, the missing-package error."""

from __future__ import annotations

import importlib.util
import random
import sys

import numpy as np
import pytest
import torch

from noisetrain.data.dataset import DATASETS
from noisetrain.data.mnist1d import MNIST1D
from noisetrain.registry import ConfigError

needs_mnist1d = pytest.mark.skipif(
    importlib.util.find_spec("mnist1d") is None, reason="the optional mnist1d package is not installed"
)


@needs_mnist1d
def test_shapes_dtypes_and_split_sizes() -> None:
    data = MNIST1D(num_samples=200, seed=1).load()
    assert (len(data.train), len(data.val), len(data.test)) == (144, 16, 40)  # 160 train, 10% of it validation
    assert data.name == "mnist1d" and data.num_classes == 10 and data.input_shape == (40,)
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.int64
    labels = torch.cat([data.train.y, data.val.y, data.test.y])
    assert torch.equal(labels.bincount(), torch.full((10,), 20))  # equal samples per class
    assert abs(float(torch.cat([data.train.x, data.test.x]).mean())) < 0.1  # the package centres the data


@needs_mnist1d
def test_package_defaults_give_4000_train_and_1000_test() -> None:
    data = MNIST1D().load()
    assert (len(data.train) + len(data.val), len(data.test)) == (4000, 1000)
    assert len(data.val) == 400


@needs_mnist1d
def test_channels_option_adds_a_channel_axis() -> None:
    flat = MNIST1D(num_samples=100).load()
    channels = MNIST1D(num_samples=100, channels=True).load()
    assert channels.input_shape == (1, 40)
    assert torch.equal(channels.train.x[:, 0], flat.train.x)


@needs_mnist1d
def test_same_seed_same_data_other_seed_other_data_and_globals_untouched() -> None:
    np.random.seed(7)
    random.seed(7)
    numpy_before, python_before = np.random.get_state()[1].copy(), random.getstate()
    a, b, c = (MNIST1D(num_samples=100, seed=s).load() for s in (3, 3, 4))
    assert np.array_equal(np.random.get_state()[1], numpy_before) and random.getstate() == python_before
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.x, c.train.x)


@needs_mnist1d
def test_train_size_subset_and_too_big() -> None:
    assert len(MNIST1D(num_samples=100, train_size=30).load().train) == 30
    with pytest.raises(ConfigError, match=r"train_size must be an integer in \[1, 72\]"):
        MNIST1D(num_samples=100, train_size=73).load()


def test_missing_package_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mnist1d", None)  # makes `import mnist1d...` raise ImportError
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    source = DATASETS.build({"kind": "mnist1d", "num_samples": 100})  # building needs no package
    with pytest.raises(ConfigError, match=r"pip install noisetrain\[mnist1d\]"):
        source.load()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_samples": 105}, "num_samples must be a multiple of 10"),
        ({"num_samples": 10}, r"num_samples must be in \[20, inf\)"),
        ({"test_size": 0.0}, r"test_size must be in \(0, 1\)"),
        ({"val_size": 1.0}, r"val_size must be in \[0, 1\)"),
        ({"channels": "yes"}, "channels must be true or false"),
        ({"seed": -1}, r"seed must be in \[0, inf\)"),
    ],
)
def test_bad_options_raise_config_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DATASETS.build({"kind": "mnist1d", **options})
