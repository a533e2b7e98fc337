"""Clean test performance: accuracy, error and NLL of a classifier; RMSE and absolute error of a regressor.

Example:
    >>> clean(model, data)  # [Record("clean", "accuracy", 0.97, ci=(0.96, 0.98), n=360), ...]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.dataset import Dataset
from ..noise.inject import evaluation_mode
from ..train.metrics import target_scale
from .keys import Key
from .records import Record, accuracy_record, check_outputs, measure, predictions


@measure(
    "clean",
    metrics=("accuracy", "error", "nll", "rmse", "mae", "abs_error_std"),
    keys=(Key("accuracy"), Key("nll", "NLL"), Key("rmse", "RMSE"), Key("mae", "MAE")),
)
def clean(model: nn.Module, data: Dataset, *, batch_size: int = 512, seed: int = 0) -> list[Record]:
    """The model's performance on the clean test split, in eval mode.

    Args:
        model: a classifier (logits (N, C)) or a regressor (outputs shaped like the targets, or (N, 1)).
        data: its test split is used; for regression ``data.info["target_scale"]`` (default 1) turns
            errors on scaled targets back into the original units (the offset cancels in an error).
        batch_size: inputs per forward pass.
        seed: unused (the measure draws nothing); accepted like every measure's.

    Returns:
        classification: ``accuracy`` (with its 95% Clopper-Pearson interval and each test sample's correctness
        as ``examples``), ``error`` (1 - accuracy, with the matching interval) and ``nll`` (mean cross-entropy,
        nats);
        regression: ``rmse``, ``mae`` (the mean absolute error, with each sample's absolute error as
        ``examples``) and ``abs_error_std`` (the standard deviation of the absolute error), in the targets'
        original units.
    """
    test = data.test
    with evaluation_mode(model):
        outputs = predictions(model, test.x, batch_size=batch_size)
    n = len(test)
    check_outputs(outputs, data, n)
    if data.task == "classification":
        hits = outputs.argmax(-1) == test.y
        nll = float(F.cross_entropy(outputs.float(), test.y))
        accuracy = accuracy_record("clean", int(hits.sum()), n, examples=hits.cpu().numpy())
        assert accuracy.ci is not None
        error = Record("clean", "error", 1 - accuracy.value, {}, (1 - accuracy.ci[1], 1 - accuracy.ci[0]), n)
        return [accuracy, error, Record("clean", "nll", nll, {}, None, n)]
    absolute = (outputs.reshape(test.y.shape).double() - test.y.double()).abs() * target_scale(data)
    rmse, mae, std = absolute.square().mean().sqrt(), absolute.mean(), absolute.std(correction=0)
    values = dict(zip(("rmse", "mae", "abs_error_std"), torch.stack([rmse, mae, std]).tolist(), strict=True))
    examples = {"mae": absolute.float().cpu().numpy()}
    return [Record("clean", metric, value, {}, None, n, examples.get(metric)) for metric, value in values.items()]
