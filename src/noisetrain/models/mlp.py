"""A multilayer perceptron on flattened inputs, optionally with residual connections."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..checks import check_bool, check_choice, check_range
from .base import ACTIVATIONS, MODELS, check_io, check_widths


class Residual(nn.Module):
    """``x + block(x)``: a skip connection around ``block``, which must keep the shape
    (He et al., Deep Residual Learning for Image Recognition, 2016, arXiv:1512.03385).

    Shapes: (N, *) in, the same shape out.

    Example: ``Residual(nn.Sequential(nn.Linear(100, 100), nn.ReLU()))``.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


@MODELS.register("mlp")
class MLP(nn.Module):
    """Fully connected network: Flatten, then per hidden width a block Linear [-> BatchNorm1d] -> activation
    [-> Dropout], then a Linear head.

    With ``residual``, every block whose input and output widths are equal computes ``x + block(x)``
    (the first block, on the flattened input, only when the input size equals its width). Widths
    (100, 100) with ``residual`` on MNIST-1D's (40,) give the MLP of Greydanus & Kobak, Scaling Down
    Deep Learning with MNIST-1D, 2024, arXiv:2011.14439: ``h1 = relu(W1 x)``, ``h2 = h1 + relu(W2 h1)``,
    ``W3 h2``.

    ``hidden`` holds the layers in order; a residual block sits there as one ``Residual`` wrapping its
    layers.

    Args:
        input_shape: shape of one input, any number of dimensions (flattened).
        num_outputs: number of logits or regression targets.
        widths: hidden layer widths; empty gives a linear model. Default (256, 256).
        activation: relu, tanh, gelu, silu, elu, leaky_relu or sigmoid. Default relu.
        batchnorm: a BatchNorm1d after each hidden Linear. Default False.
        dropout: probability of an ``nn.Dropout`` after each hidden activation, in [0, 1). Default 0.
        residual: skip connections around the blocks that keep the width. Default False.

    Shapes: (N, *input_shape) in, (N, num_outputs) out.

    Example: ``MLP((1, 28, 28), 10, widths=(128,), dropout=0.2)``; ``MLP((40,), 10, widths=(100, 100),
    residual=True)``.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_outputs: int,
        widths: Sequence[int] = (256, 256),
        activation: str = "relu",
        batchnorm: bool = False,
        dropout: float = 0.0,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.input_shape = check_io("MLP", input_shape, num_outputs)
        self.num_outputs = num_outputs
        self.widths = check_widths("MLP.widths", widths, allow_empty=True)
        check_choice("MLP.activation", activation, tuple(ACTIVATIONS))
        self.activation = activation
        self.batchnorm = check_bool("MLP.batchnorm", batchnorm)
        check_range("MLP.dropout", dropout, 0, 1, high_open=True)
        self.dropout = dropout
        self.residual = check_bool("MLP.residual", residual)

        layers: list[nn.Module] = []
        features = math.prod(self.input_shape)
        for width in self.widths:
            block: list[nn.Module] = [nn.Linear(features, width)]
            if batchnorm:
                block.append(nn.BatchNorm1d(width))
            block.append(ACTIVATIONS[activation]())
            if dropout > 0:
                block.append(nn.Dropout(dropout))
            if residual and features == width:
                layers.append(Residual(nn.Sequential(*block)))
            else:
                layers += block
            features = width
        self.flatten = nn.Flatten()
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(features, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(self.flatten(x)))
