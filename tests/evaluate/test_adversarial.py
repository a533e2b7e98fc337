import itertools
import logging

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from noisetrain.data import Dataset, Split
from noisetrain.evaluate.adversarial import adversarial, robust_accuracy
from noisetrain.registry import ConfigError

from testkit import toy_data

EPS = (0.0, 0.02, 0.05, 0.1)


@pytest.fixture(scope="module")
def digits() -> tuple[nn.Module, Dataset]:
    """A small MLP trained for about a second on sklearn's 8x8 digits in [0, 1]; 300 test images."""
    images, labels = load_digits(return_X_y=True)
    x = torch.tensor(images / 16.0, dtype=torch.float32)
    y = torch.tensor(labels)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train, test = Split(x[order[:-300]], y[order[:-300]]), Split(x[order[-300:]], y[order[-300:]])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(train.x), train.y).backward()
        optimizer.step()
    model.eval()
    return model, Dataset("digits", "classification", train, test, test, num_classes=10)


def accuracies(records, attack):
    return [r.value for r in records if r.metric == "accuracy" and r.setting["attack"] == attack]


def checks(records):
    return {(r.setting["check"], r.setting.get("attack")): r.value for r in records if r.metric == "check"}


def test_curves_start_at_clean_accuracy_fall_with_eps_and_pass_every_check(digits):
    model, data = digits
    records = adversarial(model, data, attacks=("fgsm", "pgd"), eps=EPS, steps=5)
    (clean,) = accuracies(records, "none")
    assert clean > 0.9
    for attack in ("fgsm", "pgd"):
        curve = accuracies(records, attack)
        assert curve[0] == clean
        assert all(a > b for a, b in itertools.pairwise(curve))
    assert accuracies(records, "pgd")[-1] < accuracies(records, "fgsm")[-1] < 0.7
    assert checks(records) == {
        ("eps0_equals_clean", None): 1.0,
        ("monotone_in_eps", "fgsm"): 1.0,
        ("monotone_in_eps", "pgd"): 1.0,
        ("more_steps_no_gain", None): 1.0,
        ("gradient", None): 1.0,
    }
    pgd = [r for r in records if r.metric == "accuracy" and r.setting["attack"] == "pgd"][-1]
    assert pgd.n == 300 and pgd.ci[0] < pgd.value < pgd.ci[1]
    assert pgd.setting == {"norm": "linf", "stochastic": False, "eot": 1, "passes": 1, "attack": "pgd", "eps": 0.1,
                           "steps": 5, "restarts": 1}  # fmt: skip
    assert not model.training and not model[2].training


def test_same_seed_same_numbers(digits):
    model, data = digits
    first, second = (adversarial(model, data, eps=(0.05,), steps=3, seed=1) for _ in range(2))
    assert [r.value for r in first] == [r.value for r in second]


class Quantised(nn.Module):
    """Rounds its input to 4 levels before the model: gradients are zero almost everywhere."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(torch.round(x * 3) / 3)


def test_gradient_masking_is_flagged_and_logged(digits, caplog):
    model, data = digits
    with caplog.at_level(logging.WARNING, logger="noisetrain.evaluate.adversarial"):
        records = adversarial(Quantised(model), data, eps=(0.0, 0.05), steps=3)
    found = [r for r in records if r.metric == "check" and r.setting["check"] == "gradient"]
    assert found[0].value == 0.0 and found[0].setting["zero_fraction"] == 1.0
    assert "gradient" in caplog.text


def test_dropout_model_is_attacked_with_eot_in_mc_mode(digits):
    model, data = digits
    auto = adversarial(model, data, eps=(0.05,), steps=2)
    assert all(r.setting["stochastic"] is False for r in auto if r.metric == "accuracy")
    records = adversarial(model, data, eps=(0.0, 0.05), steps=2, stochastic=True, eot_samples=3, passes=4)
    for record in (r for r in records if r.metric == "accuracy"):
        assert record.setting | {"stochastic": True, "eot": 3, "passes": 4} == record.setting
    clean, zero, attacked = [r.value for r in records if r.metric == "accuracy"]
    assert attacked < zero and zero == clean  # eps 0 reads the clean score's dropout draws
    assert min(r.value for r in records if r.metric == "check") == 1.0
    assert not model.training and not model[2].training
    torch.manual_seed(123)  # the global stream does not move a stochastic model's records: the seed fixes them
    again = adversarial(model, data, eps=(0.0, 0.05), steps=2, stochastic=True, eot_samples=3, passes=4)
    assert [r.value for r in again] == [r.value for r in records]


def test_robust_accuracy_averages_stochastic_passes():
    torch.manual_seed(0)
    model = nn.Dropout(0.5).train()
    x, y = torch.ones(100, 2), torch.zeros(100, dtype=torch.long)
    # argmax of (0 or 2, 0 or 2) is class 0 unless only the second entry survives: accuracy 3/4
    assert robust_accuracy(model, x, y, None, batch_size=32, passes=40) == pytest.approx(0.75, abs=0.02)


def test_unbounded_data_gets_no_bounds_and_explicit_bounds_must_contain_it():
    data = toy_data(100)
    torch.manual_seed(0)
    model = nn.Linear(8, 3)
    records = adversarial(model, data, eps=(0.0, 0.5), norm="l2", steps=2)
    assert [r.setting["eps"] for r in records if r.metric == "accuracy"] == [0.0, 0.0, 0.5]
    with pytest.raises(ConfigError, match="bounds"):
        adversarial(model, data, bounds=(0.0, 1.0))


class FrozenGradient(nn.Module):
    """A linear classifier with a zero input gradient, so PGD stays at its random start; keeps the inputs of
    its no-grad (scoring) passes."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 3)
        self.scored: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            self.scored.append(x.clone())
        return self.linear(x.detach()) + 0 * x.sum(dim=1, keepdim=True)


def test_start_radius_reaches_pgd_and_is_kept_in_the_l2_pgd_records_only():
    data = toy_data()  # 100 test samples, 8 features
    norms, settings = {}, {}
    for start in ("uniform", "ball"):
        torch.manual_seed(0)
        model = FrozenGradient()
        records = adversarial(model, data, attacks=("fgsm", "pgd"), eps=(0.0, 1.0), norm="l2", steps=2,
                              start_radius=start, bounds=None)  # fmt: skip
        x = data.test.x
        moved = [(inputs - x).norm(dim=1) for inputs in model.scored if inputs.shape == x.shape and not inputs.equal(x)]
        assert len(moved) == 2  # PGD at eps=1 with steps and with twice the steps; FGSM does not move
        norms[start] = torch.cat(moved)
        settings[start] = {(r.setting["attack"], r.setting["eps"]): r.setting.get("start_radius")
                           for r in records if r.metric == "accuracy"}  # fmt: skip
        assert settings[start] == {("none", 0.0): None, ("fgsm", 0.0): None, ("fgsm", 1.0): None,
                                   ("pgd", 0.0): start, ("pgd", 1.0): start}  # fmt: skip
    assert max(n.max().item() for n in norms.values()) <= 1 + 1e-5
    assert norms["uniform"].mean().item() == pytest.approx(0.5, abs=0.1)  # U(0, eps)
    assert norms["ball"].mean().item() == pytest.approx(8 / 9, abs=0.05)  # eps * U**(1/d), mean eps * d / (d + 1)


class Unusable(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the options should have been refused before any forward pass")


def test_linf_records_carry_no_start_radius_and_bad_start_radii_are_refused_before_any_work():
    torch.manual_seed(0)
    records = adversarial(nn.Linear(8, 3), toy_data(100), attacks=("fgsm", "pgd"), eps=(0.0, 0.5), steps=1)
    assert all("start_radius" not in r.setting for r in records)
    assert {r.setting["norm"] for r in records if r.metric == "accuracy"} == {"linf"}
    with pytest.raises(ConfigError, match="start_radius must be one of 'uniform', 'ball'; got 'sphere'"):
        adversarial(Unusable(), toy_data(50), norm="l2", start_radius="sphere")
    with pytest.raises(ConfigError, match=r"start_radius='ball' applies to the l2 .* got norm='linf'"):
        adversarial(Unusable(), toy_data(50), start_radius="ball")
    adversarial.check_options({"norm": "linf", "start_radius": "uniform"})  # the default start is fine with linf


@pytest.mark.parametrize(
    ("options", "field"),
    [({"attacks": ("cw",)}, "attacks"), ({"eps": (-0.1,)}, "eps"), ({"norm": "l1"}, "norm"), ({"steps": 0}, "steps"),
     ({"stochastic": "yes"}, "stochastic"), ({"passes": 0}, "passes"), ({"tolerance": 2}, "tolerance"),
     ({"start_radius": "sphere"}, "start_radius")],
)  # fmt: skip
def test_bad_options_are_refused_by_name(options, field):
    with pytest.raises(ConfigError, match=field):
        adversarial(nn.Linear(8, 3), toy_data(50), **options)


def test_regression_data_is_refused():
    with pytest.raises(ConfigError, match="classification"):
        adversarial(nn.Linear(8, 1), toy_data(50, task="regression"))


def test_a_closed_form_model_is_refused_before_any_attack():
    from noisetrain.models.knn import KNN

    data = toy_data(50)
    model = KNN((8,), 3, k=3).fit(data.train.x, data.train.y)
    with pytest.raises(ConfigError, match=r"adversarial: KNN is fitted in closed form and has no input gradient"):
        adversarial(model, data)
