"""The README's main job: ``noisetrain demo`` runs the bundled study, writes its report and prints the answer."""

from pathlib import Path

import pandas as pd
import pytest


@pytest.mark.slow
def test_demo_runs_the_study_writes_the_report_and_prints_the_answer(demo: tuple[Path, str]) -> None:
    folder, output = demo
    assert "70 runs: 0 already finished; this time 70 completed" in output
    page = folder / "report" / "report.html"
    assert page.is_file() and f"report: {page}" in output.replace("\n", "")
    headline = pd.read_csv(folder / "report" / "headline.csv")
    assert len(headline) == 7 and set(headline.n) == {10}
    assert headline["mean"].min() > 0.9  # every recipe learns digits
    assert set(headline["interval"]) == {"bootstrap"}  # the runs stored each test example's correctness
    lines = output.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines)  # the summary fits an 80-column terminal
    assert any(line.startswith("- Best by validation: ") for line in lines)
    assert "p (Holm)" in output and "verdict" in output
