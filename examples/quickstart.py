"""noisetrain quickstart: train a small MLP on scikit-learn's bundled digits with several noise
recipes, then compare clean accuracy and accuracy under test-time Gaussian noise.

Run: ``python examples/quickstart.py`` (about a minute on 2 CPU cores, no download).
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn

import noisetrain as nt
from noisetrain.noise.functional import gaussian_noise

RECIPES: dict[str, list] = {
    "clean": [],
    "gaussian input 0.3": [nt.GaussianNoise(std=0.3)],
    "dropout 0.3 + weight noise": [("output:ReLU", nt.Dropout(0.3)), nt.WeightNoise(std=0.05)],
    "mixup + label smoothing": [nt.Mixup(alpha=0.2, num_classes=10), nt.LabelSmoothing(0.1)],
    "annealed input noise": [nt.GaussianNoise(std={"kind": "linear", "start": 0.6, "end": 0.0})],
}


def digits(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Digits scaled to [0, 1], split 1297 train / 500 test with a fixed permutation."""
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    train, test = order[:1297], order[1297:]
    return x[train], y[train], x[test], y[test]


def train(recipe: list, data: tuple[torch.Tensor, ...], *, epochs: int, seed: int = 0) -> nn.Module:
    """A plain loop: the handle applies batch noise, the loss settings and the schedules."""
    x_train, y_train, _, _ = data
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    handle = nt.inject(model, recipe)
    optimizer = torch.optim.Adam([*model.parameters(), *handle.parameters()], lr=1e-3)
    handle.bind(optimizer)
    order = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        handle.set_progress(epoch / max(epochs - 1, 1))
        model.train()
        for batch in torch.randperm(len(y_train), generator=order).split(64):
            x, y = handle.batch(x_train[batch], y_train[batch])
            loss = handle.loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    return model


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, std: float = 0.0) -> float:
    """Test accuracy, under Gaussian test-time noise of ``std`` (averaged over 5 draws)."""
    generator = torch.Generator().manual_seed(123)
    draws = 1 if std == 0 else 5
    hits = sum((model(gaussian_noise(x, std, generator=generator)).argmax(1) == y).float().mean() for _ in range(draws))
    return float(hits) / draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    data = digits()
    stds = (0.0, 0.3, 0.6)
    print(f"{'recipe':<30}" + "".join(f"{'acc@std=' + str(s):>14}" for s in stds))
    for name, recipe in RECIPES.items():
        model = train(recipe, data, epochs=args.epochs)
        print(f"{name:<30}" + "".join(f"{accuracy(model, data[2], data[3], std=s):>14.3f}" for s in stds))


if __name__ == "__main__":
    main()
