"""Downloads checked against published checksums, and tar extraction without path traversal.

A download goes to a temporary file in the destination folder, is checked against the
published MD5, and only then renamed into place (atomically), so an interrupted or
corrupted download never leaves a file under the final name.

Example:
    >>> url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    >>> archive = fetch(Resource("cifar-10-python.tar.gz", url, "c58f30108f718f92721af3b95e74349a"), folder)
    >>> extract_tar(archive, folder)
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..files import folder_for
from ..registry import ConfigError

log = logging.getLogger(__name__)

CHUNK = 1 << 20


@dataclass(frozen=True)
class Resource:
    """One published file: its name in the destination folder, its URL and its published MD5 (hex)."""

    filename: str
    url: str
    md5: str


def published(base_url: str, md5s: dict[str, str]) -> tuple[Resource, ...]:
    """Resources for files published side by side under ``base_url``, given as ``{filename: md5}``."""
    return tuple(Resource(name, base_url + name, md5) for name, md5 in md5s.items())


def md5_of(path: Path) -> str:
    """Hex MD5 digest of the file at ``path``."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(resource: Resource, folder: Path, *, timeout: float = 60.0) -> Path:
    """Download ``resource`` into ``folder`` unless a file with the right checksum is already there.

    Args:
        resource: what to download and its published MD5.
        folder: destination folder (created if needed).
        timeout: seconds to wait for the server on connecting and on each read.

    Returns the path of the verified file. Raises ``ConfigError`` if the download fails or
    its checksum differs from the published one (the partial file, and the empty folders this call
    made, are removed either way: ``folder_for``).
    """
    dest = folder / resource.filename
    if dest.is_file() and md5_of(dest) == resource.md5:
        return dest
    with folder_for(folder, f"download of {resource.filename}"):
        log.info("downloading %s to %s", resource.url, dest)
        handle, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{resource.filename}.", suffix=".part")
        temp = Path(temp_name)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            with os.fdopen(handle, "wb") as out, urllib.request.urlopen(resource.url, timeout=timeout) as response:
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != resource.md5:
                raise ConfigError(
                    f"checksum mismatch for {resource.url}: expected md5 {resource.md5}, got {digest.hexdigest()}; "
                    f"the download was discarded"
                )
            os.replace(temp, dest)
        except (OSError, http.client.HTTPException) as error:  # URLError and timeouts are OSErrors
            raise ConfigError(
                f"could not download {resource.url} to {dest}: {error}; "
                f"download it by hand (md5 {resource.md5}) and put it in {folder}"
            ) from error
        finally:
            temp.unlink(missing_ok=True)
    return dest


def check_member(member: tarfile.TarInfo, folder: Path) -> None:
    """Raise ``ConfigError`` unless ``member`` is a plain file or folder that lands inside ``folder``."""
    name = member.name
    if not (member.isfile() or member.isdir()):
        raise ConfigError(f"refusing to extract {name!r}: only plain files and folders are allowed")
    if os.path.isabs(name) or name.startswith(("/", "\\")) or ".." in Path(name).parts:
        raise ConfigError(f"refusing to extract {name!r}: its path leaves the destination folder")
    top = folder.resolve()
    target = (top / name).resolve()
    if target != top and top not in target.parents:
        raise ConfigError(f"refusing to extract {name!r}: it resolves to {target}, outside {top}")


def extract_tar(archive: Path, folder: Path) -> None:
    """Extract a (compressed) tar archive into ``folder``, refusing unsafe members.

    Every member is checked before anything is written: absolute names, ``..`` components,
    symbolic and hard links and device files are refused with ``ConfigError``. Where Python
    offers it (3.12, and 3.8-3.11 security releases) the ``"data"`` extraction filter is applied too.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                check_member(member, folder)
            folder.mkdir(parents=True, exist_ok=True)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(folder, members=members, filter="data")
            else:  # pragma: no cover - Python without extraction filters
                tar.extractall(folder, members=members)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ConfigError(f"could not extract {archive}: {error}") from error
