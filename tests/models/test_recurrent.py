import pytest
import torch
import torch.nn.functional as F
from torch import nn

from noisetrain.config import validate
from noisetrain.models import MODELS, GRUNet, LSTMNet, build_model
from noisetrain.registry import ConfigError

CELLS = [GRUNet, LSTMNet]


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_kinds_are_registered():
    assert MODELS.get("gru") is GRUNet and MODELS.get("lstm") is LSTMNet
    assert isinstance(GRUNet((5,), 2).rnn, nn.GRU) and isinstance(LSTMNet((5,), 2).rnn, nn.LSTM)


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize(
    ("input_shape", "readout", "bidirectional", "head_in"),
    [
        ((12,), "last", False, 7),
        ((12,), "last", True, 14),
        ((12,), "flatten", False, 7 * 12),
        ((12,), "flatten", True, 14 * 12),
        ((3, 12), "last", True, 14),
        ((3, 12), "flatten", False, 7 * 12),
    ],
)
def test_output_shapes(cls, input_shape, readout, bidirectional, head_in):
    model = cls(input_shape, 4, hidden=7, layers=2, bidirectional=bidirectional, readout=readout)
    assert model.rnn.input_size == (input_shape[0] if len(input_shape) == 2 else 1)
    assert model.rnn.num_layers == 2 and model.head.in_features == head_in
    assert model(torch.randn(5, *input_shape)).shape == (5, 4)


def test_defaults():
    model = GRUNet((10,), 3)
    options = (model.hidden, model.layers, model.bidirectional, model.readout, model.dropout)
    assert options == (64, 1, False, "last", 0.0)
    assert isinstance(model.drop, nn.Identity) and model.head.in_features == 64
    assert LSTMNet((10,), 3, dropout=0.25).drop.p == 0.25


def test_mnist1d_gru_has_the_reference_parameter_count():
    model = GRUNet((40,), 10, hidden=6, bidirectional=True, readout="flatten")
    reference = count(nn.GRU(1, 6, bidirectional=True)) + count(nn.Linear(480, 10))
    assert model.head.in_features == 6 * 2 * 40 == 480
    assert count(model) == reference == 2 * 3 * (6 * 1 + 6 * 6 + 2 * 6) + 480 * 10 + 10 == 5134
    assert model(torch.randn(3, 40)).shape == (3, 10)


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_last_readout_is_the_final_hidden_state_of_the_top_layer(cls, bidirectional):
    torch.manual_seed(0)
    model = cls((2, 9), 3, hidden=5, layers=2, bidirectional=bidirectional).eval()
    x = torch.randn(4, 2, 9)
    with torch.no_grad():
        _, final = model.rnn(x.transpose(1, 2))
        h = final[0] if isinstance(final, tuple) else final  # LSTM: (h, c)
        top = torch.cat([h[-2], h[-1]], dim=1) if bidirectional else h[-1]
        assert torch.allclose(model(x), model.head(top), atol=1e-6)
        assert model(torch.randn(4, 2, 17)).shape == (4, 3)  # any length


@pytest.mark.parametrize("cls", CELLS)
def test_flatten_readout_reads_every_step_channels_first(cls):
    torch.manual_seed(0)
    model = cls((3, 6), 2, hidden=4, readout="flatten").eval()
    x = torch.randn(5, 3, 6)
    with torch.no_grad():
        outputs, _ = model.rnn(x.permute(0, 2, 1))  # (N, L, C) per step
        assert torch.allclose(model(x), model.head(outputs.reshape(5, 24)), atol=1e-6)
    with pytest.raises(ValueError, match=r"readout 'flatten' needs sequences of length 6, got 7"):
        model(torch.randn(5, 3, 7))


@pytest.mark.parametrize("cls", CELLS)
def test_one_feature_per_step_with_or_without_channel_dimension(cls):
    torch.manual_seed(0)
    model = cls((8,), 2, hidden=3).eval()
    x = torch.randn(4, 8)
    assert torch.equal(model(x), model(x.unsqueeze(1)))
    assert not torch.allclose(model(x), model(x.flip(1)))  # the order of the steps matters


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hidden": 0}, r"\.hidden must be in \[1, inf\), got 0"),
        ({"hidden": 6.0}, r"\.hidden must be an int"),
        ({"layers": 0}, r"\.layers must be in \[1, inf\)"),
        ({"bidirectional": "yes"}, r"\.bidirectional must be true or false"),
        ({"readout": "mean"}, r"\.readout must be one of 'last', 'flatten'; got 'mean'"),
        ({"dropout": 1.0}, r"\.dropout must be in \[0, 1\)"),
        ({"input_shape": (1, 2, 3)}, r"\.input_shape must be a 1-D or 2-D shape"),
        ({"num_outputs": 0}, r"\.num_outputs must be a positive int"),
    ],
)
def test_invalid_options_name_the_field(cls, options, message):
    arguments = {"input_shape": (10,), "num_outputs": 2, **options}
    with pytest.raises(ConfigError, match=cls.__name__ + message):
        cls(**arguments)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_a_few_adam_steps_fit_a_tiny_sequence_task(kind):
    torch.manual_seed(0)
    x = torch.randn(32, 2, 10)
    y = (x[:, 0, :5].sum(1) > x[:, 1, 5:].sum(1)).long()  # depends on where and in which channel
    model = build_model({"kind": kind, "hidden": 8, "bidirectional": True}, input_shape=(2, 10), num_outputs=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(15):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_registry_validation_and_build():
    validate({"data": "mnist1d", "model": {"kind": "gru", "hidden": 6}})
    validate({"data": "mnist1d", "model": {"kind": "lstm", "bidirectional": True, "readout": "flatten"}})
    with pytest.raises(ConfigError, match="has no parameter 'hiden'"):
        validate({"data": "mnist1d", "model": {"kind": "gru", "hiden": 6}})
    with pytest.raises(ConfigError, match=r"model: GRUNet\.readout must be one of"):
        build_model({"kind": "gru", "readout": "all"}, input_shape=(40,), num_outputs=10)
