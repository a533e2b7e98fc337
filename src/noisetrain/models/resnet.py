"""Residual networks for small images, after He et al., Deep Residual Learning for Image Recognition, 2016,
arXiv:1512.03385: ResNet-20 (the paper's CIFAR-10 network) and the common CIFAR variant of ResNet-18."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_choice, check_range
from .base import MODELS, check_io, check_widths

SHORTCUTS = ("A", "B")
"""Shortcuts where a block changes shape: "A" zero-pads the subsampled identity (no parameters),
"B" projects with a 1x1 convolution and BatchNorm (He et al. 2016, section 3.3)."""


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut: subsample by ``stride`` and append zero channels up to ``channels``.

    Shapes: (N, C, H, W) in, (N, channels, ceil(H / stride), ceil(W / stride)) out.
    """

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.channels = channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.channels - x.shape[1]))


class BasicBlock(nn.Module):
    """Two conv3x3-BatchNorm2d layers with a ReLU between, plus a shortcut, then ReLU (He et al. 2016, fig. 2).

    Args:
        inputs: input channels.
        outputs: output channels.
        stride: stride of the first convolution (2 halves height and width).
        shortcut: "A" or "B", used where the shape changes; otherwise the identity.

    Shapes: (N, inputs, H, W) in, (N, outputs, ceil(H / stride), ceil(W / stride)) out.
    """

    def __init__(self, inputs: int, outputs: int, stride: int = 1, shortcut: str = "B") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        if stride == 1 and inputs == outputs:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            self.shortcut = ZeroPadShortcut(outputs, stride)
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False), nn.BatchNorm2d(outputs)
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class ResNet(nn.Module):
    """A CIFAR-style ResNet of BasicBlocks: conv3x3 stem (stride 1, no max-pool), stages that each halve
    the resolution after the first, global average pooling and a Linear head.

    Convolutions start from Kaiming-normal weights (He et al., Delving Deep into Rectifiers, 2015,
    arXiv:1502.01852), BatchNorm from weight 1 and bias 0.

    Args:
        input_shape: (C, H, W), any C and size, e.g. (3, 32, 32).
        num_outputs: number of logits or regression targets.
        widths: channels of each stage before the ``width`` multiplier; the stem has the first.
        blocks: BasicBlocks per stage.
        shortcut: "A" (zero padding) or "B" (1x1 projection) where a block changes shape.
        width: multiplier of every width (> 0); channels are rounded, at least 1.

    Shapes: (N, C, H, W) in, (N, num_outputs) out.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_outputs: int,
        widths: Sequence[int],
        blocks: Sequence[int],
        shortcut: str = "B",
        width: float = 1.0,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_shape = check_io(name, input_shape, num_outputs, ndims=(3,))
        self.num_outputs = num_outputs
        self.widths = check_widths(f"{name}.widths", widths)
        self.blocks = check_widths(f"{name}.blocks", blocks)
        check_choice(f"{name}.shortcut", shortcut, SHORTCUTS)
        self.shortcut = shortcut
        check_range(f"{name}.width", width, 0, low_open=True)
        self.width = width

        channels = [max(1, round(w * width)) for w in self.widths]
        self.conv1 = nn.Conv2d(self.input_shape[0], channels[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels[0])
        self.relu = nn.ReLU()
        inputs = channels[0]
        for index, (outputs, count) in enumerate(zip(channels, self.blocks, strict=True)):
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(inputs, outputs, stride, shortcut)]
            stage += [BasicBlock(outputs, outputs, 1, shortcut) for _ in range(count - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
            inputs = outputs
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(inputs, num_outputs)

        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for index in range(len(self.blocks)):
            x = getattr(self, f"layer{index + 1}")(x)
        return self.fc(self.flatten(self.pool(x)))


@MODELS.register("resnet18")
class ResNet18(ResNet):
    """ResNet-18 for CIFAR (3x3 stem, stride 1, no max-pool): BasicBlocks [2, 2, 2, 2] of widths
    64, 128, 256, 512 (He et al. 2016, arXiv:1512.03385); about 11.17M parameters for 10 classes.

    Args:
        input_shape: (C, H, W), e.g. (3, 32, 32).
        num_outputs: number of logits or regression targets.
        width: multiplier of every width (> 0). Default 1.
        shortcut: "B" (1x1 projection, default) or "A" (zero padding) where a block changes shape.

    Example: ``ResNet18((3, 32, 32), 10)``.
    """

    def __init__(
        self, input_shape: tuple[int, int, int], num_outputs: int, width: float = 1.0, shortcut: str = "B"
    ) -> None:
        super().__init__(input_shape, num_outputs, (64, 128, 256, 512), (2, 2, 2, 2), shortcut, width)


@MODELS.register("resnet20")
class ResNet20(ResNet):
    """ResNet-20, the CIFAR-10 network of He et al., Deep Residual Learning for Image Recognition, 2016,
    arXiv:1512.03385 (section 4.2): three stages of 16, 32, 64 channels with 3 BasicBlocks each and
    zero-padding shortcuts (option A, the paper's choice); 269,722 parameters for 10 classes
    (272,474 with option B).

    Args:
        input_shape: (C, H, W), e.g. (3, 32, 32).
        num_outputs: number of logits or regression targets.
        width: multiplier of every width (> 0). Default 1.
        shortcut: "A" (zero padding, default) or "B" (1x1 projection) where a block changes shape.

    Example: ``ResNet20((3, 32, 32), 10)``.
    """

    def __init__(
        self, input_shape: tuple[int, int, int], num_outputs: int, width: float = 1.0, shortcut: str = "A"
    ) -> None:
        super().__init__(input_shape, num_outputs, (16, 32, 64), (3, 3, 3), shortcut, width)
