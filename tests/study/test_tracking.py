"""Study tracking: MLflow's and TensorBoard's own readers see every run of a study as its store holds it (config,
per-epoch metrics, records, tags) and its report; a rerun logs nothing twice; a missing package or an unknown
tracker is a ConfigError before anything runs."""

import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from noisetrain.cli import app
from noisetrain.registry import ConfigError
from noisetrain.study import load_study, plan, run_study
from noisetrain.study.commands import DEMO
from noisetrain.study.store import Store
from noisetrain.study.tracking import flatten, mlflow_name, open_tracker, params

from studykit import FAILING, study_config

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData  # noqa: E402

ROOT = Path(__file__).parents[2]
SHRUNK = ["seeds=1", "train.epochs=2", "evaluate.measures=[clean]"]
"""The demo study's 7 configurations, 1 seed each, 2 epochs, clean accuracy only: seconds."""
pytestmark = pytest.mark.filterwarnings(  # MLflow's own, with SQLAlchemy 2 and pandas 3
    "ignore:The ``noload`` loader strategy is deprecated", "ignore:For backward compatibility, 'str' dtypes"
)
KEEP_ALL = {"scalars": 0, "tensors": 0, "images": 0}
"""EventAccumulator's size guidance: every event, none sampled away."""


def study_run(folder: Path, tracking: str, *overrides: str) -> str:
    """``noisetrain study run`` of the demo study with ``execution.tracking``, as a user runs it (then the report)."""
    sets = [arg for o in [*overrides, f"execution.tracking={tracking}"] for arg in ("--set", o)]
    result = CliRunner().invoke(app, ["study", "run", str(DEMO), "-o", str(folder), "-q", *sets])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def shrunk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shrunk demo study run with MLflow tracking, then run again with TensorBoard tracking: every run is
    skipped the second time, so the TensorBoard tracker logs them from the store."""
    folder = tmp_path_factory.mktemp("tracked") / "demo"
    study_run(folder, "mlflow", *SHRUNK)
    study_run(folder, "tensorboard", *SHRUNK)
    return folder


def mlflow_client(folder: Path) -> tuple["mlflow.MlflowClient", str]:
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    return client, client.get_experiment_by_name("demo").experiment_id


def mlflow_runs(folder: Path) -> dict[str, "mlflow.entities.Run"]:
    """``{run name: run}`` of the study's experiment, as MLflow's reader sees it (the report run under "report")."""
    client, experiment = mlflow_client(folder)
    runs = client.search_runs([experiment])
    named = {run.info.run_name: run for run in runs}
    assert len(named) == len(runs)  # one MLflow run per study run
    return named


def tensorboard_runs(folder: Path) -> dict[str, EventAccumulator]:
    """``{subfolder: its events}`` under ``<folder>/tensorboard``, as TensorBoard's reader sees them."""
    found = {}
    for path in sorted((folder / "tensorboard").iterdir()):
        found[path.name] = EventAccumulator(str(path), size_guidance=KEEP_ALL).Reload()
    return found


def stored(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with Store(folder / "study.db") as store:
        return store.runs(details=True), store.metrics(), store.records()


def text(events: EventAccumulator, tag: str) -> str:
    return events.Tensors(f"{tag}/text_summary")[0].tensor_proto.string_val[0].decode()


@pytest.mark.slow  # the shared shrunk demo fixture: about 10 s
def test_mlflow_and_tensorboard_readers_see_every_run_of_the_demo_study(shrunk: Path) -> None:
    runs, _, _ = stored(shrunk)
    assert len(runs) == 7 and set(runs.status) == {"completed"} and runs.label.nunique() == 7
    keys = set(runs.key)
    assert set(mlflow_runs(shrunk)) == keys | {"report"}
    assert set(tensorboard_runs(shrunk)) == keys | {"report"}


@pytest.mark.slow  # the shared shrunk demo fixture: about 10 s
def test_mlflow_holds_each_runs_config_metrics_records_and_tags(shrunk: Path, tmp_path: Path) -> None:
    runs, metrics, records = stored(shrunk)
    client, _ = mlflow_client(shrunk)
    tracked = mlflow_runs(shrunk)
    for run in runs.itertuples():
        logged = tracked[run.key]
        config = json.loads(run.config)
        assert logged.info.status == "FINISHED"
        assert logged.data.params == {k: v if isinstance(v, str) else json.dumps(v) for k, v in flatten(config).items()}
        assert logged.data.params["train.epochs"] == "2" and logged.data.params["model.widths"] == "[64]"
        tags = {name.removeprefix("noisetrain."): value for name, value in logged.data.tags.items()}
        assert (tags["key"], tags["status"], tags["seed"], tags["study"]) == (run.key, "completed", "0", "demo")
        assert (tags["label"], tags["arm"], tags["group"]) == (run.label, run.arm, run.group)
        own = metrics[metrics.key == run.key]
        assert set(logged.data.metrics) == {*own.name, "clean/accuracy"}
        for name, values in own.groupby("name"):
            history = client.get_metric_history(logged.info.run_id, name)
            assert [(m.step, m.value) for m in history] == list(zip(values.epoch, values.value, strict=True))
        accuracy = records[(records.key == run.key) & (records.measure == "clean") & (records.metric == "accuracy")]
        assert logged.data.metrics["clean/accuracy"] == accuracy.value.item()
        folder = Path(client.download_artifacts(logged.info.run_id, "", str(tmp_path / run.key)))
        assert json.loads((folder / "config.json").read_text()) == config
        table = pd.read_json(folder / "records.json", orient="split")  # MLflow's table: 10 significant digits
        own = records[records.key == run.key]
        columns = ["measure", "metric", "setting"]
        assert table[columns].to_dict("records") == own[columns].to_dict("records")
        assert list(table.value) == pytest.approx(list(own.value), rel=1e-9)


@pytest.mark.slow  # the shared shrunk demo fixture: about 10 s
def test_tensorboard_holds_each_runs_scalars_hparams_and_texts(shrunk: Path) -> None:
    runs, metrics, records = stored(shrunk)
    tracked = tensorboard_runs(shrunk)
    for run in runs.itertuples():
        events = tracked[run.key]
        own = metrics[metrics.key == run.key]
        assert set(events.Tags()["scalars"]) == {*own.name, "clean/accuracy"}
        for name, values in own.groupby("name"):
            scalars = events.Scalars(name)  # float32 in event files
            assert [s.step for s in scalars] == list(values.epoch)
            assert [s.value for s in scalars] == pytest.approx(list(values.value), rel=1e-6, nan_ok=True)
        accuracy = records[(records.key == run.key) & (records.measure == "clean") & (records.metric == "accuracy")]
        assert events.Scalars("clean/accuracy")[0].value == pytest.approx(accuracy.value.item(), rel=1e-6)
        start = HParamsPluginData.FromString(events.PluginTagToContent("hparams")["_hparams_/session_start_info"])
        hparams = start.session_start_info.hparams
        assert hparams["train.epochs"].number_value == 2 and hparams["model.widths"].string_value == "[64]"
        assert f"| noisetrain.key | {run.key} |" in text(events, "run")
        assert "| noisetrain.status | completed |" in text(events, "run") and f"| {run.label} |" in text(events, "run")
        assert json.loads(text(events, "config").strip("`\n")) == json.loads(run.config)
        assert "| clean | accuracy | {} |" in text(events, "records")


@pytest.mark.slow  # the shared shrunk demo fixture: about 10 s
def test_the_report_is_logged_to_mlflow_and_tensorboard(shrunk: Path) -> None:
    written = sorted(path.name for path in (shrunk / "report").iterdir())
    assert "report.html" in written and "summary.md" in written
    client, _ = mlflow_client(shrunk)
    report = mlflow_runs(shrunk)["report"]
    assert report.data.tags["noisetrain.report"] == "true" and report.data.params == {}
    assert sorted(Path(a.path).name for a in client.list_artifacts(report.info.run_id, "report")) == written
    events = tensorboard_runs(shrunk)["report"]
    assert sorted(events.Tags()["images"]) == [name for name in written if name.endswith(".png")]
    assert {f"{name}/text_summary" for name in written if name.endswith(".md")} == set(events.Tags()["tensors"])
    assert text(events, "summary.md") == (shrunk / "report" / "summary.md").read_text()


@pytest.mark.slow  # the shared shrunk demo fixture: about 10 s
def test_a_rerun_logs_nothing_twice_and_mends_what_a_killed_driver_left(shrunk: Path, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    shutil.copytree(shrunk, folder)
    before = {name: run.info.run_id for name, run in mlflow_runs(folder).items()}
    lost, *kept = sorted(set(before) - {"report"})
    client, experiment = mlflow_client(folder)
    client.delete_run(before[lost])  # a driver killed after storing this run, before logging it
    client.create_run(experiment, tags={"noisetrain.key": kept[0]}, run_name=kept[0])  # killed while logging it
    client.set_tag(before[kept[1]], "noisetrain.status", "failed")  # killed before logging its rerun
    shutil.rmtree(folder / "tensorboard" / lost)
    (folder / "tensorboard" / f"{kept[0]}.partial").mkdir()  # a TensorBoard tracker killed while writing
    mark = folder / "tensorboard" / kept[1] / "noisetrain.json"
    mark.write_text(json.dumps({"key": kept[1], "status": "failed"}))

    output = study_run(folder, "mlflow", *SHRUNK)
    assert "7 runs: 7 already finished; this time nothing new" in output
    after = {name: run.info.run_id for name, run in mlflow_runs(folder).items()}
    same = [key for key in kept if key != kept[1]]
    assert set(after) == set(before) and {k: after[k] for k in same} == {k: before[k] for k in same}
    assert after[lost] != before[lost] and after[kept[1]] != before[kept[1]]  # logged again: once (mlflow_runs)
    assert after["report"] != before["report"]  # the report written again replaced the one logged before
    assert {run.info.status for run in mlflow_runs(folder).values()} == {"FINISHED"}
    study_run(folder, "tensorboard", *SHRUNK)
    assert set(tensorboard_runs(folder)) == set(before)
    assert (folder / "tensorboard" / lost / "noisetrain.json").is_file()
    assert json.loads(mark.read_text()) == {"key": kept[1], "status": "completed"}


@pytest.mark.slow  # the shared shrunk demo fixture: about 10 s
def test_a_uri_logs_elsewhere(shrunk: Path, tmp_path: Path) -> None:
    elsewhere = {"mlflow": f"sqlite:///{tmp_path / 'shared.db'}", "tensorboard": str(tmp_path / "logs")}
    with Store(shrunk / "study.db") as store:
        keys = sorted(store.runs().key)
        for kind, uri in elsewhere.items():
            study = load_study(DEMO, overrides=[*SHRUNK, f"execution.tracking={{kind: {kind}, uri: '{uri}'}}"])
            open_tracker(study, tmp_path / "study").sync(store, keys)
    client = mlflow.MlflowClient(tracking_uri=elsewhere["mlflow"])
    experiment = client.get_experiment_by_name("demo")
    assert experiment.artifact_location == (tmp_path / "study" / "mlartifacts").as_uri()  # a database: the folder's
    assert sorted(run.info.run_name for run in client.search_runs([experiment.experiment_id])) == keys
    assert sorted(path.name for path in (tmp_path / "logs").iterdir()) == keys


@pytest.mark.slow
def test_a_grown_grid_logs_only_its_new_runs(shrunk: Path, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    shutil.copytree(shrunk, folder)
    before = {name: run.info.run_id for name, run in mlflow_runs(folder).items()}
    study_run(folder, "mlflow", *SHRUNK, "seeds=[0, 1]")
    after = {name: run.info.run_id for name, run in mlflow_runs(folder).items()}
    assert len(after) == 15 and all(after[key] == before[key] for key in before if key != "report")
    assert {run.data.tags["noisetrain.seed"] for run in mlflow_runs(folder).values() if run.info.run_name != "report"
            } == {"0", "1"}  # fmt: skip


@pytest.mark.parametrize("kind", ["mlflow", "tensorboard"])
def test_a_missing_package_is_an_error_before_anything_runs(kind: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setitem(sys.modules, kind, None)  # what Python's import system reports for a package not installed
    study = study_config(execution={"tracking": kind})
    message = rf"execution.tracking '{kind}' needs the {kind} package: pip install 'noisetrain\[{kind}\]'"
    with pytest.raises(ConfigError, match=message):
        run_study(study, tmp_path / "study")
    assert not (tmp_path / "study").exists()


def test_an_unknown_tracker_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"execution.tracking.kind: Input should be 'mlflow' or 'tensorboard'"):
        study_config(execution={"tracking": "wandb"})
    with pytest.raises(ConfigError, match=r"execution.tracking.url: Extra inputs are not permitted"):
        study_config(execution={"tracking": {"kind": "mlflow", "url": "sqlite:///x.db"}})
    tracking = load_study(DEMO, overrides=["execution.tracking={kind: tensorboard, uri: tb}"]).execution.tracking
    assert (tracking.kind, tracking.uri) == ("tensorboard", "tb")


def test_tracking_changes_no_run_key() -> None:
    keys = [r.key for r in plan(study_config())[1]]
    for tracking in ("mlflow", "tensorboard"):
        assert [r.key for r in plan(study_config(execution={"tracking": tracking}))[1]] == keys


@pytest.mark.slow  # the shared shrunk demo fixture: about 10 s
def test_params_cut_what_mlflow_would_refuse_and_mlflow_takes_them(shrunk: Path) -> None:
    config = {"data": {"kind": "text", "vocabulary": "x" * 7000}, "model": {"widths": [64], "kind": None},
              "noise": [{"kind": "gaussian", "std": 0.1, "at": "output:BatchNorm*"}], "odd key!": True}  # fmt: skip
    logged = params(config, MAX_PARAM_VAL_LENGTH)
    assert logged == {"data.kind": "text", "data.vocabulary": "x" * (MAX_PARAM_VAL_LENGTH - 3) + "...",
                      "model.widths": "[64]", "model.kind": "null", "noise.0.kind": "gaussian", "noise.0.std": "0.1",
                      "noise.0.at": "output:BatchNorm*", "odd key_": "true"}  # fmt: skip
    metric = mlflow_name("noise/output:BatchNorm*|ReLU/gaussian.std")  # a per-epoch metric of that selector
    assert metric == "noise/output:BatchNorm__ReLU/gaussian.std"
    client, experiment = mlflow_client(shrunk)
    run_id = client.create_run(experiment, run_name="params").info.run_id
    try:
        for name, value in logged.items():
            client.log_param(run_id, name, value)
        client.log_metric(run_id, metric, 0.1, step=1)
        assert client.get_run(run_id).data.params == logged and client.get_run(run_id).data.metrics == {metric: 0.1}
    finally:
        client.delete_run(run_id)


def test_importing_noisetrain_and_help_import_neither_mlflow_nor_tensorboard() -> None:
    script = (
        "import sys\nfrom typer.testing import CliRunner\nimport noisetrain, noisetrain.study.tracking\n"
        "from noisetrain.cli import app\nresult = CliRunner().invoke(app, ['study', 'run', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'tensorboard')))"
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "[]"


@pytest.mark.slow
def test_the_mlflow_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["tracking_mlflow.py", "--output", str(tmp_path / "tracked")])
    runpy.run_path(str(ROOT / "examples" / "integrations" / "tracking_mlflow.py"), run_name="__main__")
    header, *rows, report = capsys.readouterr().out.splitlines()
    assert header.split() == ["run", "label", "seed", "status", "clean/accuracy", "val_accuracy"]
    assert len(rows) == 6 and all(row.split()[-3] == "completed" for row in rows)
    assert all(0.5 < float(row.split()[-2]) <= 1 for row in rows)
    assert report.startswith("report: ") and " files in run " in report


@pytest.mark.slow  # the session's demo run (shared with other tests), then logged from its store
def test_mlflow_and_tensorboard_readers_see_every_run_of_the_whole_demo_study(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    folder = tmp_path / "demo"
    shutil.copytree(demo[0], folder)
    assert "70 runs: 70 already finished; this time nothing new" in study_run(folder, "mlflow")
    study_run(folder, "tensorboard")
    runs, metrics, _ = stored(folder)
    tracked, events = mlflow_runs(folder), tensorboard_runs(folder)
    assert set(tracked) == set(events) == {*runs.key, "report"} and len(runs) == 70
    client, _ = mlflow_client(folder)
    for key, own in metrics[metrics.name == "val_accuracy"].groupby("key"):
        history = client.get_metric_history(tracked[key].info.run_id, "val_accuracy")
        assert [(m.step, m.value) for m in history] == list(zip(own.epoch, own.value, strict=True))
        scalars = events[key].Scalars("val_accuracy")
        assert [s.value for s in scalars] == pytest.approx(list(own.value), rel=1e-6)


@pytest.mark.slow
def test_a_failed_run_is_logged_as_failed_and_replaced_when_it_runs_again(tmp_path: Path) -> None:
    study = study_config(seeds=1, baseline=False, noise=FAILING, execution={"tracking": "mlflow"})
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    ids = []
    for _ in range(2):
        assert run_study(study, tmp_path).statuses == {"failed": 1}
        (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
        assert run.info.status == "FAILED" and run.data.tags["noisetrain.status"] == "failed"
        assert run.data.tags["noisetrain.message"].startswith("training failed: ")
        ids.append(run.info.run_id)
    assert ids[0] != ids[1]


@pytest.mark.slow
def test_the_ray_backend_is_tracked_from_the_driver(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    study = study_config(execution={"tracking": "mlflow", "backend": "ray", "workers": 2})
    assert run_study(study, tmp_path / "ray").statuses == {"completed": 6}
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'ray' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    with Store(tmp_path / "ray" / "study.db") as store:
        assert sorted(run.info.run_name for run in runs) == sorted(store.runs().key)
