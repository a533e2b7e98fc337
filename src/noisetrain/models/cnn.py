"""Small convolutional networks for images: LeNet for 28x28 digits, a VGG-style CNN for 32x32 colour images."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..checks import check_range
from ..registry import ConfigError
from .base import MODELS, check_io, check_widths


@MODELS.register("lenet")
class LeNet(nn.Module):
    """LeNet-5 with ReLU and max pooling (LeCun et al., Gradient-Based Learning Applied to Document
    Recognition, 1998): conv5x5(6, padding 2)-ReLU-maxpool2, conv5x5(16)-ReLU-maxpool2, then
    Linear 120-ReLU-Linear 84-ReLU-Linear.

    Args:
        input_shape: (C, H, W) with H, W >= 12, e.g. (1, 28, 28); the flatten size follows from it.
        num_outputs: number of logits or regression targets.

    Shapes: (N, C, H, W) in, (N, num_outputs) out.

    Example: ``LeNet((1, 28, 28), 10)``.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_outputs: int) -> None:
        super().__init__()
        self.input_shape = check_io("LeNet", input_shape, num_outputs, ndims=(3,))
        self.num_outputs = num_outputs
        channels, height, width = self.input_shape
        if min(height, width) < 12:
            raise ConfigError(f"LeNet.input_shape needs height and width >= 12, got {input_shape!r}")
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        flat = 16 * ((height // 2 - 4) // 2) * ((width // 2 - 4) // 2)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@MODELS.register("cnn32")
class CNN32(nn.Module):
    """A small VGG-style CNN for 32x32 images (after Simonyan & Zisserman, Very Deep Convolutional
    Networks for Large-Scale Image Recognition, 2014, arXiv:1409.1556): per width a stage of two
    conv3x3-BatchNorm2d-ReLU blocks and a 2x2 max-pool, then global average pooling, optional
    dropout and a Linear head.

    Args:
        input_shape: (C, H, W) with H, W >= 2 ** len(widths), e.g. (3, 32, 32).
        num_outputs: number of logits or regression targets.
        widths: channels of each stage. Default (32, 64, 128).
        dropout: probability of an ``nn.Dropout`` before the head, in [0, 1). Default 0.

    Shapes: (N, C, H, W) in, (N, num_outputs) out.

    Example: ``CNN32((3, 32, 32), 10, widths=(16, 32))``.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_outputs: int,
        widths: Sequence[int] = (32, 64, 128),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_shape = check_io("CNN32", input_shape, num_outputs, ndims=(3,))
        self.num_outputs = num_outputs
        self.widths = check_widths("CNN32.widths", widths)
        check_range("CNN32.dropout", dropout, 0, 1, high_open=True)
        self.dropout = dropout
        channels, height, width = self.input_shape
        if min(height, width) < 2 ** len(self.widths):
            raise ConfigError(
                f"CNN32.input_shape needs height and width >= {2 ** len(self.widths)} for {len(self.widths)} "
                f"stages, got {input_shape!r}"
            )
        stages = []
        for out in self.widths:
            stages.append(nn.Sequential(*_conv_bn_relu(channels, out), *_conv_bn_relu(out, out), nn.MaxPool2d(2)))
            channels = out
        self.features = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(channels, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.flatten(self.pool(self.features(x)))))


def _conv_bn_relu(inputs: int, outputs: int) -> list[nn.Module]:
    """3x3 convolution (no bias: the BatchNorm shifts), BatchNorm2d, ReLU."""
    return [nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU()]
