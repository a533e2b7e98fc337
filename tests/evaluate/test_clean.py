import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from noisetrain.evaluate.clean import clean
from noisetrain.evaluate.records import MEASURES
from noisetrain.registry import ConfigError

from testkit import toy_data


def trained_mlp(data, steps: int = 100) -> nn.Module:
    """An MLP with BatchNorm fitted to ``data.train`` by full-batch Adam (well under a second)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(data.input_shape[0], 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(data.train.x), data.train.y).backward()
        optimizer.step()
    return model


def by_metric(records):
    return {r.metric: r for r in records}


def test_registered():
    assert MEASURES["clean"] is clean


def test_classification_matches_direct_computation_in_eval_mode():
    data = toy_data()
    model = trained_mlp(data)
    model.train()  # the measure switches to eval mode (BatchNorm running statistics) and back
    running_mean = model[1].running_mean.clone()
    records = by_metric(clean(model, data, batch_size=7))
    assert model.training and all(m.training for m in model.modules())
    assert torch.equal(model[1].running_mean, running_mean)

    model.eval()
    with torch.no_grad():
        logits = model(data.test.x)
    accuracy = int((logits.argmax(1) == data.test.y).sum()) / len(data.test)
    assert 0.8 < accuracy < 1.0
    assert records["accuracy"].value == accuracy
    assert records["accuracy"].n == len(data.test) == 100
    low, high = records["accuracy"].ci
    assert low < accuracy < high and high - low < 0.2
    assert records["error"].value == pytest.approx(1 - accuracy)
    assert records["error"].ci == pytest.approx((1 - high, 1 - low))
    assert records["nll"].value == pytest.approx(F.cross_entropy(logits, data.test.y).item(), rel=1e-5)
    hits = records["accuracy"].examples  # each test sample's correctness, in test order, for the bootstrap
    assert hits.dtype == bool and hits.tolist() == (logits.argmax(1) == data.test.y).tolist()
    assert records["error"].examples is None and "examples" not in records["accuracy"].to_dict()


def test_regression_errors_in_original_units():
    data = dataclasses.replace(toy_data(task="regression"), info={"target_std": 2.0})
    model = nn.Linear(8, 1)
    with torch.no_grad():
        model.weight.fill_(0.1)
        model.bias.fill_(0.2)
        error = (model(data.test.x).squeeze(1) - data.test.y).double() * 2.0
    records = by_metric(clean(model, data, batch_size=33))
    assert set(records) == {"rmse", "mae", "abs_error_std"}
    assert records["rmse"].value == pytest.approx(error.square().mean().sqrt().item(), rel=1e-6)
    assert records["mae"].value == pytest.approx(error.abs().mean().item(), rel=1e-6)
    assert records["abs_error_std"].value == pytest.approx(error.abs().numpy().std(), rel=1e-6)
    assert records["mae"].examples == pytest.approx(error.abs().numpy(), rel=1e-6)


def test_bad_options():
    data = toy_data()
    with pytest.raises(ConfigError, match="batch_size"):
        clean(nn.Linear(8, 3), data, batch_size=0)
    with pytest.raises(ConfigError, match="do not match"):
        clean(nn.Linear(8, 3), toy_data(task="regression"))
