"""Where a run ran: library versions, host, device and the git commit of noisetrain's code, for its records."""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch


@functools.cache
def environment(device: str = "cpu") -> dict[str, Any]:
    """Versions, host, device and the git commit of the code that ran (None outside a git checkout)."""
    from .. import __version__

    found = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "noisetrain": __version__,
        "host": platform.node(),
        "platform": platform.platform(),
        "device": device,
        "threads": torch.get_num_threads(),
        **git_commit(Path(__file__).resolve().parents[1]),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        found["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return found


def git_commit(folder: Path) -> dict[str, Any]:
    """``{"git_commit": sha, "git_dirty": bool}`` of the checkout that tracks the package in ``folder`` (its
    ``__init__.py`` among it; dirty: uncommitted changes to the package), or Nones when git does not track it."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    tracked = git("ls-files", "--error-unmatch", "__init__.py") is not None  # not an install in a venv in some repo
    commit = git("rev-parse", "HEAD") if tracked else None
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".") if commit else None
    return {"git_commit": commit, "git_dirty": bool(dirty) if commit else None}
