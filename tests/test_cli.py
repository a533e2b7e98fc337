import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

import noisetrain.study
from noisetrain.cli import app
from noisetrain.evaluate.keys import show
from noisetrain.evaluate.records import clopper_pearson

runner = CliRunner()
TINY = ["--set", "data={kind: digits, train_size: 300}", "--set", "model={kind: mlp, widths: [16]}",
        "--set", "train.epochs=2", "--quiet"]  # fmt: skip


def test_train_writes_config_metrics_checkpoint_and_result(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"noise": [{"kind": "gaussian", "std": 0.2}], "seed": 1}))
    result = runner.invoke(app, ["train", "--config", str(config), *TINY, "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    files = {"config.yaml", "metrics.jsonl", "metrics.csv", "checkpoint.pt", "result.json"}
    assert {p.name for p in out.iterdir()} == files
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["seed"] == 1 and resolved["train"]["epochs"] == 2 and resolved["train"]["optimizer"]["lr"] == 0.001
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and "noise/input/gaussian.std" in rows[0]
    assert len((out / "metrics.csv").read_text().splitlines()) == 3
    summary = json.loads((out / "result.json").read_text())
    assert summary["status"] == "completed" and 0 < summary["test_accuracy"] <= 1
    n, correct = summary["n_test"], round(summary["test_accuracy"] * summary["n_test"])  # 300 of digits' 1797: 359
    assert n == 359 and summary["test_accuracy_ci"] == pytest.approx(list(clopper_pearson(correct, n)))
    low, high = (100 * v for v in summary["test_accuracy_ci"])
    shown = f"test_accuracy │ {100 * summary['test_accuracy']:.2f}% [{low:.2f}, {high:.2f}]"
    assert shown in result.output and "95% interval over the 359 test examples" in result.output
    assert summary["environment"]["torch"] == torch.__version__ and "git_commit" in summary["environment"]



def test_train_shows_a_regressors_test_errors_with_their_intervals(tmp_path):
    data = "data={kind: function, name: sphere, n_train: 120, n_val: 0, n_test: 80}"
    result = runner.invoke(app, ["train", "--set", data, "--set", "model={kind: knn, k: 3}", "-o", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "r" / "result.json").read_text())
    for key in ("test_rmse", "test_mae"):
        low, high = summary[f"{key}_ci"]
        shown = f"{show('mae', summary[key])} [{show('mae', low)}, {show('mae', high)}]"
        assert re.search(rf"{key} +│ +{re.escape(shown)} │", result.output), result.output
    assert "95% intervals over the 80 test examples" in " ".join(result.output.split())  # a caption wraps

def test_resume_continues_the_checkpoint(tmp_path):
    out = str(tmp_path / "out")
    assert runner.invoke(app, ["train", *TINY, "--output", out]).exit_code == 0
    config = (tmp_path / "out" / "config.yaml").read_bytes()
    result = runner.invoke(app, ["train", *TINY, "--set", "train.epochs=3", "--output", out, "--resume"])
    assert result.exit_code == 2 and "was written with another train; resume with its own config" in result.output
    assert (tmp_path / "out" / "config.yaml").read_bytes() == config  # a refused resume changes nothing
    files = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    again = runner.invoke(app, ["train", "--config", f"{out}/config.yaml", "--output", out, "--resume", "--quiet"])
    assert again.exit_code == 0, again.output  # the README's resume command
    short = runner.invoke(app, ["train", "--output", out, "--resume", "--quiet"])
    assert short.exit_code == 0, short.output  # without --config: the run's own config.yaml
    # the run had ended: resuming it trains nothing and rewrites nothing (result.json kept the run's seconds)
    assert "had ended (trained for 2 epochs): nothing to resume, no file changed" in " ".join(short.output.split())
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == files


def test_bad_config_is_one_clear_message_before_any_work(tmp_path):
    out = tmp_path / "out"
    args = ["train", *TINY, "--set", "train.optimizer.lr=-1", "--set", "train.bogus=1", "--output", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "train.optimizer.lr: Input should be greater than 0" in result.output
    assert "train.bogus: Extra inputs are not permitted" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_diverging_run_exits_with_its_message(tmp_path):
    args = ["train", *TINY, "--set", "data=diabetes", "--set", "train.optimizer={kind: sgd, lr: 1.0e+8}"]
    result = runner.invoke(app, [*args, "--output", str(tmp_path / "out")])
    assert result.exit_code == 1 and "diverged" in result.output and "Traceback" not in result.output
    # a model with non-finite weights has no test numbers to report (its predictions were constants)
    summary = json.loads((tmp_path / "out" / "result.json").read_text())
    assert summary["status"] == "diverged" and summary["test_rmse"] is None and summary["test_mae"] is None
    assert re.search(r"test_rmse +│ +none: diverged", result.output)
    iris = ["train", *TINY, "--set", "data=iris", "--set", "train.optimizer={kind: sgd, lr: 1.0e+30}", "-o"]
    classifier = runner.invoke(app, [*iris, str(tmp_path / "iris")])
    assert classifier.exit_code == 1 and "none: diverged" in classifier.output  # no accuracy nor interval
    assert json.loads((tmp_path / "iris" / "result.json").read_text())["test_accuracy"] is None


def test_help_shows_examples():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0 and "Examples" in result.output and "--set" in result.output


@pytest.mark.slow
def test_same_seed_same_metrics_in_new_processes(tmp_path):
    def metrics(folder):
        command = [sys.executable, "-m", "noisetrain.cli", "train", *TINY, "--set", "seed=4", "--output", folder]
        subprocess.run(command, check=True, capture_output=True)
        rows = [json.loads(line) for line in open(f"{folder}/metrics.jsonl")]
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    assert metrics(str(tmp_path / "a")) == metrics(str(tmp_path / "b"))


def test_evaluate_a_trained_checkpoint(tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, ["train", *TINY, "--set", "data.images=true", "--output", str(out)]).exit_code == 0
    args = ["evaluate", "-c", str(out / "checkpoint.pt"), "--measures",
            "clean,noise_sweep:strengths=0,0.5,corruptions:corruptions=contrast,severities=1", "-q"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "records.json").read_text())
    summary = json.loads((out / "result.json").read_text())
    clean = next(r for r in rows if r["measure"] == "clean" and r["metric"] == "accuracy")
    assert clean["value"] == summary["test_accuracy"]  # the checkpoint reloads the trained model exactly
    assert {r["measure"] for r in rows} == {"clean", "noise_sweep", "corruptions"}
    assert (out / "records.csv").read_text().startswith("measure,metric,setting,value,ci,n")
    # the terminal shows the key numbers only, one row each, not the records
    printed = result.output
    assert f"{100 * clean['value']:.2f}%" in printed and "AUC gaussian" in printed
    assert "mean accuracy (common)" in printed
    assert "severity" not in printed and len(printed.splitlines()) < 24
    assert "no interval: a number of this one model; its spread over training seeds needs a study" in " ".join(
        printed.split())  # NLL and AUC come without one: the table says why  # fmt: skip
    attacked = runner.invoke(app, ["evaluate", "-c", str(out / "checkpoint.pt"), "-m", "adversarial:eps=0.1,steps=2",
                                   "-q", "-o", str(tmp_path / "a")])  # fmt: skip
    assert attacked.exit_code == 0 and "pgd eps=0.1" in attacked.output and "no interval" not in attacked.output
    assert f"wrote all {len(rows)} records to" in printed
    bad = runner.invoke(app, ["evaluate", "-c", str(out / "checkpoint.pt"), "--measures", "clean,robust"])
    assert bad.exit_code == 2 and "unknown measure 'robust'" in bad.output
    bad = runner.invoke(app, ["evaluate", "-c", str(out / "checkpoint.pt"), "--measures", "clean,adversarial:eps=-1"])
    assert bad.exit_code == 2 and "measures[1] (adversarial): eps must be in [0, inf), got -1" in bad.output
    args = [  # not quiet: the progress bars are drawn
        "evaluate", "-c", str(out / "checkpoint.pt"), "--measures", "corruptions:corruptions=contrast,severities=1,2",
        "-o", str(tmp_path / "bars"),
    ]  # fmt: skip
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0, shown.output
    rows = json.loads((tmp_path / "bars" / "records.json").read_text())
    assert [r["setting"]["severity"] for r in rows if r["metric"] == "accuracy"] == [1, 2]


@pytest.mark.parametrize(("option", "expected"), [([], 1), (["--threads", "2"], 2)])
def test_train_runs_torch_on_the_threads_asked_for(tmp_path, monkeypatch, option, expected):
    monkeypatch.setattr(torch, "set_num_threads", lambda n: chosen.append(n))
    chosen: list[int] = []
    result = runner.invoke(app, ["train", *TINY, *option, "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert chosen == [expected]
    assert runner.invoke(app, ["train", *TINY, "--threads", "0", "--output", str(tmp_path / "all")]).exit_code == 0
    assert chosen == [expected]  # 0: torch's own default is left alone


HEAVY = ("torch", "scipy", "matplotlib", "pandas", "numpy")
"""What a --help must not import (the commands import them when they run)."""


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["study"], ["study", "run"], ["report"], ["demo"]])
def test_help_imports_nothing_heavy(command: list[str]) -> None:
    script = (
        "import sys\nfrom typer.testing import CliRunner\nfrom noisetrain.cli import app\n"
        f"result = CliRunner().invoke(app, {[*command, '--help']!r})\n"
        "assert result.exit_code == 0, result.output\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "[]"


def test_planning_a_study_imports_neither_scipy_nor_pandas() -> None:
    """Expanding and checking a study needs torch and its data, not the statistics (scipy.stats, pandas): they
    are imported where a report or a certificate is computed. Nor scikit-learn, which imports both: the demo's
    digits are read from the file scikit-learn ships."""
    demo = Path(noisetrain.study.__file__).parent / "demo.yaml"
    script = (
        "import sys\nfrom noisetrain.study import load_study, plan\n"
        f"study, runs = plan(load_study({str(demo)!r}))\n"
        "print(len(runs), sorted(m for m in ('scipy.stats', 'pandas', 'sklearn') if m in sys.modules))"
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert shown.split() == ["70", "[]"]
