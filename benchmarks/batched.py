"""Ten seeds of the benchmark-function network as one batched model vs ten separate runs on two workers.

The network and training of ``reproductions/functions.yaml``: an MLP 4-70-1 with sigmoid units, Adam 0.01, L1
loss, batches of 64, at most 150 epochs with early stopping on val_loss (patience 13, best weights), on 4-D
Rastrigin with target noise 5 and 1e4 samples (7000/1500/1500), min-max scaled; each seed draws its own samples
(``data.seed: run``, as the study's replicates do).

- separate: ``noisetrain.train.run`` per seed on a pool of 2 ``spawn`` workers with 1 torch thread each, as a
  study's local backend runs them (the pool is started and its imports warmed before the clock starts, as are
  this process's);
- batched: ``run_batched`` of the 10 configs in this process, 1 torch thread (one of the two cores: the stacked
  tensors are too small for intra-op threads, which only add wake-up costs on a shared machine);
- batched halves: ``run_batched`` of seeds 0-4 and 5-9 on the 2 workers at once, as a study with
  ``workers: 2`` splits a stacked model.

Times include loading the data and testing, as a study's runs do. Other users' processes share the cores, so the
wall times depend on their load; two CPU-time figures do not: the time one group takes on an idle machine (the
separate runs' summed CPU time over 2, as two perfectly balanced workers, against the batched process's), and the
throughput of a study that keeps its workers busy with groups (CPU time per run, separate over batched). The
first is bounded by the work ratio sum(epochs) / (2 max(epochs)): a group lasts as long as its longest member.

Per seed, the test MAE of the batched run
is compared with the separate one's, and so is a control: the separate run with its initial weights moved by one
float32 ulp. L1's kinks turn rounding differences into different trajectories after some epochs, so the control
shows how far rounding alone carries a run; the batched runs differ from the separate ones by rounding (their
matrix products sum in another order), and should not differ more than the control does.

Run: ``python benchmarks/batched.py [--quick]`` -> ``benchmarks/results/batched.json`` (``--quick``: at most 15
epochs, patience 3).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import torch

from noisetrain.config import RunConfig, validate

from _common import row, write

SEEDS = list(range(10))
SPEEDUP_TARGET = 5.0


def config(seed: int, epochs: int, patience: int) -> RunConfig:
    return validate({
        "data": {"kind": "function", "name": "rastrigin", "dim": 4, "domain": [-5.12, 5.12], "target_noise": 5,
                 "n_train": 7000, "n_val": 1500, "n_test": 1500, "scale": "minmax", "scale_target": "minmax",
                 "seed": "run"},
        "model": {"kind": "mlp", "widths": [70], "activation": "sigmoid"},
        "train": {"epochs": epochs, "batch_size": 64, "loss": "l1", "optimizer": {"kind": "adam", "lr": 0.01},
                  "early_stopping": {"monitor": "val_loss", "patience": patience}},
        "seed": seed,
    })  # fmt: skip


def warm() -> None:
    """One torch thread; import what a run imports on first use (the optimiser's torch._dynamo: seconds)."""
    torch.set_num_threads(1)
    import noisetrain.train.batched  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def separate(run: RunConfig) -> tuple[dict[str, Any], float]:
    """The run's summary and CPU seconds."""
    from noisetrain.train import run as one_run

    start = time.process_time()
    summary = one_run(run).summary()
    return summary, time.process_time() - start


def batched_summaries(runs: list[RunConfig]) -> list[dict[str, Any]]:
    """``run_batched(runs)``'s summaries, in a worker (as a study's batched task)."""
    from noisetrain.train.batched import run_batched

    return [result.summary() for result in run_batched(runs)]


def nudged(run: RunConfig) -> dict[str, Any]:
    """``run`` alone with its initial weights moved by one float32 ulp (towards +inf)."""
    from noisetrain.train import fit
    from noisetrain.train.metrics import evaluate_split, resolve_loss, target_scale
    from noisetrain.train.run import RunResult, build

    data, model = build(run)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.nextafter(param, torch.full_like(param, math.inf)))
    trained = fit(model, data, config=run.train, seed=run.seed)
    test = evaluate_split(
        model, data.test, prefix="test", loss_name=resolve_loss(run.train.loss, data),
        batch_size=run.train.eval_batch_size, scale=target_scale(data),
    )  # fmt: skip
    return RunResult(run, model, data, trained, test).summary()


def timed(fn: Any) -> tuple[float, float, Any]:
    """Wall and CPU seconds of ``fn()`` in this process, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    found = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, found


def ppm(a: dict[str, Any], b: dict[str, Any]) -> float:
    """|difference| of the test MAE relative to ``a``'s, in parts per million."""
    return 1e6 * abs(a["test_mae"] - b["test_mae"]) / abs(a["test_mae"])


def same_course(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["status"], a["epochs"], a["best_epoch"]) == (b["status"], b["epochs"], b["best_epoch"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="at most 15 epochs, patience 3")
    args = parser.parse_args()
    epochs, patience = (15, 3) if args.quick else (150, 13)
    configs = [config(seed, epochs, patience) for seed in SEEDS]
    load = os.getloadavg()[0]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context, initializer=warm) as pool:
        list(pool.map(time.sleep, [0.5, 0.5]))  # both workers up and warm
        separate_seconds, _, found = timed(lambda: list(pool.map(separate, configs)))
        alone, separate_cpu = [summary for summary, _ in found], sum(cpu for _, cpu in found)
        print(f"separate: {separate_seconds:.1f} s", flush=True)
        from noisetrain.train.batched import run_batched

        warm()
        batched_seconds, batched_cpu, batched = timed(lambda: [result.summary() for result in run_batched(configs)])
        print(f"batched: {batched_seconds:.1f} s", flush=True)
        halves = [configs[: len(configs) // 2], configs[len(configs) // 2 :]]  # what a study on 2 workers runs
        halves_seconds, _, _ = timed(lambda: list(pool.map(batched_summaries, halves)))
        print(f"batched halves on 2 workers: {halves_seconds:.1f} s", flush=True)
        control = list(pool.map(nudged, configs))
    batched_ppm = [ppm(a, b) for a, b in zip(alone, batched, strict=True)]
    control_ppm = [ppm(a, b) for a, b in zip(alone, control, strict=True)]
    results = [
        row("load average (1 min) at start", "processes", load, None, "lower"),
        row("load average (1 min) at end", "processes", os.getloadavg()[0], None, "lower"),
        row("10 separate runs, 2 workers", "seconds", separate_seconds, None, "lower"),
        row("10 members batched, 1 process", "seconds", batched_seconds, None, "lower"),
        row("10 members batched, 1 process", "speedup", separate_seconds / batched_seconds, SPEEDUP_TARGET, "higher"),
        row("2 stacked halves of 5, 2 workers", "seconds", halves_seconds, None, "lower"),
        row("2 stacked halves of 5, 2 workers", "speedup", separate_seconds / halves_seconds, SPEEDUP_TARGET,
            "higher"),
        row("10 separate runs, CPU", "seconds", separate_cpu, None, "lower"),
        row("10 members batched, 1 process, CPU", "seconds", batched_cpu, None, "lower"),
        row("one group, idle machine: separate CPU / 2 / batched CPU", "speedup", separate_cpu / 2 / batched_cpu,
            SPEEDUP_TARGET, "higher"),
        row("busy study: CPU per run, separate / batched", "speedup", separate_cpu / batched_cpu, SPEEDUP_TARGET,
            "higher"),
        row("work bound: sum(epochs) / (2 max(epochs))", "ratio", sum(a["epochs"] for a in alone) / 2
            / max(b["epochs"] for b in batched), None, "higher"),
    ]  # fmt: skip
    for seed, a, b, c, db, dc in zip(SEEDS, alone, batched, control, batched_ppm, control_ppm, strict=True):
        print(f"seed {seed}: epochs {a['epochs']}/{b['epochs']}/{c['epochs']}, best {a['best_epoch']}/"
              f"{b['best_epoch']}/{c['best_epoch']}, test_mae {a['test_mae']:.6g}/{b['test_mae']:.6g}/"
              f"{c['test_mae']:.6g} (separate/batched/1-ulp control)")  # fmt: skip
        results.append(row(f"seed {seed}: test_mae, batched vs separate", "|diff| ppm", db, None, "lower"))
        results.append(row(f"seed {seed}: test_mae, 1-ulp control vs separate", "|diff| ppm", dc, None, "lower"))
    for name, found, differences in (("batched", batched, batched_ppm), ("1-ulp control", control, control_ppm)):
        same = sum(same_course(a, b) for a, b in zip(alone, found, strict=True))
        results.append(row(f"{name}: seeds with separate's status, epochs, best epoch", "of 10", same, None, "higher"))
        results.append(row(f"{name}: test_mae vs separate, median", "|diff| ppm", statistics.median(differences),
                           None, "lower"))  # fmt: skip
        results.append(row(f"{name}: test_mae vs separate, max", "|diff| ppm", max(differences), None, "lower"))
    write("batched", results)


if __name__ == "__main__":
    main()
