"""Throughput of the robustness evaluations: common corruptions, PGD, randomized-smoothing certification.

- Corruptions: images per second of each of the 19 corruptions (``noisetrain.corruptions`` on a batch
  of 256 random 3x32x32 images in [0, 1], severities 1..5 in turn) against two per-image implementations,
  one 32x32x3 uint8 image per call, 16 images: the reference port of the CIFAR-10-C generator at its
  parameters (``tests/corruptions/cifar10c.py``: numpy, scipy, scikit-image, OpenCV; like for like), and
  the ``imagecorruptions`` package (Michaelis et al. 2019, arXiv:1907.07484; ImageNet-C parameters for
  some corruptions). All alternate corruption by corruption. Full pass: seconds per image of all 15
  common corruptions at all 5 severities, the sum over corruptions of the median seconds per image; each
  speedup is that baseline's full pass / ours, over the common corruptions that run in both (those of a
  baseline that raise are reported and left out). A baseline that does not import is left out.
- PGD-10 (linf, eps 8/255, one random start, no restarts; ``PGD(...)(model, x, y)``) against 11 plain
  forward-backward passes with respect to the input on the same batch, model in eval mode.
- Certification: ``certify`` (2 points, n0 = 128, n = 384, batch 256: 1,024 noisy copies in 4 batches)
  against 4 plain no-grad forward passes of a batch of 256; the figure is samples per second of
  ``certify`` / samples per second of the forward passes.

Models (CPU): ``CNN32`` of ``noisetrain.models`` (widths 32, 64, 128) and the two-block CNN of
``trainer.py``. Baseline and candidate alternate round by round; figures are medians over rounds.

Run: ``python benchmarks/evaluate.py [--quick]`` -> ``benchmarks/results/evaluate.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from noisetrain.attacks import PGD
from noisetrain.corruptions import corrupt, names
from noisetrain.evaluate.certified import certify
from noisetrain.models import CNN32

from _common import interleaved_ratio, row, write

SPEEDUP_TARGET = 10.0
PGD_TARGET = 1.10
CERTIFY_TARGET = 0.9
SEVERITIES = range(1, 6)
PGD_STEPS = 10
SIGMA, POINTS, N0, N, CERTIFY_BATCH = 0.25, 2, 128, 384, 256


def peer() -> ModuleType | None:
    """The ``imagecorruptions`` package, or None when it is not installed or does not import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import imagecorruptions
        except Exception:  # an old package on a new stack can fail in many ways at import
            return None
    return imagecorruptions


def reference_port() -> ModuleType | None:
    """The reference port of the CIFAR-10-C generator (``tests/corruptions/cifar10c.py``), or None when its
    dependencies (OpenCV, scikit-image) are not installed."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    try:
        from corruptions import cifar10c
    except ImportError:
        return None
    return cifar10c


Baseline = Callable[[np.ndarray, str, int], Any]
"""``fn(image, corruption, severity)`` on one (32, 32, 3) uint8 image."""


def baselines() -> dict[str, Baseline]:
    """The per-image implementations that import, by label: the reference port, then ``imagecorruptions``."""
    found: dict[str, Baseline] = {}
    port, package = reference_port(), peer()
    if port is not None:
        rng = np.random.default_rng(0)
        found["cifar10c_port"] = lambda image, name, severity: port.CORRUPTIONS[name](image, severity, rng)
    if package is not None:
        found["imagecorruptions"] = lambda image, name, severity: package.corrupt(
            image, severity=severity, corruption_name=name
        )
    return found


def seconds(fn: Callable[..., Any], *args: Any) -> float:
    """Wall-clock seconds of ``fn(*args)``."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def rate(case: str, seconds_per_image: float, images: int = 1) -> dict[str, Any]:
    """An images-per-second row (``images``: corrupted images out per input image)."""
    return row(case, "images_per_second", images / seconds_per_image, None, "higher")


def full_pass(times: dict[str, list[float]], subset: list[str]) -> float:
    """Seconds per image of all corruptions in ``subset`` at all severities: the sum of their median times."""
    return sum(statistics.median(times[name]) for name in subset)


def corruption_results(batch: int, per_image: int, rounds: int) -> list[dict[str, Any]]:
    """Rows of our images/s per corruption, each baseline's, and the full-pass figures."""
    x = torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(0)
    images = (x[:per_image] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    others = baselines()
    common = names(held_out=False)

    def ours(name: str) -> None:
        for severity in SEVERITIES:
            corrupt(x, name, severity, generator=generator)

    def theirs(fn: Baseline, name: str) -> None:
        for image in images:
            for severity in SEVERITIES:
                fn(image, name, severity)

    failed: dict[str, dict[str, str]] = {label: {} for label in others}
    working: dict[str, list[str]] = {label: [] for label in others}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names():
            ours(name)  # warm-up
            for label, fn in others.items():
                try:
                    theirs(fn, name)  # warm-up (the port reads the frost photographs once)
                    working[label].append(name)
                except Exception as error:  # the package is unmaintained: some fail on current numpy/skimage
                    failed[label][name] = f"{type(error).__name__}: {error}"
        times: dict[str, dict[str, list[float]]] = {"ours": {name: [] for name in names()}}
        times |= {label: {name: [] for name in working[label]} for label in others}
        for _ in range(rounds):
            for name in names():
                times["ours"][name].append(seconds(ours, name) / batch)
                for label, fn in others.items():
                    if name in working[label]:
                        times[label][name].append(seconds(theirs, fn, name) / per_image)

    # times: seconds per image for severities 1..5; a full pass per image is their sum over corruptions
    results = []
    for name in names():
        for label in ("ours", *others):
            if name in times[label]:
                results.append(rate(f"{label}/{name}", statistics.median(times[label][name]), len(SEVERITIES)))
    results.append(rate(f"full_pass/ours[{len(common)}]", full_pass(times["ours"], common)))
    if not others:
        print("neither the reference port nor imagecorruptions imports: comparison rows omitted", flush=True)
    for label in others:
        shared = [name for name in common if name in working[label]]
        tag = f"{len(shared)}/{len(common)}"
        ours_pass, their_pass = full_pass(times["ours"], shared), full_pass(times[label], shared)
        if shared != common:
            results.append(rate(f"full_pass/ours[{tag}]", ours_pass))
        results.append(rate(f"full_pass/{label}[{tag}]", their_pass))
        speedup = their_pass / ours_pass
        results.append(row(f"full_pass[{tag}]", f"speedup_vs_{label}", speedup, SPEEDUP_TARGET, "higher"))
        for name, error in failed[label].items():
            print(f"{label}/{name} fails: {error}", flush=True)
        print(f"{label}: full pass over {', '.join(shared)}: speedup {speedup:.1f}", flush=True)
    return results


def model(name: str) -> nn.Module:
    """``CNN32`` (widths 32, 64, 128) or the two-block CNN of ``trainer.py``, in eval mode."""
    torch.manual_seed(0)
    if name == "cnn32":
        return CNN32((3, 32, 32), 10).eval()
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 10),
    ).eval()  # fmt: skip


def pgd_results(name: str, batch: int, rounds: int) -> list[dict[str, Any]]:
    """PGD-10 time / 11 forward-backward passes, and the seconds of one forward-backward pass."""
    net = model(name)
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(batch, 3, 32, 32, generator=generator)
    y = torch.randint(0, 10, (batch,), generator=generator)
    attack = PGD(8 / 255, steps=PGD_STEPS, seed=0)

    def passes() -> None:
        for _ in range(PGD_STEPS + 1):
            point = x.detach().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(net(point), y), point)

    ratio = interleaved_ratio(passes, lambda: attack(net, x, y), steps=1, rounds=rounds, warmup=1)
    one_pass = statistics.median(seconds(passes) for _ in range(3)) / (PGD_STEPS + 1)
    print(f"pgd{PGD_STEPS}/{name}: {ratio:.3f}", flush=True)
    return [
        row(f"pgd{PGD_STEPS}/{name}", f"time_ratio_vs_{PGD_STEPS + 1}_passes", ratio, PGD_TARGET, "lower"),
        row(f"forward_backward/{name}", "seconds", one_pass, None, "lower"),
    ]


def certify_results(name: str, rounds: int) -> list[dict[str, Any]]:
    """Samples/s of ``certify`` / samples/s of plain forward passes, and the latter."""
    net = model(name)
    x = torch.rand(CERTIFY_BATCH, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    points = x[:POINTS]
    generator = torch.Generator().manual_seed(0)
    batches = POINTS * (N0 + N) // CERTIFY_BATCH

    def forwards() -> None:
        with torch.no_grad():
            for _ in range(batches):
                net(x)

    def certification() -> None:
        certify(net, points, SIGMA, N0, N, 0.001, generator, CERTIFY_BATCH)

    # forward time / certify time for the same number of samples = certify samples/s / forward samples/s
    ratio = interleaved_ratio(certification, forwards, steps=1, rounds=rounds, warmup=1)
    per_second = batches * CERTIFY_BATCH / statistics.median(seconds(forwards) for _ in range(3))
    print(f"certify/{name}: {ratio:.3f}", flush=True)
    return [
        row(f"certify/{name}", "throughput_ratio_vs_forward", ratio, CERTIFY_TARGET, "higher"),
        row(f"forward/{name}", "samples_per_second", per_second, None, "higher"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches, fewer rounds (rougher figures)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rounds = 3 if args.quick else 9
    results = corruption_results(batch=64 if args.quick else 256, per_image=4 if args.quick else 16, rounds=rounds)
    for name in ("cnn32", "cnn"):
        results += pgd_results(name, batch=32 if args.quick else 64, rounds=rounds)
        results += certify_results(name, rounds=rounds)
    write("evaluate", results)


if __name__ == "__main__":
    main()
