"""Loading a data spec: the source it names, then the options every source shares (``label_noise``)."""

from __future__ import annotations

from typing import Any

from .dataset import DATASETS, Dataset
from .label_noise import label_noise_options, with_noisy_labels


def check_data_spec(spec: dict[str, Any] | str, *, field: str = "data") -> tuple[Any, dict[str, Any]]:
    """Check ``spec`` without loading anything: ``(the data source it builds, the label-noise options)``.

    Source constructors only store and validate their options."""
    spec = {"kind": spec} if isinstance(spec, str) else spec
    source = DATASETS.build(spec, field=field)
    return source, label_noise_options(spec, field=field)


def load_data(spec: dict[str, Any] | str, *, field: str = "data") -> Dataset:
    """Build a data source from ``{"kind": name, **options}`` (or a bare name), load it, and flip its training
    and validation labels where ``label_noise`` asks (see :mod:`noisetrain.data.label_noise`)."""
    source, options = check_data_spec(spec, field=field)
    return with_noisy_labels(source.load(), options, seed=getattr(source, "seed", 0), field=field)


def held_out_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The part of a data spec that decides its test split: ``spec`` without the options that change only the
    training and validation splits (its source's ``train_only``, and the label-noise options). Runs whose specs
    agree here were tested on the same examples, in the same order."""
    ignored = set(DATASETS.shared) | getattr(DATASETS.get(spec["kind"]), "train_only", frozenset())
    return {name: value for name, value in spec.items() if name not in ignored}
