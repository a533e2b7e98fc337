"""Tensor noise of noisetrain.noise.inputs: statistics, inactivity, determinism, dtypes, config, placement."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from noisetrain.noise.base import NOISE, build_noise
from noisetrain.noise.inject import inject
from noisetrain.noise.inputs import (
    Cutout,
    FeatureMask,
    GaussianNoise,
    RandomErasing,
    SaltPepperNoise,
    UniformNoise,
    cutout,
    feature_mask,
    gaussian_noise,
    random_boxes,
    random_erasing,
    salt_and_pepper,
    tensor_std,
    uniform_noise,
)
from noisetrain.registry import ConfigError

# kind -> parameters of an active injector; every one of them takes images (N, C, H, W).
SPECS = {
    "gaussian": {"std": 0.3, "clip": (0.0, 1.0)},
    "uniform": {"width": 0.5},
    "salt_pepper": {"p": 0.2, "salt": 0.3},
    "feature_mask": {"p": 0.3, "fill": "mean"},
    "cutout": {"size": 4, "fill": "noise"},
    "random_erasing": {"p": 1.0, "count": 2, "fill": "noise"},
}
KINDS = sorted(SPECS)


def make(kind: str, seed: int | None = 0, **changes: object):
    return build_noise({"kind": kind, **SPECS[kind], "seed": seed, **changes})


def images(dtype: torch.dtype = torch.float32, device: str = "cpu") -> torch.Tensor:
    return torch.rand((4, 3, 8, 8), generator=torch.Generator().manual_seed(1)).to(device=device, dtype=dtype)


def rectangular(mask: torch.Tensor) -> bool:
    """Each (H, W) mask of the batch is the outer product of its row and column extents: one box."""
    rows, cols = mask.any(dim=-1), mask.any(dim=-2)
    return torch.equal(mask, rows[..., :, None] & cols[..., None, :])


# -- statistics --------------------------------------------------------------------------------
def test_gaussian_additive_and_multiplicative_std():
    x = torch.full((200_000,), 2.0)
    additive = GaussianNoise(std=0.3, seed=0)(x) - x
    multiplicative = GaussianNoise(std=0.3, mode="multiplicative", seed=0)(x) / x - 1
    assert additive.std().item() == pytest.approx(0.3, rel=0.01)
    assert multiplicative.std().item() == pytest.approx(0.3, rel=0.01)
    assert additive.mean().abs().item() < 0.005


def test_gaussian_relative_feature_from_fit_and_from_batch():
    g = torch.Generator().manual_seed(0)
    data = torch.randn((100_000, 2), generator=g) * torch.tensor([1.0, 10.0])
    fitted = GaussianNoise(std=0.5, relative="feature", seed=0).fit(data)
    noise = fitted(torch.zeros(100_000, 2))
    torch.testing.assert_close(noise.std(dim=0), torch.tensor([0.5, 5.0]), rtol=0.02, atol=0)
    batch = GaussianNoise(std=0.5, relative="feature", seed=0)  # no fit: the batch's own feature std
    torch.testing.assert_close((batch(data) - data).std(dim=0), 0.5 * data.std(dim=0), rtol=0.02, atol=0)
    assert torch.equal(batch(data[:1]), data[:1])  # one example: std 0, no noise (it was NaN)


def test_feature_relative_noise_trains_when_the_last_batch_has_one_example():
    from noisetrain.train import fit

    from testkit import toy_data

    data = toy_data(85)  # 51 training examples: batches of 50 and 1
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    noise = [{"kind": "gaussian", "std": 0.1, "relative": "feature"}]
    result = fit(model, data, noise=noise, config={"epochs": 2, "batch_size": 50})
    assert len(data.train) == 51 and result.status == "completed", result.message


def test_gaussian_relative_tensor_and_clip():
    x = 5 * torch.randn(100_000, generator=torch.Generator().manual_seed(0))
    noise = GaussianNoise(std=0.2, relative="tensor", seed=0)(x) - x
    assert noise.std().item() == pytest.approx(0.2 * x.std().item(), rel=0.02)
    clipped = GaussianNoise(std=1.0, clip=(0, 1), seed=0)(torch.full((10_000,), 0.5))
    assert clipped.min().item() == 0.0 and clipped.max().item() == 1.0


def test_uniform_noise_range_and_std():
    x = torch.zeros(200_000)
    noise = UniformNoise(width=0.6, seed=0)(x)
    assert noise.std().item() == pytest.approx(0.6 / math.sqrt(12), rel=0.01)
    assert -0.3 <= noise.min().item() and noise.max().item() < 0.3
    assert noise.mean().abs().item() < 0.002
    assert uniform_noise(x + 0.99, 0.1, clip=(0, 1)).max().item() <= 1.0


def test_salt_and_pepper_rate_and_salt_share():
    x = torch.full((400_000,), 0.5)
    out = SaltPepperNoise(p=0.1, salt=0.3, low=-1.0, high=2.0, seed=0)(x)
    replaced = out != 0.5
    assert replaced.float().mean().item() == pytest.approx(0.1, abs=0.002)
    assert set(out[replaced].unique().tolist()) == {-1.0, 2.0}
    assert (out[replaced] == 2.0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert torch.equal(salt_and_pepper(x, 1.0, salt=1.0), torch.ones_like(x))


def test_feature_mask_zero_mean_and_no_rescaling():
    g = torch.Generator().manual_seed(0)
    x = torch.randn((50_000, 4), generator=g) + torch.arange(1.0, 5.0)
    out = FeatureMask(p=0.25, seed=0)(x)
    dropped = out != x
    assert dropped.float().mean().item() == pytest.approx(0.25, abs=0.005)
    assert torch.all(out[dropped] == 0)
    assert torch.equal(out[~dropped], x[~dropped])  # kept entries are not rescaled
    data = torch.full((10, 4), 7.0)
    fitted = FeatureMask(p=0.5, fill="mean", seed=0).fit(data)
    out = fitted(x)
    assert torch.all(out[out != x] == 7.0)
    out = feature_mask(x, 0.5, fill="mean", generator=g)  # no fit: the batch means
    means = x.mean(dim=0).expand_as(x)
    assert torch.equal(out[out != x], means[out != x])


def test_random_boxes_placement():
    g = torch.Generator().manual_seed(0)
    sides = torch.tensor([[3.0, 5.0], [8.0, 1.0], [0.0, 4.0]]).repeat(100, 1)  # (300, 2): heights, widths
    inside = random_boxes(8, 10, sides[:, 0], sides[:, 1], inside=True, generator=g)
    assert inside.shape == (300, 8, 10) and rectangular(inside)
    assert torch.equal(inside.sum(dim=(1, 2)), (sides[:, 0] * sides[:, 1]).long())  # whole boxes: never clipped
    centred = random_boxes(8, 10, sides[:, 0], sides[:, 1], generator=g)
    assert rectangular(centred)
    assert torch.all(centred.sum(dim=(1, 2)) <= (sides[:, 0] * sides[:, 1]).long())
    assert (centred.sum(dim=(1, 2)) < (sides[:, 0] * sides[:, 1]).long()).any()  # clipped at the borders
    assert len({tuple(m.nonzero()[0].tolist()) for m in inside[:100:3]}) > 10  # boxes differ per sample


def test_cutout_erased_fraction_matches_expected_area():
    size, side = 8, 32
    # the square's extent along one axis, for each centre pixel c: [c - 4, c + 4) clipped to [0, 32)
    extent = sum(min(c + size // 2, side) - max(c - size // 2, 0) for c in range(side)) / side
    expected = (extent / side) ** 2
    x = torch.ones(4000, 2, side, side)
    out = Cutout(size=size, seed=0)(x)
    erased = out == 0
    assert torch.equal(erased[:, 0], erased[:, 1])  # the same box on all channels
    assert erased.float().mean().item() == pytest.approx(expected, rel=0.02)
    assert rectangular(erased[:, 0]) and erased[:, 0].sum(dim=(1, 2)).max().item() <= size**2
    assert not torch.equal(erased[0], erased[1])
    several = cutout(x[:500], 4, count=3, generator=torch.Generator().manual_seed(0)) == 0
    assert several.sum(dim=(2, 3)).float().mean().item() > 16  # more than one square


def test_random_erasing_area_probability_and_fill():
    x = torch.ones(4000, 1, 32, 32)
    out = RandomErasing(p=1.0, area=(0.1, 0.2), aspect=(0.5, 2.0), seed=0)(x)
    erased = out[:, 0] == 0
    assert rectangular(erased)
    assert erased.float().mean().item() == pytest.approx(0.15, abs=0.005)  # E[U(0.1, 0.2)], boxes never cut
    height, width = erased.any(dim=2).sum(dim=1).float(), erased.any(dim=1).sum(dim=1).float()
    log_ratio = (height / width).log()
    assert log_ratio.mean().abs().item() < 0.05 and log_ratio.abs().max().item() <= math.log(2.0) + 0.3
    half = random_erasing(x, p=0.5, generator=torch.Generator().manual_seed(0))
    assert (half == 0).flatten(1).any(dim=1).float().mean().item() == pytest.approx(0.5, abs=0.03)
    g = torch.Generator().manual_seed(1)
    noisy = random_erasing(x[:200], area=(0.3, 0.3), aspect=(1.0, 1.0), fill="noise", generator=g)
    values = noisy[noisy != 1]
    assert values.mean().abs().item() < 0.05 and values.std().item() == pytest.approx(1.0, abs=0.05)


# -- shared behaviour of every injector ----------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_registered_with_positions(kind):
    injector = make(kind)
    assert NOISE.get(kind) is type(injector)
    assert injector.positions >= {"input", "output"} and injector.default_at == "input"


@pytest.mark.parametrize("kind", KINDS)
def test_identity_when_inactive(kind):
    x = images()
    injector = make(kind)
    assert injector(x) is not x and not torch.equal(injector(x), x)
    assert make(kind).eval()(x) is x
    assert make(kind, **{injector.strength: 0})(x) is x
    off = make(kind)
    off.enabled_ = False
    assert off(x) is x


@pytest.mark.parametrize("kind", KINDS)
def test_determinism(kind):
    x = images()
    assert torch.equal(make(kind, seed=3)(x), make(kind, seed=3)(x))
    assert not torch.equal(make(kind, seed=3)(x), make(kind, seed=4)(x))
    torch.manual_seed(0)
    first = make(kind, seed=None)(x)
    torch.manual_seed(0)
    assert torch.equal(first, make(kind, seed=None)(x))


@pytest.mark.parametrize("kind", KINDS)
def test_bfloat16(kind):
    x = images(torch.bfloat16)
    out = make(kind)(x)
    assert out.dtype == torch.bfloat16 and out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.cuda
@pytest.mark.parametrize("kind", KINDS)
def test_cuda(kind):
    x = images(torch.bfloat16, "cuda")
    out = make(kind)(x)
    assert out.device == x.device and out.dtype == x.dtype and not torch.equal(out, x)
    assert torch.equal(out, make(kind)(x))


@pytest.mark.cuda
def test_cuda_input_with_statistics_fitted_on_cpu():
    data = torch.rand(100, 3, 8, 8, generator=torch.Generator().manual_seed(0))  # fit() keeps data's device
    x = images(device="cuda")
    for injector in (GaussianNoise(std=0.5, relative="feature", seed=0), FeatureMask(p=0.5, fill="mean", seed=0)):
        out = injector.fit(data)(x)
        assert out.device == x.device and not torch.equal(out, x)


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip_and_repr(kind):
    injector = make(kind)
    config = injector.to_config()
    assert build_noise(config).to_config() == config
    assert f"{injector.strength}=" in repr(injector)
    scheduled = make(kind, **{injector.strength: {"kind": "linear", "start": 0.0, "end": 1.0}})
    assert build_noise(scheduled.to_config()).to_config() == scheduled.to_config()


@pytest.mark.parametrize("kind", KINDS)
def test_schedule_drives_strength(kind):
    strength = make(kind).strength
    injector = make(kind, **{strength: {"kind": "linear", "start": 0.0, "end": SPECS[kind][strength]}})
    x = images()
    assert injector.current(strength) == 0 and injector(x) is x
    injector.set_progress(1.0)
    assert injector.current(strength) == SPECS[kind][strength]
    assert not torch.equal(injector(x), x)


@pytest.mark.parametrize("kind", KINDS)
def test_inject_on_tiny_model(kind):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    handle = inject(model, [make(kind), ("output:Conv2d", make(kind, seed=1))])
    assert len(handle) == 2
    x = images()
    noisy = model(x)
    noisy.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.eval()
    clean = model(x)
    handle.remove()
    assert torch.equal(model(x), clean) and not torch.equal(noisy, clean)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not model._forward_pre_hooks and not model[0]._forward_hooks


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"kind": "gaussian", "std": -1}, "GaussianNoise.std"),
        ({"kind": "gaussian", "clip": (1, 0)}, "GaussianNoise.clip"),
        ({"kind": "gaussian", "mode": "speckle"}, "GaussianNoise.mode"),
        ({"kind": "uniform", "width": -0.1}, "UniformNoise.width"),
        ({"kind": "uniform", "clip": (0,)}, "UniformNoise.clip"),
        ({"kind": "salt_pepper", "p": 1.5}, "SaltPepperNoise.p"),
        ({"kind": "salt_pepper", "salt": {"kind": "linear", "start": 0.5, "end": 2}}, "SaltPepperNoise.salt"),
        ({"kind": "feature_mask", "fill": "median"}, "FeatureMask.fill"),
        ({"kind": "feature_mask", "p": -0.1}, "FeatureMask.p"),
        ({"kind": "cutout", "size": -2}, "Cutout.size"),
        ({"kind": "cutout", "count": 0}, "Cutout.count"),
        ({"kind": "cutout", "fill": "blue"}, "Cutout.fill"),
        ({"kind": "random_erasing", "area": (0.5, 0.2)}, "RandomErasing.area"),
        ({"kind": "random_erasing", "aspect": (0.0, 1.0)}, "RandomErasing.aspect"),
        ({"kind": "random_erasing", "count": 1.5}, "RandomErasing.count"),
    ],
)
def test_bad_parameters(spec, field):
    with pytest.raises(ConfigError, match=field):
        build_noise(spec)


def test_bad_function_arguments_and_shapes():
    x = torch.zeros(4, 3, 8, 8)
    with pytest.raises(ConfigError, match="width"):
        uniform_noise(x, -1)
    with pytest.raises(ConfigError, match="salt"):
        salt_and_pepper(x, 0.1, salt=1.2)
    with pytest.raises(ConfigError, match="fill"):
        feature_mask(x, 0.1, fill="median")
    with pytest.raises(ConfigError, match="area"):
        random_erasing(x, area=(0.2, 1.5))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        cutout(torch.zeros(4, 8), 2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        Cutout(size=2)(torch.zeros(3, 8, 8))


@pytest.mark.filterwarnings(r"ignore:std\(\)")
@pytest.mark.parametrize("shape", [(7, 9), (300, 300), (64, 32, 3, 3)])
@pytest.mark.parametrize("mean", [0.0, 5.0, 10.0, 1000.0])
def test_tensor_std_is_torch_std_to_rounding(shape, mean):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 0.03 + mean * 0.03
    x.requires_grad_()
    std = tensor_std(x)
    assert not std.requires_grad and std.item() == pytest.approx(x.detach().double().std().item(), rel=2e-5)
    assert math.isnan(tensor_std(torch.ones(1)).item())  # one value has no std, as torch says


def test_the_functions_refuse_an_empty_or_reversed_clip_and_salt_below_pepper():
    """``gaussian_noise(x, 0.1, clip=(1, 0))`` clamped everything to one value; the injectors checked, the functions
    did not."""
    x = torch.rand(4, 3)
    with pytest.raises(ConfigError, match=r"clip must be \(low, high\) with low < high, got \(1, 0\)"):
        gaussian_noise(x, 0.1, clip=(1, 0))
    with pytest.raises(ConfigError, match=r"clip must be \(low, high\) with low < high, got \(0.5, 0.5\)"):
        uniform_noise(x, 0.1, clip=(0.5, 0.5))
    with pytest.raises(ConfigError, match=r"SaltPepperNoise.low/high must be \(low, high\) with low <= high"):
        NOISE.build({"kind": "salt_pepper", "low": 1.0, "high": 0.0})


def test_a_bool_is_no_pepper_value():
    """``low: true`` was pepper 1.0: the range check counted a bool as a number."""
    with pytest.raises(ConfigError, match=r"SaltPepperNoise.low/high must be a number, got True"):
        NOISE.build({"kind": "salt_pepper", "low": True})


def test_real_noise_on_integers_is_named_with_what_to_do_instead():
    """Torch said '"normal_kernel_cpu" not implemented for 'Long'' where noise reached token ids."""
    with pytest.raises(ConfigError, match=r"gaussian noise adds real values to a floating tensor, got torch.int64 "
                                          r"\(token ids\? use token_mask on them, or put the noise at "
                                          r"output:Embedding\)"):  # fmt: skip
        gaussian_noise(torch.arange(4), 0.1)
    with pytest.raises(ConfigError, match=r"uniform noise adds real values to a floating tensor, got torch.uint8"):
        uniform_noise(torch.zeros(4, dtype=torch.uint8), 0.1)
