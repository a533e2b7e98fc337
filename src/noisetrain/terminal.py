"""What every CLI command shares: the stderr console, the error exit, and the progress bar layout."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn

from .registry import ConfigError

console = Console(stderr=True)


def fail(error: ConfigError) -> typer.Exit:
    """Print a config error and give exit code 2 (bad input)."""
    console.print(f"[red]error:[/red] {error}", highlight=False)
    return typer.Exit(2)


def bars(*extra: ProgressColumn, quiet: bool = False, transient: bool = True) -> Progress:
    """A rich progress display: description, bar, done/total, ``extra`` columns, elapsed time."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), *extra, TimeElapsedColumn(),
        console=console, disable=quiet, transient=transient,
    )  # fmt: skip
