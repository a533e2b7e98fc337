"""Checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it
loads with ``torch.load(..., weights_only=True)`` (no code runs on load).
"""

from __future__ import annotations

import errno
import pickle
import struct
import warnings
from pathlib import Path
from typing import Any

import torch

from ..files import replacing
from ..registry import ConfigError

FORMAT = 1


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` atomically (temp file + rename), so a crash never leaves half a checkpoint; a failed write
    (a full disk) leaves no temporary file and raises ``OSError`` naming the checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with replacing(path) as temporary:
            torch.save({"format": FORMAT, **state}, temporary)
    except (OSError, RuntimeError) as error:  # torch reports a failed write as a RuntimeError
        code = error.errno if isinstance(error, OSError) and error.errno else errno.EIO
        raise OSError(code, f"could not write the checkpoint: {str(error).splitlines()[-1]}", str(path)) from error
    return path


def load_checkpoint(path: str | Path, *, map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` (no code runs); a missing, foreign, truncated or unsafe file is
    a ``ConfigError`` naming it."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"checkpoint {str(path)!r} is a folder; give its checkpoint.pt")
    if not path.exists():
        raise ConfigError(f"checkpoint {str(path)!r} does not exist")
    if not path.is_file():
        raise ConfigError(f"checkpoint {str(path)!r} is not a file; give a checkpoint.pt")
    try:
        with warnings.catch_warnings():  # a foreign file can make the loader warn about its pickle protocol
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if "Unsupported global" in str(error):  # torch's weights-only loader refused to build an object
            raise ConfigError(f"checkpoint {str(path)!r} holds objects that a noisetrain checkpoint never holds, so "
                              "it was not loaded (no code in it ran): noisetrain did not write it") from None
        raise ConfigError(f"{str(path)!r} is not a readable checkpoint (truncated or another format)") from None
    except (RuntimeError, EOFError, ValueError, KeyError, IndexError, TypeError, struct.error):  # garbage bytes
        raise ConfigError(f"{str(path)!r} is not a readable checkpoint (truncated or another format)") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ConfigError(f"{str(path)!r} is not a noisetrain checkpoint (format {FORMAT})")
    return state
