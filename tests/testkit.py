"""Test helpers: tiny models, snapshots of a model's full state to check that injection leaves no trace, and what
the integration tests share to compare a framework's run with ``fit`` step by step."""

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Sampler

from noisetrain.noise.base import derive_seed
from noisetrain.noise.inject import ATTR
from noisetrain.train import Callback


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


# -- a framework's run against fit, step by step ------------------------------------------------------------------
RECIPE_AT_EVERY_POSITION = [  # input (scheduled), output, weights, learnable output scale, batch, loss, gradients
    {"kind": "gaussian", "std": {"kind": "linear", "start": 0.3, "end": 0.0}},
    {"kind": "dropout", "p": 0.2, "at": "output:ReLU"},
    {"kind": "weight_noise", "std": 0.02, "at": "weights:Linear"},
    {"kind": "learnable", "init": 0.1, "at": "output:0"},
    {"kind": "mixup", "alpha": 0.4},  # num_classes from the data, as fit fills it in
    {"kind": "label_smoothing", "eps": {"kind": "linear", "start": 0.0, "end": 0.2}},
    {"kind": "gradient_noise", "eta": 0.01},
]


class FitSteps(Callback):
    """fit's record of each step: the loss and the injectors' states after it."""

    def __init__(self) -> None:
        self.steps: list[tuple[torch.Tensor, dict]] = []

    def on_batch_end(self, loop, step, loss):
        self.steps.append((loss.detach().clone(), copy.deepcopy(loop.handle.state_dict())))


class LoopOrder(Sampler):
    """fit's data order: one ``randperm`` per epoch from the generator ``derive_seed(seed, "data")``.
    (``RandomSampler`` draws a second, unused permutation per epoch, so its second epoch differs.)"""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.generator = n, torch.Generator().manual_seed(derive_seed(seed, "data"))

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self.generator).tolist())


def same(a, b) -> bool:
    """Nested dicts of tensors and numbers, exactly equal."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    return a == b


def same_steps(a: list, b: list) -> bool:
    """Two records of ``(loss, state)`` per step, exactly equal."""
    return len(a) == len(b) and all(
        torch.equal(la, lb) and same(sa, sb) for (la, sa), (lb, sb) in zip(a, b, strict=True)
    )
