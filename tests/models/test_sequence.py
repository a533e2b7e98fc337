import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from noisetrain.models import CNN1d, TextClassifier
from noisetrain.registry import ConfigError, sequence_parameters


def test_cnn1d_adds_a_channel_to_2d_input():
    torch.manual_seed(0)
    model = CNN1d((40,), 10)
    assert model.head.in_features == 32 * 5  # 40 -> 20 -> 10 -> 5 with stride 2
    x = torch.randn(3, 40)
    assert model(x).shape == (3, 10)
    assert torch.equal(model(x), model(x.unsqueeze(1)))


def test_cnn1d_on_multichannel_series_and_global_pooling():
    model = CNN1d((3, 17), 2, widths=(4, 6), kernel_size=3, stride=1)
    assert model.features[0].in_channels == 3 and model.head.in_features == 6 * 17
    assert model(torch.randn(2, 3, 17)).shape == (2, 2)
    pooled = CNN1d((3, 17), 2, widths=(4,), global_pool=True)
    assert pooled.head.in_features == 4
    assert pooled(torch.randn(2, 3, 50)).shape == (2, 2)  # any length


def text_model(encoder, **options):
    torch.manual_seed(0)
    return TextClassifier((6,), 3, vocab_size=20, encoder=encoder, embedding_dim=5, hidden=7, **options).eval()


@pytest.mark.parametrize("encoder", ["gru", "cnn"])
@pytest.mark.parametrize("pad_id", [0, 3])
def test_appending_padding_leaves_the_output_unchanged(encoder, pad_id):
    model = text_model(encoder, pad_id=pad_id)
    p = pad_id
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, p, p, p, p], [13, 14, 15, 1, p, p]])
    padded = torch.cat([ids, torch.full((3, 9), pad_id)], dim=1)
    with torch.no_grad():
        out, out_padded = model(ids), model(padded)
    assert torch.allclose(out, out_padded, atol=1e-6, rtol=0)
    assert not torch.allclose(out[0], out[1])  # and the tokens matter
    changed = ids.clone()
    changed[1, 1] = 4
    assert not torch.allclose(model(changed)[1], out[1])


def test_gru_encoding_equals_the_packed_final_state():
    model = text_model("gru")
    ids = torch.tensor([[5, 6, 7, 0, 0, 0], [1, 2, 3, 4, 5, 6], [9, 0, 0, 0, 0, 0]])
    lengths = (ids != 0).sum(1)
    with torch.no_grad():
        packed = pack_padded_sequence(model.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        _, final = model.gru(packed)
        assert torch.allclose(model(ids), model.head(final[-1]), atol=1e-6)


def test_cnn_encoder_max_pools_over_tokens_only():
    model = text_model("cnn")
    ids = torch.tensor([[5, 6, 0, 0, 0, 0]])
    with torch.no_grad():
        features = torch.relu(model.conv(model.embedding(ids[:, :2]).transpose(1, 2)))
        assert torch.allclose(model(ids), model.head(features.amax(dim=2)), atol=1e-6)


@pytest.mark.parametrize("encoder", ["gru", "cnn"])
def test_all_padding_gives_finite_outputs_and_gradients(encoder):
    model = text_model(encoder).train()
    ids = torch.tensor([[0, 0, 0, 0, 0, 0], [3, 4, 0, 0, 0, 0]])
    loss = F.cross_entropy(model(ids), torch.tensor([0, 1]))
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert torch.equal(model.embedding.weight.grad[0], torch.zeros(5))  # the pad embedding is never trained


def test_text_dropout_option():
    model = text_model("cnn", dropout=0.5)
    assert model.drop.p == 0.5


def test_cnn1d_output_length_with_even_kernels_and_long_strides():
    model = CNN1d((1,), 2, widths=(3, 3), kernel_size=4, stride=5)
    assert model.head.in_features == 3 and model(torch.randn(2, 1)).shape == (2, 2)
    model = CNN1d((2, 9), 2, widths=(3,), kernel_size=4, stride=3)  # (9 + 4 - 4) // 3 + 1 = 4
    assert model.head.in_features == 3 * 4 and model(torch.randn(2, 2, 9)).shape == (2, 2)


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_cnn1d_per_layer_options_give_the_mnist1d_reference_cnn():
    torch.manual_seed(0)
    model = CNN1d((40,), 10, widths=[25, 25, 25], kernel_size=[5, 3, 3], stride=2, padding=1)
    convs = [m for m in model.features if isinstance(m, nn.Conv1d)]
    assert [(c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs] == [(5, 2, 1), (3, 2, 1), (3, 2, 1)]
    assert model.head.in_features == 25 * 5 == 125  # 40 -> 19 -> 10 -> 5
    assert count(model) == (1 * 25 * 5 + 25) + 2 * (25 * 25 * 3 + 25) + (125 * 10 + 10) == 5210
    reference = nn.Sequential(
        nn.Conv1d(1, 25, 5, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(25, 25, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(25, 25, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(125, 10),
    )  # fmt: skip
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), reference.parameters(), strict=True):
            theirs.copy_(mine)
    x = torch.randn(4, 40)
    assert torch.allclose(model(x), reference(x.unsqueeze(1)), atol=1e-6)


def test_cnn1d_lists_per_layer_and_default_padding():
    model = CNN1d((2, 30), 3, widths=(4, 5), kernel_size=(3, 5), stride=[1, 3], padding=[0, 2])
    assert (model.kernel_size, model.stride, model.padding) == ((3, 5), (1, 3), (0, 2))
    assert model.head.in_features == 5 * 10  # 30 -> 28 -> (28 + 4 - 5) // 3 + 1 = 10
    assert model(torch.randn(2, 2, 30)).shape == (2, 3)
    default = CNN1d((40,), 10, widths=(4, 4), kernel_size=[3, 4])
    assert default.padding == (1, 2) and default.head.in_features == 4 * 11  # 40 -> 20 -> (20 + 4 - 4) // 2 + 1
    assert CNN1d((40,), 10).padding == (2, 2, 2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kernel_size": [5, 3]}, r"CNN1d\.kernel_size must have one entry per width \(3\), got 2"),
        ({"stride": [2, 2, 2, 2]}, r"CNN1d\.stride must have one entry per width \(3\), got 4"),
        ({"padding": (1, 1)}, r"CNN1d\.padding must have one entry per width \(3\)"),
        ({"kernel_size": 0}, r"CNN1d\.kernel_size must be an int >= 1 or a list of them"),
        ({"kernel_size": True}, r"CNN1d\.kernel_size must be an int >= 1"),
        ({"stride": [2, 0, 2]}, r"CNN1d\.stride must be an int >= 1"),
        ({"padding": -1}, r"CNN1d\.padding must be an int >= 0"),
        ({"padding": "same"}, r"CNN1d\.padding must be an int >= 0"),
        ({"kernel_size": 5.0}, r"CNN1d\.kernel_size"),
    ],
)
def test_cnn1d_invalid_per_layer_options(options, message):
    with pytest.raises(ConfigError, match=message):
        CNN1d((40,), 10, widths=(8, 8, 8), **options)


def test_cnn1d_refuses_inputs_that_shrink_to_nothing():
    with pytest.raises(ConfigError, match=r"CNN1d\.input_shape \(4,\) is too short: layer 0 .* leaves 0 steps"):
        CNN1d((4,), 2, widths=(3, 3), kernel_size=5, padding=0)
    with pytest.raises(ConfigError, match=r"CNN1d\.input_shape \(2, 8\) is too short: layer 1 .*gets length 3"):
        CNN1d((2, 8), 2, widths=(3, 3), kernel_size=(3, 5), stride=(2, 1), padding=0)
    model = CNN1d((2, 8), 2, widths=(3, 3), kernel_size=(3, 3), stride=(2, 1), padding=0)  # 8 -> 3 -> 1
    assert model.head.in_features == 3 and model(torch.randn(1, 2, 8)).shape == (1, 2)


def test_per_layer_options_are_list_values_for_studies():
    assert {"widths", "kernel_size", "stride", "padding"} <= sequence_parameters(CNN1d)


def test_text_classifier_refuses_float_input():
    model = text_model("gru")
    with pytest.raises(ValueError, match=r"TextClassifier takes token ids \(int64\).*model kind 'gru' or 'lstm'"):
        model(torch.randn(2, 6))
