"""Scaling of features or regression targets with statistics of the training split only.

| method | maps ``v`` to | fitted on the training split |
| --- | --- | --- |
| ``standard`` | ``(v - mean) / std`` | mean 0, std 1 |
| ``minmax`` | ``(v - min) / (max - min)`` | exactly [0, 1]; other splits may fall outside |
| ``none`` | ``v`` | unchanged (offset 0, scale 1) |

A value constant in the training split is only shifted (scale 1). Features are scaled per
feature over ``dims``; targets with one offset and one scale for all their values. The
statistics go into ``Dataset.info``, so that ``v = scaled * scale + offset`` in original units:

- features: ``info["scaling"]`` (the method), ``info["offset"]`` and ``info["scale"]`` (lists, one per
  feature or channel);
- targets: ``info["target_scaling"]``, ``info["target_offset"]`` and ``info["target_scale"]`` (floats);
  a prediction ``p`` in scaled units is ``p * target_scale + target_offset`` in the original units,
  and an RMSE or MAE times ``target_scale`` is the one in original units.

Example:
    >>> (train, val, test), info = scale_splits("minmax", train, val, test)
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..checks import check_choice
from ..registry import ConfigError
from .dataset import Split

SCALINGS = ("standard", "minmax", "none")
"""Scaling methods, the values of the data sources' ``scale`` and ``scale_target`` options."""

CONSTANT = 1e-6
"""A spread (std or max - min) at most this times the largest absolute value counts as constant."""


def fit_scaling(method: str, values: torch.Tensor, dims: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(offset, scale)`` of ``method`` over ``dims`` of ``values`` (kept as size-1 dimensions);
    the scale is 1 where ``values`` are constant (or a single sample), so those are only shifted.
    ``method`` is one of ``SCALINGS`` (checked by ``scale_splits``)."""
    if method == "none":
        shape = [1 if d in dims else n for d, n in enumerate(values.shape)]
        return values.new_zeros(shape), values.new_ones(shape)
    if method == "standard":
        count = math.prod(values.shape[d] for d in dims)  # one sample: spread 0, not NaN with a warning
        offset = values.mean(dim=dims, keepdim=True)
        spread = values.std(dim=dims, keepdim=True, correction=1 if count > 1 else 0)
    else:  # minmax
        offset = values.amin(dim=dims, keepdim=True)
        spread = values.amax(dim=dims, keepdim=True) - offset
    largest = values.abs().amax(dim=dims, keepdim=True)
    return offset, torch.where(spread > CONSTANT * largest, spread, torch.ones_like(spread))


def scale_splits(
    method: str,
    train: Split,
    *others: Split,
    targets: bool = False,
    dims: tuple[int, ...] = (0,),
    field: str = "scale",
) -> tuple[list[Split], dict[str, Any]]:
    """Scale the features (or, with ``targets``, the float targets) of every split with ``method``
    fitted on ``train`` only.

    ``dims`` are the feature dimensions the statistics are taken over ((0,) per feature; (0, 2) per
    channel of (N, C, L) series); targets always get one offset and one scale. ``field`` names the
    option in errors. Returns the scaled splits (train first) and the statistics for ``info`` (keys
    in the module docstring).
    """
    check_choice(field, method, SCALINGS)
    values = train.y if targets else train.x
    if not values.is_floating_point():
        what = "targets" if targets else "features"
        raise ConfigError(f"{field}: only float {what} can be scaled, got {values.dtype}")
    offset, scale = fit_scaling(method, values, tuple(range(values.ndim)) if targets else dims)
    if targets:
        scaled = [Split(s.x, (s.y - offset) / scale) for s in (train, *others)]
        return scaled, {"target_scaling": method, "target_offset": float(offset), "target_scale": float(scale)}
    scaled = [Split((s.x - offset) / scale, s.y) for s in (train, *others)]
    return scaled, {"scaling": method, "offset": offset.flatten().tolist(), "scale": scale.flatten().tolist()}
