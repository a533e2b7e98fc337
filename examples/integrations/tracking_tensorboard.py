"""noisetrain studies in TensorBoard: every run of a small study written as TensorBoard event files, then read back.

Runs a tiny study (baseline, dropout after the hidden layer and weight noise on scikit-learn's bundled digits,
2 seeds) with ``execution.tracking: tensorboard``: one event folder per run under ``<output>/tensorboard/``, with
the per-epoch metrics as scalars, the config as hyperparameters and text. Then reads the folders with
TensorBoard's own ``EventAccumulator`` and prints, per run, its label, the epochs logged and the validation
accuracy at the first and the last epoch.

Run: ``python examples/integrations/tracking_tensorboard.py [--output studies/tensorboard_demo]`` (seconds on a
CPU, no download; needs the ``tensorboard`` extra: ``pip install noisetrain[tensorboard]``). Browse with
``tensorboard --logdir studies/tensorboard_demo/tensorboard``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from noisetrain.config import parse
from noisetrain.study import StudyConfig, run_study

STUDY = {
    "name": "tensorboard_demo",
    "data": {"kind": "digits"},
    "model": {"kind": "mlp", "widths": [32]},
    "train": {"epochs": 4, "batch_size": 64},
    "seeds": 2,
    "noise": {
        "dropout": [{"kind": "dropout", "p": 0.2, "at": "output:ReLU"}],
        "weight_noise": [{"kind": "weight_noise", "std": 0.05}],
    },
    "execution": {"workers": 2, "tracking": "tensorboard"},  # or {kind: tensorboard, uri: logs/}
}


def main() -> None:
    # here, not above: the study's workers import this file again, and need neither
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("studies/tensorboard_demo"))
    args = parser.parse_args()

    run_study(parse(StudyConfig, STUDY), args.output)  # each run is written as it finishes

    print(f"{'run':<18}{'label':<14}{'epochs':>7}{'val_accuracy first':>20}{'last':>7}")
    for folder in sorted((args.output / "tensorboard").iterdir()):
        if not folder.is_dir() or folder.name == "report":
            continue
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0}).Reload()
        curve = events.Scalars("val_accuracy")  # one event per epoch, step = epoch
        run = events.Tensors("run/text_summary")[0].tensor_proto.string_val[0].decode()  # a Markdown table of tags
        tags = dict(row.strip("| ").split(" | ", 1) for row in run.splitlines()[2:])
        label = tags["noisetrain.label"]
        print(f"{folder.name:<18}{label:<14}{len(curve):>7}{curve[0].value:>20.3f}{curve[-1].value:>7.3f}")


if __name__ == "__main__":
    main()
