"""The dropout family: formulas and statistics against torch's own dropout modules."""

import math

import pytest
import torch
from torch import nn

from noisetrain.noise.activations import (
    SELU_ALPHA,
    AlphaDropout,
    Dropout,
    GaussianDropout,
    alpha_dropout,
    dropout,
    gaussian_dropout,
)
from noisetrain.noise.base import NOISE, build_noise
from noisetrain.noise.inject import inject, mc_mode, no_noise
from noisetrain.registry import ConfigError

from testkit import tiny_cnn, tiny_mlp

INJECTORS = [Dropout, AlphaDropout, GaussianDropout]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def torch_reference(module: nn.Module, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return module.train()(x)


# -- formulas and statistics against torch -------------------------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_matches_nn_dropout(p):
    x = torch.randn(200_000, generator=gen(1)) + 1.0
    ours, ref = dropout(x, p, generator=gen()), torch_reference(nn.Dropout(p), x)
    kept = ours != 0
    assert abs((~kept).float().mean().item() - p) < 0.005  # drop rate; binomial std <= 0.0012
    torch.testing.assert_close(ours[kept], x[kept] / (1 - p), rtol=1e-6, atol=0)  # exact scaling 1/(1-p)
    assert abs(ours.mean().item() - ref.mean().item()) < 0.03  # both ~ E[x] = 1
    assert ours.var().item() == pytest.approx(ref.var().item(), rel=0.03)
    ones = torch.ones(10_000)
    torch.testing.assert_close(
        dropout(ones, p, generator=gen()).unique(), torch_reference(nn.Dropout(p), ones).unique()
    )


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_channelwise_dropout_matches_nn_dropout2d(p):
    x = torch.randn(64, 32, 6, 6, generator=gen(1)) + 1.0
    ours, ref = dropout(x, p, channelwise=True, generator=gen()), torch_reference(nn.Dropout2d(p), x)
    for out in (ours, ref):
        dropped = (out == 0).flatten(2)
        assert torch.equal(dropped.all(-1), dropped.any(-1))  # whole channels dropped, none partly
        assert abs(dropped.all(-1).float().mean().item() - p) < 0.03  # 2048 channels; std <= 0.011
    kept = ours != 0
    torch.testing.assert_close(ours[kept], x[kept] / (1 - p), rtol=1e-6, atol=0)
    assert abs(ours.mean().item() - ref.mean().item()) < 0.06
    assert ours.var().item() == pytest.approx(ref.var().item(), rel=0.06)


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_alpha_dropout_matches_nn_alpha_dropout(p):
    x = torch.randn(200_000, generator=gen(1))  # the fixed point of a SELU net: mean 0, variance 1
    ours, ref = alpha_dropout(x, p, generator=gen()), torch_reference(nn.AlphaDropout(p), x)
    for out in (ours, ref):  # moments are preserved
        assert abs(out.mean().item()) < 0.01
        assert out.var().item() == pytest.approx(1.0, abs=0.015)
    assert ours.var().item() == pytest.approx(ref.var().item(), abs=0.015)
    # the affine constants: a constant input maps to the same two values as torch's
    a = 1 / math.sqrt((1 - p) * (1 + p * SELU_ALPHA**2))
    c = torch.full((10_000,), 0.5)
    expected = torch.tensor([-a * SELU_ALPHA + a * p * SELU_ALPHA, a * 0.5 + a * p * SELU_ALPHA])
    torch.testing.assert_close(alpha_dropout(c, p, generator=gen()).unique(), expected)
    torch.testing.assert_close(torch_reference(nn.AlphaDropout(p), c).unique(), expected)


def test_channelwise_alpha_dropout_matches_nn_feature_alpha_dropout():
    x = torch.randn(64, 32, 6, 6, generator=gen(1))
    p = 0.3
    ours, ref = alpha_dropout(x, p, channelwise=True, generator=gen()), torch_reference(nn.FeatureAlphaDropout(p), x)
    drop_value = -SELU_ALPHA / math.sqrt((1 - p) * (1 + p * SELU_ALPHA**2)) * (1 - p)
    for out in (ours, ref):
        dropped = (out - drop_value).abs().flatten(2) < 1e-6
        assert torch.equal(dropped.all(-1), dropped.any(-1))
        assert abs(dropped.all(-1).float().mean().item() - p) < 0.03
    assert ours.var().item() == pytest.approx(ref.var().item(), rel=0.06)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_gaussian_dropout_has_the_moments_of_dropout(p):
    ones = torch.ones(200_000)
    out = gaussian_dropout(ones, p, generator=gen())
    assert out.mean().item() == pytest.approx(1.0, abs=0.01 * math.sqrt(p / (1 - p)) + 1e-3)
    assert out.std().item() == pytest.approx(math.sqrt(p / (1 - p)), rel=0.01)
    assert out.var().item() == pytest.approx(torch_reference(nn.Dropout(p), ones).var().item(), rel=0.03)


@pytest.mark.parametrize("channelwise", [False, True])
def test_p_one_gives_zeros_like_torch(channelwise):
    x = torch.randn(4, 3, 5, generator=gen())
    for function in (dropout, alpha_dropout):
        out = function(x, 1.0, channelwise=channelwise, generator=gen())
        assert torch.equal(out, torch.zeros_like(x))
    assert torch.equal(torch_reference(nn.AlphaDropout(1.0), x), torch.zeros_like(x))


def test_gradient_flows_through_kept_entries():
    x = torch.randn(1000, requires_grad=True, generator=gen())
    out = dropout(x, 0.3, generator=gen())
    out.sum().backward()
    torch.testing.assert_close(x.grad, (out != 0).float() / 0.7)


# -- injectors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", INJECTORS)
def test_identity_when_inactive(cls):
    x = torch.randn(8, 4)
    injector = cls(0.3, seed=0)
    assert injector(x) is not x
    assert injector.eval()(x) is x
    injector.train().enabled_ = False
    assert injector(x) is x
    assert cls(0.0, seed=0)(x) is x


@pytest.mark.parametrize("cls", INJECTORS)
def test_seeds(cls):
    x = torch.randn(16, 8)
    assert torch.equal(cls(0.3, seed=1)(x), cls(0.3, seed=1)(x))
    assert not torch.equal(cls(0.3, seed=1)(x), cls(0.3, seed=2)(x))
    injector = cls(0.3, seed=1)
    assert not torch.equal(injector(x), injector(x))  # a fresh draw each call


@pytest.mark.parametrize("cls", INJECTORS)
def test_bfloat16(cls):
    x = torch.randn(64, 8, 4, dtype=torch.bfloat16)
    out = cls(0.3, seed=0)(x)
    assert out.dtype == torch.bfloat16
    assert out.shape == x.shape


def test_bfloat16_drop_rate():
    out = Dropout(0.3, seed=0)(torch.ones(100_000, dtype=torch.bfloat16))
    assert abs((out == 0).float().mean().item() - 0.3) < 0.01


@pytest.mark.cuda
@pytest.mark.parametrize("cls", INJECTORS)
def test_cuda(cls):
    x = torch.randn(100_000, device="cuda", generator=torch.Generator("cuda").manual_seed(1))
    out = cls(0.3, seed=0)(x)
    assert out.device == x.device
    assert out.dtype == x.dtype
    assert torch.equal(out, cls(0.3, seed=0)(x))
    assert out.var().item() == pytest.approx(1.0 if cls is AlphaDropout else 1 / 0.7, rel=0.03)


@pytest.mark.parametrize("injector", [Dropout(0.2, channelwise=True, seed=3), AlphaDropout(0.1), GaussianDropout(0.4)])
def test_config_round_trip_and_repr(injector):
    config = injector.to_config()
    assert build_noise(config).to_config() == config
    assert NOISE.get(config["kind"]) is type(injector)
    assert f"p={injector.p!r}" in repr(injector)


def test_registered_kinds():
    assert (NOISE.get("dropout"), NOISE.get("alpha_dropout"), NOISE.get("gaussian_dropout")) == tuple(INJECTORS)


def test_errors():
    with pytest.raises(ConfigError, match=r"Dropout\.p must be in \[0, 1\]"):
        Dropout(1.5)
    with pytest.raises(ConfigError, match=r"AlphaDropout\.p"):
        AlphaDropout(-0.1)
    with pytest.raises(ConfigError, match=r"GaussianDropout\.p must be in \[0, 1\)"):
        GaussianDropout(1.0)
    with pytest.raises(ConfigError, match=r"Dropout\.p"):
        Dropout({"kind": "linear", "start": 0.0, "end": 2.0})
    with pytest.raises(ConfigError, match=r"p must be in"):
        dropout(torch.ones(3), 1.2)
    with pytest.raises(ValueError, match=r"\(N, C, \*\)"):
        Dropout(0.5, channelwise=True)(torch.ones(5))
    with pytest.raises(ConfigError, match="cannot act at 'weights'"):
        inject(nn.Linear(2, 2), ("weights:Linear", AlphaDropout(0.1)))


def test_schedule():
    injector = Dropout({"kind": "linear", "start": 0.0, "end": 0.5}, seed=0)
    x = torch.ones(100_000)
    assert injector(x) is x  # p = 0 at the start
    injector.set_progress(1.0)
    assert abs((injector(x) == 0).float().mean().item() - 0.5) < 0.01


# -- through inject ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "shape", "recipe"),
    [
        (tiny_mlp, (8, 6), ("output:ReLU", Dropout(0.5, seed=0))),
        (tiny_mlp, (8, 6), [AlphaDropout(0.1, seed=0), ("output:0", GaussianDropout(0.3, seed=0))]),
        (
            tiny_cnn,
            (8, 3, 5, 5),
            [("output:ReLU", Dropout(0.2, channelwise=True, seed=0)), GaussianDropout(0.2, seed=0)],
        ),
        (tiny_cnn, (8, 3, 5, 5), {"kind": "alpha_dropout", "p": 0.1, "channelwise": True, "at": "output:BatchNorm2d"}),
    ],
)
def test_through_inject(make, shape, recipe):
    model = make()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(shape)
    handle = inject(model, recipe)
    out = model.train()(x)
    out.square().sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with no_noise(model):
        clean = model(x)
    assert torch.equal(model(x), clean)  # eval: no noise
    with mc_mode(model):
        assert not torch.equal(model(x), clean)  # Monte-Carlo mode keeps the noise in eval
    handle.remove()
    after = model.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[k], before[k]) for k in before if "running" not in k and "num_batches" not in k)


def test_default_placement_is_the_input():
    model = tiny_mlp()
    handle = inject(model, Dropout(0.5))
    assert [(a.selector, a.target) for a in handle] == [("input", "")]
