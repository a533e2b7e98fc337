"""Synthetic study stores for the report tests: a small grid registered with ``expand`` and hand-made outcomes.

The grid: 2 learning rates (the context) x {baseline, gaussian std 0.1/0.2, dropout at input/output:ReLU}
x 4 seeds. Every number is a known function of (context, label, seed), so tests recompute the statistics
with scipy. One run diverged (its records must not count) and one failed.
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
from noisetrain.study.expand import expand
from noisetrain.study.store import Store

LRS = (0.001, 0.01)
SEEDS = (0, 1, 2, 3)
BASE = {0.001: 0.90, 0.01: 0.85}
EFFECT = {
    "baseline": 0.0,
    "gaussian(gaussian.std=0.1)": 0.02,
    "gaussian(gaussian.std=0.2)": 0.01,
    "dropout(dropout.at=input)": -0.06,
    "dropout(dropout.at=output:ReLU)": 0.005,
}
DIVERGED = (0.01, "gaussian(gaussian.std=0.2)", 3)
FAILED = (0.01, "dropout(dropout.at=input)", 1)
CORRUPTIONS = {"gaussian_noise": False, "fog": False, "spatter": True}  # name -> held out
SEVERITY_DROP = {1: 0.1, 2: 0.3}
CORRUPTION_DROP = {"gaussian_noise": 0.2, "fog": 0.1, "spatter": 0.05}
SWEEP = (0.0, 0.1, 0.3)
SECONDS = {"baseline": 10.0, "gaussian": 12.0, "dropout": 11.0}


def accuracy(lr: float, label: str, seed: int) -> float:
    """The clean accuracy of a run: context base + the arm's effect (0 if not listed) + a fixed per-seed jitter."""
    jitter = np.random.default_rng([round(lr * 1000), zlib.crc32(label.encode())]).normal(0, 0.01, len(SEEDS))
    return float(BASE[lr] + EFFECT.get(label, 0.0) + jitter.round(4)[seed])


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
    if "corruptions" in measures:
        found += [
            record("corruptions", "accuracy", corrupted(lr, label, seed, c, s),
                   {"corruption": c, "severity": s, "held_out": held})
            for c, held in CORRUPTIONS.items() for s in SEVERITY_DROP
        ]  # fmt: skip
    if "calibration" in measures:
        found += [
            record("calibration", "bin_accuracy", bin_accuracy(b, seed, scaled),
                   {"bin": b, "low": b / 3, "high": (b + 1) / 3, "confidence": bin_confidence(b, seed),
                    "scaled": scaled}, bin_count(b, seed))
            for scaled in (False, True) for b in range(3)
        ]  # fmt: skip
    return found


def history(lr: float, label: str, seed: int) -> list[dict]:
    acc = accuracy(lr, label, seed)
    return [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_accuracy": acc - 0.1 / e} for e in (1, 2)]


NOISE = {
    "gaussian": [{"kind": "gaussian", "std": [0.1, 0.2]}],
    "dropout": [{"kind": "dropout", "p": 0.2, "at": ["input", "output:ReLU"]}],
}


def make_study(
    folder: Path, measures: tuple[str, ...] = ("clean",), *, baseline: bool = True, noise: dict | None = None
) -> Path:
    """Register the synthetic grid (``noise`` arms, default ``NOISE``) in ``folder/study.db`` and save an outcome
    for every run."""
    study = StudyConfig(
        name="synthetic",
        data={"kind": "digits"},
        model={"kind": "mlp", "widths": [16]},
        train={"epochs": 2, "optimizer": {"kind": "adam", "lr": list(LRS)}},
        seeds=list(SEEDS),
        baseline=baseline,
        noise=NOISE if noise is None else noise,
        evaluate={"measures": list(measures)},
    )
    runs = expand(study)
    with Store(folder / "study.db") as store:
        store.register(study, runs)
        for run in runs:
            lr, where = run.factors["train.optimizer.lr"], (run.factors["train.optimizer.lr"], run.label, run.seed)
            seconds = SECONDS[run.arm] + run.seed
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
            store.save(outcome)
    return folder


@pytest.fixture(scope="session")
def truth() -> SimpleNamespace:
    """The synthetic study's grid, special runs and known-number functions, for the tests' expectations."""
    return SimpleNamespace(
        LRS=LRS, SEEDS=SEEDS, EFFECT=EFFECT, DIVERGED=DIVERGED, FAILED=FAILED, CORRUPTIONS=CORRUPTIONS,
        SEVERITY_DROP=SEVERITY_DROP, SWEEP=SWEEP, SECONDS=SECONDS, accuracy=accuracy, corrupted=corrupted,
        bin_accuracy=bin_accuracy, bin_confidence=bin_confidence, bin_count=bin_count,
    )  # fmt: skip


@pytest.fixture(scope="module")
def full_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study with clean, noise_sweep, corruptions and calibration records."""
    folder = tmp_path_factory.mktemp("full")
    return make_study(folder, ("clean", "noise_sweep", "corruptions", "calibration"))


@pytest.fixture
def study_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``study_factory(measures, baseline=True, noise=None)``: a new synthetic study folder at each call."""
    return lambda measures=("clean",), **options: make_study(tmp_path_factory.mktemp("study"), measures, **options)
