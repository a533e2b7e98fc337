"""Noise on sequences: token ids, embeddings, time series and audio.

Each noise is a pure function plus a thin ``Injector`` that stores its
hyperparameters. Masks and per-sample draws are made in float32 (probabilities
and SNRs need the precision); the result keeps the input's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..checks import check_int, check_pair, check_range
from ..registry import ConfigError
from .base import NOISE, Injector, Number
from .sources import Source, below, exact, normal, uniform

Range = tuple[float, float]
"""A ``(low, high)`` range a value is drawn from uniformly, per sample."""


# -- shared checks and draws ------------------------------------------------------------
def _check_value_or_range(what: str, value: float | Sequence[float], low: float) -> float | Range:
    """``value`` as a number or a ``(low, high)`` pair with low <= high, each in the open interval (low, inf)."""
    if isinstance(value, (tuple, list)):
        return check_pair(what, value, low, low_open=True, high_open=True)
    check_range(what, value, low, low_open=True, high_open=True)
    return value


def _value_or_range(injector: Injector, name: str, value: Number | Sequence[float], low: float) -> Number | Range:
    """An injector's parameter in (low, inf): a number, a schedule, or a ``(low, high)`` range."""
    if isinstance(value, (tuple, list)):
        return _check_value_or_range(f"{type(injector).__name__}.{name}", value, low)
    return injector.number(name, value, low, low_open=True, high_open=True)


def _per_sample(
    value: float | Sequence[float], n: int, device: torch.device, generator: Source
) -> torch.Tensor:
    """(n,) float32: ``value`` for every sample, or uniform draws from a ``(low, high)`` range."""
    if isinstance(value, (tuple, list)):
        return torch.empty(n, device=device).uniform_(value[0], value[1], generator=exact(generator))
    return torch.full((n,), float(value), device=device)


def _applied(p: float, n: int, device: torch.device, generator: Source) -> torch.Tensor:
    """(n,) bool: which samples are perturbed, each with probability ``p``."""
    return torch.rand(n, generator=exact(generator), device=device) < p


def _check_time_dim(what: str, time_dim: int) -> None:
    if isinstance(time_dim, bool) or not isinstance(time_dim, int) or time_dim == 0:
        raise ConfigError(
            f"{what} must be a non-zero int (dimension 0 is the batch), e.g. -1 for (N, C, T) or 1 for (N, T, F); "
            f"got {time_dim!r}"
        )


def _time_axis(x: torch.Tensor, time_dim: int) -> int:
    """``time_dim`` as a non-negative index of a non-batch dimension of ``x``."""
    _check_time_dim("time_dim", time_dim)
    if x.ndim < 2 or not -x.ndim < time_dim < x.ndim:
        raise ValueError(
            f"time_dim={time_dim} must name a non-batch dimension of x of shape (N, C, T) or (N, T, F); "
            f"got shape {tuple(x.shape)}"
        )
    return time_dim % x.ndim


# -- tokenizers ------------------------------------------------------------------------
def _special_ids(tokenizer: Any) -> tuple[int, ...]:
    """A Hugging Face tokenizer's special token ids (padding, CLS, SEP, mask, unknown, ...), sorted."""
    return tuple(sorted(set(tokenizer.all_special_ids)))


def _vocabulary_size(tokenizer: Any) -> int:
    """The number of token ids a tokenizer produces: ``len(tokenizer)`` (added tokens included), else ``vocab_size``."""
    return len(tokenizer) if hasattr(tokenizer, "__len__") else tokenizer.vocab_size


# -- token masking ---------------------------------------------------------------------
def _check_tokens(prefix: str, mask_id: int, vocab_size: int, split: Sequence[float], protected: Sequence[int]) -> None:
    check_int(f"{prefix}vocab_size", vocab_size, 1)
    check_int(f"{prefix}mask_id", mask_id, 0, vocab_size - 1)
    for token in protected:
        check_int(f"{prefix}protected", token, 0, vocab_size - 1)
    if len(split) != 3 or min(split) < 0 or not math.isclose(sum(split), 1.0, abs_tol=1e-6):
        raise ConfigError(
            f"{prefix}split must be three non-negative fractions (mask, random, keep) summing to 1, got {split!r}"
        )


def token_mask(
    ids: torch.Tensor,
    p: float,
    *,
    mask_id: int,
    vocab_size: int,
    split: Sequence[float] = (0.8, 0.1, 0.1),
    protected: Sequence[int] = (),
    generator: Source = None,
) -> torch.Tensor:
    """BERT-style token masking (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional
    Transformers for Language Understanding", arXiv:1810.04805).

    Each position whose id is not in ``protected`` is selected with probability ``p``; a selected
    position becomes ``mask_id`` (fraction ``split[0]``), a uniformly random id in
    ``[0, vocab_size)`` (``split[1]``) or stays as it is (``split[2]``).

    Args:
        ids: integer token ids, (N, L) (any shape works elementwise).
        p: selection probability in [0, 1].
        mask_id: id of the mask token, in [0, vocab_size).
        vocab_size: number of token ids (>= 1).
        split: fractions (mask, random, keep) of the selected positions; non-negative, sum 1.
        protected: ids never changed (padding, CLS, SEP, ...).
        generator: source of randomness.

    Returns: ids of the same shape and dtype.

    Example: ``token_mask(ids, 0.15, mask_id=103, vocab_size=30522, protected=(0, 101, 102))``.
    """
    check_range("p", p, 0, 1)
    _check_tokens("", mask_id, vocab_size, split, protected)
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ValueError(f"token_mask expects integer token ids of shape (N, L), got dtype {ids.dtype}")
    # One uniform draw per position decides both selection (u < p) and what a selected id becomes.
    u = uniform(ids.shape, generator, device=ids.device)
    for token in protected:
        u = u.masked_fill(ids == token, 1.0)
    random_ids = torch.randint(0, vocab_size, ids.shape, generator=exact(generator), device=ids.device, dtype=ids.dtype)
    out = torch.where(u < p * (split[0] + split[1]), random_ids, ids)
    return torch.where(u < p * split[0], mask_id, out)


@NOISE.register("token_mask")
class TokenMask(Injector):
    """BERT-style masking of input token ids (Devlin et al. 2019, arXiv:1810.04805); see ``token_mask``.

    Args:
        p: selection probability in [0, 1], or a schedule. Default 0.15.
        mask_id: id of the mask token (required).
        vocab_size: number of token ids (required).
        split: fractions (mask, random, keep) of the selected positions. Default (0.8, 0.1, 0.1).
        protected: ids never changed, e.g. ``(pad_id, cls_id, sep_id)``. Default none.
        seed: seed of this injector's generator.

    Shapes: integer (N, L) in, same shape and dtype out. Acts at the model's input only.

    Example: ``inject(model, TokenMask(0.15, mask_id=103, vocab_size=30522, protected=(0, 101, 102)))``.
    """

    strength = "p"
    positions = frozenset({"input"})

    def __init__(
        self,
        p: Number = 0.15,
        *,
        mask_id: int,
        vocab_size: int,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        protected: Sequence[int] = (),
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        _check_tokens(f"{type(self).__name__}.", mask_id, vocab_size, split, protected)
        self.p = self.number("p", p, 0, 1)
        self.mask_id = mask_id
        self.vocab_size = vocab_size
        self.split = tuple(float(s) for s in split)
        self.protected = tuple(protected)

    @classmethod
    def from_tokenizer(
        cls, tokenizer: Any, p: Number = 0.15, *, split: Sequence[float] = (0.8, 0.1, 0.1), seed: int | None = None
    ) -> TokenMask:
        """Masking with a Hugging Face tokenizer's ids, as ``transformers.DataCollatorForLanguageModeling`` masks:
        selected positions become its ``mask_token_id`` or a random id below ``len(tokenizer)`` (its ``vocab_size``
        without ``__len__``), and its ``all_special_ids`` (padding, CLS, SEP, ...) are never changed. Any object with
        these attributes works; transformers is not imported.

        Example: ``TokenMask.from_tokenizer(tokenizer, p=0.15)``.
        """
        if getattr(tokenizer, "mask_token_id", None) is None:
            raise ConfigError(
                f"TokenMask.from_tokenizer: the tokenizer ({type(tokenizer).__name__}) has no mask token; give it "
                "one (tokenizer.add_special_tokens({'mask_token': '[MASK]'}), then resize the model's embeddings) "
                "or build TokenMask(mask_id=..., vocab_size=...)"
            )
        return cls(
            p,
            mask_id=tokenizer.mask_token_id,
            vocab_size=_vocabulary_size(tokenizer),
            split=split,
            protected=_special_ids(tokenizer),
            seed=seed,
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return ids
        return token_mask(
            ids,
            self.current("p"),
            mask_id=self.mask_id,
            vocab_size=self.vocab_size,
            split=self.split,
            protected=self.protected,
            generator=self.generator(ids.device),
        )


# -- embedding noise -------------------------------------------------------------------
def embedding_noise(
    x: torch.Tensor, alpha: float, *, mask: torch.Tensor | None = None, generator: Source = None
) -> torch.Tensor:
    """NEFTune noise (Jain et al. 2023, "NEFTune: Noisy Embeddings Improve Instruction Finetuning",
    arXiv:2310.05914): ``x + alpha / sqrt(L * d) * U(-1, 1)``.

    Args:
        x: embeddings, (N, L, d).
        alpha: noise scale (>= 0); the paper uses 5, 10 or 15.
        mask: optional bool (N, L), True at the positions that get noise; the others stay exactly as they are,
            and L is each sequence's number of noised positions (so padding does not thin the noise out).
        generator: source of randomness.

    Example: ``embedding_noise(model.embed(ids), 5.0, mask=ids != pad_id)``.
    """
    check_range("alpha", alpha, 0)
    if x.ndim != 3:
        raise ValueError(f"embedding_noise expects embeddings of shape (N, L, d), got {tuple(x.shape)}")
    if mask is None:
        scale = alpha / math.sqrt(x.shape[1] * x.shape[2])
        return x + uniform(x.shape, generator, device=x.device, dtype=x.dtype, low=-scale, high=scale)
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask must have shape (N, L) = {tuple(x.shape[:2])}, got {tuple(mask.shape)}")
    lengths = mask.sum(1, keepdim=True).clamp_min(1)  # (N, 1); a sequence without noised positions gets none
    scale = (alpha / torch.sqrt(lengths * x.shape[2])) * mask  # (N, L), 0 where masked out
    noise = uniform(x.shape, generator, device=x.device, dtype=x.dtype, low=-1.0, high=1.0)
    return x + noise * scale.unsqueeze(-1).to(x.dtype)


@NOISE.register("embedding_noise")
class EmbeddingNoise(Injector):
    """NEFTune: uniform noise on token embeddings (Jain et al. 2023, arXiv:2310.05914); see ``embedding_noise``.

    Args:
        alpha: noise scale (>= 0), or a schedule. Default 5.0.
        protected: token ids whose positions get no noise (padding, CLS, SEP, ...); the injector reads the ids
            the ``nn.Embedding`` it follows receives, so it must be placed at an embedding's output. Default none.
        seed: seed of this injector's generator.

    Shapes: (N, L, d) in, same shape and dtype out. Placed by default after every ``nn.Embedding``; NEFTune
    noises the token embeddings only, e.g. ``("output:*word_embeddings", EmbeddingNoise())`` on BERT.

    Example: ``inject(model, EmbeddingNoise(alpha=5.0))``.
    """

    strength = "alpha"
    default_at = "output:Embedding"

    def __init__(self, alpha: Number = 5.0, *, protected: Sequence[int] = (), seed: int | None = None) -> None:
        super().__init__(seed=seed)
        for token in protected:
            check_int(f"{type(self).__name__}.protected", token, 0)
        self.alpha = self.number("alpha", alpha, 0)
        self.protected = tuple(protected)
        self.ids: torch.Tensor | None = None

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, alpha: Number = 5.0, *, seed: int | None = None) -> EmbeddingNoise:
        """NEFTune that leaves the positions of a Hugging Face tokenizer's ``all_special_ids`` (padding, CLS, SEP,
        ...) alone; transformers is not imported. Place it at the output of the token embedding.

        Example: ``("output:*word_embeddings", EmbeddingNoise.from_tokenizer(tokenizer, alpha=5.0))``.
        """
        return cls(alpha, protected=_special_ids(tokenizer), seed=seed)

    def observe(self, inputs: tuple[Any, ...]) -> None:
        """Keep the token ids the embedding receives, where ``protected`` positions are found."""
        if not self.protected:
            return
        ids = inputs[0] if inputs else None
        if not isinstance(ids, torch.Tensor) or ids.is_floating_point() or ids.is_complex():
            raise ConfigError(
                f"{type(self).__name__}.protected needs the token ids: place the injector at the output of the "
                "nn.Embedding that receives them (e.g. at='output:*word_embeddings')"
            )
        self.ids = ids

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        mask = None
        if self.protected:
            if self.ids is None:
                raise ConfigError(
                    f"{type(self).__name__}.protected: the injector has not seen the token ids; attach it with "
                    "inject at the output of the nn.Embedding that receives them"
                )
            mask = ~torch.isin(self.ids, torch.tensor(self.protected, device=self.ids.device))
        return embedding_noise(x, self.current("alpha"), mask=mask, generator=self.generator(x.device))


# -- temporal dropout ------------------------------------------------------------------
def temporal_dropout(
    x: torch.Tensor,
    p: float,
    *,
    span: int = 1,
    time_dim: int = -1,
    fill: float = 0.0,
    generator: Source = None,
) -> torch.Tensor:
    """Drop whole time steps (all channels at once), singly or in contiguous spans, setting them to ``fill``.

    Spans of ``span`` steps start independently with probability ``q = 1 - (1 - p) ** (1 / span)``
    (spans starting before the sequence included and cut at its ends), so every step is dropped
    with probability exactly ``p``; overlapping spans merge into longer gaps.

    Args:
        x: (N, C, T) with ``time_dim=-1`` (default) or (N, T, F) with ``time_dim=1``; any (N, ...) works.
        p: probability that a time step is dropped, in [0, 1].
        span: length of each dropped span in steps (>= 1).
        time_dim: the time dimension (not 0, the batch).
        fill: value of dropped steps. Default 0.
        generator: source of randomness.

    Example: ``temporal_dropout(x, 0.1, span=5)``.
    """
    check_range("p", p, 0, 1)
    check_int("span", span, 1)
    dim = _time_axis(x, time_dim)
    n, length = x.shape[0], x.shape[dim]
    starts = below(1 - (1 - p) ** (1 / span), (n, 1, length + span - 1), generator, device=x.device)
    dropped = starts if span == 1 else F.max_pool1d(starts.float(), span, stride=1).bool()  # covered by a span
    shape = [n if d == 0 else length if d == dim else 1 for d in range(x.ndim)]
    return x.masked_fill(dropped.view(shape), fill)


@NOISE.register("temporal_dropout")
class TemporalDropout(Injector):
    """Drop time steps or spans of a time series; see ``temporal_dropout``.

    Args:
        p: probability that a time step is dropped, in [0, 1], or a schedule. Default 0.1.
        span: length of the dropped spans in steps (>= 1). Default 1.
        time_dim: time dimension, -1 for (N, C, T) (default) or 1 for (N, T, F).
        fill: value of dropped steps. Default 0.
        seed: seed of this injector's generator.

    Shapes: (N, ...) in, same shape and dtype out.

    Example: ``inject(model, TemporalDropout(0.1, span=5))``.
    """

    strength = "p"

    def __init__(
        self, p: Number = 0.1, *, span: int = 1, time_dim: int = -1, fill: float = 0.0, seed: int | None = None
    ) -> None:
        super().__init__(seed=seed)
        name = type(self).__name__
        check_int(f"{name}.span", span, 1)
        _check_time_dim(f"{name}.time_dim", time_dim)
        check_range(f"{name}.fill", fill)
        self.p = self.number("p", p, 0, 1)
        self.span = span
        self.time_dim = time_dim
        self.fill = float(fill)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        return temporal_dropout(
            x,
            self.current("p"),
            span=self.span,
            time_dim=self.time_dim,
            fill=self.fill,
            generator=self.generator(x.device),
        )


# -- background noise at a target SNR --------------------------------------------------
def add_noise_snr(
    x: torch.Tensor,
    snr_db: float | Sequence[float],
    *,
    noise: torch.Tensor | None = None,
    p: float = 1.0,
    generator: Source = None,
) -> torch.Tensor:
    """Add noise at a target signal-to-noise ratio: per sample ``10 * log10(P_signal / P_noise) = snr_db``.

    Powers are means of squares over all non-batch dimensions. The noise is white Gaussian, or
    from a noise bank: per sample, a random window of length T of a random clip (shared by all
    channels). Computed in float32 (float64 for float64 input).

    Args:
        x: signals, (N, *, T), e.g. waveforms (N, T) or (N, C, T).
        snr_db: target SNR in dB (finite), or a ``(low, high)`` range drawn uniformly per sample.
        noise: optional noise bank (K, T_bank) with T_bank >= T; keep it on x's device (else it
            is copied every call).
        p: probability that a sample gets noise, in [0, 1]. Default 1.
        generator: source of randomness.

    Example: ``add_noise_snr(wave, (5.0, 20.0), noise=bank)``.
    """
    _check_value_or_range("snr_db", snr_db, -math.inf)
    check_range("p", p, 0, 1)
    if x.ndim < 2:
        raise ValueError(f"add_noise_snr expects signals of shape (N, *, T), got {tuple(x.shape)}")
    n, length = x.shape[0], x.shape[-1]
    dtype = torch.promote_types(x.dtype, torch.float32)
    if noise is None:
        eps = normal(x.shape, generator, device=x.device, dtype=dtype)
    else:
        if noise.ndim != 2 or noise.shape[1] < length:
            raise ValueError(
                f"noise must be a noise bank of shape (K, T_bank) with T_bank >= T = {length}, got {tuple(noise.shape)}"
            )
        clip = torch.randint(0, noise.shape[0], (n, 1), generator=exact(generator), device=x.device)
        start = torch.randint(0, noise.shape[1] - length + 1, (n, 1), generator=exact(generator), device=x.device)
        window = noise.to(x.device, dtype)[clip, start + torch.arange(length, device=x.device)]  # (N, T)
        eps = window.view(n, *[1] * (x.ndim - 2), length)
    signal = x.to(dtype)
    noise_power = _power(eps).clamp_min(torch.finfo(dtype).tiny)
    snr = _per_sample(snr_db, n, x.device, generator).to(dtype)
    scale = torch.sqrt(_power(signal) / (noise_power * 10 ** (snr / 10))) * _applied(p, n, x.device, generator)
    return torch.addcmul(signal, scale.view(n, *[1] * (x.ndim - 1)), eps).to(x.dtype)


def _power(x: torch.Tensor) -> torch.Tensor:
    """Per sample, the mean square over all non-batch dimensions (one pass: a dot product), shape (N,)."""
    flat = x.flatten(1)
    return torch.linalg.vecdot(flat, flat) / flat.shape[1]


@NOISE.register("background_noise")
class BackgroundNoise(Injector):
    """Additive background noise at a target SNR in dB; see ``add_noise_snr``.

    Higher SNR means less noise, so the strength (0 = off) is ``p``, the probability that a sample
    gets noise; ``snr_db`` sets how much.

    Args:
        snr_db: target SNR in dB, a schedule of it, or a ``(low, high)`` range drawn per sample.
            Default (10, 30).
        noise: optional noise bank (K, T_bank) (tensor or nested list); white Gaussian noise if None.
            A buffer: ``injector.to(device)`` moves it.
        p: probability that a sample gets noise, in [0, 1], or a schedule. Default 1.
        seed: seed of this injector's generator.

    Shapes: (N, *, T) in, same shape and dtype out.

    Example: ``inject(model, BackgroundNoise(snr_db=(5.0, 20.0), noise=bank))``.
    """

    strength = "p"

    def __init__(
        self,
        snr_db: Number | Sequence[float] = (10.0, 30.0),
        *,
        noise: torch.Tensor | Sequence[Sequence[float]] | None = None,
        p: Number = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        if noise is not None:
            noise = torch.as_tensor(noise, dtype=torch.float32)
            if noise.ndim != 2 or noise.numel() == 0:
                raise ConfigError(
                    f"{type(self).__name__}.noise must be a non-empty noise bank of shape (K, T_bank) or None, "
                    f"got shape {tuple(noise.shape)}"
                )
        self.snr_db = _value_or_range(self, "snr_db", snr_db, -math.inf)
        self.register_buffer("noise", noise)
        self.p = self.number("p", p, 0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        return add_noise_snr(
            x, self.current("snr_db"), noise=self.noise, p=self.current("p"), generator=self.generator(x.device)
        )


# -- speed perturbation ----------------------------------------------------------------
def speed_perturb(
    x: torch.Tensor,
    factor: float | Sequence[float],
    *,
    p: float = 1.0,
    time_dim: int = -1,
    generator: Source = None,
) -> torch.Tensor:
    """Speed perturbation (Ko et al. 2015, "Audio Augmentation for Speech Recognition", Interspeech):
    ``y[t] = x(factor * t)`` by linear interpolation, per-sample factors.

    A factor above 1 speeds up (frequencies times ``factor``) and zero-pads the end; below 1 slows
    down and crops, so the length T is kept. Factor 1 returns x exactly. Linear interpolation has
    no anti-aliasing filter. Interpolates in float32 (float64 for float64 input).

    Args:
        x: (N, C, T) with ``time_dim=-1`` (default) or (N, T, F) with ``time_dim=1``; any (N, ...) works.
        factor: speed factor (> 0), or a ``(low, high)`` range drawn uniformly per sample, e.g. (0.9, 1.1).
        p: probability that a sample is perturbed (else factor 1), in [0, 1]. Default 1.
        time_dim: the time dimension (not 0, the batch).
        generator: source of randomness.

    Example: ``speed_perturb(wave, (0.9, 1.1))``.
    """
    _check_value_or_range("factor", factor, 0)
    check_range("p", p, 0, 1)
    dim = _time_axis(x, time_dim)
    n = x.shape[0]
    y = x.movedim(dim, -1).to(torch.promote_types(x.dtype, torch.float32))
    length = y.shape[-1]
    rate = torch.where(_applied(p, n, x.device, generator), _per_sample(factor, n, x.device, generator), 1.0)
    position = torch.arange(length, device=x.device, dtype=y.dtype) * rate.to(y.dtype)[:, None]  # (N, T)
    left = position.floor().clamp(max=length - 1)
    shape = (n, *[1] * (y.ndim - 2), length)

    def at(index: torch.Tensor) -> torch.Tensor:
        return y.gather(-1, index.long().view(shape).expand(y.shape))

    out = torch.lerp(at(left), at((left + 1).clamp(max=length - 1)), (position - left).view(shape))
    out = out.masked_fill((position > length - 1).view(shape), 0.0)
    return out.to(x.dtype).movedim(-1, dim)


@NOISE.register("speed_perturb")
class SpeedPerturb(Injector):
    """Speed perturbation of audio or features (Ko et al. 2015, Interspeech); see ``speed_perturb``.

    The strength (0 = off) is ``p``, the probability that a sample is perturbed; ``factor`` sets how much
    (factor 1, or the range (1, 1), changes nothing).

    Args:
        factor: speed factor (> 0), a schedule of it, or a ``(low, high)`` range drawn per sample.
            Default (0.9, 1.1).
        p: probability that a sample is perturbed, in [0, 1], or a schedule. Default 1.
        time_dim: time dimension, -1 for (N, C, T) (default) or 1 for (N, T, F).
        seed: seed of this injector's generator.

    Shapes: (N, ...) in, same shape and dtype out.

    Example: ``inject(model, SpeedPerturb(factor=(0.9, 1.1)))``.
    """

    strength = "p"

    def __init__(
        self,
        factor: Number | Sequence[float] = (0.9, 1.1),
        *,
        p: Number = 1.0,
        time_dim: int = -1,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        _check_time_dim(f"{type(self).__name__}.time_dim", time_dim)
        self.factor = _value_or_range(self, "factor", factor, 0)
        self.p = self.number("p", p, 0, 1)
        self.time_dim = time_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        return speed_perturb(
            x, self.current("factor"), p=self.current("p"), time_dim=self.time_dim, generator=self.generator(x.device)
        )
