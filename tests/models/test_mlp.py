import pytest
import torch
from torch import nn

from noisetrain.models import ACTIVATIONS, MLP


def layer_types(model):
    return [type(m) for m in model.hidden]


def test_layers_in_order_and_parameter_count():
    model = MLP((2, 3), 4, widths=(5, 7), batchnorm=True, dropout=0.25, activation="gelu")
    assert layer_types(model) == [nn.Linear, nn.BatchNorm1d, nn.GELU, nn.Dropout] * 2
    assert model.hidden[3].p == 0.25
    linear = (6 * 5 + 5) + (5 * 7 + 7) + (7 * 4 + 4)
    batchnorm = 2 * 5 + 2 * 7
    assert sum(p.numel() for p in model.parameters()) == linear + batchnorm


def test_defaults_and_linear_model():
    model = MLP((8,), 3)
    assert (model.widths, model.activation, model.batchnorm, model.dropout) == ((256, 256), "relu", False, 0.0)
    assert layer_types(model) == [nn.Linear, nn.ReLU] * 2
    linear = MLP((2, 2), 3, widths=[])
    assert len(linear.hidden) == 0 and linear.head.in_features == 4
    x = torch.randn(5, 2, 2)
    assert torch.allclose(linear(x), x.flatten(1) @ linear.head.weight.T + linear.head.bias)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_is_a_torch_module(name):
    model = MLP((3,), 2, widths=(4,), activation=name)
    assert isinstance(model.hidden[1], ACTIVATIONS[name])
    assert model(torch.randn(2, 3)).shape == (2, 2)


def test_regression_with_one_output_keeps_the_output_dimension():
    assert MLP((3, 2), 1, widths=(4,))(torch.randn(5, 3, 2)).shape == (5, 1)
