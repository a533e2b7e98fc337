"""Files are written whole or not at all."""

from pathlib import Path

import pytest

from noisetrain.files import write_atomic


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text("old")
    assert write_atomic(path, "new ü") == path and path.read_text(encoding="utf-8") == "new ü"
    write_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01" and [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "headline.md"
    path.write_text("the old report")

    def full_disk(self: Path, data: bytes) -> int:
        Path.write_text(self, "half")  # part of the bytes made it to the temporary file
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, "the new report")
    monkeypatch.undo()
    assert path.read_text() == "the old report" and [p.name for p in tmp_path.iterdir()] == ["headline.md"]
