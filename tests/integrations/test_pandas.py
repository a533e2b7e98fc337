"""The pandas example runs a reduced demo study and reads it back as DataFrames; a second run only reads."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "integrations" / "pandas_results.py"


@pytest.mark.slow
def test_pandas_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    argv = ["pandas_results.py", "--folder", str(tmp_path / "demo"), "--seeds", "2", "--epochs", "2"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    first = capsys.readouterr().out
    lines = first.splitlines()
    assert lines[0].split() == ["label", "n", "mean", "ci_low", "ci_high", "diff", "p_holm", "verdict"]
    assert sum("not testable" in line for line in lines[1:8]) == 6  # 2 seeds: no comparison can be tested
    assert "gaussian         completed    6" in first and "baseline         completed    2" in first
    assert "test accuracy under Gaussian input noise" in first and "0.50" in first
    runpy.run_path(str(EXAMPLE), run_name="__main__")  # every run is stored: nothing is trained again
    assert capsys.readouterr().out == first
