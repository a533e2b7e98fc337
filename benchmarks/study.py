"""Study execution: worker start-up, speed-up of parallel workers and the driver's bookkeeping cost per run.

A study of one tiny run (1 epoch) runs twice: the first in this process starts the fork server, which imports
torch and noisetrain once for every later pool; the next one's worker forks from it. Then a grid of 8 small runs
(an MLP 64-128-10 on scikit-learn's digits, 150 epochs, clean and noise sweep measures) runs three times into
fresh folders: 1 local worker, 2 local workers and Ray with 2 CPUs, every run alone (``execution.batch: off``; these
runs would otherwise train as stacked models, see ``batched.py``) with 1 torch thread (the default, so that the
numbers do not depend on the number of workers). The speed-up is the wall time of 1 worker over that of 2
(target >= 1.6 on 2 cores), worker start-up included (both fork from the warm server). The bookkeeping overhead
per run is the driver's own time per run: registering the grid, marking the run started and writing its outcome
(summary, per-epoch metrics, records) to SQLite in one transaction, timed over the real outcomes of the first
study (target < 50 ms). Planning a grid of 10,000 runs (expansion, validation, hashes, and the data, models and
noise recipes it checks) takes under 2 s (median of 3 plans after a warm-up plan).

Run: ``python benchmarks/study.py [--quick]`` -> ``benchmarks/results/study.json``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from noisetrain.config import parse
from noisetrain.study import StudyConfig, expand, run_study
from noisetrain.study.runner import DB, Executor, plan
from noisetrain.study.store import Store

from _common import row, write

SPEEDUP_TARGET = 1.6
OVERHEAD_TARGET_MS = 50.0
PLAN_TARGET_SECONDS = 2.0
BIG_GRID = {
    "name": "big", "data": {"kind": "digits"}, "model": {"kind": "mlp", "widths": [[16], [32]]},
    "train": {"epochs": 1, "optimizer": {"lr": [0.001, 0.003, 0.01, 0.03, 0.1]}}, "seeds": 20,
    "noise": {
        "gaussian": [{"kind": "gaussian", "std": [0.01 * i for i in range(1, 11)]}],
        "dropout": [{"kind": "dropout", "p": [0.1 * i for i in range(1, 10)], "at": ["output:ReLU", "input"]}],
        "weights": [{"kind": "weight_noise", "std": [0.01 * i for i in range(1, 22)]}],
    },
}  # fmt: skip
"""(1 baseline + 10 + 18 + 21 arm points) x 2 models x 5 learning rates x 20 seeds = 10,000 runs."""


def study(epochs: int) -> StudyConfig:
    """Baseline + Gaussian noise at three strengths, 2 seeds: 8 runs."""
    return parse(
        StudyConfig,
        {
            "name": "bench",
            "data": {"kind": "digits"},
            "model": {"kind": "mlp", "widths": [128]},
            "train": {"epochs": epochs, "batch_size": 32},
            "seeds": 2,
            "noise": {"gaussian": [{"kind": "gaussian", "std": [0.1, 0.2, 0.3]}]},
            "evaluate": {"measures": ["clean", "noise_sweep"]},
            "execution": {"batch": "off"},  # runs one by one: the workers' parallelism, not batching (batched.py)
        },
    )


def wall_time(config: StudyConfig, folder: Path, **execution: object) -> float:
    start = time.perf_counter()
    result = run_study(config, folder, **execution)
    seconds = time.perf_counter() - start
    assert result.statuses == {"completed": 8}, result.statuses
    return seconds


def start_up(folder: Path) -> tuple[float, float]:
    """Wall seconds of a study of one 1-epoch run on one worker: the first in this process, and the next."""
    tiny = parse(StudyConfig, {"name": "tiny", "data": {"kind": "digits"}, "model": {"kind": "mlp", "widths": [16]},
                               "train": {"epochs": 1}, "seeds": 1, "noise": {}})  # fmt: skip
    seconds = []
    for attempt in ("first", "next"):
        start = time.perf_counter()
        assert run_study(tiny, folder / attempt, workers=1).statuses == {"completed": 1}
        seconds.append(time.perf_counter() - start)
    return seconds[0], seconds[1]


def bookkeeping_ms(config: StudyConfig, source: Path, folder: Path, repeats: int) -> float:
    """Median driver time per run (register + start + save) replaying the real outcomes of ``source``."""
    from noisetrain.study.execute import Outcome

    with Store(source / DB) as store:
        runs = store.runs()
        records = store.records()
        metrics = store.metrics()
    outcomes = []
    for key in runs.key:
        history = [
            {"epoch": epoch, **dict(zip(rows.name, rows.value, strict=True))}
            for epoch, rows in metrics[metrics.key == key].groupby("epoch")
        ]
        own = records[records.key == key]
        items = [
            {"measure": r.measure, "metric": r.metric, "value": r.value, "setting": {"raw": r.setting},
             "ci": None if r.ci_low != r.ci_low else [r.ci_low, r.ci_high], "n": r.n}
            for r in own.itertuples()
        ]  # fmt: skip
        outcomes.append(Outcome(key, "completed", "ok", 1.0, {"best_epoch": len(history)}, history, items, {}))
    specs = expand(config)
    times = []
    for attempt in range(repeats):
        with Store(folder / f"replay{attempt}" / DB) as store:
            executor = Executor(config, store, folder, len(specs), None)
            start = time.perf_counter()
            store.register(config, specs)
            for outcome in outcomes:
                store.start(outcome.key)
                store.save(outcome)
            times.append((time.perf_counter() - start) / len(outcomes) * 1000)
            executor.close()
    return statistics.median(times)


def planning_seconds(repeats: int = 3) -> tuple[int, float]:
    """Runs of ``BIG_GRID`` and the median seconds to plan it (one warm-up plan first)."""
    config = parse(StudyConfig, BIG_GRID)
    plan(config)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _, runs = plan(config)
        times.append(time.perf_counter() - start)
    return len(runs), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (a rougher figure)")
    args = parser.parse_args()
    config = study(epochs=50 if args.quick else 150)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        first, following = start_up(root)  # and the fork server is warm for both of the timings below
        results.append(row("start-up/first_study_of_1_run", "wall_seconds", first, None, "lower"))
        results.append(row("start-up/next_study_of_1_run", "wall_seconds", following, None, "lower"))
        one = wall_time(config, root / "one", workers=1)
        two = wall_time(config, root / "two", workers=2)
        results.append(row("local/1_worker", "wall_seconds", one, None, "lower"))
        results.append(row("local/2_workers", "wall_seconds", two, None, "lower"))
        results.append(row("local/2_workers", "speedup_over_1", one / two, SPEEDUP_TARGET, "higher"))
        try:
            import ray  # noqa: F401
        except ImportError:
            print("ray is not installed: Ray rows skipped")
        else:
            on_ray = wall_time(config, root / "ray", workers=2, backend="ray")
            results.append(row("ray/2_cpus", "wall_seconds", on_ray, None, "lower"))
            results.append(row("ray/2_cpus", "speedup_over_local_1", one / on_ray, None, "higher"))
        overhead = bookkeeping_ms(config, root / "one", root, repeats=3 if args.quick else 7)
        results.append(row("store", "bookkeeping_ms_per_run", overhead, OVERHEAD_TARGET_MS, "lower"))
    count, seconds = planning_seconds()
    results.append(row(f"plan/{count}_runs", "seconds", seconds, PLAN_TARGET_SECONDS, "lower"))
    write("study", results)


if __name__ == "__main__":
    main()
