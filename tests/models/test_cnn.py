import torch
from torch import nn

from noisetrain.models import CNN32, LeNet


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_lenet5_on_mnist_has_the_classic_61706_parameters():
    model = LeNet((1, 28, 28), 10)
    assert count(model) == 156 + 2416 + 48120 + 10164 + 850 == 61706
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_lenet_flatten_size_follows_the_input():
    for shape, flat in [((3, 32, 32), 16 * 6 * 6), ((1, 12, 13), 16 * 1 * 1), ((2, 20, 28), 16 * 3 * 5)]:
        model = LeNet(shape, 4)
        assert model.classifier[1].in_features == flat
        assert model(torch.randn(2, *shape)).shape == (2, 4)


def test_cnn32_blocks_and_sizes():
    model = CNN32((3, 32, 32), 10)
    assert model.widths == (32, 64, 128) and model.dropout == 0.0 and isinstance(model.drop, nn.Identity)
    stage = model.features[0]
    assert [type(m) for m in stage] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 2 + [nn.MaxPool2d]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    small = CNN32((1, 4, 6), 2, widths=(4, 8), dropout=0.5)
    assert isinstance(small.drop, nn.Dropout) and small.drop.p == 0.5
    assert small(torch.randn(3, 1, 4, 6)).shape == (3, 2)
