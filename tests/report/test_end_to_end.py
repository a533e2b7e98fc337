"""A real tiny study (digits, a small MLP, 1 epoch, 2 seeds) run with ``run_study`` and reported."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from noisetrain.cli import app
from noisetrain.report import build_report
from noisetrain.study.config import StudyConfig
from noisetrain.study.runner import run_study


@pytest.mark.slow
def test_real_study_report(tmp_path: Path) -> None:
    study = StudyConfig(
        name="tiny",
        data={"kind": "digits"},
        model={"kind": "mlp", "widths": [16]},
        train={"epochs": 1},
        seeds=2,
        noise={"gaussian": [{"kind": "gaussian", "std": [0.1, 0.3]}]},
        evaluate={"measures": ["clean", {"kind": "noise_sweep", "strengths": [0.0, 0.5]}, "calibration"]},
        execution={"batch": "off"},  # runs trained alone have training times of their own: the cost figure
    )
    result = run_study(study, tmp_path, workers=1)
    assert result.statuses == {"completed": 6}
    cli = CliRunner(env={"COLUMNS": "240"}).invoke(app, ["report", str(tmp_path)])
    assert cli.exit_code == 0 and "report.html" in cli.output, cli.output
    names = {p.name for p in (tmp_path / "report").iterdir()}
    assert {"headline.md", "headline.tex", "report.html", "headline_vs_strength.png", "noise_sweep.png"} <= names
    assert {"training_curves.png", "cost_vs_benefit.png", "reliability_diagrams.png", "summary.md"} <= names
    assert build_report(tmp_path, formats=["csv"]).files[0].name == "headline.csv"
    bad = CliRunner().invoke(app, ["report", str(tmp_path), "--formats", "pdf"])
    assert bad.exit_code == 2 and "report formats must be one or more of md, latex, csv, html" in bad.output
    table = pd.read_csv(tmp_path / "report" / "headline.csv")
    assert table["label"].tolist()[0] == "baseline" and table["n"].tolist() == [2, 2, 2]
    assert table["mean"].between(0, 1).all() and table["diff"].iloc[1:].notna().all()
    assert set(table["interval"]) == {"bootstrap"}  # the runs stored each test example's correctness
    assert table["ci_low"].between(0, 1).all() and table["ci_high"].between(0, 1).all()
    assert not table["testable"].iloc[1:].any()  # 2 seeds: not testable, never p = 0
