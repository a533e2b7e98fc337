"""Synthetic study stores for the report tests: a small grid registered with ``expand`` and hand-made outcomes.

The grid: 2 learning rates (the context) x {baseline, gaussian std 0.1/0.2, dropout at input/output:ReLU}
x 10 seeds. Every number is a known function of (context, label, seed), so tests recompute the statistics
with scipy. One run diverged (its records must not count) and one failed. ``make_study(..., examples=True)``
also stores per-example correctness whose mean is each run's clean accuracy.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from noisetrain.study.config import StudyConfig
from noisetrain.study.execute import Outcome
from noisetrain.study.grid import expand
from noisetrain.study.store import Store

LRS = (0.001, 0.01)
SEEDS = tuple(range(10))
BASE = {0.001: 0.90, 0.01: 0.85}
EFFECT = {
    "baseline": 0.0,
    "gaussian std=0.1": 0.02,
    "gaussian std=0.2": 0.01,
    "dropout at=input": -0.06,
    "dropout at=output:ReLU": 0.005,
}
DIVERGED = (0.01, "gaussian std=0.2", 3)
FAILED = (0.01, "dropout at=input", 1)
TEST_SIZE = 400
"""Test examples of the per-example correctness (accuracies are rounded to 1/400 where they are stored)."""
CORRUPTIONS = {"gaussian_noise": False, "fog": False, "spatter": True}  # name -> held out
SEVERITY_DROP = {1: 0.1, 2: 0.3}
CORRUPTION_DROP = {"gaussian_noise": 0.2, "fog": 0.1, "spatter": 0.05}
SWEEP = (0.0, 0.1, 0.3)
SECONDS = {"baseline": 1.0, "gaussian": 1.2, "dropout": 1.1}
"""Steady-state seconds per epoch of each arm (the first epoch takes 5 s more: start-up)."""
EPS = (0.0, 0.1, 0.2)
RADII = (0.0, 0.25, 0.5)


def accuracy(lr: float, label: str, seed: int) -> float:
    """The clean accuracy of a run: context base + the arm's effect (0 if not listed) + a fixed per-seed jitter,
    a whole number of the ``TEST_SIZE`` examples."""
    jitter = np.random.default_rng([round(lr * 1000), zlib.crc32(label.encode())]).normal(0, 0.01, len(SEEDS))
    return round((BASE[lr] + EFFECT.get(label, 0.0) + jitter[seed]) * TEST_SIZE) / TEST_SIZE


def correct(lr: float, label: str, seed: int) -> np.ndarray:
    """Per-example correctness of a run: its accuracy's share of the examples right, the easiest first in an order
    that only the seed sets (so, as with real models, runs of one seed err on nested sets of examples)."""
    order = np.random.default_rng(seed).permutation(TEST_SIZE)
    return np.isin(np.arange(TEST_SIZE), order[: round(accuracy(lr, label, seed) * TEST_SIZE)])


def robust(lr: float, label: str, seed: int, eps: float) -> float:
    """PGD accuracy at ``eps``: the clean accuracy less 2 eps (1.5 eps for the gaussian arms)."""
    return accuracy(lr, label, seed) - (1.5 if label.startswith("gaussian") else 2.0) * eps


def corrupted(lr: float, label: str, seed: int, corruption: str, severity: int) -> float:
    """Accuracy under a corruption: the clean accuracy less a drop, smaller for gaussian arms on gaussian_noise."""
    shield = 0.5 if label.startswith("gaussian") and corruption == "gaussian_noise" else 1.0
    return accuracy(lr, label, seed) - shield * CORRUPTION_DROP[corruption] * SEVERITY_DROP[severity]


def bin_accuracy(b: int, seed: int, scaled: bool) -> float:
    """Accuracy of confidence bin ``b`` (of 3) of a run: below its confidence, less so after scaling."""
    return (b + 0.5) / 3 - (0.05 if scaled else 0.1) + 0.01 * seed


def bin_confidence(b: int, seed: int) -> float:
    return (b + 0.5) / 3 + 0.005 * seed


def bin_count(b: int, seed: int) -> int:
    """Samples in bin ``b``; bin 0 of seed 0 is empty."""
    return 100 * b * (seed + 1) + 10 * seed


def record(measure: str, metric: str, value: float, setting: dict | None = None, n: int = 360) -> dict:
    return {"measure": measure, "metric": metric, "value": value, "setting": setting or {}, "ci": None, "n": n}


def records(lr: float, label: str, seed: int, measures: tuple[str, ...]) -> list[dict]:
    acc = accuracy(lr, label, seed)
    found = [record("clean", "accuracy", acc), record("clean", "nll", 1 - acc)]
    if "noise_sweep" in measures:
        found += [record("noise_sweep", "accuracy", acc * (1 - s), {"kind": "gaussian", "strength": s}) for s in SWEEP]
        found.append(record("noise_sweep", "auc", acc * (1 - SWEEP[-1] / 2), {"kind": "gaussian"}))
    if "corruptions" in measures:
        found += [
            record("corruptions", "accuracy", corrupted(lr, label, seed, c, s),
                   {"corruption": c, "severity": s, "held_out": held})
            for c, held in CORRUPTIONS.items() for s in SEVERITY_DROP
        ]  # fmt: skip
    if "calibration" in measures:
        found += [record("calibration", "ece", 0.05 - 0.03 * scaled + 0.001 * seed,
                         {"temperature_scaled": scaled, "num_bins": 3}) for scaled in (False, True)]  # fmt: skip
        found += [
            record("calibration", metric, value(b, seed, scaled) if metric == "bin_accuracy" else value(b, seed),
                   {"bin": b, "low": round(b / 3, 6), "high": round((b + 1) / 3, 6), "scaled": scaled},
                   bin_count(b, seed))
            for scaled in (False, True) for b in range(3) if bin_count(b, seed)
            for metric, value in (("bin_accuracy", bin_accuracy), ("bin_confidence", bin_confidence))
        ]  # fmt: skip
    if "adversarial" in measures:
        found += [record("adversarial", "accuracy", acc, {"attack": "none", "eps": 0.0})]
        found += [record("adversarial", "accuracy", robust(lr, label, seed, e), {"attack": "pgd", "eps": e})
                  for e in EPS]  # fmt: skip
        found.append(record("adversarial", "check", float(label != "dropout at=input"), {"check": "monotone_in_eps"}))
    if "uncertainty" in measures:
        found += [record("uncertainty", "auroc", 0.8 + 0.001 * seed + 0.05 * label.startswith("gaussian"),
                         {"samples": 20, "score": score, "target": "misclassified"})
                  for score in ("entropy", "mutual_information")]  # fmt: skip
    if "flatness" in measures:
        found += [record("flatness", "sharpness_worst", 0.3 + 0.01 * seed, {"rho": 0.05, "steps": 1}),
                  record("flatness", "hessian_top_eigenvalue", 4 + 0.1 * seed),
                  record("flatness", "gradient_norm", 0.5)]  # fmt: skip
    if "certified" in measures:
        found += [record("certified", "certified_accuracy", acc * (1 - r), {"sigma": 0.25, "radius": r})
                  for r in RADII]  # fmt: skip
        found.append(record("certified", "mean_radius", 0.4 + 0.01 * seed, {"sigma": 0.25}))
    if "cost" in measures:
        found += [record("cost", "parameters", 85002.0), record("cost", "flops_per_sample", 168960.0 + seed)]
    return found


def history(lr: float, label: str, seed: int) -> list[dict]:
    acc = accuracy(lr, label, seed)
    steady = SECONDS.get(label.split(" ")[0], 1.0)
    return [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_accuracy": acc - 0.1 / e,
             "seconds": steady + 5.0 * (e == 1) + 0.01 * e * seed} for e in (1, 2, 3)]  # fmt: skip


NOISE = {
    "gaussian": [{"kind": "gaussian", "std": [0.1, 0.2]}],
    "dropout": [{"kind": "dropout", "p": 0.2, "at": ["input", "output:ReLU"]}],
}


def make_study(
    folder: Path,
    measures: tuple[str, ...] = ("clean",),
    *,
    baseline: bool = True,
    noise: dict | None = None,
    seeds: tuple[int, ...] = SEEDS,
    examples: bool = False,
    data: dict | None = None,
    report: dict | None = None,
) -> Path:
    """Register the synthetic grid (``noise`` arms, default ``NOISE``) in ``folder/study.db`` and save an outcome
    for every run (with ``examples``, also each run's per-example correctness)."""
    study = StudyConfig(
        name="synthetic",
        data=data or {"kind": "digits"},
        model={"kind": "mlp", "widths": [16]},
        train={"epochs": 3, "optimizer": {"kind": "adam", "lr": list(LRS)}},
        seeds=list(seeds),
        baseline=baseline,
        noise=NOISE if noise is None else noise,
        evaluate={"measures": list(measures)},
        report=report or {},
    )
    runs = expand(study)
    with Store(folder / "study.db") as store:
        store.register(study, runs)
        for run in runs:
            lr, where = run.factors["train.optimizer.lr"], (run.factors["train.optimizer.lr"], run.label, run.seed)
            seconds = 20.0 + run.seed
            if where == FAILED:
                outcome = Outcome(run.key, "failed", "Traceback (most recent call last):\nRuntimeError: boom", 1.0)
            else:
                found = records(lr, run.label, run.seed, measures)
                if where == DIVERGED:  # a diverged run's numbers (here absurd) must never be averaged
                    found = [{**r, "value": 0.0} for r in found]
                status = "diverged" if where == DIVERGED else "completed"
                message = "training diverged in epoch 2: train_loss is not finite" if where == DIVERGED else ""
                outcome = Outcome(run.key, status, message, seconds, {"best_epoch": 2},
                                  history(lr, run.label, run.seed), found, {})  # fmt: skip
                if examples:
                    outcome.examples = {("clean", "accuracy"): correct(lr, run.label, run.seed)}
            store.save(outcome)
    return folder


@pytest.fixture(scope="session")
def truth() -> SimpleNamespace:
    """The synthetic study's grid, special runs and known-number functions, for the tests' expectations."""
    return SimpleNamespace(
        LRS=LRS, SEEDS=SEEDS, EFFECT=EFFECT, DIVERGED=DIVERGED, FAILED=FAILED, CORRUPTIONS=CORRUPTIONS,
        SEVERITY_DROP=SEVERITY_DROP, SWEEP=SWEEP, SECONDS=SECONDS, EPS=EPS, TEST_SIZE=TEST_SIZE, accuracy=accuracy,
        corrupted=corrupted, correct=correct, robust=robust, bin_accuracy=bin_accuracy, bin_confidence=bin_confidence,
        bin_count=bin_count,
    )  # fmt: skip


@pytest.fixture(scope="module")
def full_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study with clean, noise_sweep, corruptions, calibration and adversarial records."""
    folder = tmp_path_factory.mktemp("full")
    return make_study(folder, ("clean", "noise_sweep", "corruptions", "calibration", "adversarial"))


@pytest.fixture
def study_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``study_factory(measures, **make_study options)``: a new synthetic study folder at each call."""
    return lambda measures=("clean",), **options: make_study(tmp_path_factory.mktemp("study"), measures, **options)
