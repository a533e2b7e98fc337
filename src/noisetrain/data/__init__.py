"""Data sets as in-memory tensors with train/validation/test splits.

Example:
    >>> data = load_data({"kind": "digits", "val_size": 0.1, "seed": 0})
    >>> for x, y in data.train.batches(64, generator=torch.Generator().manual_seed(0)): ...
"""

from . import cifar, functions, idx, mnist1d, tabular, text, timeseries  # noqa: F401 - registers the sources
from .dataset import DATASETS, Dataset, Split, split_off, take
from .load import check_data_spec, held_out_spec, load_data
from .scaling import SCALINGS, scale_splits

__all__ = [
    "DATASETS", "SCALINGS", "Dataset", "Split", "check_data_spec", "held_out_spec", "load_data", "scale_splits",
    "split_off", "take",
]  # fmt: skip
