"""Label-noise robustness: train the same recipe on training sets with 0-60% noisy labels.

The training (and validation) labels are flipped once, symmetric or class-dependent (asymmetric),
by the data option ``label_noise`` (:mod:`noisetrain.data.label_noise`, seeded from the data's seed);
the test set stays clean. Each rate trains a fresh model with the run's config, so the records show
how much of the clean test accuracy the recipe keeps as the labels get noisier (e.g. Zhang et al. 2017,
"Understanding deep learning requires rethinking generalization", arXiv:1611.03530).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..checks import check_choice, check_range
from ..config import RunConfig, validate
from ..noise.labels import LABEL_MODES
from ..train import build, fit, resolve_device
from .options import grid
from .records import Record, accuracy_record, predictions


def label_noise_robustness(
    config: RunConfig | Mapping[str, Any],
    *,
    rates: float | Sequence[float] = (0.0, 0.2, 0.4, 0.6),
    mode: str = "symmetric",
    progress: Callable[[float], None] | None = None,
) -> list[Record]:
    """Clean test accuracy of ``config``'s recipe trained with each label-noise ``rate``.

    Args:
        config: a run config (data, model, noise recipe, training settings, seed) for classification.
        rates: the fraction (or fractions) of flipped training and validation labels, each in [0, 1).
        mode: ``"symmetric"`` (to any other class) or ``"asymmetric"`` (to the next class).
        progress: called with each rate before its run.

    Returns ``accuracy`` records (setting ``{"rate", "mode"}``) and the fraction of labels actually flipped.
    """
    config = validate(config)
    check_choice("mode", mode, LABEL_MODES)
    rates = grid(0, 1)("rates", rates)  # one rate or a list of them, in increasing order
    check_range("rates", rates[-1], 0, 1, high_open=True)  # a rate of 1 flips every label
    device = resolve_device(config.device)
    records: list[Record] = []
    for rate in rates:
        if progress is not None:
            progress(rate)
        noisy = {**config.data, "label_noise": rate, "label_noise_mode": mode}
        data, model = build(config.model_copy(update={"data": noisy}))
        trained = fit(model, data, noise=config.noise, config=config.train, seed=config.seed, device=device)
        test = data.test.to(device)
        correct = int((predictions(model, test.x).argmax(dim=1) == test.y).sum())
        setting = {"rate": rate, "mode": mode, "status": trained.status}
        records.append(accuracy_record("label_noise", correct, len(test), setting))
        flipped = data.info["label_noise"]["flipped"]["train"]
        records.append(Record("label_noise", "flipped_fraction", flipped, {"rate": rate, "mode": mode}))
    return records
