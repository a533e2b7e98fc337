"""Models for sequences: a 1-D CNN for signals and time series, and a text classifier on token ids.

Recurrent networks on float sequences are in ``recurrent`` (kinds ``gru`` and ``lstm``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..checks import check_bool, check_choice, check_int, check_range
from ..registry import ConfigError
from .base import MODELS, check_io, check_per_layer, check_widths


@MODELS.register("cnn1d")
class CNN1d(nn.Module):
    """1-D CNN for signals such as MNIST-1D (Greydanus & Kobak, Scaling Down Deep Learning with MNIST-1D,
    2024, arXiv:2011.14439) and time series: per width a Conv1d and ReLU, then the feature map is flattened
    (keeps where things happen) or, with ``global_pool``, averaged over time (any length), and a Linear head.

    Each layer's output length is ``(length + 2 * padding - kernel_size) // stride + 1``; a configuration
    that shrinks ``input_shape`` below one step is refused. Widths (25, 25, 25), kernel sizes (5, 3, 3),
    stride 2 and padding 1 on (40,) give the MNIST-1D reference CNN (40 -> 19 -> 10 -> 5, head on 125).

    Args:
        input_shape: (L,) for one-channel signals, e.g. MNIST-1D's (40,), or (C, L).
        num_outputs: number of logits or regression targets.
        widths: channels of each convolution. Default (32, 32, 32).
        kernel_size: convolution width in steps (>= 1), one int for every layer or a list with one per
            width. Default 5.
        stride: convolution stride (>= 1), an int or a list with one per width. Default 2.
        padding: zeros added at each end (>= 0), an int or a list with one per width; None pads
            kernel_size // 2 in each layer. Default None.
        global_pool: average over time instead of flattening. Default False.

    Shapes: (N, L) or (N, C, L) in (a channel dimension is added to 2-D input), (N, num_outputs) out.

    Example: ``CNN1d((40,), 10)``; ``CNN1d((40,), 10, widths=(25, 25, 25), kernel_size=(5, 3, 3), padding=1)``.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_outputs: int,
        widths: Sequence[int] = (32, 32, 32),
        kernel_size: int | Sequence[int] = 5,
        stride: int | Sequence[int] = 2,
        padding: int | Sequence[int] | None = None,
        global_pool: bool = False,
    ) -> None:
        super().__init__()
        self.input_shape = check_io("CNN1d", input_shape, num_outputs, ndims=(1, 2))
        self.num_outputs = num_outputs
        self.widths = check_widths("CNN1d.widths", widths)
        count = len(self.widths)
        self.kernel_size = check_per_layer("CNN1d.kernel_size", kernel_size, count, 1)
        self.stride = check_per_layer("CNN1d.stride", stride, count, 1)
        if padding is None:
            self.padding = tuple(k // 2 for k in self.kernel_size)
        else:
            self.padding = check_per_layer("CNN1d.padding", padding, count, 0)
        self.global_pool = check_bool("CNN1d.global_pool", global_pool)

        channels, length = (1, *self.input_shape) if len(self.input_shape) == 1 else self.input_shape
        layers: list[nn.Module] = []
        per_layer = zip(self.widths, self.kernel_size, self.stride, self.padding, strict=True)
        for index, (out, k, s, p) in enumerate(per_layer):
            layers += [nn.Conv1d(channels, out, k, stride=s, padding=p), nn.ReLU()]
            channels, shorter = out, (length + 2 * p - k) // s + 1
            if shorter < 1:
                raise ConfigError(
                    f"CNN1d.input_shape {self.input_shape} is too short: layer {index} (kernel_size {k}, stride {s},"
                    f" padding {p}) gets length {length} and leaves {shorter} steps; it needs length + 2 * padding"
                    " >= kernel_size"
                )
            length = shorter
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool1d(1) if global_pool else nn.Identity()
        self.flatten = nn.Flatten()
        self.head = nn.Linear(channels * (1 if global_pool else length), num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:
            x = x.unsqueeze(1)
        return self.head(self.flatten(self.pool(self.features(x))))


ENCODERS = ("gru", "cnn")


@MODELS.register("text")
class TextClassifier(nn.Module):
    """Token ids -> embedding -> encoder -> Linear head, ignoring padding.

    Encoders: "gru" (Cho et al., Learning Phrase Representations using RNN Encoder-Decoder, 2014,
    arXiv:1406.1078) reads the sequence left to right and keeps the hidden state at the last non-pad
    token; "cnn" (Kim, Convolutional Neural Networks for Sentence Classification, 2014, arXiv:1408.5882)
    applies a width-3 Conv1d and ReLU and max-pools over the non-pad positions. Embeddings at pad
    positions are zeroed, so appending padding leaves the output unchanged. Sequences are expected
    right-padded; a sequence of padding only gets a fixed encoding.

    Args:
        input_shape: (L,), the padded sequence length.
        num_outputs: number of logits or regression targets.
        vocab_size: number of token ids (>= 2); usually filled from the data's ``info``.
        pad_id: the padding id in [0, vocab_size). Default 0.
        embedding_dim: embedding size. Default 64.
        hidden: GRU hidden size or CNN channels. Default 64.
        encoder: "gru" or "cnn". Default "gru".
        dropout: probability of an ``nn.Dropout`` before the head, in [0, 1). Default 0.

    Shapes: (N, L) int64 in, (N, num_outputs) out.

    Example: ``TextClassifier((50,), 2, vocab_size=1000, encoder="cnn")``.
    """

    def __init__(
        self,
        input_shape: tuple[int],
        num_outputs: int,
        vocab_size: int | None = None,
        pad_id: int = 0,
        embedding_dim: int = 64,
        hidden: int = 64,
        encoder: str = "gru",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_shape = check_io("TextClassifier", input_shape, num_outputs, ndims=(1,))
        self.num_outputs = num_outputs
        if vocab_size is None:
            raise ConfigError("TextClassifier.vocab_size is required: set it in the spec or the data's info")
        check_int("TextClassifier.vocab_size", vocab_size, 2)
        self.vocab_size = vocab_size
        check_int("TextClassifier.pad_id", pad_id, 0, vocab_size - 1)
        self.pad_id = pad_id
        check_int("TextClassifier.embedding_dim", embedding_dim, 1)
        self.embedding_dim = embedding_dim
        check_int("TextClassifier.hidden", hidden, 1)
        self.hidden = hidden
        check_choice("TextClassifier.encoder", encoder, ENCODERS)
        self.encoder = encoder
        check_range("TextClassifier.dropout", dropout, 0, 1, high_open=True)
        self.dropout = dropout

        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        if encoder == "gru":
            self.gru = nn.GRU(embedding_dim, hidden, batch_first=True)
        else:
            self.conv = nn.Conv1d(embedding_dim, hidden, 3, padding=1)
            self.relu = nn.ReLU()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(hidden, num_outputs)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.is_floating_point() or ids.is_complex():
            raise ValueError(
                f"TextClassifier takes token ids (int64), got {ids.dtype}; for float sequences use model kind"
                " 'gru' or 'lstm'"
            )
        tokens = ids != self.pad_id  # (N, L)
        x = self.embedding(ids) * tokens.unsqueeze(-1)  # (N, L, d), zero at padding
        if self.encoder == "gru":
            outputs, _ = self.gru(x)  # (N, L, hidden); causal, so padding after a position cannot change it
            positions = torch.arange(ids.shape[1], device=ids.device)
            last = torch.where(tokens, positions, 0).amax(dim=1)  # index of the last token, 0 if none
            encoded = outputs[torch.arange(ids.shape[0], device=ids.device), last]
        else:
            features = self.relu(self.conv(x.transpose(1, 2)))  # (N, hidden, L)
            features = features.masked_fill(~tokens.unsqueeze(1), float("-inf")).amax(dim=2)
            encoded = torch.where(tokens.any(dim=1, keepdim=True), features, 0.0)
        return self.head(self.drop(encoded))
