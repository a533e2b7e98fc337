import itertools

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from noisetrain.attacks import FGSM, PGD
from noisetrain.registry import ConfigError


@pytest.fixture(scope="module")
def digits() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small MLP trained for about a second on sklearn's 8x8 digits in [0, 1]; a held-out batch of 300."""
    images, labels = load_digits(return_X_y=True)
    x = torch.tensor(images / 16.0, dtype=torch.float32)
    y = torch.tensor(labels)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train, test = order[:-300], order[-300:]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[train]), y[train]).backward()
        optimizer.step()
    model.eval()
    return model, x[test], y[test]


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return nn.functional.cross_entropy(model(x), y, reduction="none")


def test_pgd_loss_exceeds_fgsm_loss_exceeds_clean_loss(digits):
    model, x, y = digits
    clean = losses(model, x, y)
    fgsm = losses(model, FGSM(0.05)(model, x, y), y)
    pgd = losses(model, PGD(0.05, seed=0)(model, x, y), y)
    assert clean.mean() < fgsm.mean() < pgd.mean()
    assert (fgsm > clean).float().mean() > 0.95
    assert (pgd >= fgsm).float().mean() > 0.8


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_accuracy_falls_monotonically_with_eps(digits, norm):
    model, x, y = digits
    clean = accuracy(model, x, y)
    assert clean > 0.9
    scale = 1.0 if norm == "linf" else 4.0
    curve = [accuracy(model, PGD(eps * scale, norm=norm, seed=0)(model, x, y), y) for eps in (0, 0.02, 0.05, 0.1, 0.2)]
    assert curve[0] == clean
    assert all(a > b for a, b in itertools.pairwise(curve))
    assert curve[-1] < 0.2


def test_restarts_keep_the_strongest_perturbation_per_sample(digits):
    model, x, y = digits
    attack = PGD(0.1, steps=1, step=0.02, seed=3)
    runs = torch.stack([attack(model, x, y) for _ in range(4)])  # the same draws as one attack with 4 restarts
    x_adv = PGD(0.1, steps=1, step=0.02, restarts=4, seed=3)(model, x, y)
    with torch.no_grad():
        logits = model(runs)
    fooled = logits.argmax(dim=-1) != y
    loss = torch.stack([nn.functional.cross_entropy(out, y, reduction="none") for out in logits])
    for i in range(len(x)):
        chosen = max(range(4), key=lambda r: (bool(fooled[r, i]), loss[r, i].item()))  # fooled first, then loss
        torch.testing.assert_close(x_adv[i], runs[chosen, i])
    assert fooled.any(dim=0).sum() > fooled.float().sum(dim=1).max()  # restarts fooled more samples than any one


def test_restarts_maximise_the_mse_loss():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 6, generator=g), torch.randn(64, 3, generator=g)
    options = {"steps": 1, "step": 0.01, "loss": "mse", "norm": "l2", "seed": 7}
    attack = PGD(0.3, **options)
    runs = torch.stack([attack(model, x, y) for _ in range(3)])
    with torch.no_grad():
        loss = (model(runs) - y).square().mean(dim=-1)
    best = runs[loss.argmax(dim=0), torch.arange(64)]
    torch.testing.assert_close(PGD(0.3, restarts=3, **options)(model, x, y), best)


def test_linf_pgd_reaches_the_optimal_corner_on_a_linear_classifier():
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    w = (model.weight[1] - model.weight[0]).detach()
    x, y = torch.randn(16, 5), torch.randint(0, 2, (16,))
    sign = torch.where(y == 1, -1.0, 1.0)[:, None]
    torch.testing.assert_close(PGD(0.3, bounds=None, seed=0)(model, x, y), x + 0.3 * sign * w.sign())
    l2 = PGD(0.3, norm="l2", step=0.3, bounds=None, seed=0)(model, x, y) - x
    torch.testing.assert_close(l2, 0.3 * sign * w / w.norm(), atol=1e-3, rtol=0)


def test_explicit_step_without_random_start():
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    w = (model.weight[1] - model.weight[0]).detach()
    x, y = torch.randn(16, 5), torch.ones(16, dtype=torch.long)
    x_adv = PGD(1.0, steps=3, step=0.1, random_start=False, bounds=None)(model, x, y)
    torch.testing.assert_close(x_adv, x - 0.3 * w.sign())


def test_pgd_with_eot_on_a_trained_model_under_dropout(digits):
    model, x, y = digits
    noisy = nn.Sequential(model[0], model[1], nn.Dropout(0.2), model[2]).eval()
    x_adv = PGD(0.1, steps=5, eot=4, restarts=2, seed=0)(noisy, x, y)
    assert not noisy[2].training
    assert accuracy(model, x_adv, y) < 0.5


class Flat(nn.Module):
    """Logits that do not depend on the input: the gradient is zero, so PGD stays at its random start."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), 2) + 0 * x[:, :1]


def start_of(eps: float, d: int, **options) -> torch.Tensor:
    """The random starts PGD draws for 20000 points of dimension ``d`` (seed 0), as perturbations."""
    x = torch.zeros(20000, d)
    return PGD(eps, norm="l2", bounds=None, steps=1, seed=0, **options)(Flat(), x, torch.zeros(20000, dtype=torch.long))


@pytest.mark.parametrize("d", [2, 100])
def test_l2_start_radius_uniform_is_the_default(d):
    eps = 0.5
    start = start_of(eps, d)
    torch.testing.assert_close(start, start_of(eps, d, radius="uniform"), rtol=0, atol=0)
    norms = start.norm(dim=1) / eps
    # the radius is U(0, eps): mean 1/2, quartiles 1/4, 1/2, 3/4, whatever the dimension
    assert norms.max() <= 1 + 1e-6 and norms.min() < 0.01
    assert norms.mean().item() == pytest.approx(0.5, abs=0.01)
    assert norms.quantile(torch.tensor([0.25, 0.5, 0.75])).tolist() == pytest.approx([0.25, 0.5, 0.75], abs=0.015)
    # isotropic directions: the mean unit vector is about 0 (its norm about 1/sqrt(20000) = 0.007)
    assert (start / start.norm(dim=1, keepdim=True)).mean(dim=0).norm() < 0.02


@pytest.mark.parametrize("d", [2, 100])
def test_l2_start_radius_ball_is_uniform_in_the_ball(d):
    eps = 0.5
    start = start_of(eps, d, radius="ball")
    norms = start.norm(dim=1) / eps
    # uniform in the d-ball: P(r <= t eps) = t^d, mean d / (d + 1): 2/3 for d = 2, 0.990 for d = 100
    assert norms.max() <= 1 + 1e-6
    assert norms.mean().item() == pytest.approx(d / (d + 1), abs=0.01)
    assert (norms <= 0.9).float().mean().item() == pytest.approx(0.9**d, abs=0.01)
    if d == 100:
        assert norms.min() > 0.85  # P(r <= 0.85 eps) = 0.85^100 < 1e-7
    assert (start / start.norm(dim=1, keepdim=True)).mean(dim=0).norm() < 0.02


@pytest.mark.parametrize(
    ("options", "message"),
    [({"radius": "ball"}, "PGD.radius='ball' applies to the l2 random start only"),
     ({"radius": "ball", "norm": "l2", "random_start": False}, "got norm='l2', random_start=False"),
     ({"radius": "shell", "norm": "l2"}, "PGD.radius must be one of 'uniform', 'ball'; got 'shell'")],
)  # fmt: skip
def test_radius_is_refused_where_it_has_no_effect(options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PGD(0.1, **options)
    assert PGD(0.1).radius == "uniform"  # the default is accepted for linf, whose start it does not change
    assert PGD(0.1, norm="l2", radius="ball").to_config()["radius"] == "ball"
