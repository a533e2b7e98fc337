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


EDGE_PROBS = torch.tensor([[0.5, 0.3, 0.2], [0.625, 0.375, 0], [0.75, 0.25, 0], [0.875, 0.125, 0], [1.0, 0, 0]])
EDGE_LABELS = torch.tensor([0, 1, 0, 0, 1])  # right, wrong, right, right, wrong


def test_confidences_on_the_edges_by_hand():
    # confidences 0.5, 0.625, 0.75, 0.875, 1 (exact in any float) in 4 bins: 0.5, 0.75 and 1 are edges
    # right, ((i-1)/4, i/4]: {0.5} acc 1 | {0.625, 0.75} acc 1/2, conf 0.6875 | {0.875, 1} acc 1/2, conf 0.9375
    right = (1 * 0.5 + 2 * 0.1875 + 2 * 0.4375) / 5
    # left, [(i-1)/4, i/4) and {1}: {0.5, 0.625} acc 1/2, conf 0.5625 | {0.75, 0.875} acc 1, conf 0.8125 | {1} acc 0
    left = (2 * 0.0625 + 2 * 0.1875 + 1 * 1.0) / 5  # 1 merged into [0.75, 1] instead: (2 * 0.0625 + 0.625) / 5
    assert (right, left) == pytest.approx((0.35, 0.30))
    assert ece(EDGE_PROBS, EDGE_LABELS, num_bins=4) == pytest.approx(right)
    assert ece(EDGE_PROBS, EDGE_LABELS, num_bins=4, bins="right") == pytest.approx(right)
    assert ece(EDGE_PROBS, EDGE_LABELS, num_bins=4, bins="left") == pytest.approx(left)
    assert reliability(EDGE_PROBS, EDGE_LABELS, num_bins=4)[2].tolist() == [0, 1, 2, 2]
    confidence, accuracy, count = reliability(EDGE_PROBS, EDGE_LABELS, num_bins=4, bins="left")
    assert count.tolist() == [0, 0, 2, 2, 1] and accuracy.tolist() == [0, 0, 0.5, 1, 0]
    assert confidence.tolist() == [0, 0, 0.5625, 0.8125, 1]
    # "left" bins the confidence rounded to float32, as torchmetrics does: 1 - 1e-12 counts as 1
    near_one = torch.tensor([[1 - 1e-12, 1e-12]], dtype=torch.float64)
    assert reliability(near_one, torch.tensor([0]), num_bins=4, bins="left")[2].tolist() == [0, 0, 0, 0, 1]
    assert reliability(near_one, torch.tensor([0]), num_bins=4)[2].tolist() == [0, 0, 0, 1]


def test_torchmetrics_docstring_example_with_left_bins():
    # multiclass_calibration_error(preds, target, num_classes=3, n_bins=3, norm="l1") -> tensor(0.2000)
    preds = torch.tensor([[0.25, 0.20, 0.55], [0.55, 0.05, 0.40], [0.10, 0.30, 0.60], [0.90, 0.05, 0.05]])
    assert ece(preds, torch.tensor([0, 1, 2, 0]), num_bins=3, bins="left") == pytest.approx(0.2, abs=1e-6)


@pytest.mark.parametrize("num_bins", [4, 10, 15])
def test_right_and_left_bins_agree_off_the_edges(num_bins):
    g = torch.Generator().manual_seed(num_bins)
    probs = (2 * torch.randn(2000, 5, generator=g)).softmax(1)
    labels = torch.randint(0, 5, (2000,), generator=g)
    scaled = probs.max(1).values.double() * num_bins
    assert not (scaled == scaled.round()).any()  # no confidence on an edge, none equal to 1
    _, _, right = reliability(probs, labels, num_bins=num_bins)
    _, _, left = reliability(probs, labels, num_bins=num_bins, bins="left")
    assert left.tolist() == [*right.tolist(), 0]
    assert ece(probs, labels, num_bins=num_bins, bins="left") == pytest.approx(ece(probs, labels, num_bins=num_bins))


def test_left_bins_match_torchmetrics():
    functional = pytest.importorskip("torchmetrics.functional.classification")
    g = torch.Generator().manual_seed(0)
    logits = 4 * torch.randn(500, 3, generator=g)
    labels = torch.randint(0, 3, (500,), generator=g)
    for probs, target, num_bins in ((EDGE_PROBS, EDGE_LABELS, 4), (logits.softmax(1), labels, 15)):
        expected = functional.multiclass_calibration_error(probs, target, num_classes=3, n_bins=num_bins, norm="l1")
        assert ece(probs, target, num_bins=num_bins, bins="left") == pytest.approx(float(expected), abs=1e-6)


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
    settings = {r.metric: r.setting for r in records if r.setting.get("temperature_scaled") is False}
    assert settings["ece"] == {"temperature_scaled": False, "num_bins": 15, "bins": "right"}
    assert settings["adaptive_ece"] == {"temperature_scaled": False, "num_bins": 15}  # no edges: no convention
    assert all(r.setting["bins"] == "right" for r in bins)

    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 100


def test_left_bins_reach_every_record_of_the_measure():
    data = toy_data()
    model = overconfident_mlp(data)
    records = calibration(model, data, num_bins=4, bins="left")
    with torch.no_grad():
        probs = model(data.test.x).double().softmax(1)
    (left,) = [r for r in records if r.metric == "ece" and r.setting["temperature_scaled"] is False]
    assert left.setting == {"temperature_scaled": False, "num_bins": 4, "bins": "left"}
    assert left.value == pytest.approx(ece(probs, data.test.y, num_bins=4, bins="left"))
    own = [r for r in records if r.metric == "bin_accuracy" and r.setting["scaled"] is False]
    assert all(r.setting["bins"] == "left" for r in own) and sum(r.n for r in own) == len(data.test)
    count = reliability(probs, data.test.y, num_bins=4, bins="left")[2]
    assert [(r.setting["bin"], r.n) for r in own] == [(i, int(c)) for i, c in enumerate(count) if c > 0]
    edges = [(r.setting["low"], r.setting["high"]) for r in records if r.metric == "bin_accuracy"]
    assert set(edges) <= {(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0), (1.0, 1.0)}


@pytest.mark.parametrize(
    ("options", "message"),
    [({"num_bins": 0}, "num_bins"), ({"plot": "/no/such/folder/x.png"}, "plot"), ({"plot": 3}, "plot"),
     ({"bins": "middle"}, "bins must be one of 'right', 'left'; got 'middle'"), ({"bins": None}, "bins")],
)  # fmt: skip
def test_bad_options(options, message):
    with pytest.raises(ConfigError, match=message):
        calibration(nn.Linear(8, 3), toy_data(), **options)


def test_equal_mass_bins_refuse_an_edge_convention():
    probs, labels = torch.tensor([[0.75, 0.25]]), torch.tensor([0])
    with pytest.raises(ConfigError, match="bins='left' applies to equal-width bins only"):
        ece(probs, labels, adaptive=True, bins="left")
    with pytest.raises(ConfigError, match="bins must be one of 'right', 'left'; got 'closed'"):
        reliability(probs, labels, bins="closed")


def test_needs_classification():
    with pytest.raises(ConfigError, match="classification"):
        calibration(nn.Linear(8, 1), toy_data(task="regression"))
