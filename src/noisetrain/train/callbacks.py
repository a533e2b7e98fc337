"""Hooks into the training loop, and the callbacks the CLI uses to write metrics.

A callback overrides any of the six hooks; the loop calls them in order. Library
code never prints: progress bars and logs are callbacks.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import torch
from rich.progress import Progress

from ..files import strict_json


class Callback:
    """Base class: every hook does nothing. ``loop`` is the running :class:`~noisetrain.train.loop.Loop`."""

    def on_fit_start(self, loop: Any) -> None: ...

    def on_epoch_start(self, loop: Any, epoch: int) -> None: ...

    def on_batch_end(self, loop: Any, step: int, loss: torch.Tensor) -> None:
        """After each optimiser step; ``loss`` is a device tensor (read it only if you accept a sync)."""

    def on_epoch_end(self, loop: Any, record: dict[str, Any]) -> None:
        """After validation; ``record`` holds the epoch's metrics."""

    def on_checkpoint(self, loop: Any, path: Path) -> None: ...

    def on_fit_end(self, loop: Any, result: Any) -> None: ...


class Callbacks(Callback):
    """Several callbacks called in order, as one."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks = list(callbacks)

    def _each(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def on_fit_start(self, loop: Any) -> None:
        self._each("on_fit_start", loop)

    def on_epoch_start(self, loop: Any, epoch: int) -> None:
        self._each("on_epoch_start", loop, epoch)

    def on_batch_end(self, loop: Any, step: int, loss: torch.Tensor) -> None:
        self._each("on_batch_end", loop, step, loss)

    def on_epoch_end(self, loop: Any, record: dict[str, Any]) -> None:
        self._each("on_epoch_end", loop, record)

    def on_checkpoint(self, loop: Any, path: Path) -> None:
        self._each("on_checkpoint", loop, path)

    def on_fit_end(self, loop: Any, result: Any) -> None:
        self._each("on_fit_end", loop, result)


class MetricsWriter(Callback):
    """Write every epoch's record to ``metrics.jsonl`` and ``metrics.csv`` in ``folder``, a resumed run's from its
    checkpoint's history on.

    The CSV's columns are those of the first record (the same every epoch).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._csv: IO[str] | None = None
        self._writer: csv.DictWriter[str] | None = None

    def on_fit_start(self, loop: Any) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(self.folder / "metrics.jsonl", "w")  # closed in on_fit_end
        self._csv = open(self.folder / "metrics.csv", "w", newline="")
        self._writer = None
        for record in loop.history:  # a resumed run: its checkpoint's epochs, not those an interruption cut short
            self.on_epoch_end(loop, record)

    def on_epoch_end(self, loop: Any, record: dict[str, Any]) -> None:
        self._jsonl.write(strict_json(record) + "\n")
        self._jsonl.flush()
        assert self._csv is not None
        if self._writer is None:
            self._writer = csv.DictWriter(self._csv, fieldnames=list(record))
            self._writer.writeheader()
        self._writer.writerow(record)
        self._csv.flush()

    def on_fit_end(self, loop: Any, result: Any) -> None:
        self._jsonl.close()
        if self._csv is not None:
            self._csv.close()


class ProgressBar(Callback):
    """A rich progress bar over epochs and the batches of the current epoch."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.epochs: Any = None
        self.batches: Any = None

    def on_fit_start(self, loop: Any) -> None:
        epochs = 1 if loop.closed_form else loop.config.epochs
        self.epochs = self.progress.add_task("epochs", total=epochs, completed=loop.epoch)
        self.batches = self.progress.add_task("batches", total=loop.steps_per_epoch)

    def on_epoch_start(self, loop: Any, epoch: int) -> None:
        self.progress.reset(self.batches, total=loop.steps_per_epoch)

    def on_batch_end(self, loop: Any, step: int, loss: Any) -> None:
        self.progress.advance(self.batches)

    def on_epoch_end(self, loop: Any, record: dict[str, Any]) -> None:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k.startswith("val_"))
        self.progress.update(self.epochs, advance=1, description=f"epoch {record['epoch']}: {shown}")
