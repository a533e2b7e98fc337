"""The study commands of the CLI: ``noisetrain study validate | run | export``, ``report``, ``recommend``, ``demo``."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import TextColumn, TimeRemainingColumn
from rich.table import Table

from ..files import write_atomic
from ..registry import ConfigError
from ..terminal import bars, console
from ..text import counted
from .recommend import DATA_TYPES, comparisons, recommended_study, significance_seeds
from .recommend import recommend as techniques

if TYPE_CHECKING:  # configs and the runner load pydantic and torch when a command runs, so --help stays fast
    from .config import StudyConfig
    from .runner import Event, StudyResult

app = typer.Typer(help="Grid studies: validate, run (locally or on Ray), export.", no_args_is_help=True)
DEMO = Path(__file__).with_name("demo.yaml")

StudyFile = Annotated[Path, typer.Argument(help="The study file (YAML).")]
OpenPage = Annotated[bool, typer.Option("--open", help="Open the report's HTML page in a browser.")]
SHOWN_ROWS = 8
"""Rows of the headline table the terminal shows (the report has them all)."""
Overrides = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a field: key.path=value.")]


@app.command(epilog="Example:\n\n  noisetrain study validate examples/studies/digits_noise.yaml")
def validate(study: StudyFile, overrides: Overrides = None) -> None:
    """Validate a study file and print its expanded runs, without running anything."""
    from .config import load_study
    from .runner import batch_plan, plan

    config, runs = plan(load_study(study, overrides=overrides or ()))
    table = Table(title=f"study {config.name}: {counted(len(runs), 'run')}")
    for column in ("key", "arm", "label", "seed", "context"):  # a narrow terminal wraps a name, never cuts it
        table.add_column(column, no_wrap=column in ("key", "seed"), overflow="fold")
    for run in runs:
        table.add_row(run.key, run.arm, run.label, str(run.seed), run.context)
    Console().print(table)
    for _, message in batch_plan(runs, config.execution.batch, config.execution.workers)[1]:
        console.print(message, highlight=False)
    search = config.search
    if search is not None and search.method == "optuna":
        console.print(
            f"and {search.trials} Optuna trials of arm {search.arm!r} ({search.parameter} in [{search.low}, "
            f"{search.high}]), asked while the study runs",
            highlight=False,
        )


@app.command(
    epilog="Examples:\n\n  noisetrain study run study.yaml --workers 2\n\n"
    "  noisetrain study run study.yaml --backend ray --address auto"
)
def run(
    study: StudyFile,
    overrides: Overrides = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Study folder (default studies/NAME).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", help="Runs in parallel.", min=1)] = None,
    backend: Annotated[str | None, typer.Option("--backend", "-b", help="local (processes) or ray.")] = None,
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster address (default: local).")] = None,
    retries: Annotated[int | None, typer.Option("--retries", help="Reruns of a failed run.", min=0)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    open_page: OpenPage = False,
) -> None:
    """Run every unfinished run of a study and store the results (rerun to resume); then write its report and
    print the summary."""
    from .config import load_study

    config = load_study(study, overrides=overrides or ())
    result = execute(config, output, quiet, workers=workers, backend=backend, address=address, retries=retries)
    conclude(result.folder, open_page)
    if result.statuses["failed"]:
        raise typer.Exit(1)


def execute(config: StudyConfig, output: Path | None, quiet: bool, **execution: object) -> StudyResult:
    """Run a study under a progress display (runs done/total, running, failed, ETA) and print the tally; a bad
    study (``run_study`` plans it first) exits with code 2 before anything runs."""
    from .runner import DB, default_folder, run_study

    folder = output or default_folder(config)
    with bars(TextColumn("{task.fields[state]}"), TextColumn("eta"), TimeRemainingColumn(), quiet=quiet) as progress:
        bar = progress.add_task(f"study {config.name}", total=None, state="")

        def show(event: Event) -> None:
            state = f"running {event.running}, failed {event.failed}"
            if progress.tasks[0].total is None:  # the first event: start the clock after the runs skipped
                progress.reset(bar, total=event.total, completed=event.done, state=state)
            progress.update(bar, total=event.total, completed=event.done, state=state)
            if event.kind == "retry":
                progress.console.print(f"retrying {event.run.label} seed {event.run.seed}", highlight=False)
            elif event.kind == "note":
                progress.console.print(event.message, highlight=False, markup=False)

        result = run_study(config, folder, on_event=show, **execution)  # type: ignore[arg-type]
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.statuses.items())) or "nothing new"
    console.print(
        f"{counted(result.total, 'run')}: {result.skipped} already finished; this time {counts}. Store: {folder / DB}",
        highlight=False,
    )
    return result


@app.command(epilog="Example:\n\n  noisetrain study export studies/digits --format parquet")
def export(
    folder: Annotated[Path, typer.Argument(help="The study folder (holding study.db).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or parquet.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where (default FOLDER/export).")] = None,
) -> None:
    """Export a study's runs, per-epoch metrics and evaluation records as CSV or Parquet."""
    from .store import Store

    with Store.of(folder) as store:
        paths = store.export(output or folder / "export", fmt)
    console.print("wrote " + ", ".join(map(str, paths)), highlight=False)


def report(
    folder: Annotated[Path, typer.Argument(help="The study folder (holding study.db).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where (default FOLDER/report).")] = None,
    formats: Annotated[str, typer.Option("--formats", "-f", help="Comma-separated: md, latex, csv, html.")] = (
        "md,latex,csv,html"
    ),
) -> None:
    """Tables (Markdown, LaTeX, CSV), figures and a self-contained HTML page of a study's results."""
    from ..report import build_report

    written = build_report(folder, output, [f.strip() for f in formats.split(",") if f.strip()])
    page = written.page
    console.print(f"wrote {len(written.files)} files to {written.folder}" + (f"; open {page}" if page else ""),
                  highlight=False)  # fmt: skip


def recommend(
    data_type: Annotated[str, typer.Option("--data-type", "-t", help=f"One of {', '.join(DATA_TYPES)}.")],
    write: Annotated[Path | None, typer.Option("--write", "-w", help="Write a ready study file here.")] = None,
    seeds: Annotated[
        int | None,
        typer.Option("--seeds", help="Seeds of the study file (default: the fewest that can give significance).",
                     min=1),
    ] = None,
) -> None:
    """The recommended noise techniques and combinations for a data type, with starting strengths."""
    if seeds is not None and write is None:
        raise ConfigError("--seeds sets the seeds of the study file that --write writes: add --write PATH")
    found = techniques(data_type)
    study = None if write is None else recommended_study(data_type, seeds=seeds)
    if write is not None:  # before the table: a path that cannot be written is the only line shown
        from ..config import parse
        from .config import StudyConfig

        limit = parse(StudyConfig, study).execution.max_runs  # a file study run would refuse is not written
        per_seed = comparisons(data_type) + 1  # the baseline and each compared configuration
        if study["seeds"] * per_seed > limit:
            raise ConfigError(f"--seeds {study['seeds']:,}: the study would have {study['seeds'] * per_seed:,} runs, "
                              f"more than execution.max_runs ({limit:,}); use at most {limit // per_seed:,} seeds")
        if write.exists():
            raise ConfigError(f"{str(write)!r} exists; recommend writes a new study file: choose another --write path")
        write_atomic(write, yaml.safe_dump(study, sort_keys=False))
    table = Table(title=f"recommended for {data_type} data")
    for column in ("arm", "start with", "sweep", "why"):
        table.add_column(column, overflow="fold")  # a narrow terminal wraps a spec, never cuts it
    for t in found:
        sweep = f"{t.sweep[1]} in {', '.join(f'{v:.3g}' for v in t.sweep[2])}" if t.sweep else ""
        table.add_row(t.arm, t.starting(), sweep, t.why)
    Console().print(table)
    if study is not None:
        needed, compared = significance_seeds(data_type), comparisons(data_type)
        console.print(f"wrote {write} ({study['seeds']} seeds, {compared} comparisons with the baseline); run it "
                      f"with: noisetrain study run {write}", highlight=False)  # fmt: skip
        if study["seeds"] < needed:
            console.print(f"[yellow]note:[/yellow] with {study['seeds']} seeds no comparison can be significant "
                          f"after Holm's correction over {compared}; {needed} seeds can", highlight=False)


def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Study folder.")] = Path("studies/demo"),
    workers: Annotated[int | None, typer.Option("--workers", "-w", help="Runs in parallel.", min=1)] = None,
    overrides: Overrides = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    open_page: OpenPage = False,
) -> None:
    """The demo study (70 small runs on bundled digits data), its report and summary: about a minute on 2 cores."""
    console.print(f"demo study: {DEMO}", highlight=False)
    from .config import load_study

    result = execute(load_study(DEMO, overrides=overrides or ()), output, quiet, workers=workers)
    conclude(result.folder, open_page)
    if result.statuses["failed"]:
        raise typer.Exit(1)


def conclude(folder: Path, open_page: bool) -> None:
    """Write the study's report, print its summary (the best configurations and the findings) and the page's path;
    with ``open_page``, open the page in a browser."""
    from ..report import build_report
    from ..report.summary import BOLD

    report = build_report(folder)
    shown = report.brief.shown
    assert shown is not None
    table = Table(title=report.brief.title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0),
                  pad_edge=False, show_edge=False)  # fmt: skip
    for column, align in zip(shown.columns, report.brief.align, strict=True):
        number = align == "r"  # numbers stay on one line; the configuration wraps when it must
        table.add_column(column, justify="right" if number else "left", no_wrap=number, min_width=None if number else 8)
    for row in shown.head(SHOWN_ROWS).itertuples(index=False):
        table.add_row(*row)
    out = Console()
    out.print(table)
    if len(shown) > SHOWN_ROWS:
        out.print(f"... and {len(shown) - SHOWN_ROWS} more configurations in the report", highlight=False)
    out.print()
    for finding in report.findings:
        text = BOLD.sub(r"[bold]\1[/bold]", escape(finding.text))
        out.print(f"{'!' if finding.kind == 'warning' else '-'} {text}", highlight=False)
    out.print(f"report: {report.page}", highlight=False)
    if open_page and report.page is not None:
        webbrowser.open(report.page.resolve().as_uri())
