"""The study commands: validate, run, export, recommend (report and demo: see tests/report)."""

import webbrowser
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from noisetrain.cli import app
from noisetrain.study import load_study, plan

from studykit import FAILING, tiny_study, write_study

runner = CliRunner(env={"COLUMNS": "240"})


def test_validate_lists_the_runs_and_runs_nothing(tmp_path: Path) -> None:
    path = write_study(tmp_path, tiny_study(train={"epochs": [1, 2]}))
    result = runner.invoke(app, ["study", "validate", str(path), "--set", "seeds=1"])
    assert result.exit_code == 0, result.output
    assert "study tiny: 6 runs" in result.output and "gaussian std=0.3" in result.output
    assert "epochs=2" in result.output
    assert "batched, 6 runs as 2 stacked models: baseline, gaussian std=0.1, gaussian std=0.3" in result.output
    dropout = "noise.d=[{kind: dropout, p: 0.1, at: 'output:ReLU'}]"
    result = runner.invoke(app, ["study", "validate", str(path), "--set", "seeds=2", "--set", dropout])
    assert "batched, 12 runs as 2 stacked models: baseline, gaussian std=0.1, gaussian std=0.3" in result.output
    assert "not batched (d): noise[0] (dropout) acts at 'output'" in result.output
    assert not (tmp_path / "studies").exists()
    long = "noise={input_annealed_gaussian_noise: [{kind: gaussian, std: {kind: linear, start: 0.3, end: 0}}]}"
    narrow = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["study", "validate", str(path), "--set", long])
    assert narrow.exit_code == 0 and "input_annealed_ga" in narrow.output
    assert "…" not in narrow.output  # a narrow terminal wraps a name; it cut it ("input_annealed_g…")


def test_a_bad_study_exits_2_with_the_field_named(tmp_path: Path) -> None:
    path = write_study(tmp_path, tiny_study(noise={"g": [{"kind": "gaussian", "std": -1}]}))
    for command in (["study", "validate", str(path)], ["study", "run", str(path), "-q"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2 and "noise.g[0]: GaussianNoise.std must be in [0, inf)" in result.output


def test_run_then_rerun_then_export(tmp_path: Path) -> None:
    path, folder = write_study(tmp_path, tiny_study(seeds=1)), tmp_path / "out"
    result = runner.invoke(app, ["study", "run", str(path), "--output", str(folder), "--workers", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert "3 runs: 0 already finished; this time 3 completed" in result.output
    assert "clean accuracy per configuration" in result.output and "- Best by validation: **" not in result.output
    assert "verdict" in result.output and f"report: {folder / 'report' / 'report.html'}" in result.output
    assert (folder / "report" / "summary.md").is_file()  # the run wrote its report and printed its summary
    opened: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(webbrowser, "open", opened.append)
        result = runner.invoke(app, ["study", "run", str(path), "--output", str(folder), "-q", "--open"])
    assert "3 runs: 3 already finished; this time nothing new" in result.output
    assert opened == [(folder / "report" / "report.html").resolve().as_uri()]
    result = runner.invoke(app, ["study", "export", str(folder)])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(folder / "export" / "runs.csv")
    assert len(runs) == 3 and set(runs.status) == {"completed"}
    assert runner.invoke(app, ["study", "export", str(tmp_path / "none")]).exit_code == 2


def test_run_shows_progress_and_a_failed_run_exits_1(tmp_path: Path) -> None:
    study = tiny_study(seeds=1, baseline=False, noise=FAILING)
    result = runner.invoke(app, ["study", "run", str(write_study(tmp_path, study)), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and "1 failed" in result.output


def test_recommend_prints_the_table_and_writes_a_study_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "tabular.yaml"
    result = runner.invoke(app, ["recommend", "--data-type", "tabular", "--write", str(target), "--seeds", "2"])
    assert result.exit_code == 0, result.output
    assert "feature_mask" in result.output and "gaussian+dropout" in result.output
    study = yaml.safe_load(target.read_text())
    assert study["seeds"] == 2 and {"gaussian", "feature_mask"} <= set(study["noise"])
    assert "note: with 2 seeds no comparison can be significant after Holm's correction over 10; 9 seeds can" in (
        " ".join(result.output.split())
    )
    _, runs = plan(load_study(target))
    assert len(runs) > 10
    before = target.read_text()
    result = runner.invoke(app, ["recommend", "--data-type", "image", "--write", str(target)])
    assert result.exit_code == 2 and "exists; recommend writes a new study file" in result.output
    assert target.read_text() == before  # never replaced
    target = tmp_path / "image.yaml"
    result = runner.invoke(app, ["recommend", "--data-type", "image", "--write", str(target)])
    assert "wrote" in result.output and "(10 seeds, 16 comparisons with the baseline)" in result.output
    assert yaml.safe_load(target.read_text())["seeds"] == 10 and "note:" not in result.output
    result = runner.invoke(app, ["recommend", "--data-type", "audio"])
    assert result.exit_code == 2 and "data type must be one of image, text, tabular, timeseries" in result.output
