"""MNIST-1D, generated offline with the optional ``mnist1d`` package.

Greydanus & Kobak 2024, "Scaling Down Deep Learning with MNIST-1D" (ICML; arXiv:2011.14439):
ten 1-D digit templates of length 40, randomly padded, translated, scaled, sheared and
noised. At the package's defaults (5000 samples, 4000 train / 1000 test) published test
accuracies are about 32% (logistic regression), 68% (MLP), 94% (CNN), 91% (GRU).

Install with ``pip install noisetrain[mnist1d]``. Generation takes about a second for
5000 samples; nothing is cached on disk.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from ..checks import check_bool, check_int, check_range
from ..registry import ConfigError
from .dataset import DATASETS, Dataset, Split, check_split_options, train_val


@DATASETS.register("mnist1d")
class MNIST1D:
    """MNIST-1D generated with ``mnist1d.data.make_dataset`` (never downloaded).

    The features are as the package makes them: float32 (N, 40), centred and scaled by
    the package with one mean and one std over all samples (so the numbers match
    published results); labels int64 in [0, 10).

    Args:
        num_samples: samples in all, a multiple of 10 (equal per class); default 5000.
        test_size: fraction of the samples in the test split, in (0, 1); default 0.2 (1000 of 5000).
        val_size: fraction of the training samples held out for validation, in [0, 1); default 0.1.
        train_size: number of training samples to keep (a random subset), or None for all.
        channels: False (default): inputs (N, 40); True: (N, 1, 40) for 1-D convolutions.
        seed: seed of the generator and of the validation split; 42 (default) is the package's own.

    Example: ``MNIST1D(num_samples=500).load().input_shape == (40,)``.
    """

    train_only = frozenset({"val_size", "train_size", "channels"})
    """Options that change the training and validation splits but not the test split."""

    def __init__(
        self,
        *,
        num_samples: int = 5000,
        test_size: float = 0.2,
        val_size: float = 0.1,
        train_size: int | None = None,
        channels: bool = False,
        seed: int = 42,
    ):
        check_int("num_samples", num_samples, 20)
        if num_samples % 10:
            raise ConfigError(f"num_samples must be a multiple of 10 (equal samples per class), got {num_samples}")
        check_range("test_size", test_size, 0, 1, low_open=True, high_open=True)
        check_split_options(val_size=val_size, test_size=None, train_size=train_size, seed=seed)
        check_bool("channels", channels)
        self.num_samples = num_samples
        self.test_size = test_size
        self.val_size = val_size
        self.train_size = train_size
        self.channels = channels
        self.seed = seed

    def load(self) -> Dataset:
        try:
            from mnist1d.data import get_dataset_args, make_dataset
        except ImportError:
            raise ConfigError(
                "dataset 'mnist1d' needs the optional mnist1d package: pip install noisetrain[mnist1d]"
            ) from None
        args = get_dataset_args()
        args.num_samples = self.num_samples
        args.train_split = 1 - self.test_size
        args.seed = self.seed
        # make_dataset seeds numpy's and Python's global generators; leave them as they were.
        numpy_state, python_state = np.random.get_state(), random.getstate()
        try:
            raw = make_dataset(args)
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)
        shape = (-1, 1, args.final_seq_length) if self.channels else (-1, args.final_seq_length)

        def split(x: np.ndarray, y: np.ndarray) -> Split:
            return Split(torch.as_tensor(x, dtype=torch.float32).reshape(shape), torch.as_tensor(y, dtype=torch.int64))

        full = split(raw["x"], raw["y"])
        train, val = train_val(full, val_size=self.val_size, train_size=self.train_size, seed=self.seed)
        test = split(raw["x_test"], raw["y_test"])
        return Dataset("mnist1d", "classification", train, val, test, num_classes=10, info={"source": "mnist1d"})
