"""Per-step cost of every injector: training step with the injector / clean training step.

Models: an MLP 784-512-512-10 at batch 256 and a small CNN on 3x32x32 at batch 128 (plus a convolutional text
classifier for the two text-only injectors), on the CPU or, with ``--device cuda``, on a GPU (ten times the steps
per round, each round timed between ``torch.cuda.synchronize`` calls; targets 1.03 for input, activation, label and
batch noise and 1.05 for weight and gradient noise). Clean and noisy steps run in the same process, interleaved
round by round after a warm-up; the figure is the median ratio.

Every case that draws a value per element (input, activation, weight and gradient noise) runs twice: with the
exact source (torch's generator, the default) and with the fast one (``generator: fast``, table slices), as
``case[fast]``.

Run: ``python benchmarks/overhead.py [--quick] [--device cuda]`` -> ``benchmarks/results/overhead.json``
(``overhead_cuda.json`` on a GPU);
``--cases weight_noise,bayesian`` runs only those cases (every variant, e.g. ``bayesian[local]``) and writes nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from noisetrain import inject

from _common import interleaved_ratio, row, table, write

PER_ELEMENT = ("input", "activation", "weight", "gradient")
"""The families whose injectors draw a value per element: the ones the fast source serves."""
TARGETS = {"input": 1.10, "activation": 1.10, "gradient": 1.10, "label": 1.10, "batch": 1.10}
WEIGHT_TARGETS = {"mlp": 1.20, "cnn": 1.10}
CUDA_TARGETS = {"input": 1.03, "activation": 1.03, "label": 1.03, "batch": 1.03, "weight": 1.05, "gradient": 1.05}

# (case label, spec, models, family); "at" in a spec places it, else the injector's default position
CASES: list[tuple[str, dict[str, Any], tuple[str, ...], str]] = [
    ("gaussian", {"kind": "gaussian", "std": 0.1}, ("mlp", "cnn"), "input"),
    ("speckle", {"kind": "gaussian", "std": 0.1, "mode": "multiplicative"}, ("mlp", "cnn"), "input"),
    ("uniform", {"kind": "uniform", "width": 0.1}, ("mlp", "cnn"), "input"),
    ("salt_pepper", {"kind": "salt_pepper", "p": 0.05}, ("mlp", "cnn"), "input"),
    ("feature_mask", {"kind": "feature_mask", "p": 0.2}, ("mlp",), "input"),
    ("cutout", {"kind": "cutout", "size": 8}, ("cnn",), "input"),
    ("random_erasing", {"kind": "random_erasing", "p": 0.5}, ("cnn",), "input"),
    ("temporal_dropout", {"kind": "temporal_dropout", "p": 0.1}, ("mlp",), "input"),
    ("background_noise", {"kind": "background_noise", "snr_db": 20.0}, ("mlp",), "input"),
    ("speed_perturb", {"kind": "speed_perturb", "factor": [0.9, 1.1]}, ("mlp",), "input"),
    ("token_mask", {"kind": "token_mask", "p": 0.15, "mask_id": 0, "vocab_size": 5000}, ("text",), "input"),
    ("embedding_noise", {"kind": "embedding_noise", "alpha": 5.0}, ("text",), "activation"),
    ("gaussian@ReLU", {"kind": "gaussian", "std": 0.1, "at": "output:ReLU"}, ("mlp",), "activation"),
    ("gaussian@BatchNorm", {"kind": "gaussian", "std": 0.1, "at": "output:BatchNorm*"}, ("cnn",), "activation"),
    ("dropout@ReLU", {"kind": "dropout", "p": 0.3, "at": "output:ReLU"}, ("mlp", "cnn"), "activation"),
    ("dropout2d@ReLU", {"kind": "dropout", "p": 0.2, "channelwise": True, "at": "output:ReLU"}, ("cnn",), "activation"),
    ("alpha_dropout@ReLU", {"kind": "alpha_dropout", "p": 0.1, "at": "output:ReLU"}, ("mlp",), "activation"),
    (
        "gaussian_dropout@ReLU",
        {"kind": "gaussian_dropout", "p": 0.2, "at": "output:ReLU"},
        ("mlp", "cnn"),
        "activation",
    ),
    ("learnable@ReLU", {"kind": "learnable", "init": 0.1, "at": "output:ReLU"}, ("mlp", "cnn"), "activation"),
    ("weight_noise", {"kind": "weight_noise", "std": 0.05}, ("mlp", "cnn"), "weight"),
    ("weight_noise[absolute]", {"kind": "weight_noise", "std": 0.01, "relative": None}, ("mlp", "cnn"), "weight"),
    ("weight_noise[local]", {"kind": "weight_noise", "std": 0.05, "sampling": "local"}, ("mlp", "cnn"), "weight"),
    ("weight_noise[flipout]", {"kind": "weight_noise", "std": 0.05, "sampling": "flipout"}, ("mlp", "cnn"), "weight"),
    ("dropconnect", {"kind": "dropconnect", "p": 0.2}, ("mlp", "cnn"), "weight"),
    ("bayesian", {"kind": "bayesian", "prior_std": 0.1}, ("mlp", "cnn"), "weight"),
    ("bayesian[local]", {"kind": "bayesian", "prior_std": 0.1, "sampling": "local"}, ("mlp", "cnn"), "weight"),
    ("bayesian[flipout]", {"kind": "bayesian", "prior_std": 0.1, "sampling": "flipout"}, ("mlp", "cnn"), "weight"),
    ("learnable[per-channel]", {"kind": "learnable", "per_channel": True}, ("mlp", "cnn"), "weight"),
    ("gradient_noise", {"kind": "gradient_noise", "eta": 0.01}, ("mlp", "cnn"), "gradient"),
    ("label_noise", {"kind": "label_noise", "rate": 0.2, "num_classes": 10}, ("mlp", "cnn"), "label"),
    ("label_smoothing", {"kind": "label_smoothing", "eps": 0.1}, ("mlp", "cnn"), "label"),
    ("mixup", {"kind": "mixup", "alpha": 0.2, "num_classes": 10}, ("mlp", "cnn"), "batch"),
    ("cutmix", {"kind": "cutmix", "alpha": 1.0, "num_classes": 10}, ("cnn",), "batch"),
]


class TextModel(nn.Module):
    """A convolutional sentence classifier (Kim 2014, arXiv:1408.5882): embedding, 1-D conv, max-pool."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(5000, 128)
        self.conv = nn.Sequential(nn.Conv1d(128, 128, 5, padding=2), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        features = self.conv(self.embedding(ids).transpose(1, 2))
        return self.head(features.amax(dim=2))


def workload(name: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The model and one batch."""
    torch.manual_seed(0)
    y_batch = {"mlp": 256, "cnn": 128, "text": 128}[name]
    y = torch.randint(0, 10, (y_batch,))
    if name == "mlp":
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
        return model, torch.rand(256, 784), y
    if name == "cnn":
        model = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 8 * 8, 10),
        )  # fmt: skip
        return model, torch.rand(128, 3, 32, 32), y
    return TextModel(), torch.randint(1, 5000, (128, 64)), y


def training_step(spec: dict[str, Any] | None, name: str, device: torch.device) -> Callable[[], None]:
    """One SGD step of ``name`` with ``spec`` injected (None: clean) on ``device``, as a closure."""
    model, x, y = (part.to(device) for part in workload(name))
    handle = inject(model, [] if spec is None else [{**spec, "seed": 0} if spec["kind"] != "label_smoothing" else spec])
    bayesian = spec is not None and spec["kind"] == "bayesian"
    handle.kl_weight = 1 / 60_000 if bayesian else 0.0  # as in fit: the KL term over the training examples (MNIST's)
    optimizer = torch.optim.SGD([*model.parameters(), *handle.parameters()], lr=0.01, momentum=0.9)
    handle.bind(optimizer)
    model.train()

    def step() -> None:
        xb, yb = handle.batch(x, y)
        loss = handle.loss(model(xb), yb)
        if bayesian:
            loss = loss + handle.kl_term()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a rougher figure)")
    parser.add_argument("--cases", help="comma-separated case names to run (with their [variants]); writes no file")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the steps run")
    args = parser.parse_args()
    gpu = args.device == "cuda"
    if gpu and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no GPU here")
    device = torch.device(args.device)
    chosen = None if args.cases is None else set(args.cases.split(","))
    torch.set_num_threads(2)
    steps = {name: count * (10 if gpu else 1) for name, count in {"mlp": 10, "cnn": 3, "text": 5}.items()}
    rounds = 5 if args.quick else 11
    results = []
    for label, spec, models, family in CASES:
        if chosen is not None and label.split("[")[0] not in chosen:
            continue
        variants = [(label, spec)]
        if family in PER_ELEMENT:
            fast = f"{label[:-1]},fast]" if label.endswith("]") else f"{label}[fast]"
            variants.append((fast, {**spec, "generator": "fast"}))
        for case, variant in variants:
            for name in models:
                clean, noisy = training_step(None, name, device), training_step(variant, name, device)
                ratio = interleaved_ratio(clean, noisy, steps=steps[name], rounds=rounds, device=device)
                if gpu:
                    target = CUDA_TARGETS[family]
                else:
                    target = WEIGHT_TARGETS[name] if family == "weight" else TARGETS[family]
                results.append(row(f"{case}/{name}", "step_time_ratio", ratio, target, "lower"))
                print(f"{case}/{name}: {ratio:.3f}", flush=True)
    if chosen is None:
        write("overhead_cuda" if gpu else "overhead", results, device=str(device))
    else:
        print(table(results))


if __name__ == "__main__":
    main()
