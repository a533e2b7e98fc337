"""Annealed gradient noise and SGLD: noise scales, activity, config, binding, stationary law."""

from __future__ import annotations

import copy
import math
import re

import pytest
import torch
from torch import nn

from noisetrain.noise.base import build_noise
from noisetrain.noise.gradients import SGLD, GradientNoise, gradient_noise
from noisetrain.noise.inject import inject
from noisetrain.registry import ConfigError


def zero_grad_param(n: int = 200_000, dtype: torch.dtype = torch.float32) -> nn.Parameter:
    p = nn.Parameter(torch.zeros(n, dtype=dtype))
    p.grad = torch.zeros_like(p)
    return p


# -- gradient_noise / GradientNoise ---------------------------------------------------------
@pytest.mark.parametrize("step", [0, 100])
def test_gradient_noise_variance(step: int) -> None:
    p, skipped = zero_grad_param(), nn.Parameter(torch.zeros(3))
    gradient_noise([p, skipped], 0.3, gamma=0.55, step=step, generator=torch.Generator().manual_seed(0))
    assert skipped.grad is None
    target = 0.3 / (1 + step) ** 0.55
    assert abs(p.grad.var().item() / target - 1) < 0.02  # standard error 0.3% at n = 200k


@pytest.mark.parametrize("step", [0, 100])
def test_gradient_noise_injector_variance_and_step_count(step: int) -> None:
    n = GradientNoise(eta=1.0, seed=0)
    n.step_ = step
    p = zero_grad_param()
    grad = p.grad
    n([p])
    assert p.grad is grad  # in place
    assert abs(p.grad.var().item() / (1.0 / (1 + step) ** 0.55) - 1) < 0.02
    assert n.step_ == step + 1
    assert "step_" not in n.to_config()


@pytest.mark.parametrize("switch", ["eval", "zero", "disabled"])
def test_identity_when_inactive(switch: str) -> None:
    n = GradientNoise(eta=0.0 if switch == "zero" else 0.3, seed=0)
    if switch == "eval":
        n.eval()
    if switch == "disabled":
        n.enabled_ = False
    p = nn.Parameter(torch.randn(100))
    p.grad = torch.randn(100)
    grad, before = p.grad, p.grad.clone()
    n([p])
    assert p.grad is grad and torch.equal(p.grad, before)
    assert n.step_ == 1  # steps count while inactive too


def test_determinism_and_bfloat16() -> None:
    def noise(seed: int) -> torch.Tensor:
        p = zero_grad_param(1000, torch.bfloat16)
        GradientNoise(0.3, seed=seed)([p])
        return p.grad

    assert noise(0).dtype == torch.bfloat16
    assert torch.equal(noise(0), noise(0))
    assert not torch.equal(noise(0), noise(1))


def test_schedule_on_eta() -> None:
    n = GradientNoise({"kind": "linear", "start": 0.0, "end": 0.5}, gamma=0.0, seed=0)
    p = zero_grad_param()
    n([p])
    assert torch.equal(p.grad, torch.zeros_like(p))
    n.set_progress(1.0)
    n([p])
    assert abs(p.grad.var().item() / 0.5 - 1) < 0.02


def test_round_trip_repr_and_errors() -> None:
    n = GradientNoise({"kind": "anneal", "start": 1.0}, gamma=0.0, seed=2)
    config = n.to_config()
    assert config["kind"] == "gradient_noise" and build_noise(config).to_config() == config
    assert "eta=" in repr(n) and "gamma=0.0" in repr(n)
    with pytest.raises(ConfigError, match=r"GradientNoise\.eta"):
        GradientNoise(-0.1)
    with pytest.raises(ConfigError, match=r"GradientNoise\.gamma"):
        GradientNoise(0.1, gamma=-1.0)
    with pytest.raises(ConfigError, match="eta"):
        gradient_noise([], -1.0)


def test_sgd_step_through_inject() -> None:
    torch.manual_seed(0)
    model = nn.Linear(100, 100)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    handle = inject(model, GradientNoise(eta=0.3, seed=0), optimizer=opt)
    assert handle.attachments[0].selector == "gradients"
    attached = handle.injectors("gradients")[0]

    def step() -> torch.Tensor:
        """(clean SGD step - actual step) / lr, i.e. the noise added to the gradients."""
        opt.zero_grad()
        model(torch.randn(64, 100)).square().mean().backward()
        clean = [p.detach() - 0.1 * p.grad for p in model.parameters()]
        opt.step()
        return torch.cat([(c - p.detach()).flatten() / 0.1 for c, p in zip(clean, model.parameters(), strict=True)])

    assert abs(step().var().item() / 0.3 - 1) < 0.05  # standard error 1.4% with 10100 parameters
    attached.step_ = 100
    assert abs(step().var().item() / (0.3 / 101**0.55) - 1) < 0.05
    model.eval()
    assert step().abs().max().item() < 1e-6
    model.train()
    handle.disable()
    assert step().abs().max().item() < 1e-6
    handle.enable()
    handle.remove()
    assert step().abs().max().item() < 1e-6
    assert not opt._optimizer_step_pre_hooks


@pytest.mark.cuda
def test_cuda() -> None:
    p = nn.Parameter(torch.zeros(100_000, device="cuda", dtype=torch.bfloat16))
    p.grad = torch.zeros_like(p)
    GradientNoise(0.3, seed=0)([p])
    assert p.grad.is_cuda and p.grad.dtype == torch.bfloat16
    assert abs(p.grad.float().var().item() / 0.3 - 1) < 0.05
    q = nn.Parameter(torch.zeros(100_000, device="cuda"))
    q.grad = torch.zeros_like(q)
    SGLD([q], lr=0.01, seed=0).step()
    assert abs(q.detach().var().item() / 0.02 - 1) < 0.05


# -- SGLD ------------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [1.0, 0.25])
def test_sgld_displacement_with_zero_gradient(temperature: float) -> None:
    p = nn.Parameter(torch.zeros(200_000))
    opt = SGLD([p], lr=0.01, temperature=temperature, seed=0)
    (p * 0).sum().backward()  # constant loss: zero gradient
    opt.step()
    assert abs(p.detach().var().item() / (2 * 0.01 * temperature) - 1) < 0.02


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sgld_stationary_variance_on_quadratic(temperature: float) -> None:
    """U(theta) = theta^2 / (2 s^2): exp(-U/T) has variance T s^2. 10000 independent chains (U is separable),
    lr = 0.01 s^2, 1500 burn-in steps (300 relaxation times), variance pooled over 500 more steps.
    The discrete chain's exact variance is T s^2 / (1 - lr / (2 s^2)), 0.5% above; tolerance 4%."""
    s = 0.5
    theta = nn.Parameter(torch.zeros(10_000))
    opt = SGLD([theta], lr=0.01 * s**2, temperature=temperature, seed=0)
    variances = []
    for i in range(2000):
        opt.zero_grad()
        (theta.square().sum() / (2 * s**2)).backward()
        opt.step()
        if i >= 1500:
            variances.append(theta.detach().square().mean())
    assert abs(torch.stack(variances).mean().item() / (temperature * s**2) - 1) < 0.04


def test_sgld_temperature_zero_is_sgd() -> None:
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    twin = nn.Linear(5, 3)
    twin.load_state_dict(model.state_dict())
    sgld = SGLD(model.parameters(), lr=0.1, temperature=0.0, weight_decay=0.01)
    sgd = torch.optim.SGD(twin.parameters(), lr=0.1, weight_decay=0.01)
    for _ in range(5):
        x = torch.randn(8, 5)
        for m, opt in ((model, sgld), (twin, sgd)):
            opt.zero_grad()
            m(x).square().mean().backward()
            opt.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)


def test_sgld_determinism_and_untouched_params() -> None:
    def run(seed: int) -> torch.Tensor:
        p, frozen = nn.Parameter(torch.ones(100)), nn.Parameter(torch.ones(4))
        opt = SGLD([p, frozen], lr=0.01, seed=seed)
        for _ in range(3):
            opt.zero_grad()
            p.square().sum().backward()
            opt.step()
        assert torch.equal(frozen, torch.ones(4))  # no gradient, no step, no noise
        return p.detach()

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))


def test_sgld_closure_returns_loss() -> None:
    p = nn.Parameter(torch.ones(3))
    opt = SGLD([p], lr=0.1, seed=0)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = p.sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 3.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lr": 0.0}, "SGLD.lr"),
        ({"lr": -1.0}, "SGLD.lr"),
        ({"lr": math.nan}, "SGLD.lr"),
        ({"temperature": -0.5}, "SGLD.temperature"),
        ({"weight_decay": -1e-4}, "SGLD.weight_decay"),
        ({"seed": 1.5}, "SGLD.seed"),
    ],
)
def test_sgld_bad_params(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(field)):
        SGLD([nn.Parameter(torch.zeros(1))], **{"lr": 0.1, **kwargs})


def test_sgld_copy_keeps_seed_and_stream() -> None:
    p = nn.Parameter(torch.zeros(10))
    p.grad = torch.zeros(10)
    opt = SGLD([p], lr=0.1, seed=0)
    opt.step()
    twin = copy.deepcopy(opt)
    assert twin.seed == 0
    assert torch.equal(twin.generators_("cpu").get_state(), opt.generators_("cpu").get_state())


def test_sgld_state_dict_restores_the_noise_stream() -> None:
    p = nn.Parameter(torch.zeros(100))
    opt = SGLD([p], lr=0.01, seed=4)
    p.grad = torch.zeros(100)
    opt.step()
    state = copy.deepcopy(opt.state_dict())
    before = p.detach().clone()
    opt.step()
    expected = p.detach() - before
    with torch.no_grad():
        p.copy_(before)
    opt.load_state_dict(state)
    opt.step()
    assert torch.equal(p.detach() - before, expected)
