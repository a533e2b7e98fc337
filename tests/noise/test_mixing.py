"""Batch mixing of noisetrain.noise.mixing: mixup, CutMix, soft targets and the Beta sampler."""

from __future__ import annotations

import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from torch import nn

from noisetrain.noise.base import NOISE, build_noise
from noisetrain.noise.inject import inject
from noisetrain.noise.mixing import CutMix, Mixup, cutmix, mixup, sample_beta, soft_targets
from noisetrain.registry import ConfigError

CLASSES = 5
KINDS = ["cutmix", "mixup"]


def batch(dtype: torch.dtype = torch.float32, device: str = "cpu", n: int = 8):
    g = torch.Generator().manual_seed(1)
    x = torch.rand((n, 3, 8, 8), generator=g).to(device=device, dtype=dtype)
    return x, torch.randint(0, CLASSES, (n,), generator=g).to(device)


def make(kind: str, seed: int | None = 0, **changes: object):
    return build_noise({"kind": kind, "alpha": 1.0, "num_classes": CLASSES, "seed": seed, **changes})


def label_images(y: torch.Tensor, size: int = 8) -> torch.Tensor:
    """Images whose channel c is 1 where the label is c: pixel means of a mix are its class weights."""
    return F.one_hot(y, CLASSES).float()[:, :, None, None].expand(-1, -1, size, size).clone()


# -- soft targets and the Beta sampler -----------------------------------------------------------
def test_soft_targets():
    assert torch.equal(soft_targets(torch.tensor([0, 2]), 3), torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
    soft = torch.full((2, 3), 1 / 3)
    assert soft_targets(soft) is soft and soft_targets(soft, 3) is soft


@pytest.mark.parametrize("alpha", [0.05, 0.2, 1.0, 4.0])
def test_sample_beta_matches_scipy(alpha):
    samples = sample_beta(alpha, (60_000,), generator=torch.Generator().manual_seed(0)).double()
    reference = scipy.stats.beta(alpha, alpha)
    assert samples.min() >= 0 and samples.max() <= 1
    assert samples.mean().item() == pytest.approx(reference.mean(), abs=0.006)
    assert samples.var().item() == pytest.approx(reference.var(), rel=0.02)
    # CDF at quantiles of the lower half (float32 cannot resolve values within 1e-7 of 1; the law is symmetric)
    levels = torch.tensor([0.02, 0.1, 0.25, 0.4], dtype=torch.float64)
    quantiles = torch.from_numpy(reference.ppf(levels.numpy()))
    ecdf = (samples[:, None] <= quantiles).double().mean(dim=0)
    torch.testing.assert_close(ecdf, levels, atol=0.008, rtol=0)


def test_sample_beta_seeded():
    def draw(seed):
        return sample_beta(0.4, (5,), generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(0), draw(0)) and not torch.equal(draw(0), draw(1))
    assert sample_beta(0.4).shape == ()


# -- mixing weights ------------------------------------------------------------------------------
def test_mixup_function_is_exact_convex_combination():
    x, y = batch()
    soft = soft_targets(y, CLASSES)
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(0))
    lam = torch.tensor(0.3)
    x_mix, y_mix = mixup(x, soft, lam, perm)
    assert torch.equal(x_mix, lam * x + (1 - lam) * x[perm])
    assert torch.equal(y_mix, lam * soft + (1 - lam) * soft[perm])
    torch.testing.assert_close(y_mix.sum(dim=1), torch.ones(8))


def test_mixup_weights_of_x_and_y_agree():
    y = torch.arange(64) % CLASSES
    x = F.one_hot(y, CLASSES).float()  # mixing x must give exactly the mixed targets
    x_mix, y_mix = Mixup(alpha=0.4, num_classes=CLASSES, seed=0)(x, y)
    assert torch.equal(x_mix, y_mix)
    torch.testing.assert_close(y_mix.sum(dim=1), torch.ones(64))
    assert (y_mix.max(dim=1).values < 1).any()  # something was mixed


def test_cutmix_target_weight_is_pasted_fraction():
    y = torch.arange(32) % CLASSES
    x = label_images(y, 16)
    for seed in range(5):
        x_mix, y_mix = CutMix(alpha=1.0, num_classes=CLASSES, seed=seed)(x, y)
        torch.testing.assert_close(x_mix.mean(dim=(2, 3)), y_mix, atol=1e-6, rtol=0)
        torch.testing.assert_close(y_mix.sum(dim=1), torch.ones(32))
        changed = (x_mix != x).any(dim=1)  # one box per batch: pasted wherever the paired label differs
        box = changed.any(dim=0)
        assert box.any() and all(torch.equal(c, box) or not c.any() for c in changed)


def test_cutmix_function_corrects_lambda_to_the_box():
    x = torch.arange(4.0)[:, None, None, None].expand(4, 1, 10, 10).clone()  # image i is constant i
    soft = soft_targets(torch.arange(4), 4)
    perm = torch.tensor([1, 2, 3, 0])
    g = torch.Generator().manual_seed(0)
    fractions = []
    for _ in range(50):
        x_mix, y_mix = cutmix(x, soft, 0.75, perm, generator=g)
        pasted = (x_mix == x[perm]).float().mean(dim=(1, 2, 3))
        torch.testing.assert_close(y_mix[torch.arange(4), perm], pasted)
        torch.testing.assert_close(y_mix[torch.arange(4), torch.arange(4)], 1 - pasted)
        fractions.append(pasted[0].item())
    assert max(fractions) == pytest.approx(0.25)  # 5 x 5 box when it is not clipped
    assert min(fractions) < 0.25  # clipped at a border


def test_chained_injectors_keep_soft_targets():
    x, y = batch(n=16)
    x1, y1 = Mixup(alpha=1.0, num_classes=CLASSES, seed=0)(x, y)
    x2, y2 = CutMix(alpha=1.0, seed=1)(x1, y1)  # soft targets need no num_classes
    assert x2.shape == x.shape and y2.shape == (16, CLASSES)
    torch.testing.assert_close(y2.sum(dim=1), torch.ones(16))


# -- shared behaviour -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_registered_at_batch(kind):
    injector = make(kind)
    assert NOISE.get(kind) is type(injector)
    assert injector.positions == {"batch"} and injector.default_at == "batch" and injector.strength == "alpha"


@pytest.mark.parametrize("kind", KINDS)
def test_identity_when_inactive(kind):
    x, y = batch()
    x_mix, _ = make(kind)(x, y)
    assert not torch.equal(x_mix, x)
    for injector in (make(kind).eval(), make(kind, alpha=0)):
        out = injector(x, y)
        assert out[0] is x and out[1] is y
    off = make(kind)
    off.enabled_ = False
    out = off(x, y)
    assert out[0] is x and out[1] is y


@pytest.mark.parametrize("kind", KINDS)
def test_determinism(kind):
    x, y = batch()
    first, again, other = make(kind, seed=2)(x, y), make(kind, seed=2)(x, y), make(kind, seed=3)(x, y)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


@pytest.mark.parametrize("kind", KINDS)
def test_bfloat16(kind):
    x, y = batch(torch.bfloat16)
    x_mix, y_mix = make(kind)(x, y)
    assert x_mix.dtype == torch.bfloat16 and x_mix.shape == x.shape
    assert y_mix.dtype == torch.float32 and y_mix.shape == (8, CLASSES)


@pytest.mark.cuda
@pytest.mark.parametrize("kind", KINDS)
def test_cuda(kind):
    x, y = batch(torch.bfloat16, "cuda")
    x_mix, y_mix = make(kind)(x, y)
    assert x_mix.device == x.device and y_mix.device == x.device and x_mix.dtype == x.dtype
    assert torch.equal(x_mix, make(kind)(x, y)[0])
    torch.testing.assert_close(y_mix.sum(dim=1), torch.ones(8, device="cuda"))


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip_and_repr(kind):
    injector = make(kind, alpha={"kind": "linear", "start": 0.0, "end": 0.4})
    config = injector.to_config()
    assert config == {
        "kind": kind,
        "alpha": {"kind": "linear", "start": 0.0, "end": 0.4},
        "num_classes": CLASSES,
        "seed": 0,
    }
    assert build_noise(config).to_config() == config
    assert "alpha=Linear" in repr(injector) and f"num_classes={CLASSES}" in repr(injector)


@pytest.mark.parametrize("kind", KINDS)
def test_schedule_drives_alpha(kind):
    injector = make(kind, alpha={"kind": "linear", "start": 0.0, "end": 1.0})
    x, y = batch()
    assert injector(x, y)[0] is x
    injector.set_progress(0.5)
    assert injector.current("alpha") == 0.5 and not torch.equal(injector(x, y)[0], x)


@pytest.mark.parametrize("kind", KINDS)
def test_inject_batch_and_loss(kind):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, CLASSES))
    handle = inject(model, make(kind))
    assert [a.selector for a in handle] == ["batch"]
    x, y = batch()
    x_mix, y_mix = handle.batch(x, y)
    assert y_mix.shape == (8, CLASSES)
    loss = handle.loss(model(x_mix), y_mix)
    torch.testing.assert_close(loss, F.cross_entropy(model(x_mix), y_mix))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.eval()
    assert handle.batch(x, y)[0] is x
    handle.remove()
    assert len(handle) == 0 and not hasattr(model, "_noisetrain_injectors")


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_bad_parameters(kind):
    name = type(make(kind)).__name__
    with pytest.raises(ConfigError, match=f"{name}.alpha"):
        make(kind, alpha=-0.5)
    with pytest.raises(ConfigError, match=rf"{name}.num_classes must be in \[2, inf\), got 1"):
        make(kind, num_classes=1)
    with pytest.raises(ConfigError, match=f"{name}.num_classes"):
        make(kind, num_classes=2.5)
    with pytest.raises(ConfigError, match="alpha"):
        sample_beta(0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_targets(kind):
    x, y = batch()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 5\)"):
        make(kind)(x, y + CLASSES)
    with pytest.raises(ValueError, match="num_classes"):
        make(kind, num_classes=None)(x, y)
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        make(kind)(x, y[:, None])
    with pytest.raises(ValueError, match=r"shape \(N, 5\)"):
        make(kind)(x, torch.rand(8, CLASSES + 1))
    with pytest.raises(ValueError, match=r"shape \(8, C\)"):
        make(kind)(x, y[:6])


def test_cutmix_needs_images():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        CutMix(num_classes=CLASSES, seed=0)(torch.rand(8, 10), torch.zeros(8, dtype=torch.long))
