import math

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

from noisetrain.evaluate.clean import clean
from noisetrain.evaluate.uncertainty import auroc, entropy, mutual_information, uncertainty
from noisetrain.noise.inject import inject
from noisetrain.noise.inputs import GaussianNoise
from noisetrain.registry import ConfigError

from testkit import toy_data


@pytest.fixture(scope="module")
def data():
    return toy_data()


def fitted_mlp(data, dropout: float = 0.0) -> nn.Module:
    """Linear-ReLU-Dropout-Linear fitted to ``data.train`` by 100 full-batch Adam steps (well under a second)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(100):
        optimizer.zero_grad()
        F.cross_entropy(model(data.train.x), data.train.y).backward()
        optimizer.step()
    return model


def values(records):
    return {(r.metric, r.setting.get("score"), r.setting.get("target")): r.value for r in records}


def test_entropy_and_mutual_information_hand_values():
    assert entropy(torch.full((4,), 0.25)).item() == pytest.approx(math.log(4))
    assert entropy(torch.tensor([[1.0, 0.0], [0.5, 0.5]])).tolist() == pytest.approx([0.0, math.log(2)])
    same = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]).expand(5, 2, 3)
    assert mutual_information(same).tolist() == pytest.approx([0.0, 0.0], abs=1e-7)
    disagree = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # two confident passes that disagree
    assert mutual_information(disagree).tolist() == pytest.approx([math.log(2)])


def test_auroc_hand_values_and_sklearn():
    scores, positives = torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1])
    assert auroc(scores, positives) == pytest.approx(0.75)
    assert auroc(torch.ones(4), positives) == 0.5  # all tied
    assert math.isnan(auroc(scores, torch.zeros(4)))
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 20, (500,), generator=g).float()  # many ties
    positives = torch.rand(500, generator=g) < 0.3 + scores / 40
    assert auroc(scores, positives) == pytest.approx(roc_auc_score(positives.numpy(), scores.numpy()), abs=1e-12)


def test_deterministic_model_has_no_mutual_information(data):
    model = fitted_mlp(data)
    found = values(uncertainty(model, data, samples=3))
    assert found["mutual_information", None, None] == 0.0  # exactly: the passes agree, no rounding left over
    assert math.isnan(found["auroc", "mutual_information", "misclassified"])  # a constant score ranks nothing
    assert found["accuracy", None, None] == next(r.value for r in clean(model, data) if r.metric == "accuracy")
    assert found["entropy", None, None] > 0
    assert 0.5 < found["auroc", "entropy", "misclassified"] <= 1  # wrong answers are the uncertain ones


def test_dropout_gives_mutual_information_and_flags_are_restored(data):
    model = fitted_mlp(data, dropout=0.3).eval()
    state = torch.random.get_rng_state()
    records = uncertainty(model, data, samples=10, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    assert not any(m.training for m in model.modules())
    found = values(records)
    assert found["mutual_information", None, None] > 0.005
    assert 0.8 < found["accuracy", None, None] <= 1
    assert records == uncertainty(model, data, samples=10, seed=3)  # same seed, same numbers
    assert records != uncertainty(model, data, samples=10, seed=4)
    assert all(r.setting["samples"] == 10 for r in records)


def test_injected_noise_is_sampled_in_mc_mode(data):
    model = fitted_mlp(data)
    with inject(model, ("output:1", GaussianNoise(std=0.5, seed=0))):
        found = values(uncertainty(model, data, samples=5))
    assert found["mutual_information", None, None] > 0.005


def test_corrupted_inputs(data):
    model = fitted_mlp(data)
    same = values(uncertainty(model, data, samples=2, corrupted={"kind": "gaussian", "strength": 0.0}))
    assert same["auroc", "entropy", "corrupted"] == 0.5  # the "noised" inputs are the clean ones
    records = uncertainty(model, data, samples=2, corrupted={"kind": "mask", "strength": 0.5})
    corrupted = [r for r in records if r.setting.get("target") == "corrupted"]
    assert len(corrupted) == 2 and all(r.n == 2 * len(data.test) for r in corrupted)
    assert 0 <= corrupted[0].value <= 1 and math.isnan(corrupted[1].value)  # entropy ranks; a deterministic MI not
    assert corrupted[0].setting["corruption"] == {"kind": "mask", "strength": 0.5, "clip": None}
    assert corrupted[0].value != 0.5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"samples": 0}, "samples"),
        ({"corrupted": {"kind": "fog", "strength": 0.1}}, "kind must be one of 'gaussian', 'uniform'"),
        ({"corrupted": {"kind": "gaussian", "strength": -1}}, "strength"),
        ({"corrupted": {"kind": "gaussian"}}, "kind and strength"),
        ({"corrupted": {"kind": "gaussian", "strength": 0.1, "std": 1}}, "unknown keys"),
    ],
)
def test_bad_options(data, options, message):
    with pytest.raises(ConfigError, match=message):
        uncertainty(nn.Linear(8, 3), data, **options)
