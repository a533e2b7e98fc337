import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from noisetrain.data import load_data
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
    data = dataclasses.replace(toy_data(task="regression"), info={"target_scale": 2.0})
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


@pytest.mark.parametrize("method", ["standard", "minmax", "none"])
def test_regression_errors_in_original_units_whatever_the_scaling(method):
    options = {"kind": "function", "name": "sphere", "n_train": 200, "n_test": 300, "target_noise": 0.5, "seed": 1}
    raw = load_data({**options, "scale_target": "none"})
    data = load_data({**options, "scale": method, "scale_target": method})
    # One affine predictor in original units, fitted by least squares on the raw (noisy) training split.
    design = torch.cat([raw.train.x, torch.ones(len(raw.train), 1)], 1).double()
    coef = torch.linalg.lstsq(design, raw.train.y.double()[:, None]).solution[:, 0]
    weight, bias = coef[:-1], coef[-1]
    error = raw.test.x.double() @ weight + bias - raw.test.y.double()  # original units, clean test targets
    # The same predictor on the scaled inputs, predicting scaled targets: p = (f(x) - target_offset) / target_scale.
    scale, offset = torch.tensor(data.info["scale"]).double(), torch.tensor(data.info["offset"]).double()
    target_scale, target_offset = data.info["target_scale"], data.info["target_offset"]
    assert (target_scale != 1.0) == (method != "none")
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_((weight * scale / target_scale)[None])
        model.bias.fill_(float((offset @ weight + bias - target_offset) / target_scale))
    records = by_metric(clean(model, data))
    assert records["rmse"].value == pytest.approx(error.square().mean().sqrt().item(), rel=1e-4)
    assert records["mae"].value == pytest.approx(error.abs().mean().item(), rel=1e-4)
    assert records["mae"].examples == pytest.approx(error.abs().numpy(), rel=1e-3, abs=1e-4)


def test_bad_options():
    data = toy_data()
    with pytest.raises(ConfigError, match="batch_size"):
        clean(nn.Linear(8, 3), data, batch_size=0)
    with pytest.raises(ConfigError, match="do not match"):
        clean(nn.Linear(8, 3), toy_data(task="regression"))
