"""noisetrain with pandas: a study's results as DataFrames through ``noisetrain.study.open``.

Runs a reduced demo study (scikit-learn's bundled digits, an MLP, input noise, weight noise, dropout and
mixup against the baseline) into a folder, then reads it back the way a notebook would: the headline
table, the runs, the per-epoch curves and the noise-sweep records, each a pandas DataFrame.

Run: ``python examples/integrations/pandas_results.py`` (about a minute on 2 CPU cores, no download;
``--folder`` keeps the study, a second run only reads it).
"""

from __future__ import annotations

import argparse
import tempfile
from importlib.resources import files
from pathlib import Path

import pandas as pd

import noisetrain.study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="study folder (default: a temporary one)")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or Path(scratch) / "demo"
        overrides = [
            f"seeds={args.seeds}",
            f"train.epochs={args.epochs}",
            "evaluate.measures=[clean, {kind: noise_sweep, kinds: [gaussian]}]",
            "execution.workers=2",
        ]
        study = noisetrain.study.load_study(files("noisetrain.study") / "demo.yaml", overrides=overrides)
        noisetrain.study.run_study(study, folder)  # runs only what the folder does not hold yet
        show(noisetrain.study.open(folder))


def show(results: noisetrain.study.Results) -> None:
    pd.set_option("display.width", 120)
    headline = results.headline()
    print(headline[["label", "n", "mean", "ci_low", "ci_high", "diff", "p_holm", "verdict"]].to_string(index=False))
    runs = results.runs()
    print("\nruns per arm and status:\n", runs.groupby(["arm", "status"]).size().to_string(), sep="")
    curves = results.metrics().query("metric == 'val_accuracy'")
    last = curves.pivot_table(index="epoch", columns="label", values="value").tail(3)
    print("\nmean validation accuracy, last epochs:\n", last.round(3).to_string(), sep="")
    sweep = results.records().query("measure == 'noise_sweep' and metric == 'accuracy'")
    table = sweep.pivot_table(index="setting.strength", columns="label", values="value")
    print("\ntest accuracy under Gaussian input noise (rows: std):\n", table.round(3).to_string(), sep="")


if __name__ == "__main__":
    main()
