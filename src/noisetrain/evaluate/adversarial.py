"""Robust accuracy under FGSM and PGD, with EOT for stochastic models and sanity checks of the evaluation.

Stochastic models (noise or dropout active at test time) are attacked with Expectation over
Transformation and scored over several stochastic passes, as Athalye, Carlini and Wagner 2018
("Obfuscated Gradients Give a False Sense of Security", arXiv:1802.00420) require. Every
evaluation also runs the checks that expose a broken evaluation (Carlini et al. 2019, "On
Evaluating Adversarial Robustness", arXiv:1902.06705) and reports each as a record with metric
``"check"`` (1.0 passed, 0.0 failed; a failure is also logged as a warning):

- ``eps0_equals_clean``: PGD with ``eps=0`` scores the clean accuracy;
- ``monotone_in_eps``: accuracy never rises with ``eps`` (for each attack);
- ``more_steps_no_gain``: PGD with twice the steps at the largest ``eps`` scores no higher;
- ``gradient``: the input gradient of the loss is finite and non-zero for most samples of a batch
  (all-zero gradients flag gradient masking, e.g. a rounding or quantising layer).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from ..attacks import FGSM, PGD, Attack
from ..attacks.base import NORMS, START_RADII
from ..data import Dataset
from ..data.dataset import inside
from ..models.base import closed_form
from ..noise.inject import evaluation_mode, mc_mode
from ..registry import ConfigError
from .keys import Key
from .options import AUTO, auto_range, choice, flag, grid, integer, names, optional, real
from .progress import expect, step
from .records import Record, clopper_pearson, is_stochastic, measure, seeded_noise

log = logging.getLogger(__name__)

ATTACK_NAMES = ("fgsm", "pgd")
MASKED_FRACTION = 0.5
"""The gradient check fails when at least this fraction of a batch has an all-zero input gradient."""


def _bounds_contain_data(options: Mapping[str, Any], data: Dataset, model: nn.Module) -> None:
    """The model must have input gradients to follow (not a closed-form one such as kNN), and explicit ``bounds``
    must contain every test input."""
    if closed_form(model):
        raise ConfigError(f"adversarial: {type(model).__name__} is fitted in closed form and has no input gradient "
                          "for an attack to follow; evaluate it with clean, noise_sweep or corruptions")  # fmt: skip
    box = options["bounds"]
    if isinstance(box, tuple) and not inside(data.test.x, *box):
        raise ConfigError(f"bounds {box} do not contain the test inputs; pass bounds=None for unbounded data")


def _start_radius_needs_l2(options: dict[str, Any]) -> dict[str, Any]:
    """``start_radius`` other than ``"uniform"`` applies to the l2 random start only, as in ``PGD``."""
    if options["start_radius"] != "uniform" and options["norm"] != "l2":
        raise ConfigError(f"start_radius={options['start_radius']!r} applies to the l2 random start of PGD only "
                          f"(norm='l2'); got norm={options['norm']!r}")  # fmt: skip
    return options


@measure(
    "adversarial",
    metrics=("accuracy", "check"),
    keys=(Key("accuracy", "{attack} eps={eps:.3g}", lambda s: s.get("attack") != "none" and s.get("eps", 0) > 0),),
    checks={
        "attacks": names(ATTACK_NAMES),
        "eps": grid(0),
        "norm": choice(*NORMS),
        "steps": integer(1),
        "restarts": integer(1),
        "start_radius": choice(*START_RADII),
        "bounds": auto_range,
        "stochastic": optional(flag),
        "eot_samples": integer(1),
        "passes": integer(1),
        "tolerance": real(0, 1),
    },
    joint=_start_radius_needs_l2,
    tasks=("classification",),
    needs=_bounds_contain_data,
)
def adversarial(
    model: nn.Module,
    data: Dataset,
    *,
    batch_size: int = 512,
    seed: int = 0,
    attacks: Sequence[str] = ("pgd",),
    eps: float | Sequence[float] = (0.0, 2 / 255, 8 / 255),
    norm: str = "linf",
    steps: int = 10,
    restarts: int = 1,
    start_radius: str = "uniform",
    bounds: tuple[float, float] | str | None = "auto",
    stochastic: bool | None = None,
    eot_samples: int = 8,
    passes: int = 8,
    tolerance: float = 0.01,
) -> list[Record]:
    """Robust accuracy on ``data.test`` per (attack, eps), plus a clean record and the sanity checks.

    Args:
        model: a classifier, (N, *) inputs -> (N, classes) logits; evaluated in eval mode.
        data: a classification data set; its test split is attacked.
        batch_size: samples per attacked batch. seed: seed of the attacks' random starts and of a stochastic
            model's own noise, which every score draws anew from it (the same draws for the clean score and
            each attack and radius: the same seed, the same records).
        attacks: names among ``"fgsm"``, ``"pgd"``.
        eps: perturbation radius or radii (>= 0) in input units.
        norm: ``"linf"`` or ``"l2"``. steps, restarts: of PGD.
        start_radius: ``"uniform"``: l2 PGD start norm U(0, eps), torchattacks 3.5.1 PGDL2; ``"ball"``: uniform in ball.
        bounds: ``(low, high)`` valid input range (containing the test inputs), None for unbounded inputs,
            or ``"auto"``: ``(0, 1)`` when the test inputs lie in it, else None.
        stochastic: None: EOT when the model still draws noise in eval mode; True: Monte-Carlo mode
            (``mc_mode``: injectors and dropout on) with EOT; False: a plain attack.
        eot_samples: stochastic passes averaged per attack gradient (EOT).
        passes: stochastic forward passes the accuracy of a stochastic model is averaged over.
        tolerance: slack (in accuracy) of the monotonicity check for stochastic models and of the steps check
            (PGD at eps 0 reads the clean score's draws: it must equal it exactly).

    Records: ``accuracy`` per ``{"attack", "eps"}`` (``attack="none"``: clean; l2 PGD also ``"start_radius"``)
    with a Clopper-Pearson interval (for stochastic models on the rounded mean count of correct samples),
    then ``check`` records.
    Progress: one unit per scored (attack, eps), the clean score and the checks' extra attacks included.

    Example: ``adversarial(model, data, attacks=("fgsm", "pgd"), eps=(0, 0.1))``.
    """
    x, y = data.test.x, data.test.y
    box = bounds
    if bounds == AUTO:
        box = (0.0, 1.0) if inside(x, 0.0, 1.0) else None
    largest = eps[-1]
    extra = {0.0, largest} - set(eps if "pgd" in attacks else ())  # PGD radii the checks need beyond the curves
    expect(1 + len(attacks) * len(eps) + len(extra) + (largest > 0))

    with evaluation_mode(model), mc_mode(model) if stochastic else nullcontext():
        random = bool(stochastic) or (stochastic is None and is_stochastic(model, x))
        eot, scored = (eot_samples, passes) if random else (1, 1)
        setting = {"norm": norm, "stochastic": random, "eot": eot, "passes": scored}
        options = {"norm": norm, "bounds": box, "eot": eot, "seed": seed}
        start = {"start_radius": start_radius} if norm == "l2" else {}  # in the l2 PGD records' setting only
        per_attack = {"fgsm": {"steps": 1}, "pgd": {"steps": steps, "restarts": restarts, **start}}

        def build(name: str, radius: float, n_steps: int = steps) -> Attack:
            if name == "fgsm":
                return FGSM(radius, **options)
            return PGD(radius, steps=n_steps, restarts=restarts, radius=start_radius, **options)

        def score(attack: Attack | None) -> float:  # every score from the same noise stream (common numbers)
            with seeded_noise(model, seed, x.device):
                accuracy = robust_accuracy(model, x, y, attack, batch_size=batch_size, passes=scored)
            step()
            return accuracy

        clean = score(None)
        curves = {name: {radius: score(build(name, radius)) for radius in eps} for name in attacks}
        records = [_accuracy(clean, len(x), {**setting, "attack": "none", "eps": 0.0})]
        records += [
            _accuracy(value, len(x), {**setting, "attack": name, "eps": radius, **per_attack[name]})
            for name, curve in curves.items()
            for radius, value in curve.items()
        ]

        slack = tolerance if random else 0.0
        pgd = dict(curves.get("pgd", {}))
        for radius in sorted(extra):
            pgd[radius] = score(build("pgd", radius))
        checks = [_check("eps0_equals_clean", pgd[0.0] == clean, clean=clean, pgd_eps0=pgd[0.0])]  # same draws
        for name, curve in curves.items():
            rises = [(a, b) for a, b in itertools.pairwise(curve) if curve[b] > curve[a] + slack]
            checks.append(_check("monotone_in_eps", not rises, attack=name, rises=rises))
        if largest > 0:
            longer = score(build("pgd", largest, 2 * steps))
            base = pgd[largest]
            detail = {"eps": largest, "steps": steps, "accuracy": base, "accuracy_2x_steps": longer}
            checks.append(_check("more_steps_no_gain", longer <= base + tolerance, **detail))
        checks.append(_gradient_check(build("pgd", largest), model, x[:batch_size], y[:batch_size]))
    return records + checks


def robust_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: Attack | None,
    *,
    batch_size: int = 512,
    passes: int = 1,
) -> float:
    """Accuracy on ``attack.perturb(model, x, y)`` (``x`` itself when ``attack`` is None), in the model's
    current mode, averaged over ``passes`` forward passes per adversarial batch.

    Shapes: ``x`` (N, *), ``y`` (N,) class indices. The count stays on the device until the end.
    """
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        x_adv = xb if attack is None else attack.perturb(model, xb, yb)
        with torch.no_grad():
            for _ in range(passes):
                correct += (model(x_adv).argmax(dim=-1) == yb).sum()
    return correct.item() / (passes * len(x)) if len(x) else math.nan


def _accuracy(value: float, n: int, setting: dict[str, Any]) -> Record:
    return Record("adversarial", "accuracy", value, setting, clopper_pearson(round(value * n), n), n)


def _check(name: str, passed: bool, **detail: Any) -> Record:
    if not passed:
        log.warning("adversarial check %s failed: %s", name, detail)
    return Record("adversarial", "check", 1.0 if passed else 0.0, {"check": name, **detail})


def _gradient_check(attack: Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Record:
    """The input gradient of the loss (over the attack's EOT passes) on one batch: finite, rarely all zero."""
    grad, _ = attack.gradient(model, x, y)
    finite = bool(torch.isfinite(grad).all())
    zero_fraction = (grad.flatten(1) == 0).all(dim=1).float().mean().item()
    return _check("gradient", finite and zero_fraction < MASKED_FRACTION, finite=finite, zero_fraction=zero_fraction)
