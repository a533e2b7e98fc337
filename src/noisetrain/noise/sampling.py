"""Sampling a layer's output instead of its weight: the local reparameterization trick and flipout.

A weight injector with ``sampling="local"`` or ``"flipout"`` (``WeightNoise``, ``BayesianWeights``) gives its
layer, in place of a noisy weight, a ``WeightLaw``: a tensor that reads as the clean weight (shape, dtype,
device) and carries the law of the noisy weight given it, ``loc + scale * eps`` with independent standard normal
``eps``. ``F.linear`` and ``F.conv1d/2d/3d`` (what ``nn.Linear`` and ``nn.Conv1d/2d/3d`` call), given a law as
their weight or bias, compute the output from ``loc`` and add noise of the output's law (``__torch_function__``):

* ``"local"``: Kingma, Salimans & Welling 2015, "Variational Dropout and the Local Reparameterization Trick",
  arXiv:1506.02557. Given the input ``x``, the output is Gaussian with mean ``f(x, W_loc) + b_loc`` and
  variance ``f(x², W_scale²) + b_scale²`` (``f`` the layer's product or convolution); one standard normal is
  drawn per output value, so the examples of a batch get independent noise. Per output value this is the law
  under weight sampling. Output values of one example that share weights (a convolution's positions, a Linear
  on a sequence) get independent noise too, where one weight sample correlates them (as for convolutions in
  Molchanov et al. 2017, arXiv:1701.05369).
* ``"flipout"``: Wen et al. 2018, "Flipout: Efficient Pseudo-Independent Weight Perturbations on Mini-batches",
  arXiv:1803.04386. One perturbation ``ΔW = W_scale * eps`` (and ``Δb``) per law, and per example random signs
  ``s_in``, ``s_out`` on the input and output channels: ``f(x, W_loc) + b_loc + (f(x ∘ s_in, ΔW) + Δb) ∘ s_out``.
  Example n sees the weight ``W_loc + ΔW ∘ s_out,n s_in,nᵀ``, which has the law of a weight sample since ``ΔW``
  is symmetric; different examples' noise is uncorrelated (pseudo-independent).

A law lasts one forward pass of the model (``Injector.hold``). Flipout keeps its perturbation and signs for every
use of the law in the pass (a tied weight, a layer called twice), so each example sees one weight throughout, as
with weight sampling; ``"local"`` cannot correlate two uses and refuses a second one. Any other use of a law (an
embedding, a matmul, another parametrization after the injector) is refused with a ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import ConfigError
from .inputs import add_scaled
from .sources import Source, exact, normal

SAMPLING = ("weight", "local", "flipout")
"""How a weight injector samples: the weight (one sample per pass), the layer's output (local), or flipout."""

_LAYERS = frozenset({F.linear, F.conv1d, F.conv2d, F.conv3d})
_ARGUMENTS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")  # F.linear has the first three
_METADATA = frozenset(
    {
        Tensor.shape.__get__,
        Tensor.dtype.__get__,
        Tensor.device.__get__,
        Tensor.ndim.__get__,
        Tensor.layout.__get__,
        Tensor.requires_grad.__get__,
        Tensor.dim,
        Tensor.size,
        Tensor.numel,
    }
)
"""What may read a law outside a layer (it answers as ``loc``): parametrize checks shape and dtype, for one."""


class WeightLaw(Tensor):
    """The noisy weight as its law ``loc + scale * eps``; linear and convolution layers sample their output from it.

    Build with ``WeightLaw.of``. ``scale`` broadcasts against ``loc`` (a number, one value, one per input feature,
    or one per entry) and carries the gradient to what it is computed from (``rho``, or the clean weight for
    multiplicative noise).
    """

    loc: Tensor
    scale: Tensor | float
    sampling: str
    field: str
    generator: Source
    delta: Tensor | None
    signs: tuple[Tensor, Tensor] | None
    uses: int

    @staticmethod
    def of(loc: Tensor, scale: Tensor | float, sampling: str, generator: Source, field: str) -> WeightLaw:
        """The law of ``loc + scale * eps`` for ``sampling`` ("local" or "flipout", which draws its ``ΔW`` now);
        ``field`` names the injector's option in errors."""
        if isinstance(loc, WeightLaw):
            raise ConfigError(
                f"{field}={sampling!r} on a weight that {loc.field}={loc.sampling!r} already samples: "
                "at most one injector per weight may sample the output"
            )
        law = loc.detach().as_subclass(WeightLaw)
        law.loc, law.scale, law.sampling, law.field, law.generator = loc, scale, sampling, field, generator
        law.delta = None
        if sampling == "flipout":
            law.delta = scale * normal(loc.shape, generator, device=loc.device, dtype=loc.dtype)
        law.signs, law.uses = None, 0
        return law

    def __repr__(self) -> str:
        return f"WeightLaw({self.field}={self.sampling!r}, loc={self.loc!r})"

    @classmethod
    def __torch_function__(
        cls, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func in _LAYERS:
            return _sample_output(func, args, kwargs)
        if func in _METADATA:
            return func(*(a.loc if isinstance(a, WeightLaw) else a for a in args), **kwargs)
        name = func.__self__.__name__ if type(func).__name__ == "method-wrapper" else func.__name__
        raise next(_laws(*args, *kwargs.values())).refusal(f"is used by {name}")

    def refusal(self, use: str) -> ConfigError:
        return ConfigError(
            f"{self.field}={self.sampling!r} samples the output of linear and convolution layers (F.linear, "
            f"F.conv1d/2d/3d, as in nn.Linear and nn.Conv1d/2d/3d), but this weight of shape {tuple(self.loc.shape)} "
            f"{use}; use {self.field}='weight' there (allowed: {', '.join(map(repr, SAMPLING))})"
        )

    def use(self) -> None:
        """Count a use in the pass; "local" allows one (its output noise cannot correlate two uses)."""
        self.uses += 1
        if self.sampling == "local" and self.uses > 1:
            raise self.refusal(
                "is used twice in one forward pass (a tied weight or a layer called twice), where a weight sample "
                "is shared by both uses and local noise would make them independent; 'flipout' keeps them one "
                "weight per example"
            )

    def variance(self, groups: int) -> Tensor:
        """``scale²`` as a weight for ``f(x², ·)``: with one output channel where all channels share it."""
        variance = self.scale_tensor().square()
        variance = variance.reshape((1,) * (self.loc.dim() - variance.dim()) + variance.shape)
        rows = 1 if variance.shape[0] == 1 and groups == 1 else self.loc.shape[0]
        return variance.expand(rows, *self.loc.shape[1:])

    def scale_tensor(self) -> Tensor:
        """``scale`` as a tensor of the weight's dtype and device (a number becomes a 0-dim tensor)."""
        return torch.as_tensor(self.scale, dtype=self.loc.dtype, device=self.loc.device)

    def flips(self, x: Tensor, out: Tensor, channel: int) -> tuple[Tensor, Tensor]:
        """Flipout's signs ``s_in``, ``s_out``, one per example and channel, drawn at the first use in the pass
        and shaped to broadcast against ``x`` and ``out`` (``channel``: their channel dim; 0 = one example)."""
        examples, inputs, outputs = x.shape[0] if channel > 0 else 1, x.shape[channel], out.shape[channel]
        if self.signs is None:
            shape = (examples, inputs + outputs)
            bits = torch.randint(0, 2, shape, generator=exact(self.generator), device=x.device, dtype=x.dtype)
            signs = bits.mul_(2).sub_(1)
            self.signs = signs[:, :inputs], signs[:, inputs:]
        s_in, s_out = self.signs
        if s_in.shape != (examples, inputs) or s_out.shape[1] != outputs:
            raise self.refusal(
                f"is used again in the pass with {examples} examples of {inputs} -> {outputs} channels, after "
                f"{s_in.shape[0]} of {s_in.shape[1]} -> {s_out.shape[1]}: flipout keeps its signs per example "
                "for the whole pass"
            )
        return _per_example(s_in, x, channel), _per_example(s_out, out, channel)


def _laws(*values: Any) -> Iterator[WeightLaw]:
    for value in values:
        if isinstance(value, WeightLaw):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from _laws(*value)


def _loc(t: Tensor | None) -> Tensor | None:
    return t.loc if isinstance(t, WeightLaw) else t


def _along(values: Tensor, like: Tensor, channel: int) -> Tensor:
    """One value per channel (or one value) shaped to broadcast against ``like`` along its dim ``channel``."""
    return values if values.dim() == 0 else values.reshape(-1, *[1] * (like.dim() - channel - 1))


def _per_example(signs: Tensor, like: Tensor, channel: int) -> Tensor:
    """Signs of shape (examples, channels) shaped to broadcast against ``like`` (examples along dim 0)."""
    shape = [1] * like.dim()
    shape[channel] = signs.shape[1]
    if channel > 0:
        shape[0] = signs.shape[0]
    return signs.reshape(shape)


def _sample_output(func: Callable[..., Tensor], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    """``func`` (F.linear or F.convNd) with a law as weight and/or bias: the output from the means, with the output
    noise of each sampling present added."""
    bound = dict(zip(_ARGUMENTS, args, strict=False)) | kwargs
    x, weight, bias = bound.pop("input"), bound.pop("weight"), bound.pop("bias", None)
    if isinstance(x, WeightLaw):
        raise x.refusal(f"is the input of {func.__name__}")
    laws = [t if isinstance(t, WeightLaw) else None for t in (weight, bias)]
    for law in laws:
        if law is not None:
            law.use()
    out = func(x, _loc(weight), _loc(bias), **bound)
    channel = x.dim() - 1 if func is F.linear else x.dim() - _loc(weight).dim() + 1
    for sampling, add_noise in (("local", _add_local_noise), ("flipout", _add_flipout_noise)):
        w, b = (law if law is not None and law.sampling == sampling else None for law in laws)
        if w is not None or b is not None:
            out = add_noise(func, bound, x, out, channel, w, b)
    return out


def _add_local_noise(
    func: Callable[..., Tensor],
    bound: dict[str, Any],
    x: Tensor,
    out: Tensor,
    channel: int,
    w: WeightLaw | None,
    b: WeightLaw | None,
) -> Tensor:
    """``out + sqrt(f(x², W_scale²) + b_scale²) * eps``, one ``eps`` per output value; for a linear layer's weight
    with one scale and a clean bias the std is ``scale·|x|`` (one norm per example, and one pass back)."""
    eps = normal(out.shape, (b if w is None else w).generator, device=out.device, dtype=out.dtype)
    scale = w.scale_tensor() if w is not None else None
    if scale is not None and b is None and func is F.linear and scale.numel() == 1:
        return add_scaled(out, torch.linalg.vector_norm(x, dim=-1, keepdim=True) * scale.reshape(()), eps)
    variance = out.new_zeros(())
    if w is not None:
        variance = func(x * x, w.variance(bound.get("groups", 1)), None, **bound)
    if b is not None:
        variance = variance + _along(b.scale_tensor().square(), out, channel)
    return add_scaled(out, variance.clamp_min(torch.finfo(out.dtype).tiny).sqrt(), eps)  # clamp: no infinite gradient


def _add_flipout_noise(
    func: Callable[..., Tensor],
    bound: dict[str, Any],
    x: Tensor,
    out: Tensor,
    channel: int,
    w: WeightLaw | None,
    b: WeightLaw | None,
) -> Tensor:
    """``out + (f(x ∘ s_in, ΔW) + Δb) ∘ s_out``, the signs per example and channel."""
    s_in, s_out = (b if w is None else w).flips(x, out, channel)
    if w is None:
        return out.addcmul(_along(b.delta, out, channel), s_out)
    return out.addcmul(func(x * s_in, w.delta, None if b is None else b.delta, **bound), s_out)
