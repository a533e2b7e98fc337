"""Tests of the sequence noises: token masking, NEFTune, temporal dropout, background noise, speed perturbation."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from noisetrain.noise.base import NOISE, build_noise
from noisetrain.noise.inject import inject
from noisetrain.noise.sequences import (
    BackgroundNoise,
    EmbeddingNoise,
    SpeedPerturb,
    TemporalDropout,
    TokenMask,
    add_noise_snr,
    embedding_noise,
    speed_perturb,
    temporal_dropout,
    token_mask,
)
from noisetrain.registry import ConfigError

VOCAB = 50


def gen(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def tokens(shape=(4, 12)) -> torch.Tensor:
    return torch.randint(1, VOCAB, shape, generator=gen(99))


def signal(shape=(4, 2, 64)) -> torch.Tensor:
    return torch.randn(shape, generator=gen(99)) + 3.0  # never exactly 0


# kind -> (injector with a large strength, input maker); the strength is the first argument
CASES = {
    "token_mask": (lambda s=0.5, **k: TokenMask(s, mask_id=0, vocab_size=VOCAB, **k), tokens),
    "embedding_noise": (lambda s=5.0, **k: EmbeddingNoise(s, **k), lambda: signal((4, 12, 8))),
    "temporal_dropout": (lambda s=0.5, **k: TemporalDropout(s, span=3, **k), signal),
    "background_noise": (lambda s=1.0, **k: BackgroundNoise(snr_db=(0.0, 10.0), p=s, **k), signal),
    "speed_perturb": (lambda s=1.0, **k: SpeedPerturb(factor=(0.8, 1.2), p=s, **k), signal),
}
KINDS = list(CASES)


def make(kind: str, strength: float | dict | None = None, **kwargs):
    factory, data = CASES[kind]
    injector = factory(**kwargs) if strength is None else factory(strength, **kwargs)
    return injector, data()


# -- shared behaviour ------------------------------------------------------------------
def test_all_registered():
    assert set(KINDS) <= set(NOISE.names())


@pytest.mark.parametrize("kind", KINDS)
def test_identity_when_inactive(kind):
    injector, x = make(kind, seed=0)
    assert not torch.equal(injector(x), x)
    injector.eval()
    assert injector(x) is x
    injector.train()
    injector.enabled_ = False
    assert injector(x) is x
    off, x = make(kind, 0.0, seed=0)
    assert off(x) is x


@pytest.mark.parametrize("kind", KINDS)
def test_determinism(kind):
    a, x = make(kind, seed=1)
    b, _ = make(kind, seed=1)
    c, _ = make(kind, seed=2)
    out = a(x)
    assert torch.equal(out, b(x))
    assert not torch.equal(out, c(x))
    assert not torch.equal(out, a(x))  # the stream moves on


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip_and_repr(kind):
    injector, _ = make(kind, seed=3)
    config = injector.to_config()
    assert config["kind"] == kind
    assert build_noise(config).to_config() == config
    assert f"{injector.strength}=" in repr(injector)


@pytest.mark.parametrize("kind", KINDS)
def test_schedule_changes_with_progress(kind):
    injector, x = make(kind, {"kind": "linear", "start": 0.0, "end": 1.0}, seed=0)
    assert injector(x) is x  # strength 0 at progress 0
    injector.set_progress(1.0)
    assert injector.current(injector.strength) == 1.0
    assert not torch.equal(injector(x), x)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "token_mask"])
def test_bfloat16(kind):
    injector, x = make(kind, seed=0)
    out = injector(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16 and out.shape == x.shape
    assert torch.isfinite(out.float()).all()


@pytest.mark.cuda
@pytest.mark.parametrize("kind", KINDS)
def test_cuda(kind):
    a, x = make(kind, seed=0)
    b, _ = make(kind, seed=0)
    x = x.cuda()
    out = a(x)
    assert out.device == x.device and out.dtype == x.dtype and out.shape == x.shape
    assert torch.equal(out, b(x))


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: TokenMask(1.5, mask_id=0, vocab_size=VOCAB), "TokenMask.p"),
        (lambda: TokenMask(mask_id=VOCAB, vocab_size=VOCAB), "TokenMask.mask_id"),
        (lambda: TokenMask(mask_id=0, vocab_size=0), "TokenMask.vocab_size"),
        (lambda: TokenMask(mask_id=0, vocab_size=VOCAB, protected=(-1,)), "TokenMask.protected"),
        (lambda: TokenMask(mask_id=0, vocab_size=VOCAB, split=(0.8, 0.1, 0.2)), "TokenMask.split"),
        (lambda: TokenMask(mask_id=0, vocab_size=VOCAB, split=(1.1, -0.1, 0.0)), "TokenMask.split"),
        (lambda: EmbeddingNoise(-1.0), "EmbeddingNoise.alpha"),
        (lambda: EmbeddingNoise(protected=(-1,)), "EmbeddingNoise.protected"),
        (lambda: TemporalDropout(0.1, span=0), "TemporalDropout.span"),
        (lambda: TemporalDropout(0.1, span=2.5), "TemporalDropout.span"),
        (lambda: TemporalDropout(0.1, time_dim=0), "TemporalDropout.time_dim"),
        (lambda: TemporalDropout({"kind": "linear", "start": 0.0, "end": 2.0}), "TemporalDropout.p"),
        (lambda: BackgroundNoise((20.0, 10.0)), "BackgroundNoise.snr_db"),
        (lambda: BackgroundNoise(math.inf), "BackgroundNoise.snr_db"),
        (lambda: BackgroundNoise(noise=torch.zeros(5)), "BackgroundNoise.noise"),
        (lambda: BackgroundNoise(p=-0.1), "BackgroundNoise.p"),
        (lambda: SpeedPerturb((0.0, 1.1)), "SpeedPerturb.factor"),
        (lambda: SpeedPerturb((1.1, 0.9)), "SpeedPerturb.factor"),
        (lambda: SpeedPerturb(time_dim=0), "SpeedPerturb.time_dim"),
    ],
)
def test_bad_params(build, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        build()


def test_bad_spec_and_call_shapes():
    with pytest.raises(ConfigError, match=r"TokenMask\.split"):
        build_noise({"kind": "token_mask", "mask_id": 0, "vocab_size": 10, "split": [0.5, 0.5, 0.5]})
    with pytest.raises(ValueError, match="integer token ids"):
        token_mask(torch.zeros(2, 3), 0.1, mask_id=0, vocab_size=10)
    with pytest.raises(ValueError, match=r"\(N, L, d\)"):
        embedding_noise(torch.zeros(2, 3), 1.0)
    with pytest.raises(ValueError, match="time_dim=3"):
        temporal_dropout(torch.zeros(2, 3, 4), 0.1, time_dim=3)
    with pytest.raises(ValueError, match=r"\(K, T_bank\)"):
        add_noise_snr(torch.zeros(2, 100), 10.0, noise=torch.zeros(3, 50))
    with pytest.raises(ConfigError, match="factor"):
        speed_perturb(torch.zeros(2, 10), -1.0)


# -- token_mask -------------------------------------------------------------------------
def test_token_mask_rates_and_split():
    ids = torch.randint(1, 1000, (200, 500), generator=gen(0))  # 100k positions, no id equals mask_id 0
    p = 0.2
    only_mask = token_mask(ids, p, mask_id=0, vocab_size=1000, split=(1, 0, 0), generator=gen(1))
    assert abs((only_mask == 0).float().mean().item() - p) < 0.005  # selection rate; std ~0.0013
    out = token_mask(ids, p, mask_id=0, vocab_size=1000, generator=gen(2))
    masked = (out == 0).float().mean().item()
    randomised = ((out != ids) & (out != 0)).float().mean().item()
    assert abs(masked - 0.8 * p) < 0.005
    assert abs(randomised - 0.1 * p * (1 - 1 / 1000)) < 0.003  # a random id may equal the original
    assert out.min() >= 0 and out.max() < 1000


def test_token_mask_protected_dtype_shape():
    ids = torch.randint(2, VOCAB, (64, 40), generator=gen(0), dtype=torch.int32)
    ids[:, 0] = 1  # CLS
    ids[:, 30:] = 0  # padding
    out = token_mask(ids, 1.0, mask_id=3, vocab_size=VOCAB, protected=(0, 1), generator=gen(1))
    assert out.dtype == torch.int32 and out.shape == ids.shape
    protected = (ids == 0) | (ids == 1)
    assert torch.equal(out[protected], ids[protected])
    assert (out[~protected] == 3).float().mean() > 0.75  # p=1: every other position selected


def test_token_mask_through_inject():
    model = nn.Sequential(nn.Embedding(VOCAB, 8), nn.Linear(8, 1))
    ids = tokens()
    clean = model(ids)
    handle = inject(model, {"kind": "token_mask", "p": 0.5, "mask_id": 0, "vocab_size": VOCAB, "seed": 0})
    noisy = model(ids)
    assert not torch.equal(noisy, clean)
    noisy.sum().backward()
    assert model[0].weight.grad is not None and model[0].weight.grad.abs().sum() > 0
    handle.remove()
    assert torch.equal(model(ids), clean) and not model._forward_pre_hooks


class Tokenizer:
    """What ``from_tokenizer`` reads of a Hugging Face tokenizer: ids 0-4 are special (pad, CLS, SEP, unknown,
    mask), listed with a repeat as tokenizers may; 100 base ids and 20 added ones."""

    mask_token_id = 4
    all_special_ids = (0, 1, 2, 3, 4, 0)
    vocab_size = 100

    def __len__(self) -> int:
        return 120


def test_token_mask_from_tokenizer_masks_as_bert_and_never_changes_special_tokens():
    injector = TokenMask.from_tokenizer(Tokenizer(), p=0.3, seed=0)
    assert (injector.mask_id, injector.vocab_size, injector.protected) == (4, 120, (0, 1, 2, 3, 4))
    ids = torch.randint(5, 120, (400, 250), generator=gen(0))
    ids[:, 0], ids[:, 199] = 1, 2  # CLS, SEP
    ids[:, 200:] = 0  # padding
    out = injector(ids)
    special = ids < 5
    assert torch.equal(out[special], ids[special])  # 20,800 special positions, none changed
    ordinary = ~special  # 79,200 positions, each selected with p = 0.3: 80% mask, 10% random id, 10% kept
    changed = (out[ordinary] != ids[ordinary]).float().mean().item()
    masked = (out[ordinary] == 4).float().mean().item()
    assert abs(changed - 0.3 * (0.8 + 0.1 * 119 / 120)) < 0.006  # std ~0.0016
    assert abs(masked - 0.3 * (0.8 + 0.1 / 120)) < 0.006
    assert 100 <= out.max() < 120  # random ids cover the added tokens: len(tokenizer), not vocab_size


def test_from_tokenizer_reads_vocab_size_without_len_and_needs_a_mask_token():
    base = SimpleNamespace(mask_token_id=3, all_special_ids=[3, 0], vocab_size=10)  # no __len__
    assert TokenMask.from_tokenizer(base).vocab_size == 10
    unmasked = SimpleNamespace(mask_token_id=None, all_special_ids=[0], vocab_size=10)
    with pytest.raises(ConfigError, match=r"TokenMask\.from_tokenizer: the tokenizer \(SimpleNamespace\) has no mask"):
        TokenMask.from_tokenizer(unmasked)
    assert EmbeddingNoise.from_tokenizer(Tokenizer(), 3.0).protected == (0, 1, 2, 3, 4)


# -- embedding_noise ---------------------------------------------------------------------
def test_embedding_noise_bound_and_variance():
    x = torch.randn(32, 64, 128, generator=gen(0))
    alpha = 10.0
    bound = alpha / math.sqrt(64 * 128)
    delta = embedding_noise(x, alpha, generator=gen(1)) - x
    assert delta.abs().max() <= bound * (1 + 1e-5)
    assert delta.abs().max() > 0.99 * bound
    assert abs(delta.var().item() / (bound**2 / 3) - 1) < 0.01  # 262k draws: relative std ~0.003
    assert abs(delta.mean().item()) < 0.01 * bound


def test_embedding_noise_at_embedding_output():
    model = nn.Sequential(nn.Embedding(VOCAB, 8), nn.Linear(8, 1))
    ids = tokens()
    clean = model(ids)
    handle = inject(model, EmbeddingNoise(5.0, seed=0))  # default_at "output:Embedding"
    assert [a.selector for a in handle] == ["output:Embedding"]
    noisy = model(ids)
    assert not torch.equal(noisy, clean)
    noisy.sum().backward()
    assert model[0].weight.grad.abs().sum() > 0
    handle.remove()
    assert torch.equal(model(ids), clean) and not model[0]._forward_hooks


def test_embedding_noise_mask_spares_positions_and_scales_by_each_length():
    x = torch.randn(64, 40, 32, generator=gen(0))
    lengths = torch.arange(64) % 31 + 10  # 10 to 40 noised positions per sequence
    mask = torch.arange(40) < lengths[:, None]
    alpha = 5.0
    delta = embedding_noise(x, alpha, mask=mask, generator=gen(1)) - x
    assert torch.equal(delta[~mask], torch.zeros_like(delta[~mask]))
    bound = alpha / torch.sqrt(lengths * 32.0)  # alpha / sqrt(L * d) with each sequence's own L
    peak = delta.abs().amax(dim=(1, 2)) / bound
    assert peak.max() <= 1 + 1e-5 and peak.min() > 0.95  # at least 320 draws per sequence
    uniform = (delta / bound[:, None, None])[mask]  # U(-1, 1): variance 1/3
    assert abs(uniform.var().item() * 3 - 1) < 0.02  # 52k draws: relative std ~0.004
    none = torch.zeros(1, 40, dtype=torch.bool)
    assert torch.equal(embedding_noise(x[:1], alpha, mask=none, generator=gen(1)), x[:1])
    with pytest.raises(ValueError, match=r"mask must have shape \(N, L\) = \(64, 40\)"):
        embedding_noise(x, alpha, mask=mask[:, :5])


def test_embedding_noise_spares_the_protected_ids_the_embedding_receives():
    model = nn.Sequential(nn.Embedding(VOCAB, 8), nn.Linear(8, 1))
    ids = tokens((16, 12))
    ids[:, 0], ids[:, 9:] = 1, 0  # CLS, padding
    handle = inject(model, EmbeddingNoise(5.0, protected=(0, 1), seed=0))
    noisy, clean = model[0](ids), F.embedding(ids, model[0].weight)
    special = ids <= 1
    assert torch.equal(noisy[special], clean[special]) and bool((noisy[~special] != clean[~special]).all())
    handle.remove()
    assert not model[0]._forward_pre_hooks and not model[0]._forward_hooks
    elsewhere = nn.Sequential(nn.Embedding(VOCAB, 8), nn.LayerNorm(8))
    inject(elsewhere, ("output:1", EmbeddingNoise(5.0, protected=(0,), seed=0)))
    with pytest.raises(ConfigError, match=r"EmbeddingNoise\.protected needs the token ids: place the injector at"):
        elsewhere(ids)
    unseen = EmbeddingNoise(5.0, protected=(0,)).train()
    with pytest.raises(ConfigError, match=r"EmbeddingNoise\.protected: the injector has not seen the token ids"):
        unseen(torch.zeros(2, 3, 8))


def test_embedding_noise_with_protected_ids_from_a_run_config():
    spec = {"kind": "embedding_noise", "alpha": 5.0, "protected": [0], "seed": 0}
    model = nn.Sequential(nn.Embedding(VOCAB, 8), nn.Linear(8, 1))
    inject(model, spec)
    ids = tokens((4, 6))
    ids[:, 4:] = 0
    noisy, clean = model[0](ids), F.embedding(ids, model[0].weight)
    assert torch.equal(noisy[:, 4:], clean[:, 4:]) and bool((noisy[:, :4] != clean[:, :4]).all())


# -- temporal_dropout ------------------------------------------------------------------
@pytest.mark.parametrize("span", [1, 5])
def test_temporal_dropout_rate(span):
    x = signal((256, 3, 1000))
    out = temporal_dropout(x, 0.2, span=span, generator=gen(0))
    dropped = out == 0
    # whole steps: every channel of a step is dropped or none is
    assert torch.equal(dropped.all(1), dropped.any(1))
    # exact expectation p; 256k steps, ~51k/span independent span starts: std < 0.0025 for span 5
    assert abs(dropped[:, 0].float().mean().item() - 0.2) < 0.01
    assert torch.equal(out[~dropped], x[~dropped])


def test_temporal_dropout_spans_are_contiguous():
    span = 5
    out = temporal_dropout(signal((64, 1, 400)), 0.1, span=span, generator=gen(0))
    for row in (out[:, 0] == 0).int().tolist():
        runs, current = [], 0
        for flag in [*row, 0]:
            if flag:
                current += 1
            elif current:
                runs.append(current)
                current = 0
        interior = runs[1:-1] if row[0] else runs[:-1] if row[-1] else runs  # edge runs may be cut
        assert all(run >= span for run in interior)


def test_temporal_dropout_time_dim_1():
    x = signal((128, 200, 4))  # (N, T, F)
    out = temporal_dropout(x, 0.3, time_dim=1, generator=gen(0))
    dropped = out == 0
    assert torch.equal(dropped.all(2), dropped.any(2))
    assert abs(dropped[..., 0].float().mean().item() - 0.3) < 0.01


def test_temporal_dropout_through_inject():
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Flatten(), nn.Linear(4 * 62, 1))
    x = signal().requires_grad_()
    handle = inject(model, TemporalDropout(0.5, span=3, seed=0))
    model(x).sum().backward()
    assert model[0].weight.grad.abs().sum() > 0
    assert (x.grad == 0).any() and (x.grad != 0).any()  # dropped steps get no gradient
    handle.remove()
    assert not model._forward_pre_hooks


# -- background_noise ------------------------------------------------------------------
def measured_snr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    dims = tuple(range(1, x.ndim))
    return 10 * torch.log10(x.double().square().mean(dims) / (y.double() - x.double()).square().mean(dims))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_snr_white_noise_exact(dtype):
    x = torch.randn(16, 2, 2000, generator=gen(0), dtype=dtype) * torch.logspace(-2, 2, 16, dtype=dtype)[:, None, None]
    out = add_noise_snr(x, 7.5, generator=gen(1))
    assert (measured_snr(x, out) - 7.5).abs().max() < 0.01


def test_snr_noise_bank_exact_and_drawn_from_bank():
    bank = torch.randn(3, 1000, generator=gen(5)) * torch.tensor([[0.1], [1.0], [10.0]])
    x = torch.randn(32, 1000, generator=gen(0)) * 4
    out = add_noise_snr(x, 3.0, noise=bank, generator=gen(1))
    assert (measured_snr(x, out) - 3.0).abs().max() < 0.01
    # T_bank == T: each added noise is a positive multiple of one whole clip
    cosine = nn.functional.cosine_similarity((out - x)[:, None], bank[None], dim=-1)  # (N, K)
    assert torch.allclose(cosine.max(1).values, torch.ones(32), atol=1e-4)
    assert len(set(cosine.argmax(1).tolist())) == 3


def test_snr_noise_bank_windows_and_channels():
    bank = torch.randn(4, 5000, generator=gen(5))
    x = torch.randn(16, 2, 800, generator=gen(0))
    out = add_noise_snr(x, 0.0, noise=bank, generator=gen(1))
    assert (measured_snr(x, out) - 0.0).abs().max() < 0.01
    delta = out - x
    assert torch.allclose(delta[:, 0], delta[:, 1], atol=1e-5)  # one clip shared by the channels


def test_snr_range_and_probability():
    x = torch.randn(400, 500, generator=gen(0))
    snr = measured_snr(x, add_noise_snr(x, (5.0, 15.0), generator=gen(1)))
    assert snr.min() > 5.0 - 0.01 and snr.max() < 15.0 + 0.01 and snr.std() > 2.0  # U(5, 15): std 2.9
    out = add_noise_snr(x, 10.0, p=0.5, generator=gen(2))
    clean = (out == x).all(1)
    assert abs(clean.float().mean().item() - 0.5) < 0.1  # 400 samples: std 0.025
    assert (measured_snr(x[~clean], out[~clean]) - 10.0).abs().max() < 0.01


def test_background_noise_bank_buffer_and_inject():
    bank = torch.randn(2, 300, generator=gen(5))
    injector = BackgroundNoise(snr_db=20.0, noise=bank, seed=0)
    assert torch.equal(injector.noise, bank) and "noise" in dict(injector.named_buffers())
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Flatten(), nn.Linear(4 * 62, 1))
    x = signal()
    clean = model(x)
    handle = inject(model, injector)
    noisy = model(x)
    assert not torch.equal(noisy, clean)
    noisy.sum().backward()
    assert model[0].weight.grad.abs().sum() > 0
    handle.remove()
    assert torch.equal(model(x), clean)


# -- speed_perturb ---------------------------------------------------------------------
def sines(cycles: float, n: int = 4, length: int = 4096) -> torch.Tensor:
    t = torch.arange(length, dtype=torch.float64)
    return torch.sin(2 * math.pi * cycles * t / length).expand(n, 1, length).float()


def peak(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.rfft(x.double(), dim=-1).abs().argmax(-1).flatten()


@pytest.mark.parametrize("factor", [0.8, 0.9, 1.1, 1.25])
def test_speed_scales_frequency(factor):
    out = speed_perturb(sines(100), factor, generator=gen(0))
    assert out.shape == (4, 1, 4096)
    assert (peak(out) - 100 * factor).abs().max() <= 1  # within one FFT bin
    if factor > 1:  # sped up: the end is zero-padded
        assert (out[..., math.ceil(4095 / factor) + 1 :] == 0).all()


def test_speed_per_sample_factors():
    out = speed_perturb(sines(100, n=32), (0.85, 1.15), generator=gen(0))
    peaks = peak(out)
    assert peaks.min() >= 85 - 1 and peaks.max() <= 115 + 1
    assert len(set(peaks.tolist())) > 8  # factors differ between samples


def test_speed_identity_and_time_dim():
    x = signal((3, 2, 50)).to(torch.bfloat16)
    assert torch.equal(speed_perturb(x, 1.0, generator=gen(0)), x)
    assert torch.equal(speed_perturb(x, (0.8, 1.2), p=0.0, generator=gen(0)), x)
    features = sines(10, length=400).transpose(1, 2).expand(4, 400, 3)  # (N, T, F)
    out = speed_perturb(features, 1.25, time_dim=1, generator=gen(0))
    assert out.shape == features.shape
    assert torch.equal(out, speed_perturb(features.transpose(1, 2), 1.25, generator=gen(0)).transpose(1, 2))
    assert (peak(out[..., 0][:, None]) - 12.5).abs().max() <= 1


def test_speed_perturb_gradients():
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Flatten(), nn.Linear(4 * 62, 1))
    x = signal().requires_grad_()
    handle = inject(model, SpeedPerturb((0.9, 1.1), seed=0))
    model(x).sum().backward()
    assert model[0].weight.grad.abs().sum() > 0 and x.grad.abs().sum() > 0
    handle.remove()
    assert not model._forward_pre_hooks
