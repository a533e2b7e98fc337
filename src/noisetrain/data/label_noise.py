"""A fixed noisy copy of a classification data set's labels: the label-noise robustness setting.

Any classification source takes two extra data options, applied after it has loaded:
``label_noise`` (flip probability in [0, 1), default 0) and ``label_noise_mode`` (``"symmetric"``: a
flipped label becomes a uniformly drawn other class; ``"asymmetric"``: class ``i`` becomes ``i + 1 mod C``;
see :func:`noisetrain.noise.labels.flip_labels`). The training and validation labels are flipped once,
from the data's ``seed``, so every epoch sees the same wrong labels, as in the label-noise benchmarks of
Patrini et al. 2017 (arXiv:1609.03683) and Han et al. 2018 (Co-teaching, arXiv:1804.06872); the validation
labels are noisy too, since a user holds no clean copy of them. The test labels stay clean.
The ``label_noise`` injector is the other setting: flips redrawn at every batch, a regulariser.

Example: ``{kind: cifar10, label_noise: 0.4}``; ``info["label_noise"]`` holds the rate and mode, and the
fraction of labels actually flipped in each split.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch

from ..checks import check_choice, check_range
from ..noise.base import derive_seed
from ..noise.labels import LABEL_MODES, flip_labels
from ..registry import ConfigError
from .dataset import DATASETS, Dataset, Split


def label_noise_options(spec: Mapping[str, Any], *, field: str = "data") -> dict[str, Any]:
    """The label-noise options of a data spec (``DATASETS.shared``), checked and completed with their defaults;
    empty when the spec sets none."""
    if not any(name in spec for name in DATASETS.shared):
        return {}
    rate, mode = spec.get("label_noise", 0), spec.get("label_noise_mode", "symmetric")
    if isinstance(rate, bool):
        raise ConfigError(f"{field}.label_noise must be a number in [0, 1), got {rate!r}")
    check_range(f"{field}.label_noise", rate, 0, 1, high_open=True)
    check_choice(f"{field}.label_noise_mode", mode, LABEL_MODES)
    return {"label_noise": rate, "label_noise_mode": mode}


def with_noisy_labels(dataset: Dataset, options: dict[str, Any], *, seed: int, field: str = "data") -> Dataset:
    """``dataset`` with its training and validation labels flipped as ``options`` (of ``label_noise_options``)
    say (see the module)."""
    if not options:
        return dataset
    rate, mode = options["label_noise"], options["label_noise_mode"]
    if dataset.task != "classification":
        raise ConfigError(
            f"{field}.label_noise: data {dataset.name!r} is regression, with no labels to flip; "
            "add target noise instead (the target_noise injector)"
        )
    assert dataset.num_classes is not None
    flipped: dict[str, float] = {}

    def noisy(name: str, split: Split) -> Split:
        generator = torch.Generator(device=split.y.device).manual_seed(derive_seed(seed, f"label_noise/{name}"))
        y, mask = flip_labels(split.y, rate, num_classes=dataset.num_classes, mode=mode, generator=generator)
        flipped[name] = float(mask.float().mean()) if len(split) else 0.0
        return Split(split.x, y)

    train, val = noisy("train", dataset.train), noisy("val", dataset.val)
    facts = {"rate": rate, "mode": mode, "flipped": flipped}
    return replace(dataset, train=train, val=val, info={**dataset.info, "label_noise": facts})
