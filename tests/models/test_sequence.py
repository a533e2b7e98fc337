import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from noisetrain.models import CNN1d, TextClassifier


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
