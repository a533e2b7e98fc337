"""The ``noisetrain`` command line.

Examples:
    noisetrain demo
    noisetrain train --config run.yaml --set train.optimizer.lr=0.01 --set seed=3 --output runs/lr0.01
    noisetrain evaluate --checkpoint runs/lr0.01/checkpoint.pt --measures clean,corruptions
    noisetrain study run study.yaml --workers 2 && noisetrain report studies/NAME
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import TaskID
from rich.table import Table

from .files import folder_for, strict_json, write_atomic
from .registry import ConfigError
from .study.commands import app as study_app
from .study.commands import demo, recommend, report
from .terminal import DEBUG, Guarded, bars, console

Threads = Annotated[
    int,
    typer.Option("--threads", min=0, max=1024, help="torch threads (0: one per core). Small models run fastest on "
                 "1, the default, as in studies (execution.cpus)."),
]  # fmt: skip

app = typer.Typer(
    cls=Guarded,
    help="noisetrain: noise-injection training and robustness evaluation for PyTorch.",
    epilog="Examples:\n\n  noisetrain demo\n\n"
    "  noisetrain train --config examples/configs/text_token_mask.yaml --output runs/text\n\n"
    "  noisetrain study run examples/studies/digits_noise.yaml --workers 2\n\n"
    "  noisetrain report studies/digits_noise",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    context: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of any error.")] = False,
) -> None:
    """noisetrain: noise-injection training and robustness evaluation for PyTorch."""
    context.meta[DEBUG] = debug


@app.command(
    epilog="Examples:\n\n"
    "  noisetrain train --config run.yaml\n\n"
    "  noisetrain train --config run.yaml --set train.optimizer.lr=0.01 --set 'noise=[{kind: gaussian, std: 0.2}]'\n\n"
    "  noisetrain train --set data=digits --set model=mlp --set train.epochs=3 --output runs/digits"
)
def train(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML run config (data, model, noise, train, seed).")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override one field, KEY.PATH=VALUE (VALUE is YAML); repeatable."),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for config, metrics, checkpoint.")] = Path(
        "runs/train"
    ),
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from OUTPUT/checkpoint.pt (default config: OUTPUT/config.yaml).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    threads: Threads = 1,
) -> None:
    """Train one model with a noise recipe; write the resolved config, metrics and checkpoint to OUTPUT."""
    from .config import load_config
    from .evaluate.keys import show_with_interval
    from .train import run
    from .train.callbacks import ProgressBar

    if resume and config is None:  # the run's own config: what resuming it needs
        if (output / "config.yaml").is_file():
            config = output / "config.yaml"
        elif not overrides:
            raise ConfigError(f"resume: {str(output)!r} holds no run (no config.yaml); give the folder of a run as "
                              "--output, or its config with --config")  # fmt: skip
    run_config = load_config(config, overrides=overrides or ())
    use_threads(threads)
    with bars(quiet=quiet) as progress:
        result = run(run_config, output=output, callbacks=[ProgressBar(progress)], resume=resume, fresh=True)
    summary, intervals, diverged = result.summary(), result.intervals, result.train.status == "diverged"
    plural = "s" if len(intervals) > 1 else ""
    caption = f"95% interval{plural} over the {len(result.data.test)} test examples" if intervals else None
    table = Table(title=f"{run_config.data['kind']} / {run_config.model['kind']}: {summary['status']}", caption=caption)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key in intervals:
            value = show_with_interval(key.removeprefix("test_"), value, *intervals[key])
        elif isinstance(value, float):
            value = f"{value:.4g}" if math.isfinite(value) else "none: diverged" if diverged else "not finite"
        table.add_row(key, str(value))
    Console().print(table)
    if result.train.ended_before:
        console.print(f"the run in {output} had ended ({result.train.message}): nothing to resume, no file changed",
                      highlight=False)  # fmt: skip
    elif diverged:
        console.print(f"[red]{result.train.message}[/red]", highlight=False)
    else:
        files = "config.yaml, metrics.jsonl, metrics.csv, checkpoint.pt, result.json"
        console.print(f"wrote {files} to {output}", highlight=False)
    if diverged:
        raise typer.Exit(1)


@app.command(
    epilog="Examples:\n\n"
    "  noisetrain evaluate --checkpoint runs/digits/checkpoint.pt\n\n"
    "  noisetrain evaluate -c runs/mnist/checkpoint.pt --measures clean,noise_sweep,adversarial:eps=0,0.03,0.1\n\n"
    "  noisetrain evaluate -c runs/noisy/checkpoint.pt --measures corruptions:severities=1,3,5 "
    "--baseline runs/clean/checkpoint.pt"
)
def evaluate(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", "-c", help="checkpoint.pt of 'noisetrain train'.")],
    measures: Annotated[
        str, typer.Option("--measures", "-m", help="Comma-separated measures with options, name:key=v1,v2,key=v.")
    ] = "clean",
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Checkpoint of a reference model (corruption errors, mCE).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Folder for records.json/.csv.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random draw of the evaluation.", min=0)] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Evaluation batch size.", min=1)] = 512,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    threads: Threads = 1,
) -> None:
    """Evaluate a trained model on robustness measures; print a table and write records (default: next to it)."""
    from .evaluate import evaluate as run_measures
    from .evaluate import parse_measures
    from .train import load_run

    specs = parse_measures(measures)
    use_threads(threads)
    if baseline is not None and not any(s["kind"] == "corruptions" for s in specs):
        raise ConfigError("--baseline is the reference of the corruptions measure's errors (mCE): add corruptions to "
                          "--measures, or leave --baseline out")  # fmt: skip
    folder = output or checkpoint.parent
    with folder_for(folder, "--output"):  # before the work, not after it; removed again if the command fails
        config, data, model = load_run(checkpoint)
        if baseline is not None:
            reference_config, _, reference = load_run(baseline)
            if reference_config.data != config.data:  # corruption errors compare error rates on the same test set
                raise ConfigError(f"--baseline {str(baseline)!r} was trained on other data than {str(checkpoint)!r} "
                                  f"({reference_config.data} against {config.data}); give a baseline of the same data")
            specs = [{**s, "baseline": reference} if s["kind"] == "corruptions" else s for s in specs]
        with bars(quiet=quiet) as progress:
            tasks: dict[str, TaskID] = {}

            def report(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = progress.add_task(name, total=total)
                progress.update(tasks[name], completed=done, total=total)

            records = run_measures(model, data, specs, progress=report, seed=seed, batch_size=batch_size)
        show_key_numbers(str(checkpoint), records)
        write_records(records, folder)
        console.print(f"wrote all {len(records)} records to {folder}/records.json and records.csv", highlight=False)


def show_key_numbers(title: str, records: list[Any]) -> None:
    """Print the key numbers of ``records`` as a table (saying why a number has no interval) and the sanity checks
    that failed."""
    from .evaluate import failed_checks, key_numbers

    rows = key_numbers(records)
    bare = any(value not in ("", "not testable") and not interval for _, _, value, interval in rows)
    caption = ("no interval: a number of this one model; its spread over training seeds needs a study "
               "(noisetrain study run)") if bare else None  # fmt: skip
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for column in ("measure", "key number", "value", "95% interval"):
        table.add_column(column, justify="right" if column in ("value", "95% interval") else "left")
    shown = ""
    for name, *cells in rows:
        table.add_row(name if name != shown else "", *cells)
        shown = name
    Console().print(table)
    for failed in failed_checks(records):
        console.print(f"[red]sanity check {failed}[/red]", highlight=False)


def use_threads(threads: int) -> None:
    """Run torch on ``threads`` threads (0: torch's default, one per core)."""
    import torch

    if threads > 0:
        torch.set_num_threads(threads)


def write_records(records: list[Any], folder: Path) -> None:
    """``records.json`` (a list of dicts) and ``records.csv`` (setting as JSON) in ``folder`` (made: ``folder_for``)."""
    rows = [r.to_dict() for r in records]
    write_atomic(folder / "records.json", strict_json(rows, indent=2) + "\n")
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=["measure", "metric", "setting", "value", "ci", "n"])
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "setting": json.dumps(row["setting"]), "ci": strict_json(row["ci"])})
    write_atomic(folder / "records.csv", table.getvalue())


app.add_typer(study_app, name="study")
app.command(epilog="Example:\n\n  noisetrain report studies/demo")(report)
app.command(epilog="Example:\n\n  noisetrain recommend --data-type tabular --write study.yaml")(recommend)
app.command(epilog="Examples:\n\n  noisetrain demo --workers 2\n\n  noisetrain demo --set execution.batch=off")(demo)


def main() -> None:
    """Entry point of the ``noisetrain`` script: the library's warnings go to stderr, then the command runs."""
    handler = RichHandler(console=console, show_time=False, show_path=False)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[handler])
    app()


if __name__ == "__main__":
    main()
