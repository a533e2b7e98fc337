"""Label flips, target noise and label smoothing: statistics, activity, config, placement."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chisquare
from torch import nn

from noisetrain.noise.base import NOISE, build_noise
from noisetrain.noise.inject import inject
from noisetrain.noise.labels import LabelNoise, LabelSmoothing, TargetNoise, flip_labels
from noisetrain.registry import ConfigError

C = 5
TRANSITION = [[0.6, 0.3, 0.1, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0], [0.2, 0.2, 0.6, 0.0, 0.0], *[[0.2] * 5] * 2]


def labels(n: int = 20_000, num_classes: int = C, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, num_classes, (n,), generator=torch.Generator().manual_seed(seed))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- flip_labels -----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["symmetric", "asymmetric"])
@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
def test_realised_flip_rate(mode: str, rate: float) -> None:
    y = labels()
    noisy, flipped = flip_labels(y, rate, num_classes=C, mode=mode, generator=gen())
    assert noisy.shape == y.shape and noisy.dtype == y.dtype
    assert torch.equal(flipped, noisy != y)
    assert abs(flipped.float().mean().item() - rate) < 0.015  # 4.6 standard errors at n = 20k


def test_symmetric_flips_go_uniformly_to_other_classes() -> None:
    y = labels()
    noisy, flipped = flip_labels(y, 0.5, num_classes=C, generator=gen())
    for cls in range(C):
        targets = noisy[flipped & (y == cls)]
        assert (targets != cls).all()
        counts = torch.bincount(targets, minlength=C)
        others = torch.cat([counts[:cls], counts[cls + 1 :]])
        assert chisquare(others.numpy()).pvalue > 1e-3


def test_asymmetric_follows_the_pairs() -> None:
    y = labels()
    noisy, flipped = flip_labels(y, 0.4, num_classes=C, mode="asymmetric", generator=gen())
    assert torch.equal(noisy[flipped], (y[flipped] + 1) % C)


@pytest.mark.parametrize("rate", [1.0, 0.5])
def test_transition_matrix_frequencies(rate: float) -> None:
    y = labels(30_000)
    noisy, _ = flip_labels(y, rate, num_classes=C, mode="asymmetric", transition=TRANSITION, generator=gen())
    expected = (1 - rate) * torch.eye(C, dtype=torch.float64) + rate * torch.tensor(TRANSITION, dtype=torch.float64)
    joint = torch.zeros(C, C, dtype=torch.float64).index_put_((y, noisy), torch.ones(len(y), dtype=torch.float64), True)
    empirical = joint / joint.sum(1, keepdim=True)
    assert (empirical - expected).abs().max() < 0.025  # about 4 standard errors with ~6000 labels per class


def test_flip_labels_keeps_integer_dtype_and_shape() -> None:
    y = labels(600).to(torch.int32).view(20, 30)
    noisy, flipped = flip_labels(y, 0.5, num_classes=C, generator=gen())
    assert noisy.dtype == torch.int32 and noisy.shape == (20, 30) and flipped.shape == (20, 30)


def test_flip_labels_bad_labels() -> None:
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        flip_labels(torch.tensor([0, 5]), 0.1, num_classes=C)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        flip_labels(torch.tensor([-1, 2]), 0.1, num_classes=C)
    with pytest.raises(ValueError, match="integer class labels"):
        flip_labels(torch.tensor([0.0, 1.0]), 0.1, num_classes=C)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        LabelNoise(0.1, C, seed=0)(None, torch.tensor([0, 5]))


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_flip_labels_bad_rate(rate: float) -> None:
    with pytest.raises(ConfigError, match="rate"):
        flip_labels(labels(10), rate, num_classes=C)


# -- LabelNoise ------------------------------------------------------------------------
def test_label_noise_rate_resampling_and_passthrough() -> None:
    n = LabelNoise(0.3, num_classes=C, seed=0)
    x, y = torch.randn(20_000, 3), labels()
    x1, y1 = n(x, y)
    x2, y2 = n(x, y)
    assert x1 is x and x2 is x
    assert abs((y1 != y).float().mean().item() - 0.3) < 0.015
    assert not torch.equal(y1, y2)  # fresh flips every batch


def test_label_noise_determinism() -> None:
    y, x = labels(1000), torch.zeros(1000, 1)
    first = LabelNoise(0.5, C, seed=1)(x, y)[1]
    assert torch.equal(first, LabelNoise(0.5, C, seed=1)(x, y)[1])
    assert not torch.equal(first, LabelNoise(0.5, C, seed=2)(x, y)[1])


def test_label_noise_transition() -> None:
    n = LabelNoise(1.0, C, mode="asymmetric", transition=TRANSITION, seed=0)
    y = torch.full((5000,), 1)
    assert torch.equal(n(torch.zeros(5000, 1), y)[1], y)  # row 1 of TRANSITION keeps class 1
    assert isinstance(n.transition, torch.Tensor) and n.transition.dtype == torch.float64
    assert "transition" in dict(n.named_buffers())  # moves with injector.to(device)


@pytest.mark.parametrize("switch", ["eval", "zero", "disabled"])
def test_label_noise_identity_when_inactive(switch: str) -> None:
    n = LabelNoise(0.0 if switch == "zero" else 0.5, C, seed=0)
    if switch == "eval":
        n.eval()
    if switch == "disabled":
        n.enabled_ = False
    x, y = torch.randn(8, 2, dtype=torch.bfloat16), labels(8)
    out = n(x, y)
    assert out[0] is x and out[1] is y


def test_label_noise_schedule() -> None:
    n = LabelNoise({"kind": "linear", "start": 0.0, "end": 0.8}, C, seed=0)
    x, y = torch.zeros(20_000, 1, dtype=torch.bfloat16), labels()
    assert n(x, y)[1] is y
    n.set_progress(1.0)
    x_out, y_out = n(x, y)
    assert x_out.dtype == torch.bfloat16
    assert abs((y_out != y).float().mean().item() - 0.8) < 0.015


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rate": 1.5}, "LabelNoise.rate"),
        ({"rate": {"kind": "linear", "start": 0.0, "end": 2.0}}, "LabelNoise.rate"),
        ({"num_classes": 1}, "LabelNoise.num_classes"),
        ({"num_classes": 2.5}, "LabelNoise.num_classes"),
        ({"mode": "pair"}, "LabelNoise.mode"),
        ({"transition": TRANSITION}, "LabelNoise.transition"),  # needs mode="asymmetric"
        ({"mode": "asymmetric", "transition": [[1.0]]}, "LabelNoise.transition"),
        ({"mode": "asymmetric", "transition": [[0.5] * 5] * 5}, "LabelNoise.transition"),
        ({"mode": "asymmetric", "transition": [[1.5, -0.5, 0, 0, 0]] * 5}, "LabelNoise.transition"),
        ({"seed": -1}, "LabelNoise.seed"),
    ],
)
def test_label_noise_bad_params(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(field)):
        LabelNoise(**{"rate": 0.2, "num_classes": C, **kwargs})


@pytest.mark.parametrize(
    "injector",
    [
        LabelNoise(0.2, 10, seed=3),
        LabelNoise({"kind": "cosine", "start": 0.4}, C, mode="asymmetric", transition=TRANSITION),
        TargetNoise({"kind": "linear", "start": 0.2, "end": 0.0}, seed=1),
        LabelSmoothing(0.1),
    ],
)
def test_round_trip_and_repr(injector: nn.Module) -> None:
    config = injector.to_config()
    assert isinstance(build_noise(config), type(injector))
    assert build_noise(config).to_config() == config
    assert config["kind"] in NOISE
    assert f"{injector.strength}=" in repr(injector)


def test_label_noise_through_inject() -> None:
    model = nn.Linear(3, C)
    handle = inject(model, LabelNoise(0.5, C, seed=0))
    assert handle.attachments[0].selector == "batch"
    x, y = torch.randn(4000, 3), labels(4000)
    x_noisy, y_noisy = handle.batch(x, y)
    assert x_noisy is x and 0.45 < (y_noisy != y).float().mean().item() < 0.55
    F.cross_entropy(model(x_noisy), y_noisy).backward()
    assert model.weight.grad is not None
    model.eval()
    assert handle.batch(x, y)[1] is y
    model.train()
    handle.remove()
    assert len(handle) == 0 and handle.batch(x, y)[1] is y
    assert not model.__dict__.get("_noisetrain_injectors")


# -- TargetNoise -----------------------------------------------------------------------
def test_target_noise_std_and_dtype() -> None:
    n = TargetNoise(0.3, seed=0)
    x, y = torch.randn(10, 2), torch.randn(100_000)
    x_out, y_out = n(x, y)
    assert x_out is x and y_out.shape == y.shape
    assert abs((y_out - y).std().item() - 0.3) < 0.006
    y16 = y.to(torch.bfloat16)
    assert n(x, y16)[1].dtype == torch.bfloat16


def test_target_noise_identity_determinism_and_errors() -> None:
    x, y = torch.zeros(3), torch.randn(1000)
    for n in (TargetNoise(0.0), TargetNoise(0.1).eval()):
        assert n(x, y)[1] is y
    assert torch.equal(TargetNoise(0.1, seed=4)(x, y)[1], TargetNoise(0.1, seed=4)(x, y)[1])
    assert not torch.equal(TargetNoise(0.1, seed=4)(x, y)[1], TargetNoise(0.1, seed=5)(x, y)[1])
    with pytest.raises(ValueError, match="floating"):
        TargetNoise(0.1)(x, labels(10))
    with pytest.raises(ConfigError, match=r"TargetNoise\.std"):
        TargetNoise(-0.1)


def test_target_noise_schedule() -> None:
    n = TargetNoise({"kind": "linear", "start": 0.0, "end": 0.5}, seed=0)
    y = torch.zeros(50_000)
    assert n(None, y)[1] is y
    n.set_progress(0.5)
    assert abs(n(None, y)[1].std().item() - 0.25) < 0.005


# -- LabelSmoothing --------------------------------------------------------------------
def test_label_smoothing_through_handle_loss() -> None:
    model = nn.Linear(4, C)
    x, y = torch.randn(32, 4), labels(32)
    handle = inject(model, LabelSmoothing(0.1))
    assert handle.attachments[0].selector == "loss"
    logits = model(x)
    loss = handle.loss(logits, y)
    assert torch.equal(loss, F.cross_entropy(logits, y, label_smoothing=0.1))
    loss.backward()
    assert model.weight.grad is not None
    model.eval()
    assert torch.equal(handle.loss(logits, y), F.cross_entropy(logits, y))
    model.train()
    handle.disable()
    assert torch.equal(handle.loss(logits, y), F.cross_entropy(logits, y))
    handle.remove()
    assert torch.equal(handle.loss(logits, y), F.cross_entropy(logits, y))


def test_label_smoothing_schedule() -> None:
    model = nn.Linear(4, C)
    logits, y = torch.randn(16, C), labels(16)
    handle = inject(model, {"kind": "label_smoothing", "eps": {"kind": "linear", "start": 0.2, "end": 0.0}})
    assert torch.allclose(handle.loss(logits, y), F.cross_entropy(logits, y, label_smoothing=0.2))
    handle.set_progress(0.5)
    assert torch.allclose(handle.loss(logits, y), F.cross_entropy(logits, y, label_smoothing=0.1))


def test_label_smoothing_errors() -> None:
    with pytest.raises(TypeError, match=r"handle\.loss"):
        LabelSmoothing(0.1)(torch.randn(2, C))
    with pytest.raises(ConfigError, match=r"LabelSmoothing\.eps"):
        LabelSmoothing(1.5)
    with pytest.raises(ConfigError, match="cannot act at 'input'"):
        inject(nn.Linear(2, 2), ("input", LabelSmoothing(0.1)))


# -- CUDA ------------------------------------------------------------------------------
@pytest.mark.cuda
def test_cuda() -> None:
    y = labels().cuda()
    assert LabelNoise(0.3, C, mode="asymmetric", transition=TRANSITION, seed=0)(None, y)[1].is_cuda
    moved = LabelNoise(1.0, C, mode="asymmetric", transition=TRANSITION, seed=0).to("cuda")
    ones = torch.ones(5000, dtype=torch.long, device="cuda")
    assert moved.transition.is_cuda and torch.equal(moved(None, ones)[1], ones)  # row 1 keeps class 1
    noisy, flipped = flip_labels(y, 0.3, num_classes=C, generator=torch.Generator("cuda").manual_seed(0))
    assert noisy.is_cuda and abs(flipped.float().mean().item() - 0.3) < 0.015
    target = TargetNoise(0.2, seed=0)(None, torch.zeros(10_000, device="cuda", dtype=torch.bfloat16))[1]
    assert target.is_cuda and target.dtype == torch.bfloat16 and abs(target.float().std().item() - 0.2) < 0.01
