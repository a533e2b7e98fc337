"""noisetrain studies in MLflow: every run of a small study logged to a local MLflow store, then read back.

Runs a tiny study (baseline and Gaussian input noise at two strengths on scikit-learn's bundled digits, 2 seeds)
with ``execution.tracking: mlflow``, writes its report (logged as the artifacts of the study-level MLflow run
``report``), then reads the store with MLflow's own client and prints what it holds: each run with its key, label,
seed, status, clean test accuracy and last validation accuracy, and the report's files.

Run: ``python examples/integrations/tracking_mlflow.py [--output studies/tracked]`` (seconds on a CPU, no download;
needs the ``mlflow`` extra: ``pip install noisetrain[mlflow]``). Browse the runs with
``mlflow ui --backend-store-uri sqlite:///studies/tracked/mlflow.db``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from noisetrain.config import parse
from noisetrain.study import StudyConfig, run_study

STUDY = {
    "name": "tracked",
    "data": {"kind": "digits"},
    "model": {"kind": "mlp", "widths": [32]},
    "train": {"epochs": 3, "batch_size": 64},
    "seeds": 2,
    "noise": {"gaussian": [{"kind": "gaussian", "std": [0.1, 0.3]}]},
    "execution": {"workers": 2, "tracking": "mlflow"},  # or {kind: mlflow, uri: http://localhost:5000}
}


def main() -> None:
    from mlflow import MlflowClient  # here, not above: the study's workers import this file again, and need neither

    from noisetrain.report import build_report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("studies/tracked"))
    args = parser.parse_args()

    run_study(parse(StudyConfig, STUDY), args.output)  # each run is logged as it finishes
    build_report(args.output)  # and the report, as artifacts of the run "report"

    client = MlflowClient(tracking_uri=f"sqlite:///{(args.output / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name(STUDY["name"]).experiment_id
    runs = client.search_runs([experiment], "tags.`noisetrain.status` != ''")  # not the run "report"
    print(f"{'run':<18}{'label':<18}{'seed':>5}  {'status':<11}{'clean/accuracy':>15}{'val_accuracy':>13}")
    for run in sorted(runs, key=lambda run: (run.data.tags["noisetrain.label"], run.data.tags["noisetrain.seed"])):
        tags, metrics = run.data.tags, run.data.metrics  # metrics: the last epoch's values
        accuracy, validation = metrics["clean/accuracy"], metrics["val_accuracy"]
        print(f"{run.info.run_name:<18}{tags['noisetrain.label']:<18}{tags['noisetrain.seed']:>5}  "
              f"{tags['noisetrain.status']:<11}{accuracy:>15.3f}{validation:>13.3f}")  # fmt: skip
    (report,) = client.search_runs([experiment], "tags.`noisetrain.report` = 'true'")
    files = [Path(f.path).name for f in client.list_artifacts(report.info.run_id, "report")]
    print(f"report: {len(files)} files in run {report.info.run_id}, e.g. {', '.join(files[:3])}")


if __name__ == "__main__":
    main()
