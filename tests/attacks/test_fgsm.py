import pytest
import torch
from torch import nn

from noisetrain.attacks import FGSM, random_start


def linear_classifier() -> tuple[nn.Module, torch.Tensor]:
    """Two-class linear model; the logit margin of class 1 over class 0 is ``w @ x + b``."""
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    return model, (model.weight[1] - model.weight[0]).detach()


def data(n: int = 16, labels: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    return torch.randn(n, 5, generator=g), torch.randint(0, labels, (n,), generator=g)


def test_linf_step_on_a_linear_classifier_is_analytic():
    # d CE / dx = -(1 - p_y) * (+-w): the loss grows along -sign(w) for class 1 and +sign(w) for class 0
    model, w = linear_classifier()
    x, y = data()
    sign = torch.where(y == 1, -1.0, 1.0)[:, None]
    x_adv = FGSM(0.3, bounds=None)(model, x, y)
    torch.testing.assert_close(x_adv, x + 0.3 * sign * w.sign())


def test_l2_step_on_a_linear_classifier_is_analytic():
    model, w = linear_classifier()
    x, y = data()
    sign = torch.where(y == 1, -1.0, 1.0)[:, None]
    x_adv = FGSM(0.7, norm="l2", bounds=None)(model, x, y)
    torch.testing.assert_close(x_adv, x + 0.7 * sign * w / w.norm())


def test_mse_step_on_a_linear_regression_is_analytic():
    torch.manual_seed(0)
    model = nn.Linear(5, 1)
    x, _ = data()
    y = torch.randn(16)  # (N,) targets against (N, 1) outputs
    residual = (model(x).squeeze(1) - y).detach()
    x_adv = FGSM(0.2, bounds=None, loss="mse")(model, x, y)
    torch.testing.assert_close(x_adv, x + 0.2 * residual.sign()[:, None] * model.weight.detach().sign())


def test_random_start_then_step_of_one_and_a_quarter_eps():
    model, w = linear_classifier()
    x, y = data()
    start = random_start(x, 0.1, "linf", torch.Generator().manual_seed(4))  # the attack's draw for seed 4
    sign = torch.where(y == 1, -1.0, 1.0)[:, None]
    x_adv = FGSM(0.1, random_start=True, bounds=None, seed=4)(model, x, y)
    torch.testing.assert_close(x_adv, x + (start + 0.125 * sign * w.sign()).clamp(-0.1, 0.1))


def test_explicit_step_and_bounds():
    model, w = linear_classifier()
    x, y = data()
    x = x.sigmoid()
    x_adv = FGSM(0.3, step=0.1)(model, x, y)
    sign = torch.where(y == 1, -1.0, 1.0)[:, None]
    torch.testing.assert_close(x_adv, (x + 0.1 * sign * w.sign()).clamp(0, 1))


def test_random_start_is_deterministic_per_seed():
    model, _ = linear_classifier()
    x, y = data()

    def run(seed: int) -> torch.Tensor:
        return FGSM(0.1, random_start=True, step=0.01, seed=seed)(model, x.sigmoid(), y)

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))
    attack = FGSM(0.1, random_start=True, step=0.01, seed=1)
    assert not torch.equal(attack(model, x, y), attack(model, x, y))  # the stream goes on between calls


def test_loss_increase_matches_first_order_prediction():
    # for small eps, FGSM raises each sample's loss by eps * ||grad||_1 to first order
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 4))
    x, y = data(256, labels=4)
    attack = FGSM(0.01, bounds=None)
    grad, clean = attack.gradient(model, x, y)
    adversarial = attack.losses(model(attack(model, x, y)), y).detach()
    predicted = 0.01 * grad.abs().sum(dim=1)
    assert (adversarial > clean).all()
    assert (adversarial - clean).mean().item() == pytest.approx(predicted.mean().item(), rel=0.05)
