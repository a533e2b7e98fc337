"""Files written whole or not at all: the bytes go to a temporary name in the same folder, then an atomic rename.

A crash or a full disk mid-write leaves the old file (or none), never half a file; the temporary name
starts with a dot and ends in ``.tmp``, and is removed when the write fails.

Example:
    >>> write_atomic("runs/a/result.json", json.dumps(summary))
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
