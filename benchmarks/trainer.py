"""Time per epoch of the training engine against a hand-written minimal PyTorch loop.

Both train the same model on the same in-memory data with the same injector (Gaussian input
noise, std 0.1), SGD with momentum, and evaluate validation accuracy once per epoch. Rounds
alternate one hand-written epoch and one engine epoch (``fit(..., epochs=1)``, timed by the
engine's own ``seconds`` record, so set-up outside the epoch is not counted); the figure is
the median ratio over rounds. Workloads (CPU): an MLP 784-512-512-10 at batch 256 on 10,000
samples, and a small CNN on 3x32x32 at batch 128 on 2,000 samples (random data: the timing
does not depend on the content).

Run: ``python benchmarks/trainer.py [--quick]`` -> ``benchmarks/results/trainer.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from noisetrain import inject
from noisetrain.data import Dataset, Split
from noisetrain.train import fit

from _common import row, write

TARGET = 1.05
NOISE = {"kind": "gaussian", "std": 0.1, "seed": 0}


def workload(name: str) -> tuple[nn.Module, Dataset, int]:
    """The model, its data and the batch size."""
    torch.manual_seed(0)
    if name == "mlp":
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
        shape, n, batch = (784,), 10_000, 256
    else:
        model = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 8 * 8, 10),
        )  # fmt: skip
        shape, n, batch = (3, 32, 32), 2_000, 128

    def split(size: int) -> Split:
        return Split(torch.rand(size, *shape), torch.randint(0, 10, (size,)))

    return model, Dataset(name, "classification", split(n), split(n // 10), split(10), num_classes=10), batch


def hand_written_epoch(model: nn.Module, data: Dataset, batch: int) -> float:
    """One epoch of the minimal loop (with the same injector attached); returns its seconds."""
    handle = inject(model, [NOISE])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    x, y, n = data.train.x, data.train.y, len(data.train)
    start = time.perf_counter()
    model.train()
    order = torch.randperm(n, generator=generator)
    for i in range(0, n, batch):
        index = order[i : i + batch]
        loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        correct = sum((model(xv).argmax(1) == yv).sum() for xv, yv in data.val.batches(1024, shuffle=False))
    float(correct)
    seconds = time.perf_counter() - start
    handle.remove()
    return seconds


def engine_epoch(model: nn.Module, data: Dataset, batch: int) -> float:
    """One epoch of ``noisetrain.train.fit``; returns the engine's own epoch time."""
    config = {"epochs": 1, "batch_size": batch, "optimizer": {"kind": "sgd", "lr": 0.01, "momentum": 0.9}}
    result = fit(model, data, noise=[NOISE], config=config)
    result.handle.remove()
    return result.history[0]["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a rougher figure)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rounds = 5 if args.quick else 15
    results = []
    for name in ("mlp", "cnn"):
        model, data, batch = workload(name)
        for _ in range(2):  # warm-up
            hand_written_epoch(model, data, batch)
            engine_epoch(model, data, batch)
        ratios, seconds = [], []
        for _ in range(rounds):
            baseline = hand_written_epoch(model, data, batch)
            ratios.append(engine_epoch(model, data, batch) / baseline)
            seconds.append(baseline)
        ratio = statistics.median(ratios)
        results.append(row(f"gaussian_input/{name}", "epoch_time_ratio", ratio, TARGET, "lower"))
        results.append(row(f"hand_written/{name}", "epoch_seconds", statistics.median(seconds), None, "lower"))
        print(f"{name}: {ratio:.3f}", flush=True)
    write("trainer", results)


if __name__ == "__main__":
    main()
