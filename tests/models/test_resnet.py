import math

import pytest
import torch
from torch import nn

from noisetrain.models import BasicBlock, ResNet18, ResNet20, ZeroPadShortcut
from noisetrain.registry import ConfigError


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_resnet20_parameter_counts():
    # He et al. 2016 report 0.27M for ResNet-20; option A (zero padding) has no shortcut parameters,
    # option B adds two 1x1 projections with BatchNorm: 16*32 + 64 + 32*64 + 128 = 2752.
    assert count(ResNet20((3, 32, 32), 10)) == 269_722
    assert count(ResNet20((3, 32, 32), 10, shortcut="B")) == 272_474


def test_resnet18_cifar_parameter_count_and_forward():
    model = ResNet18((3, 32, 32), 10)
    assert count(model) == 11_173_962
    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_resnet20_structure():
    model = ResNet20((3, 32, 32), 10)
    assert model.conv1.stride == (1, 1) and not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    stages = [model.layer1, model.layer2, model.layer3]
    assert [len(s) for s in stages] == [3, 3, 3]
    assert [s[0].conv1.out_channels for s in stages] == [16, 32, 64]
    assert [s[0].conv1.stride for s in stages] == [(1, 1), (2, 2), (2, 2)]
    assert isinstance(model.layer1[0].shortcut, nn.Identity)
    assert isinstance(model.layer2[0].shortcut, ZeroPadShortcut)
    assert isinstance(ResNet20((3, 32, 32), 10, shortcut="B").layer2[0].shortcut, nn.Sequential)


def test_width_multiplier_and_any_channels():
    model = ResNet20((1, 28, 28), 5, width=0.5)
    assert [model.layer1[0].conv1.out_channels, model.layer3[0].conv1.out_channels] == [8, 32]
    assert model.conv1.in_channels == 1 and model.fc.in_features == 32
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 5)
    assert ResNet18((2, 8, 8), 3, width=0.125).layer4[0].conv1.out_channels == 64


def test_initialisation():
    torch.manual_seed(0)
    model = ResNet20((3, 32, 32), 10)
    conv = model.layer3[1].conv1  # 64 -> 64 channels, 3x3: fan_out = 576
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 576), rel=0.02)
    bn = model.layer3[1].bn1
    assert torch.equal(bn.weight, torch.ones(64)) and torch.equal(bn.bias, torch.zeros(64))


def test_zero_pad_shortcut_subsamples_and_appends_zero_channels():
    x = torch.randn(2, 3, 5, 5)
    out = ZeroPadShortcut(7, 2)(x)
    assert out.shape == (2, 7, 3, 3)
    assert torch.equal(out[:, :3], x[:, :, ::2, ::2]) and torch.equal(out[:, 3:], torch.zeros(2, 4, 3, 3))


def test_basic_block_adds_the_identity():
    block = BasicBlock(4, 4).eval()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        block.bn2.weight.zero_()  # residual branch off: the block is relu(x)
    assert torch.equal(block(x), torch.relu(x))


def test_width_must_be_positive():
    with pytest.raises(ConfigError, match=r"ResNet20\.width"):
        ResNet20((3, 32, 32), 10, width=-1)
