"""Checked downloads (from file:// URLs the tests write, never the network) and safe tar extraction."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from noisetrain.data.download import Resource, extract_tar, fetch, md5_of, published
from noisetrain.registry import ConfigError

PAYLOAD = b"noisetrain test payload\n" * 100
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


def served(tmp_path: Path, name: str = "file.bin", data: bytes = PAYLOAD) -> str:
    """A file:// URL of ``data`` written under ``tmp_path/server``."""
    path = tmp_path / "server" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path.as_uri()


def test_fetch_verifies_and_renames_into_place(tmp_path: Path) -> None:
    folder = tmp_path / "dest" / "sub"
    path = fetch(Resource("file.bin", served(tmp_path), PAYLOAD_MD5), folder)
    assert path == folder / "file.bin"
    assert path.read_bytes() == PAYLOAD and md5_of(path) == PAYLOAD_MD5
    assert sorted(p.name for p in folder.iterdir()) == ["file.bin"]  # no temporary file left


def test_fetch_keeps_a_verified_file_without_downloading(tmp_path: Path) -> None:
    (tmp_path / "file.bin").write_bytes(PAYLOAD)
    missing_url = (tmp_path / "nowhere.bin").as_uri()
    assert fetch(Resource("file.bin", missing_url, PAYLOAD_MD5), tmp_path).read_bytes() == PAYLOAD


def test_fetch_replaces_a_corrupt_file(tmp_path: Path) -> None:
    folder = tmp_path / "dest"
    folder.mkdir()
    (folder / "file.bin").write_bytes(b"corrupt")
    assert fetch(Resource("file.bin", served(tmp_path), PAYLOAD_MD5), folder).read_bytes() == PAYLOAD


def test_bad_checksum_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / "dest"
    folder.mkdir()
    wrong = "0" * 32
    with pytest.raises(ConfigError) as error:
        fetch(Resource("file.bin", served(tmp_path), wrong), folder)
    message = str(error.value)
    assert f"expected md5 {wrong}" in message and f"got {PAYLOAD_MD5}" in message
    assert list(folder.iterdir()) == []  # the folder was there before: it stays


def test_unreachable_url_names_the_url_and_leaves_nothing(tmp_path: Path) -> None:
    url = (tmp_path / "nowhere.bin").as_uri()
    with pytest.raises(ConfigError, match=r"could not download .*nowhere\.bin") as error:
        fetch(Resource("file.bin", url, PAYLOAD_MD5), tmp_path / "dest" / "cache")
    assert PAYLOAD_MD5 in str(error.value)  # tells what to fetch by hand
    assert not (tmp_path / "dest").exists()  # nor the (empty) folders it made for the file


def test_published_builds_urls_from_a_base() -> None:
    assert published("https://host/dir/", {"a.gz": "1", "b.gz": "2"}) == (
        Resource("a.gz", "https://host/dir/a.gz", "1"),
        Resource("b.gz", "https://host/dir/b.gz", "2"),
    )


# -- tar extraction --------------------------------------------------------------------
def make_tar(path: Path, members: list[tuple[str, bytes | None, bytes]]) -> Path:
    """A tar.gz with ``(name, content, type)`` members; ``content`` of a link is its target."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = content.decode()
                tar.addfile(info)
            elif kind == tarfile.DIRTYPE:
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def test_extracts_plain_files_and_folders(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "ok.tar.gz", [("top", None, tarfile.DIRTYPE), ("top/a.bin", b"abc", tarfile.REGTYPE)])
    extract_tar(archive, tmp_path / "out")
    assert (tmp_path / "out" / "top" / "a.bin").read_bytes() == b"abc"


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("../evil", b"x", tarfile.REGTYPE),
        ("top/../../evil", b"x", tarfile.REGTYPE),
        ("/tmp/noisetrain-evil", b"x", tarfile.REGTYPE),
        ("top/link", b"../../evil", tarfile.SYMTYPE),
        ("top/link", b"/etc/passwd", tarfile.SYMTYPE),
        ("top/hard", b"top/a.bin", tarfile.LNKTYPE),
        ("top/fifo", b"", tarfile.FIFOTYPE),
    ],
)
def test_unsafe_members_are_refused_before_anything_is_written(
    tmp_path: Path, name: str, content: bytes, kind: bytes
) -> None:
    members = [("top", None, tarfile.DIRTYPE), ("top/a.bin", b"abc", tarfile.REGTYPE), (name, content, kind)]
    archive = make_tar(tmp_path / "bad.tar.gz", members)
    out = tmp_path / "a" / "b"
    with pytest.raises(ConfigError, match=f"refusing to extract '{name}'"):
        extract_tar(archive, out)
    assert not out.exists()
    assert not (tmp_path / "a" / "evil").exists() and not (tmp_path / "evil").exists()


def test_not_a_tar_file(tmp_path: Path) -> None:
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(ConfigError, match=r"could not extract .*junk\.tar\.gz"):
        extract_tar(tmp_path / "junk.tar.gz", tmp_path / "out")


def test_a_failed_download_keeps_the_files_fetched_before_it(tmp_path: Path) -> None:
    folder = tmp_path / "dest" / "cache"
    fetch(Resource("first.bin", served(tmp_path, "first.bin"), PAYLOAD_MD5), folder)
    with pytest.raises(ConfigError, match="could not download"):
        fetch(Resource("second.bin", (tmp_path / "nowhere.bin").as_uri(), PAYLOAD_MD5), folder)
    assert [p.name for p in folder.iterdir()] == ["first.bin"]
