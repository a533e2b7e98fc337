"""Where data files live: the root folder and the candidate folders a loader searches.

The root is, in order: the ``root`` argument, the environment variable ``NOISETRAIN_DATA``,
and ``$XDG_CACHE_HOME/noisetrain/data`` (``~/.cache/noisetrain/data`` by default), which is
also where ``download=True`` puts files when neither of the others is given. A data set lives
in its own subfolder of the root (``mnist/``, ``fashion_mnist/``, ``cifar-10-batches-py/``), or where
torchvision's ``datasets`` put it under the same root (``MNIST/raw/``, ``FashionMNIST/raw/``,
``cifar-100-python/``), so a folder a torchvision user already has is read as it is; an explicit
``root`` may also be that subfolder itself.

Example:
    >>> required = [("t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz")]
    >>> folder = find_folder(candidate_folders(None, "mnist"), required)   # None if no candidate has it
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..registry import ConfigError

ENV_VAR = "NOISETRAIN_DATA"
"""Environment variable naming the data root."""

Required = Sequence[tuple[str, ...]]
"""Files a folder must hold; each entry lists accepted names of one file, preferred first."""


def default_root() -> Path:
    """The per-user cache folder ``$XDG_CACHE_HOME/noisetrain/data`` (``~/.cache/noisetrain/data``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache).expanduser() / "noisetrain" / "data"


def check_root(root: object) -> None:
    """Raise ``ConfigError`` unless ``root`` is None, a string or a path."""
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise ConfigError(f"root must be a folder path or null, got {root!r}")


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The root folder: ``root`` if given, else ``$NOISETRAIN_DATA`` if set, else :func:`default_root`."""
    check_root(root)
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else default_root()


def candidate_folders(
    root: str | os.PathLike[str] | None, subfolder: str, also: Sequence[str] = ()
) -> list[Path]:
    """Folders to search for a data set, in order.

    An explicit ``root``: ``root/subfolder``, ``root/<each of also>``, then ``root``. Otherwise the same
    subfolders of ``$NOISETRAIN_DATA`` (when set), then of ``default_root()``. ``also`` names other
    layouts of the same files, such as torchvision's ``MNIST/raw``.
    """
    subfolders = (subfolder, *also)
    if root is not None:
        base = data_root(root)
        return [*(base / name for name in subfolders), base]
    env = os.environ.get(ENV_VAR)
    bases = [Path(env).expanduser()] if env else []
    return [base / name for base in [*bases, default_root()] for name in subfolders]


def pick(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The first of ``names`` that is a file in ``folder``, or None."""
    return next((folder / name for name in names if (folder / name).is_file()), None)


def missing(folder: Path, required: Required) -> list[str]:
    """The required files ``folder`` lacks, each written as its accepted names joined by ``|``."""
    return ["|".join(names) for names in required if pick(folder, names) is None]


def find_folder(candidates: Sequence[Path], required: Required) -> Path | None:
    """The first candidate folder that holds every required file, or None."""
    return next((folder for folder in candidates if not missing(folder, required)), None)


def not_found(
    what: str, candidates: Sequence[Path], required: Required, target: Path, urls: Sequence[str]
) -> ConfigError:
    """An error listing every folder searched (and what each lacks) and how to get the data into ``target``."""
    lines = [f"{what} files not found; looked in:"]
    for folder in candidates:
        lacks = "missing " + ", ".join(missing(folder, required)) if folder.is_dir() else "no such folder"
        lines.append(f"  {folder} ({lacks})")
    lines.append(
        f"Set {ENV_VAR} (or pass root=...) to a folder that holds them, "
        f"or pass download=True to fetch them into {target} from {', '.join(urls)}"
    )
    return ConfigError("\n".join(lines))
