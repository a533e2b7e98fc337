"""The README's main job: ``noisetrain demo`` runs the bundled study and writes its HTML report."""

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from noisetrain.cli import app


@pytest.mark.slow
def test_demo_runs_the_study_and_writes_the_report(tmp_path: Path) -> None:
    result = CliRunner(env={"COLUMNS": "240"}).invoke(app, ["demo", "--output", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    assert "21 runs: 0 already finished; this time 21 completed" in result.output
    page = tmp_path / "report" / "report.html"
    assert page.is_file() and f"report: {page}" in result.output.replace("\n", "")
    headline = pd.read_csv(tmp_path / "report" / "headline.csv")
    assert len(headline) == 7 and set(headline.n) == {3}
    assert headline["mean"].min() > 0.9  # every recipe learns digits
