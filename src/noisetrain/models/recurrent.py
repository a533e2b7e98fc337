"""Recurrent networks (GRU, LSTM) on float sequences such as MNIST-1D signals and time series.

For token ids use the ``text`` model (``TextClassifier``); this one reads real values per step.
"""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_bool, check_choice, check_int, check_range
from .base import MODELS, check_io

READOUTS = ("last", "flatten")


class RecurrentNet(nn.Module):
    """A recurrent layer stack over time, then [Dropout ->] a Linear head; subclasses choose ``cell``.

    Input is channels first like ``cnn1d``, so the same data suits both: (N, L) is one feature per step,
    (N, C, L) is C features per step. ``readout`` "last" feeds the head the final hidden state of the top
    layer (with ``bidirectional``, the forward direction's state after the last step and the backward
    direction's after the first, concatenated; any length L works); "flatten" feeds it every step's outputs,
    flattened, so L must equal the one in ``input_shape``.

    Args:
        input_shape: (L,) for one feature per step, e.g. MNIST-1D's (40,), or (C, L).
        num_outputs: number of logits or regression targets.
        hidden: hidden size per direction (>= 1). Default 64.
        layers: number of stacked recurrent layers (>= 1). Default 1.
        bidirectional: also read the sequence right to left. Default False.
        readout: "last" or "flatten". Default "last".
        dropout: probability of an ``nn.Dropout`` before the head, in [0, 1). Default 0.

    Shapes: (N, L) or (N, C, L) float in, (N, num_outputs) out.
    """

    cell: type[nn.RNNBase]
    """The recurrent layer class, e.g. ``nn.GRU``; it must take ``batch_first``."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_outputs: int,
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = False,
        readout: str = "last",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_shape = check_io(name, input_shape, num_outputs, ndims=(1, 2))
        self.num_outputs = num_outputs
        check_int(f"{name}.hidden", hidden, 1)
        self.hidden = hidden
        check_int(f"{name}.layers", layers, 1)
        self.layers = layers
        self.bidirectional = check_bool(f"{name}.bidirectional", bidirectional)
        check_choice(f"{name}.readout", readout, READOUTS)
        self.readout = readout
        check_range(f"{name}.dropout", dropout, 0, 1, high_open=True)
        self.dropout = dropout

        features, self.length = (1, *self.input_shape) if len(self.input_shape) == 1 else self.input_shape
        self.rnn = self.cell(features, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        encoded = hidden * (2 if bidirectional else 1) * (self.length if readout == "flatten" else 1)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(encoded, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:
            x = x.unsqueeze(1)
        # read the readout from the outputs rather than the final state, so that noise on them reaches the head
        outputs, _ = self.rnn(x.transpose(1, 2))  # (N, L, directions * hidden)
        if self.readout == "flatten":
            if outputs.shape[1] != self.length:
                raise ValueError(
                    f"{type(self).__name__} with readout 'flatten' needs sequences of length {self.length}, "
                    f"got {outputs.shape[1]}; use readout 'last' for any length"
                )
            encoded = outputs.flatten(1)
        elif self.bidirectional:  # forward state after the last step, backward state after the first
            encoded = torch.cat([outputs[:, -1, : self.hidden], outputs[:, 0, self.hidden :]], dim=1)
        else:
            encoded = outputs[:, -1]
        return self.head(self.drop(encoded))


@MODELS.register("gru")
class GRUNet(RecurrentNet):
    """GRU (Cho et al., Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine
    Translation, 2014, arXiv:1406.1078) over float sequences; options and shapes as ``RecurrentNet``.

    With ``hidden=6, bidirectional=True, readout="flatten"`` on (40,) it is the MNIST-1D GRU (Greydanus &
    Kobak, Scaling Down Deep Learning with MNIST-1D, 2024, arXiv:2011.14439): head on 6 * 2 * 40 = 480.

    Example: ``GRUNet((40,), 10, hidden=6, bidirectional=True, readout="flatten")``.
    """

    cell = nn.GRU


@MODELS.register("lstm")
class LSTMNet(RecurrentNet):
    """LSTM (Hochreiter & Schmidhuber, Long Short-Term Memory, Neural Computation 9(8), 1997) over float
    sequences; options and shapes as ``RecurrentNet``.

    Example: ``LSTMNet((3, 100), 1, hidden=32, layers=2)`` for a 3-channel series regression.
    """

    cell = nn.LSTM
