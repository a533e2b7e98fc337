"""Test helpers: tiny models, and snapshots of a model's full state to check that injection leaves no trace."""

import torch
import torch.nn.functional as F
from torch import nn

from noisetrain.noise.inject import ATTR


def snapshot(model: nn.Module) -> tuple:
    state = model.state_dict()
    return (
        list(state),
        {k: v.clone() for k, v in state.items()},
        [(n, type(m)) for n, m in model.named_modules()],
        [(n, len(m._forward_hooks), len(m._forward_pre_hooks), ATTR in m.__dict__) for n, m in model.named_modules()],
    )


def same_snapshot(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and all(torch.equal(a[1][k], b[1][k]) for k in a[0]) and a[2] == b[2] and a[3] == b[3]


def tiny_mlp() -> nn.Module:
    """Linear-ReLU-Linear, 6 -> 16 -> 3, seeded."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def tiny_cnn() -> nn.Module:
    """Conv-BN-ReLU-Linear on (N, 3, 5, 5), seeded."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 3)
    )


def toy_data(n: int = 500, features: int = 8, classes: int = 3, *, task: str = "classification", seed: int = 0):
    """A linearly generated data set split 60/20/20: class = argmax of a random projection, or its first
    coordinate as a regression target."""
    from noisetrain.data import Dataset, Split

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    scores = x @ torch.randn(features, classes, generator=g)
    y = scores.argmax(1) if task == "classification" else scores[:, 0]
    a, b = int(0.6 * n), int(0.8 * n)
    splits = [Split(x[i:j], y[i:j]) for i, j in ((0, a), (a, b), (b, n))]
    return Dataset("toy", task, *splits, num_classes=classes if task == "classification" else None)


class TiedLM(nn.Module):
    """An embedding and an output layer sharing one (10, 8) matrix; records the weights each use saw."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(10, 8)
        self.decoder = nn.Linear(8, 10)
        self.decoder.weight = self.embedding.weight
        self.seen: list[torch.Tensor] = []

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        self.seen = [self.embedding.weight, self.decoder.weight, self.decoder.bias]
        return self.decoder(self.embedding(ids))

    def by_hand(self, ids: torch.Tensor) -> torch.Tensor:
        """The forward with the weights the last pass saw."""
        embedding, decoder, bias = self.seen
        return F.linear(F.embedding(ids, embedding), decoder, bias)


class Twice(nn.Module):
    """One Linear layer used twice in a forward; records the weights each use saw."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(6, 6)
        self.seen: list[torch.Tensor] = []
        self.fail = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = [self.fc.weight, self.fc.bias, self.fc.weight, self.fc.bias]
        hidden = self.fc(x)
        if self.fail:
            raise RuntimeError("failed forward")
        return self.fc(torch.relu(hidden))

    def by_hand(self, x: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2 = self.seen
        return F.linear(torch.relu(F.linear(x, w1, b1)), w2, b2)
