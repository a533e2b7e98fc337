import math
from statistics import NormalDist

import numpy as np
import pytest
import torch
from scipy.stats import norm
from torch import nn

from noisetrain.evaluate.certified import (
    ABSTAIN,
    certified,
    certify,
    class_counts,
    largest_radius,
    lower_confidence_bound,
    predict,
)
from noisetrain.evaluate.records import clopper_pearson
from noisetrain.registry import ConfigError

from testkit import toy_data


class Constant(nn.Module):
    """Always predicts class 0 of 3."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([2.0, 1.0, 0.0]).expand(len(x), 3)


class SignOfFirst(nn.Module):
    """Class 0 where the first feature is positive, else class 1: at 0 each class has probability 1/2 under noise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[:, 0], -x[:, 0]], dim=1)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_counts_sum_to_the_copies_per_point():
    counts = class_counts(SignOfFirst(), torch.zeros(5, 4), 1.0, 300, generator(), batch_size=64)
    assert counts.shape == (5, 2) and counts.sum(dim=1).tolist() == [300] * 5
    assert ((counts[:, 0] - 150).abs() < 45).all()


def test_constant_classifier_gets_the_radius_of_the_binomial_bound():
    sigma, n, alpha = 0.5, 1000, 0.001
    prediction, radius = certify(Constant(), torch.zeros(4, 2), sigma, 10, n, alpha, generator(), batch_size=256)
    p_lower = alpha ** (1 / n)  # the one-sided Clopper-Pearson bound with n successes out of n
    assert p_lower == pytest.approx(clopper_pearson(n, n, confidence=1 - 2 * alpha)[0], rel=1e-12)
    assert prediction.tolist() == [0] * 4
    assert radius.tolist() == pytest.approx([sigma * norm.ppf(p_lower)] * 4, rel=1e-12)
    assert predict(Constant(), torch.zeros(4, 2), sigma, 100, alpha, generator()).tolist() == [0] * 4


def test_a_bound_of_exactly_one_half_certifies_radius_zero():
    # n successes out of n bound pA from below by alpha^(1/n): exactly 1/2 for n = 10, alpha = 2^-10
    n, alpha = 10, 2.0**-10
    assert lower_confidence_bound(np.array([n]), n, alpha).tolist() == [0.5]
    prediction, radius = certify(Constant(), torch.zeros(3, 2), 0.5, 5, n, alpha, generator())
    assert prediction.tolist() == [0] * 3 and radius.tolist() == [0.0] * 3  # certified (Cohen et al.), not abstained
    # a hair more confidence demanded (a smaller alpha) puts the bound below 1/2: abstain
    prediction, radius = certify(Constant(), torch.zeros(3, 2), 0.5, 5, n, alpha / 2, generator())
    assert prediction.tolist() == [ABSTAIN] * 3 and radius.tolist() == [0.0] * 3


def test_tied_classes_abstain():
    x = torch.zeros(6, 3)
    prediction, radius = certify(SignOfFirst(), x, 0.25, 100, 1000, 0.001, generator())
    assert prediction.tolist() == [ABSTAIN] * 6 and radius.tolist() == [0.0] * 6
    assert predict(SignOfFirst(), x, 0.25, 1000, 0.001, generator()).tolist() == [ABSTAIN] * 6


def test_predict_answers_once_the_binomial_test_separates_the_classes():
    x = torch.tensor([[0.25, 0.0], [-0.25, 0.0], [0.005, 0.0]])  # P(class 0) = 0.84, 0.16, 0.52
    assert predict(SignOfFirst(), x, 0.25, 1000, 0.001, generator()).tolist() == [0, 1, ABSTAIN]


def test_linear_classifier_radius_stays_below_its_distance_to_the_boundary():
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    x = torch.randn(40, 5) * 0.3
    sigma = 0.25
    prediction, radius = certify(model, x, sigma, 100, 2000, 0.001, generator(1))
    with torch.no_grad():
        logits = model(x)
    w = model.weight[0] - model.weight[1]
    distance = ((logits[:, 0] - logits[:, 1]).abs() / w.norm()).double()
    answered = prediction != ABSTAIN
    assert (prediction[answered] == logits.argmax(dim=1)[answered]).all()
    assert (radius <= distance).all()
    # the smoothed linear classifier has pA = Phi(distance / sigma): the bound is close while pA is not near 1
    close = answered & (distance < 2 * sigma)
    assert close.sum() >= 20 and (radius[close] > distance[close] - 0.06).all()


@pytest.fixture(scope="module")
def trained():
    data = toy_data(300)
    torch.manual_seed(0)
    model = nn.Linear(8, 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(100):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(data.train.x), data.train.y).backward()
        optimizer.step()
    return model, data


def test_measure_reports_a_falling_curve_abstention_and_mean_radius(trained):
    model, data = trained
    records = certified(model, data, sigma=0.5, n0=50, n=400, num_points=40, radii=(0.0, 0.25, 0.5, 1.0, 2.0))
    curve = [r for r in records if r.metric == "certified_accuracy"]
    assert [r.setting["radius"] for r in curve] == [0.0, 0.25, 0.5, 1.0, 2.0]
    values = [r.value for r in curve[:-1]]
    assert values[0] > 0.6 and values == sorted(values, reverse=True) and values[-1] < values[0]
    assert all(r.n == 40 and r.ci[0] <= r.value <= r.ci[1] for r in curve[:-1])
    # 400 copies certify at most 0.5 * Phi^-1(0.001^(1/400)) = 1.06: radius 2 is not testable, not a measured 0
    assert largest_radius(0.5, 400, 0.001) == pytest.approx(0.5 * norm.ppf(0.001 ** (1 / 400)), rel=1e-9)
    assert 1.0 < largest_radius(0.5, 400, 0.001) < 2.0
    assert math.isnan(curve[-1].value) and curve[-1].ci is None and curve[-1].n == 40
    (abstention,) = [r.value for r in records if r.metric == "abstention"]
    (mean_radius,) = [r.value for r in records if r.metric == "mean_radius"]
    assert 0 <= abstention < 0.5 and 0 < mean_radius < 3
    again = certified(model, data, sigma=0.5, n0=50, n=400, num_points=40, radii=(0.0, 0.25, 0.5, 1.0, 2.0))
    assert [r.value for r in again][:-1] == [r.value for r in records][:-1]
    assert math.isclose(again[-1].value, mean_radius)


@pytest.mark.parametrize(
    ("options", "field"),
    [({"sigma": 0}, "sigma"), ({"n0": 0}, "n0"), ({"n": 1.5}, "n"), ({"alpha": 1}, "alpha"),
     ({"num_points": 0}, "num_points"), ({"radii": (-1,)}, "radii"), ({"radii": ()}, "radii")],
)  # fmt: skip
def test_bad_options_are_refused_by_name(options, field):
    with pytest.raises(ConfigError, match=field):
        certified(nn.Linear(8, 3), toy_data(50), **options)


def test_too_few_copies_to_certify_anything_are_refused_not_reported_as_zero():
    """With n=9 and alpha=0.001 even 9 of 9 give pA >= 0.46 < 1/2: every point abstained and radius 0 read 0%."""
    with pytest.raises(ConfigError, match=r"n=9 copies cannot certify any point at alpha=0.001: even 9 of 9 give a "
                                          r"lower bound on pA of 0.46 < 1/2; use n >= 10"):  # fmt: skip
        certified(nn.Linear(8, 3), toy_data(50), n=9)
    assert largest_radius(0.25, 10, 0.001) == pytest.approx(0.25 * NormalDist().inv_cdf(0.001 ** 0.1))  # n=10 can
    certified(nn.Linear(8, 3), toy_data(50), n0=5, n=10, num_points=5)  # and runs
    with pytest.raises(ConfigError, match=r"use n >= 4"):
        certified(nn.Linear(8, 3), toy_data(50), n=3, alpha=0.1)  # log2(1 / 0.1) = 3.3
