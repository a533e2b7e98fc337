"""The model registry, ``build_model``, and the checks every model shares.

Every model is a plain ``nn.Module`` built as ``cls(input_shape, num_outputs, **options)``:
``input_shape`` is the shape of one input (no batch dimension) and ``num_outputs`` the number of
classes or regression targets; both come from the data, never from the spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from ..registry import ConfigError, Registry

MODELS: Registry[nn.Module] = Registry("model")
"""Every registered model, by kind."""

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
}
"""Activation name -> torch module class."""

_CONTEXT = ("input_shape", "num_outputs")


def build_model(
    spec: Mapping[str, Any] | str,
    *,
    input_shape: tuple[int, ...],
    num_outputs: int,
    info: Mapping[str, Any] | None = None,
    field: str = "model",
) -> nn.Module:
    """Build a registered model from ``{"kind": name, **options}`` (or a bare name).

    Args:
        spec: the model's spec; it may not set ``input_shape`` or ``num_outputs``.
        input_shape: shape of one input without the batch dimension, e.g. ``(1, 28, 28)``.
        num_outputs: number of classes (logits) or regression targets.
        info: facts about the data (``Dataset.info``); a constructor option named like one of its
            keys and not set by the spec is taken from it (e.g. ``vocab_size``, ``pad_id``, ``task``).
        field: where the spec sits in a larger config; prefixes error messages.

    Example: ``build_model({"kind": "mlp", "widths": [64]}, input_shape=(8,), num_outputs=3)``.
    """
    if isinstance(spec, str):
        spec = {"kind": spec}
    if info and isinstance(spec, Mapping):
        spec = MODELS.complete(spec, {k: v for k, v in info.items() if k not in _CONTEXT})
    return MODELS.build(spec, field=field, input_shape=input_shape, num_outputs=num_outputs)


def closed_form(model: nn.Module) -> bool:
    """Whether ``model`` is fitted in closed form by a ``fit(x, y)`` method (the kNN baseline): no gradient
    training, no noise recipe, no input gradient."""
    return callable(getattr(model, "fit", None))


def check_io(
    owner: str, input_shape: tuple[int, ...], num_outputs: int, ndims: tuple[int, ...] | None = None
) -> tuple[int, ...]:
    """Validate a model's ``input_shape`` (positive ints; one of ``ndims`` dimensions, any number if None)
    and ``num_outputs`` (a positive int). Returns ``input_shape`` as a tuple of ints.
    """
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else ()
    if not shape or (ndims and len(shape) not in ndims) or not all(_is_int(s) and s >= 1 for s in shape):
        dims = " or ".join(f"{n}-D" for n in ndims) + " " if ndims else ""
        raise ConfigError(f"{owner}.input_shape must be a {dims}shape of positive ints, got {input_shape!r}")
    if not _is_int(num_outputs) or num_outputs < 1:
        raise ConfigError(f"{owner}.num_outputs must be a positive int, got {num_outputs!r}")
    return tuple(int(s) for s in shape)


def check_widths(what: str, widths: Any, *, allow_empty: bool = False) -> tuple[int, ...]:
    """Validate a sequence of layer widths (positive ints); return it as a tuple."""
    if not isinstance(widths, (tuple, list)) or not all(_is_int(w) and w >= 1 for w in widths):
        raise ConfigError(f"{what} must be a list of positive ints, got {widths!r}")
    if not widths and not allow_empty:
        raise ConfigError(f"{what} must name at least one width, got {widths!r}")
    return tuple(widths)


def check_per_layer(what: str, value: Any, count: int, low: int) -> tuple[int, ...]:
    """Validate an int option given once for all ``count`` layers or as a list with one int per layer
    (each >= ``low``); return one value per layer.
    """
    values = [value] * count if _is_int(value) else value
    if not isinstance(values, (tuple, list)) or not all(_is_int(v) and v >= low for v in values):
        raise ConfigError(f"{what} must be an int >= {low} or a list of them (one per width), got {value!r}")
    if len(values) != count:
        raise ConfigError(f"{what} must have one entry per width ({count}), got {len(values)}: {value!r}")
    return tuple(values)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
