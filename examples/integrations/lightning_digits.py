"""noisetrain with PyTorch Lightning: a noise recipe on a LightningModule through ``NoiseCallback``.

Trains a small MLP on scikit-learn's bundled digits with annealed input noise, dropout on the hidden
units, mixup with label smoothing and gradient noise, then prints the clean test accuracy and the
accuracy under Gaussian input noise of std 0.5.

Run: ``python examples/integrations/lightning_digits.py`` (seconds on a CPU, no download; needs the
``lightning`` extra: ``pip install noisetrain[lightning]``).
"""

from __future__ import annotations

import argparse

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import noisetrain as nt
from noisetrain.integrations.lightning import NoiseCallback
from noisetrain.noise.functional import gaussian_noise

RECIPE = [
    {"kind": "gaussian", "std": {"kind": "linear", "start": 0.5, "end": 0.1}},  # on the input, annealed
    {"kind": "dropout", "p": 0.2, "at": "output:ReLU"},
    {"kind": "mixup", "alpha": 0.2},  # num_classes comes from the data
    {"kind": "label_smoothing", "eps": 0.1},
    {"kind": "gradient_noise", "eta": 0.01},
]


class Classifier(L.LightningModule):
    def __init__(self, inputs: int, classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(inputs, 128), nn.ReLU(), nn.Linear(128, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch  # the callback has mixed this list batch already
        return self.noise.loss(self(x), y)  # cross-entropy: soft targets, the recipe's label smoothing

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam([*self.parameters(), *self.noise.parameters()], lr=1e-2)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    data = nt.load_data("digits")
    torch.manual_seed(0)  # the initial weights and the data order
    model = Classifier(data.input_shape[0], data.num_outputs)
    train = DataLoader(TensorDataset(data.train.x, data.train.y), batch_size=64, shuffle=True)
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=args.epochs, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
        callbacks=[NoiseCallback(RECIPE, seed=0, data=data)],
    )  # fmt: skip
    trainer.fit(model, train)  # the noise is off again (and removed) once fit returns

    model.eval()
    noisy = gaussian_noise(data.test.x, 0.5, generator=torch.Generator().manual_seed(0))
    print(f"clean accuracy {accuracy(model, data.test.x, data.test.y):.3f}")
    print(f"accuracy under noise 0.5 {accuracy(model, noisy, data.test.y):.3f}")


if __name__ == "__main__":
    main()
