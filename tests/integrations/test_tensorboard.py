"""The TensorBoard example tracks a small study and reads every run back with TensorBoard's own reader."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "integrations" / "tracking_tensorboard.py"


@pytest.mark.slow
def test_tensorboard_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(sys, "argv", ["tracking_tensorboard.py", "--output", str(tmp_path / "tb")])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    header, *rows = capsys.readouterr().out.strip().splitlines()
    assert header.split() == ["run", "label", "epochs", "val_accuracy", "first", "last"]
    assert sorted(row.split()[1] for row in rows) == ["baseline"] * 2 + ["dropout"] * 2 + ["weight_noise"] * 2
    assert all(row.split()[2] == "4" and 0 < float(row.split()[4]) <= 1 for row in rows)
