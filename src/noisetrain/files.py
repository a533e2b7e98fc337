"""Files written whole or not at all: the bytes go to a temporary name in the same folder, then an atomic rename.

A crash or a full disk mid-write leaves the old file (or none), never half a file; the temporary name
starts with a dot and ends in ``.tmp`` (``.<name>.<pid>.tmp``), is removed when the write fails, and what a
killed process left behind is removed by ``remove_leftovers`` when the next study run starts.

Example:
    >>> write_atomic("runs/a/result.json", json.dumps(summary))
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .registry import ConfigError

LEFTOVER = re.compile(r"^\..+\.(\d+)\.tmp$")
"""The name of a temporary file, with the pid of the process that wrote it."""


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; it replaces ``path`` when the block ends, and is
    removed when the block fails."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename == str(temporary):  # name the file the user asked for
            error.filename, error.filename2 = str(path), None
        raise


def make_folder(folder: str | Path, what: str) -> list[Path]:
    """Make ``folder`` (with its missing parents) and check that a file can be written in it; returns the folders
    this made, the deepest first. A folder that cannot be made or written in is a ``ConfigError`` naming ``what``
    (and what this made is removed again)."""
    folder = Path(folder)
    made = [path for path in (folder, *folder.parents) if not path.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        _remove_empty(made)
        reason = "a file is in the way" if isinstance(error, (FileExistsError, NotADirectoryError)) else (
            error.strerror or str(error)).lower()  # fmt: skip
        raise ConfigError(f"{what}: cannot write in {str(folder)!r} ({reason}); give a folder you can write in"
                          ) from None  # fmt: skip
    return made


@contextmanager
def folder_for(folder: str | Path, what: str) -> Iterator[Path]:
    """``folder`` made and checked before the work that fills it (``make_folder``), as the block's value; when the
    block fails, the folders this made that are still empty are removed, so a failed command leaves the disk as it
    found it."""
    made = make_folder(folder, what)
    try:
        yield Path(folder)
    except BaseException:
        _remove_empty(made)
        raise


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (the deepest first) while they exist and are empty."""
    for path in folders:
        if not path.is_dir() or any(path.iterdir()):
            return
        path.rmdir()


def strict_json(value: Any, **options: Any) -> str:
    """``json.dumps`` of ``value`` with NaN and infinities as null (a diverged run's loss, a number that could not be
    computed): ``NaN`` is not JSON, and strict readers (JavaScript, SQLite's JSON functions) refuse it."""

    def finite(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return None
        if isinstance(item, dict):
            return {k: finite(v) for k, v in item.items()}
        return [finite(v) for v in item] if isinstance(item, (list, tuple)) else item

    return json.dumps(finite(value), allow_nan=False, **options)


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file and ``os.replace``."""
    with replacing(path) as temporary:
        temporary.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Remove the temporary files under ``folder`` whose writer is no longer alive (a killed process's); returns
    them."""
    removed = []
    for path in Path(folder).rglob(".*.tmp"):
        found = LEFTOVER.match(path.name)
        if found and path.is_file() and not _alive(int(found.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
