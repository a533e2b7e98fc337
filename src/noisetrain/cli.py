"""The ``noisetrain`` command line.

Examples:
    noisetrain train --config run.yaml
    noisetrain train --config run.yaml --set train.optimizer.lr=0.01 --set seed=3 --output runs/lr0.01
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .config import load_config
from .registry import ConfigError
from .train import Callback, run

app = typer.Typer(
    help="noisetrain: noise-injection training and robustness evaluation for PyTorch.",
    epilog="Examples:\n\n  noisetrain train --config examples/configs/text_token_mask.yaml --output runs/text\n\n"
    "  noisetrain train --help",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """noisetrain: noise-injection training and robustness evaluation for PyTorch."""


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


@app.command(
    epilog="Examples:\n\n"
    "  noisetrain train --config run.yaml\n\n"
    "  noisetrain train --config run.yaml --set train.optimizer.lr=0.01 --set 'noise=[{kind: gaussian, std: 0.2}]'\n\n"
    "  noisetrain train --set data=digits --set model=mlp --set train.epochs=3 --output runs/digits"
)
def train(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML run config (data, model, noise, train, seed).")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override one field, KEY.PATH=VALUE (VALUE is YAML); repeatable."),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for config, metrics, checkpoint.")
    ] = Path("runs/train"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUTPUT/checkpoint.pt.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train one model with a noise recipe; write the resolved config, metrics and checkpoint to OUTPUT."""
    try:
        run_config = load_config(config, overrides=overrides or ())
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, disable=quiet, transient=True,
        ) as progress:  # fmt: skip
            result = run(run_config, output=output, callbacks=[ProgressBar(progress)], resume=resume)
    except ConfigError as error:
        console.print(f"[red]error:[/red] {error}", highlight=False)
        raise typer.Exit(2) from None
    summary = result.summary()
    table = Table(title=f"{run_config.data['kind']} / {run_config.model['kind']}: {summary['status']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    Console().print(table)
    if result.train.status == "diverged":
        console.print(f"[red]{result.train.message}[/red]", highlight=False)
        raise typer.Exit(1)
    files = "config.yaml, metrics.jsonl, metrics.csv, checkpoint.pt, result.json"
    console.print(f"wrote {files} to {output}", highlight=False)


def main() -> None:
    """Entry point of the ``noisetrain`` script."""
    app()


if __name__ == "__main__":
    main()
