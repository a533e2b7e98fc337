"""Files are written whole or not at all."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from noisetrain.files import folder_for, remove_leftovers, write_atomic
from noisetrain.registry import ConfigError


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
    with pytest.raises(OSError, match="No space left") as failure:
        write_atomic(path, "the new report")
    assert failure.value.filename == str(path)  # the file asked for, not the temporary
    monkeypatch.undo()
    assert path.read_text() == "the old report" and [p.name for p in tmp_path.iterdir()] == ["headline.md"]


def test_remove_leftovers_removes_only_temporaries_of_dead_writers(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "runs" / "a").mkdir(parents=True)
    stale = tmp_path / "runs" / "a" / f".result.json.{dead.pid}.tmp"
    live = tmp_path / f".study.yaml.{os.getpid()}.tmp"
    mine = tmp_path / "notes.tmp"  # not a temporary of write_atomic: kept
    for path in (stale, live, mine):
        path.write_text("partial")
    assert remove_leftovers(tmp_path) == [stale]
    assert not stale.exists() and live.read_text() == "partial" and mine.exists()


def test_a_write_into_a_missing_folder_names_the_target(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "study.yaml"
    with pytest.raises(FileNotFoundError) as failure:
        write_atomic(target, "x")
    assert (failure.value.filename, failure.value.filename2) == (str(target), None)


def test_strict_json_writes_numbers_that_could_not_be_computed_as_null() -> None:
    import json
    import math

    from noisetrain.files import strict_json

    text = strict_json({"value": math.nan, "ci": [0.1, math.inf], "nested": [{"loss": -math.inf}], "n": 3})
    assert json.loads(text) == {"value": None, "ci": [0.1, None], "nested": [{"loss": None}], "n": 3}
    assert "NaN" not in text and "Infinity" not in text


def test_folder_for_makes_the_folder_first_and_removes_what_it_made_when_the_work_fails(tmp_path: Path) -> None:
    with folder_for(tmp_path / "a" / "b", "--output") as folder:
        (folder / "records.json").write_text("[]")
    assert (tmp_path / "a" / "b" / "records.json").is_file()  # the work done: everything stays
    with pytest.raises(RuntimeError), folder_for(tmp_path / "c" / "d", "--output"):
        raise RuntimeError("the work failed")
    assert not (tmp_path / "c").exists()  # what it made, gone again
    with pytest.raises(RuntimeError), folder_for(tmp_path / "a" / "e", "--output"):
        raise RuntimeError("the work failed")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]  # what was there stays
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"--output: cannot write in '.*file/sub' \(a file is in the way\)"):
        with folder_for(tmp_path / "file" / "sub", "--output"):
            raise AssertionError("the work must not start")
