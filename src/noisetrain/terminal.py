"""What every CLI command shares: the stderr console, the one error path, and the progress bar layout.

Every failure a user can cause (a bad value, a missing or unreadable file, permissions, a full disk, memory)
is one line on stderr and exit status 2; ``noisetrain --debug ...`` shows the traceback instead. Anything
else is a bug: one line saying so and where its traceback was written, and exit status 1. Ctrl-C: one line, exit
status 130.
"""

from __future__ import annotations

import errno
import sqlite3
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from .registry import ConfigError

console = Console(stderr=True)
DEBUG = "noisetrain.debug"
"""Key of ``--debug`` in the click context's ``meta``."""
BUG = 1
USER = 2
INTERRUPTED = 130
"""Exit status of a bug, of a failure the user can mend, and of Ctrl-C (128 + SIGINT, as a shell's)."""


def fail(error: BaseException | str) -> typer.Exit:
    """Print ``error`` as one line (``error: ...``) and give exit status 2 (bad input)."""
    console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
    return typer.Exit(USER)


def explain(error: BaseException) -> str | None:
    """The line that tells a user what went wrong and what to do, for a failure the user can mend; None for a
    bug."""
    if isinstance(error, ConfigError):
        return str(error)
    where = f"{error.filename}: " if isinstance(error, OSError) and error.filename else ""
    if isinstance(error, FileNotFoundError):
        return f"{where}no such file or folder"
    if isinstance(error, IsADirectoryError):
        return f"{where}is a folder; give a file"
    if isinstance(error, NotADirectoryError):
        return f"{where}a part of this path is a file, not a folder"
    if isinstance(error, FileExistsError):
        return f"{where}exists and is not a folder; choose another path"
    if isinstance(error, PermissionError):
        return f"{where}permission denied; check its permissions or choose another path"
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{where}no space left on the device; free some space and run the command again"
    if isinstance(error, OSError) and error.errno == errno.EROFS:
        return f"{where}the file system is read-only; choose another path"
    if isinstance(error, OSError):
        return f"{where}{error.strerror or error}"
    if isinstance(error, sqlite3.Error):
        return f"the study store could not be read or written ({error}); check the folder's permissions and free space"
    if isinstance(error, yaml.YAMLError):
        return f"not valid YAML: {str(error).splitlines()[0]}"
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return "out of memory; use a smaller batch_size, a smaller model or fewer workers"
    return None


def report(error: Exception) -> int:
    """Print ``error`` as one line and return the exit status: 2 for a failure the user can mend, 1 for a bug
    (its traceback is written to a log file that the line names)."""
    message = explain(error)
    if message is not None:
        fail(message)
        return USER
    log = Path(tempfile.gettempdir()) / f"noisetrain-error-{time.strftime('%Y%m%d-%H%M%S')}.log"
    try:
        log.write_text("".join(traceback.format_exception(error)))
        where = f"its traceback is in {log}"
    except OSError:
        where = "run it again with noisetrain --debug to see the traceback"
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")  # some start with a newline
    console.print(f"[red]internal error (a bug in noisetrain):[/red] {escape(type(error).__name__)}: "
                  f"{escape(first)}; {where}; please report it with the command you ran", highlight=False,
                  soft_wrap=True)  # fmt: skip
    return BUG


class Guarded(TyperGroup):
    """The command group of ``noisetrain``: any exception a command raises goes through ``report``, unless
    ``--debug`` asks for the traceback."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            console.print("[yellow]interrupted:[/yellow] what was written stays; a study's finished runs are in its "
                          "store, and the same command resumes it", highlight=False, soft_wrap=True)  # fmt: skip
            raise typer.Exit(INTERRUPTED) from None
        except Exception as error:
            if hasattr(error, "format_message") and hasattr(error, "exit_code"):  # a usage error (click's or typer's)
                where = getattr(getattr(error, "ctx", None), "command_path", None) or ctx.command_path
                raise typer.Exit(fail(f"{error.format_message()} (see: {where} --help)").exit_code) from None
            if ctx.meta.get(DEBUG):
                raise
            raise typer.Exit(report(error)) from None


def bars(*extra: ProgressColumn, quiet: bool = False, transient: bool = True) -> Progress:
    """A rich progress display: description, bar, done/total, ``extra`` columns, elapsed time."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), *extra, TimeElapsedColumn(),
        console=console, disable=quiet, transient=transient,
    )  # fmt: skip
