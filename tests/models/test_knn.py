import math

import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from noisetrain.models import KNN, build_model
from noisetrain.registry import ConfigError


def data(n, seed):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, 3, generator=generator)
    return x, x.flatten(1).numpy()


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_classification_matches_sklearn(weights):
    x, x_np = data(40, 0)
    y = (x[:, 0, 0] > 0).long() + (x[:, 1, 1] > 0.5).long()  # three classes
    x_test, x_test_np = data(25, 1)
    model = KNN((2, 3), 3, k=5, weights=weights).fit(x, y)
    reference = KNeighborsClassifier(n_neighbors=5, weights=weights).fit(x_np, y.numpy())
    assert model.predict(x_test).tolist() == reference.predict(x_test_np).tolist()
    logits = model(x_test)
    assert logits.shape == (25, 3) and logits.dtype == torch.float32
    expected = torch.as_tensor(reference.predict_proba(x_test_np)).float()
    assert torch.allclose(logits.exp(), expected.clamp_min(1e-6), atol=1e-7)
    assert torch.allclose(logits.softmax(1), expected, atol=1e-5)
    assert torch.equal(logits.argmax(1), model.predict(x_test))


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_regression_matches_sklearn(weights):
    x, x_np = data(30, 2)
    y = x.flatten(1) @ torch.arange(6.0)
    x_test, x_test_np = data(10, 3)
    model = KNN((2, 3), 1, k=4, weights=weights, task="regression").fit(x, y)
    expected = KNeighborsRegressor(n_neighbors=4, weights=weights).fit(x_np, y.numpy()).predict(x_test_np)
    assert model(x_test).shape == (10, 1) and model.predict(x_test).shape == (10, 1)
    assert torch.allclose(model(x_test)[:, 0], torch.as_tensor(expected).float())


def test_toy_classification_exact():
    x = torch.tensor([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    model = KNN((1,), 3, k=3).fit(x, y)  # class 2 never seen
    logits = model(torch.tensor([[1.5], [10.5]]))
    floor = math.log(1e-6)
    assert torch.allclose(logits, torch.tensor([[0.0, floor, floor], [floor, 0.0, floor]]))
    mixed = KNN((1,), 2, k=4).fit(x, y)(torch.tensor([[1.0]]))  # neighbours 1, 0, 2 (class 0) and 10 (class 1)
    assert torch.allclose(mixed, torch.tensor([[math.log(0.75), math.log(0.25)]]))


def test_toy_regression_exact():
    x, y = torch.tensor([[0.0], [1.0], [5.0]]), torch.tensor([0.0, 1.0, 5.0])
    assert torch.allclose(KNN((1,), 1, k=2, task="regression").fit(x, y)(torch.tensor([[0.25]])), torch.tensor([[0.5]]))
    distance = KNN((1,), 1, k=2, weights="distance", task="regression").fit(x, y)
    assert torch.allclose(distance(torch.tensor([[0.25]])), torch.tensor([[0.25]]))  # weights 4 and 4/3


def test_multi_output_regression():
    x = torch.tensor([[0.0], [1.0], [2.0]])
    y = torch.stack([x[:, 0], -x[:, 0]], dim=1)
    model = KNN((1,), 2, k=1, task="regression").fit(x, y)
    assert torch.equal(model(torch.tensor([[0.9], [2.2]])), torch.tensor([[1.0, -1.0], [2.0, -2.0]]))


def test_use_before_fit_and_bad_fits():
    model = build_model({"kind": "knn", "k": 3}, input_shape=(2,), num_outputs=2)
    assert list(model.parameters()) == [] and model.estimator_ is None
    with pytest.raises(RuntimeError, match=r"KNN is not fitted: call model.fit\(x_train, y_train\)"):
        model(torch.zeros(1, 2))
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(torch.zeros(1, 2))
    with pytest.raises(ConfigError, match=r"model\.k=3 needs at least 3 training examples, and the training set has 2"):
        model.fit(torch.zeros(2, 2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"int labels in \[0, 1\]"):
        model.fit(torch.zeros(3, 2), torch.tensor([0, 1, 2]))
    assert "fitted=False" in repr(model)
