import pytest
import torch
from torch import nn

from noisetrain.data import Dataset, Split
from noisetrain.evaluate.flatness import (
    flatness,
    gradient_norm,
    hessian_top_eigenvalue,
    random_sharpness,
    worst_case_sharpness,
)
from noisetrain.registry import ConfigError

from testkit import tiny_mlp, toy_data


@pytest.fixture()
def regression() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Linear regression without bias, slightly off its least-squares fit: loss (1/n) ||Xw - y||^2."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, generator=g, dtype=torch.float64) * torch.tensor([3.0, 1.0, 0.5, 0.2], dtype=torch.float64)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 1.0], dtype=torch.float64) + 0.1 * torch.randn(200, generator=g)
    model = nn.Linear(4, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(x, y[:, None]).solution.T + 0.01)
    return model, x, y


def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_power_iteration_finds_the_top_eigenvalue_of_the_exact_hessian(regression):
    model, x, y = regression
    exact = torch.linalg.eigvalsh(2 * x.T @ x / len(x)).max().item()  # the Hessian of (1/n) ||Xw - y||^2
    found = hessian_top_eigenvalue(model, x, y, iterations=30, generator=generator(), batch_size=64)
    assert found == pytest.approx(exact, rel=1e-6)
    assert model.weight.grad is None


def test_gradient_norm_matches_the_closed_form(regression):
    model, x, y = regression
    residual = x @ model.weight[0].detach() - y
    exact = (2 * x.T @ residual / len(x)).norm().item()
    assert gradient_norm(model, x, y, batch_size=64) == pytest.approx(exact, rel=1e-9)


def test_sharpness_is_zero_at_rho_zero_positive_above_and_leaves_the_weights_exactly(regression):
    model, x, y = regression
    before = model.weight.detach().clone()
    assert random_sharpness(model, x, y, 0.0, samples=3, generator=generator()) == 0.0
    assert worst_case_sharpness(model, x, y, 0.0) == 0.0
    random = random_sharpness(model, x, y, 0.05, samples=20, generator=generator())
    worst = worst_case_sharpness(model, x, y, 0.05)
    assert 0 < random < worst
    assert worst_case_sharpness(model, x, y, 0.05, steps=5) == pytest.approx(worst, rel=0.1)
    assert torch.equal(model.weight, before) and model.weight.grad is None


def test_worst_case_step_on_a_quadratic_equals_the_closed_form(regression):
    # one step at radius r along g / ||g||: L(w + d) - L(w) = g.d + d^T H d / 2 exactly for a quadratic loss
    model, x, y = regression
    w = model.weight[0].detach()
    g = 2 * x.T @ (x @ w - y) / len(x)
    d = 0.05 * w.norm() * g / g.norm()
    expected = (g @ d + d @ (2 * x.T @ x / len(x)) @ d / 2).item()
    assert worst_case_sharpness(model, x, y, 0.05) == pytest.approx(expected, rel=1e-9)


def test_measure_reports_every_metric_and_restores_the_model():
    data = toy_data(200, features=6)
    model = tiny_mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(data.train.x), data.train.y).backward()
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    records = flatness(model, data, rho=(0.0, 0.05), samples=4, iterations=10, num_samples=64, batch_size=32)
    metrics = {(r.metric, r.setting.get("rho")): r.value for r in records}
    assert set(metrics) == {("loss", None), ("gradient_norm", None), ("hessian_top_eigenvalue", None),
                            ("sharpness_random", 0.0), ("sharpness_worst", 0.0),
                            ("sharpness_random", 0.05), ("sharpness_worst", 0.05)}  # fmt: skip
    assert metrics["sharpness_random", 0.0] == 0.0 and metrics["sharpness_worst", 0.0] == 0.0
    assert 0 < metrics["sharpness_random", 0.05] < metrics["sharpness_worst", 0.05]
    assert metrics["hessian_top_eigenvalue", None] > 0 and metrics["gradient_norm", None] > 0
    assert all(r.setting["split"] == "train" and r.setting["num_samples"] == 64 for r in records)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert model.training and all(p.grad is None for p in model.parameters())
    again = flatness(model, data, rho=(0.0, 0.05), samples=4, iterations=10, num_samples=64, batch_size=32)
    assert [r.value for r in again] == [r.value for r in records]


@pytest.mark.parametrize(
    ("options", "field"),
    [({"rho": -0.1}, "rho"), ({"rho": ()}, "rho"), ({"samples": 0}, "samples"), ({"steps": 0}, "steps"),
     ({"iterations": 0}, "iterations"), ({"num_samples": 0}, "num_samples"), ({"split": "dev"}, "split")],
)  # fmt: skip
def test_bad_options_are_refused_by_name(options, field):
    with pytest.raises(ConfigError, match=field):
        flatness(tiny_mlp(), toy_data(50, features=6), **options)


def test_empty_split_is_refused():
    data = toy_data(50, features=6)
    empty = Dataset("toy", "classification", data.train, Split(data.val.x[:0], data.val.y[:0]), data.test, 3)
    with pytest.raises(ConfigError, match="empty"):
        flatness(tiny_mlp(), empty, split="val")


def test_a_rho_too_large_for_float32_is_not_testable_never_zero():
    """At rho=1e20 the step's norm overflowed to inf, the projection scaled the step by 0, and the worst case read
    0 (and the random case NaN); the quadratic grows as rho squared, so float32 can only say: not computable."""
    import math

    from noisetrain.evaluate import key_numbers

    g = torch.Generator().manual_seed(0)
    x, model = torch.randn(64, 4, generator=g), nn.Linear(4, 1, bias=False)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 1.0])
    assert worst_case_sharpness(model, x, y, 1e6) > 1e9  # still finite: large, not zero
    assert math.isnan(worst_case_sharpness(model, x, y, 1e20))
    assert math.isnan(random_sharpness(model, x, y, 1e20, samples=2, generator=generator()))
    records = flatness(tiny_mlp(), toy_data(50, features=6), rho=1e20, samples=2, iterations=2)
    shown = {name: value for _, name, value, _ in key_numbers(records)}
    assert shown["worst-case sharpness rho=1e+20"] == "not testable"
