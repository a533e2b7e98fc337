import pytest
import torch
from torch import nn

import noisetrain as nt
from noisetrain.models import ACTIVATIONS, MLP, Residual
from noisetrain.registry import ConfigError


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


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_residual_mlp_is_the_mnist1d_reference_mlp():
    torch.manual_seed(0)
    model = MLP((40,), 10, widths=(100, 100), residual=True)
    assert [type(m) for m in model.hidden] == [nn.Linear, nn.ReLU, Residual]  # 40 -> 100 has no skip
    assert count(model) == (40 * 100 + 100) + (100 * 100 + 100) + (100 * 10 + 10) == 15210
    first, second = model.hidden[0], model.hidden[2].block[0]
    x = torch.randn(6, 40)
    h1 = torch.relu(x @ first.weight.T + first.bias)
    h2 = h1 + torch.relu(h1 @ second.weight.T + second.bias)
    expected = h2 @ model.head.weight.T + model.head.bias
    assert torch.allclose(model(x), expected, atol=1e-6)
    plain = MLP((40,), 10, widths=(100, 100))
    plain.load_state_dict({k.replace("hidden.2.block.0", "hidden.2"): v for k, v in model.state_dict().items()})
    assert not torch.allclose(plain(x), expected, atol=1e-3)  # the skip connection matters


def test_residual_blocks_only_where_the_width_is_kept():
    model = MLP((2, 2), 3, widths=(4, 6, 6), residual=True, batchnorm=True, dropout=0.5)
    assert [type(m) for m in model.hidden] == [Residual, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout, Residual]
    assert [type(m) for m in model.hidden[0].block] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout]
    assert model.hidden[0].block[0].in_features == 4 and model.head.in_features == 6
    assert model(torch.randn(5, 2, 2)).shape == (5, 3)
    assert count(model) == count(MLP((2, 2), 3, widths=(4, 6, 6), batchnorm=True, dropout=0.5))  # no new weights
    block = model.hidden[5].block.eval()
    model.eval()
    h = torch.randn(3, 6)
    assert torch.allclose(model.hidden[5](h), h + block(h))


def test_residual_mlp_activations_are_found_by_noise_selectors():
    model = MLP((40,), 10, widths=(100, 100), residual=True)
    with nt.inject(model, {"kind": "dropout", "p": 0.1, "at": "output:ReLU"}) as handle:
        assert len(handle) == 2


@pytest.mark.parametrize("value", [1, "yes", None])
def test_residual_must_be_a_bool(value):
    with pytest.raises(ConfigError, match=r"MLP\.residual must be true or false"):
        MLP((4,), 2, residual=value)
