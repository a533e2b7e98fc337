"""A multilayer perceptron on flattened inputs."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..checks import check_bool, check_choice, check_range
from .base import ACTIVATIONS, MODELS, check_io, check_widths


@MODELS.register("mlp")
class MLP(nn.Module):
    """Fully connected network: Flatten, then per hidden width Linear [-> BatchNorm1d] -> activation
    [-> Dropout], then a Linear head.

    Args:
        input_shape: shape of one input, any number of dimensions (flattened).
        num_outputs: number of logits or regression targets.
        widths: hidden layer widths; empty gives a linear model. Default (256, 256).
        activation: relu, tanh, gelu, silu, elu, leaky_relu or sigmoid. Default relu.
        batchnorm: a BatchNorm1d after each hidden Linear. Default False.
        dropout: probability of an ``nn.Dropout`` after each hidden activation, in [0, 1). Default 0.

    Shapes: (N, *input_shape) in, (N, num_outputs) out.

    Example: ``MLP((1, 28, 28), 10, widths=(128,), dropout=0.2)``.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_outputs: int,
        widths: Sequence[int] = (256, 256),
        activation: str = "relu",
        batchnorm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_shape = check_io("MLP", input_shape, num_outputs)
        self.num_outputs = num_outputs
        self.widths = check_widths("MLP.widths", widths, allow_empty=True)
        check_choice("MLP.activation", activation, tuple(ACTIVATIONS))
        self.activation = activation
        check_bool("MLP.batchnorm", batchnorm)
        self.batchnorm = batchnorm
        check_range("MLP.dropout", dropout, 0, 1, high_open=True)
        self.dropout = dropout

        layers: list[nn.Module] = []
        features = math.prod(self.input_shape)
        for width in self.widths:
            layers.append(nn.Linear(features, width))
            if batchnorm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            features = width
        self.flatten = nn.Flatten()
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(features, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(self.flatten(x)))
