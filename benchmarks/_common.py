"""Shared pieces of the benchmark scripts: machine facts, timing, the JSON schema, the table."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).parent / "results"


def machine(device: str = "cpu") -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    found = {"cpu": cpu, "threads": torch.get_num_threads(), "torch": torch.__version__, "device": device}
    if torch.device(device).type == "cuda":
        found["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return found


def interleaved_ratio(
    baseline: Callable[[], None],
    candidate: Callable[[], None],
    *,
    steps: int,
    rounds: int,
    warmup: int = 3,
    device: torch.device | str = "cpu",
) -> float:
    """Median over ``rounds`` of (time of ``steps`` candidate calls) / (time of ``steps`` baseline calls).

    Baseline and candidate alternate round by round, so drifts of the machine hit both alike. On a GPU each
    timing starts and ends with ``torch.cuda.synchronize``, so that it counts the kernels the calls queued.
    """
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for _ in range(warmup):
        baseline()
        candidate()
    ratios = []
    for _ in range(rounds):
        times = []
        for fn in (baseline, candidate):
            sync()
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            sync()
            times.append(time.perf_counter() - start)
        ratios.append(times[1] / times[0])
    return statistics.median(ratios)


def write(name: str, results: list[dict[str, Any]], device: str = "cpu") -> Path:
    """Write ``benchmarks/results/NAME.json`` in the shared schema and print a table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(device), "results": results}, indent=2) + "\n")
    print(table(results))
    print(f"\nwrote {path}")
    return path


def row(case: str, metric: str, value: float, target: float | None, better: str) -> dict[str, Any]:
    return {"case": case, "metric": metric, "value": round(value, 4), "target": target, "better": better}


def meets(result: dict[str, Any]) -> str:
    if result["target"] is None:
        return "-"
    ok = result["value"] <= result["target"] if result["better"] == "lower" else result["value"] >= result["target"]
    return "yes" if ok else "NO"


def table(results: list[dict[str, Any]]) -> str:
    """A Markdown table of the results."""
    lines = ["| case | metric | value | target | met |", "|---|---|---|---|---|"]
    for r in results:
        target = "-" if r["target"] is None else f"{'<=' if r['better'] == 'lower' else '>='} {r['target']}"
        lines.append(f"| {r['case']} | {r['metric']} | {r['value']:.3f} | {target} | {meets(r)} |")
    return "\n".join(lines)
