import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from noisetrain.evaluate.calibration import brier, calibration, ece, fit_temperature, reliability
from noisetrain.registry import ConfigError

from testkit import toy_data


def overconfident_mlp(data) -> nn.Module:
    """An MLP fitted to ``data.train`` by full-batch Adam, its logits then multiplied by 4 (over-confident)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(data.input_shape[0], 16), nn.ReLU(), nn.Linear(16, data.num_classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(100):
        optimizer.zero_grad()
        F.cross_entropy(model(data.train.x), data.train.y).backward()
        optimizer.step()
    with torch.no_grad():
        model[2].weight *= 4
        model[2].bias *= 4
    return model


def records_of(records):
    return {(r.metric, r.setting.get("temperature_scaled")): r.value for r in records}


def test_ece_hand_values():
    # each sample alone in its bin: 0.5 * |1 - 0.8| + 0.5 * |0 - 0.6|
    assert ece(torch.tensor([[0.8, 0.2], [0.6, 0.4]]), torch.tensor([0, 1]), num_bins=10) == pytest.approx(0.4)
    # confidence 0.9 everywhere, accuracy 0.5
    probs = torch.tensor([[0.9, 0.1]]).repeat(10, 1)
    labels = torch.tensor([0, 1] * 5)
    assert ece(probs, labels) == pytest.approx(0.4)
    assert ece(probs, labels, adaptive=True) == pytest.approx(0.4)
    # confidence 0.75 and three of four right: perfectly calibrated
    assert ece(torch.tensor([[0.75, 0.25]]).repeat(4, 1), torch.tensor([0, 0, 0, 1])) == pytest.approx(0.0, abs=1e-12)


def test_equal_width_and_equal_mass_bins_differ():
    probs = torch.tensor([[0.6, 0.4], [0.7, 0.3], [0.8, 0.2], [0.9, 0.1]])
    labels = torch.tensor([0, 1, 0, 0])  # right, wrong, right, right
    # two equal-width bins: all four in (0.5, 1], confidence 0.75 = accuracy 0.75
    assert ece(probs, labels, num_bins=2) == pytest.approx(0.0, abs=1e-7)
    # two equal-mass bins: {0.6, 0.7} (conf 0.65, acc 0.5) and {0.8, 0.9} (conf 0.85, acc 1)
    assert ece(probs, labels, num_bins=2, adaptive=True) == pytest.approx(0.5 * 0.15 + 0.5 * 0.15)
    confidence, accuracy, count = reliability(probs, labels, num_bins=2, adaptive=True)
    assert count.tolist() == [2, 2] and accuracy.tolist() == [0.5, 1.0]
    assert confidence.tolist() == pytest.approx([0.65, 0.85])
    _, _, count = reliability(probs, labels, num_bins=10)
    assert count.sum() == 4 and count[:5].sum() == 0


def test_ece_of_a_calibrated_sampler_is_near_zero():
    g = torch.Generator().manual_seed(0)
    confidence = 0.5 + 0.5 * torch.rand(50_000, generator=g)
    right = torch.rand(50_000, generator=g) < confidence  # correct with probability = confidence
    probs = torch.stack([confidence, 1 - confidence], 1)
    labels = (~right).long()
    assert ece(probs, labels) < 0.015
    assert ece(probs, labels, adaptive=True) < 0.015
    assert ece(probs, 1 - labels) > 0.4  # the same confidences, mostly wrong


def test_brier_hand_values():
    assert brier(torch.tensor([[1.0, 0.0], [0.5, 0.5]]), torch.tensor([0, 0])) == pytest.approx(0.25)
    assert brier(torch.tensor([[0.7, 0.2, 0.1]]), torch.tensor([1])) == pytest.approx(0.49 + 0.64 + 0.01)


def test_fit_temperature_recovers_the_scale():
    g = torch.Generator().manual_seed(0)
    true_logits = 2 * torch.randn(4000, 5, generator=g)
    labels = torch.multinomial(true_logits.softmax(1), 1, generator=g).squeeze(1)
    temperature = fit_temperature(3 * true_logits, labels)
    assert temperature == pytest.approx(3.0, rel=0.1)
    assert fit_temperature(true_logits, labels) == pytest.approx(1.0, rel=0.1)
    # a separable set drives T towards 0, where the NLL is lowest
    assert 0.01 <= fit_temperature(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]), torch.tensor([0, 1])) < 0.2


def test_temperature_scaling_fixes_an_overconfident_model(tmp_path):
    data = toy_data()
    model = overconfident_mlp(data).train()
    path = tmp_path / "reliability.png"
    records = calibration(model, data, plot=path)
    assert model.training
    bins = [r for r in records if r.metric == "bin_accuracy"]
    confidences = {(r.setting["bin"], r.setting["scaled"]): r for r in records if r.metric == "bin_confidence"}
    records = [r for r in records if not r.metric.startswith("bin_")]
    values = records_of(records)
    assert values["temperature", None] > 1.5
    assert values["nll", True] < values["nll", False]
    assert values["brier", True] < values["brier", False]
    assert values["ece", True] < values["ece", False]
    assert all(math.isfinite(r.value) and r.n in (len(data.test), len(data.val)) for r in records)
    assert {r.metric for r in records} == {"temperature", "ece", "adaptive_ece", "nll", "brier"}

    # the records are the pure functions on the test logits
    with torch.no_grad():
        logits = model.eval()(data.test.x).double()
    probs = logits.softmax(1)
    assert values["ece", False] == pytest.approx(ece(probs, data.test.y))
    assert values["adaptive_ece", False] == pytest.approx(ece(probs, data.test.y, adaptive=True))
    assert values["nll", False] == pytest.approx(F.cross_entropy(logits, data.test.y).item())
    assert values["brier", False] == pytest.approx(brier(probs, data.test.y))
    # the reliability diagram's bins, as records: they reproduce the equal-width ECE
    for scaled in (False, True):
        own = [r for r in bins if r.setting["scaled"] is scaled]
        assert sum(r.n for r in own) == len(data.test) and all(0 <= r.value <= 1 for r in own)
        confidence = [confidences[r.setting["bin"], scaled] for r in own]
        assert [(c.setting, c.n) for c in confidence] == [(r.setting, r.n) for r in own]
        assert all(r.setting["low"] < c.value <= r.setting["high"] for r, c in zip(own, confidence, strict=True))
        gap = sum(r.n * abs(r.value - c.value) for r, c in zip(own, confidence, strict=True)) / len(data.test)
        assert gap == pytest.approx(values["ece", scaled])

    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 100


@pytest.mark.parametrize(
    ("options", "message"),
    [({"num_bins": 0}, "num_bins"), ({"plot": "/no/such/folder/x.png"}, "plot"), ({"plot": 3}, "plot")],
)
def test_bad_options(options, message):
    with pytest.raises(ConfigError, match=message):
        calibration(nn.Linear(8, 3), toy_data(), **options)


def test_needs_classification():
    with pytest.raises(ConfigError, match="classification"):
        calibration(nn.Linear(8, 1), toy_data(task="regression"))
