"""``lean_step``: the update of ``optimizer.step()`` through torch's functional optimisers, bit for bit; and the
multi-tensor kernels that ``build_optimizer`` picks: the update of torch's per-tensor default, bit for bit."""

import inspect

import pytest
import torch

from noisetrain.config import OptimizerConfig
from noisetrain.train.optim import build_optimizer, lean_step

OPTIMIZERS = [
    (torch.optim.SGD, {"lr": 0.1}),
    (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "fused": True}),
    (torch.optim.Adam, {"lr": 0.01, "fused": True}),
    (torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    (torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1, "fused": True}),
    (torch.optim.AdamW, {"lr": 0.01, "betas": (0.8, 0.9), "maximize": True, "foreach": True}),
]


def parameters(seed: int) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, generator=generator)) for shape in ((3, 7, 4), (3, 7), (3, 1, 7))]


@pytest.mark.parametrize(("kind", "settings"), OPTIMIZERS, ids=lambda value: getattr(value, "__name__", str(value)))
def test_lean_step_updates_parameters_and_state_as_step_does(kind, settings):
    plain, lean = parameters(0), parameters(0)
    reference, optimizer = kind(plain, **settings), kind(lean, **settings)
    schedules = [torch.optim.lr_scheduler.LambdaLR(o, lambda step: 1 / (1 + step)) for o in (reference, optimizer)]
    step = lean_step(optimizer)
    generator = torch.Generator().manual_seed(1)
    for round in range(6):
        for a, b in zip(plain, lean, strict=True):
            a.grad = torch.randn(a.shape, generator=generator)
            b.grad = a.grad.clone()
        if round == 3:  # the state replaced between calls (as a batched group drops members) is read anew
            for param in lean:
                optimizer.state[param] = {key: value.clone() for key, value in optimizer.state[param].items()}
        if round == 4:  # so are the group and the state that load_state_dict puts in place (fit's resume)
            optimizer.load_state_dict(optimizer.state_dict())
        reference.step()
        step()
        for schedule in schedules:
            schedule.step()
    assert not any(torch.equal(a, b) for a, b in zip(lean, parameters(0), strict=True))  # they moved
    for a, b in zip(plain, lean, strict=True):
        assert torch.equal(a, b)
        for key, value in reference.state[a].items():
            assert torch.equal(value, optimizer.state[b][key]), key


def test_lean_step_refuses_what_it_does_not_update():
    params = parameters(0)
    with pytest.raises(TypeError, match="SGD, Adam or AdamW, got RMSprop"):
        lean_step(torch.optim.RMSprop(params))
    with pytest.raises(ValueError, match="one parameter group, got 2"):
        lean_step(torch.optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1))


@pytest.mark.parametrize(
    "settings",
    [
        {"kind": "sgd", "lr": 0.1},
        {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
        {"kind": "adam", "lr": 0.01, "weight_decay": 0.1},
        {"kind": "adamw", "lr": 0.01, "weight_decay": 0.1},
    ],
    ids=lambda settings: "-".join(map(str, settings.values())),
)
def test_built_optimizers_update_as_torchs_per_tensor_default(settings):
    built, default = parameters(0), parameters(0)
    optimizer = build_optimizer(OptimizerConfig(**settings), built, seed=0)
    accepted = inspect.signature(type(optimizer)).parameters
    options = {key: value for key, value in optimizer.defaults.items() if key in accepted}
    reference = type(optimizer)(default, **{**options, "foreach": None})  # torch's default kernel
    assert optimizer.param_groups[0]["foreach"] and not reference.param_groups[0]["foreach"]
    generator = torch.Generator().manual_seed(1)
    for _ in range(6):
        for a, b in zip(default, built, strict=True):
            a.grad = torch.randn(a.shape, generator=generator)
            b.grad = a.grad.clone()
        reference.step()
        optimizer.step()
    assert not torch.equal(built[0], parameters(0)[0])
    for a, b in zip(default, built, strict=True):
        assert torch.equal(a, b)
