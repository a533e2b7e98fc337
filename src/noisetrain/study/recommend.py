"""Recommended noise techniques per data type, with starting strengths, and a ready study file of them.

The table follows the seed guide: images -> cutout, mixup, adversarial training; text -> token
masking, dropout; tabular -> Gaussian input noise, feature masking; time series -> Gaussian input
noise, temporal dropout; and the combinations input noise + dropout, mixup + label smoothing,
adversarial + Gaussian. Each technique is a study arm (``noise`` specs, maybe a ``train`` change)
at its usual starting strength, with the strengths worth sweeping around it.

Example:
    >>> [t.arm for t in recommend("tabular")]
    ['gaussian', 'feature_mask', 'gaussian+dropout']
    >>> recommended_study("image")    # a dict to dump as YAML; runs on bundled data, with 10 seeds

A study file gets, by default, the fewest seeds with which its comparisons can be significant at all: the
sign-flip test's smallest p with n seeds is 2 / 2**n, and Holm's correction multiplies the smallest of the study's
by the number of comparisons (``significance_seeds``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..registry import ConfigError

DATA_TYPES = ("image", "text", "tabular", "timeseries")


@dataclass(frozen=True)
class Technique:
    """One recommended arm: its recipe at the starting strength, the strengths to sweep, and why.

    Args:
        arm: the arm's name in a study.
        noise: injector specs at their starting strengths.
        sweep: ``(spec index, parameter, values)``: the strength grid of a study around the start.
        train: a change of the training settings (adversarial training).
        why: one line with the reference.
    """

    arm: str
    noise: list[dict[str, Any]]
    why: str
    sweep: tuple[int, str, list[float]] | None = None
    train: dict[str, Any] = field(default_factory=dict)

    def starting(self) -> str:
        """The recipe at its starting strength, e.g. ``cutout(size=4)``."""
        items = [
            f"{spec['kind']}({', '.join(f'{k}={v}' for k, v in spec.items() if k != 'kind')})" for spec in self.noise
        ]
        if self.train.get("adversarial"):
            attack = self.train["adversarial"]["attack"]
            items.append(f"adversarial training ({attack['kind']}, eps={attack['eps']:.4g})")
        return " + ".join(items)

    def arm_spec(self, grid: bool = True) -> dict[str, Any] | list[dict[str, Any]]:
        """The arm for a study file; with ``grid`` the swept parameter holds its list of strengths."""
        noise = [dict(spec) for spec in self.noise]
        train = {k: v for k, v in self.train.items()}
        if grid and self.sweep is not None:
            index, parameter, values = self.sweep
            if index >= 0:
                noise[index][parameter] = list(values)
            else:
                attack = dict(train["adversarial"]["attack"])
                attack[parameter] = list(values)
                train = {**train, "adversarial": {**train["adversarial"], "attack": attack}}
        return {"noise": noise, "train": train} if train else noise


EPS = 8 / 255
ATTACK = {"adversarial": {"attack": {"kind": "fgsm", "eps": EPS, "random_start": True}}}
GAUSSIAN = "Gaussian input noise: training with noise is Tikhonov regularisation (Bishop 1995)"
DROPOUT = "dropout on hidden activations (Srivastava et al. 2014)"
MIXUP_LS = "mixup (Zhang et al. 2018, arXiv:1710.09412) with label smoothing (Szegedy et al. 2016)"

TECHNIQUES: dict[str, list[Technique]] = {
    "image": [
        Technique(
            "cutout", [{"kind": "cutout", "size": 4}], "Cutout, a square of about half the image side "
            "(DeVries & Taylor 2017, arXiv:1708.04552; 16 px on 32x32 CIFAR)", (0, "size", [2, 4, 6]),
        ),
        Technique(
            "mixup", [{"kind": "mixup", "alpha": 0.2}], "mixup (Zhang et al. 2018, arXiv:1710.09412)",
            (0, "alpha", [0.1, 0.2, 0.4, 1.0]),
        ),
        Technique(
            "adversarial", [], "FGSM adversarial training with random start (Wong et al. 2020, arXiv:2001.03994)",
            (-1, "eps", [2 / 255, 4 / 255, EPS]), ATTACK,
        ),
        Technique("mixup+label_smoothing", [{"kind": "mixup", "alpha": 0.2}, {"kind": "label_smoothing", "eps": 0.1}],
                  MIXUP_LS, (1, "eps", [0.05, 0.1, 0.2])),
        Technique(
            "adversarial+gaussian", [{"kind": "gaussian", "std": 0.1}],
            "adversarial training with Gaussian input noise (Cohen et al. 2019, arXiv:1902.02918)",
            (0, "std", [0.05, 0.1, 0.2]), ATTACK,
        ),
    ],
    "text": [
        Technique(
            "token_mask", [{"kind": "token_mask", "p": 0.15}], "BERT-style token masking (Devlin et al. 2019)",
            (0, "p", [0.05, 0.1, 0.15, 0.25]),
        ),
        Technique(
            "dropout", [{"kind": "dropout", "p": 0.3, "at": "output:Embedding"}], "dropout on the embeddings "
            "(Srivastava et al. 2014; Gal & Ghahramani 2016)", (0, "p", [0.1, 0.3, 0.5]),
        ),
        Technique(
            "token_mask+dropout", [{"kind": "token_mask", "p": 0.1}, {"kind": "dropout", "p": 0.3, "at":
                                    "output:Embedding"}], "input noise + " + DROPOUT, (0, "p", [0.05, 0.1, 0.2]),
        ),
    ],
    "tabular": [
        Technique("gaussian", [{"kind": "gaussian", "std": 0.1}], GAUSSIAN + " on standardised features",
                  (0, "std", [0.05, 0.1, 0.2, 0.3])),
        Technique(
            "feature_mask", [{"kind": "feature_mask", "p": 0.1}], "feature masking, as in denoising "
            "autoencoders (Vincent et al. 2008)", (0, "p", [0.05, 0.1, 0.2]),
        ),
        Technique(
            "gaussian+dropout", [{"kind": "gaussian", "std": 0.1}, {"kind": "dropout", "p": 0.2, "at": "output:ReLU"}],
            "input noise + " + DROPOUT, (0, "std", [0.05, 0.1, 0.2]),
        ),
    ],
    "timeseries": [
        Technique("gaussian", [{"kind": "gaussian", "std": 0.05}], GAUSSIAN + " (jitter; Um et al. 2017)",
                  (0, "std", [0.02, 0.05, 0.1])),
        Technique(
            "temporal_dropout", [{"kind": "temporal_dropout", "p": 0.1, "span": 4}], "dropping spans of time "
            "steps, as in SpecAugment's time masking (Park et al. 2019)", (0, "p", [0.05, 0.1, 0.2]),
        ),
        Technique(
            "gaussian+dropout", [{"kind": "gaussian", "std": 0.05}, {"kind": "dropout", "p": 0.2, "at": "output:ReLU"}],
            "input noise + " + DROPOUT, (0, "std", [0.02, 0.05, 0.1]),
        ),
    ],
}  # fmt: skip

DEFAULTS: dict[str, dict[str, Any]] = {
    "image": {"data": {"kind": "digits", "images": True}, "model": {"kind": "cnn32", "widths": [16, 32]}},
    "text": {"data": {"kind": "text"}, "model": {"kind": "text"}},
    "tabular": {"data": {"kind": "breast_cancer"}, "model": {"kind": "mlp", "widths": [64]}},
    "timeseries": {"data": {"kind": "timeseries"}, "model": {"kind": "cnn1d"}},
}
"""Bundled or generated offline data and a fitting model per data type, for a study that runs as written."""


def recommend(data_type: str) -> list[Technique]:
    """The recommended techniques and combinations for ``data_type`` (image, text, tabular, timeseries)."""
    if data_type not in TECHNIQUES:
        raise ConfigError(f"data type must be one of {', '.join(DATA_TYPES)}, got {data_type!r}")
    return TECHNIQUES[data_type]


def recommended_study(
    data_type: str,
    *,
    data: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    seeds: int | None = None,
    epochs: int = 20,
    grid: bool = True,
) -> dict[str, Any]:
    """A study (as a dict for YAML) of the recommended arms against the baseline, on ``data``/``model``
    (default: offline data of that type), sweeping each arm's strength when ``grid``, with ``seeds`` seeds
    (default: ``significance_seeds``)."""
    techniques = recommend(data_type)
    defaults = DEFAULTS[data_type]
    measures: list[Any] = ["clean", "calibration"]
    if data_type in ("image", "tabular", "timeseries"):
        measures.insert(1, "noise_sweep")
    return {
        "name": f"{data_type}-recommended",
        "data": data or defaults["data"],
        "model": model or defaults["model"],
        "train": {"epochs": epochs, "batch_size": 64, "optimizer": {"kind": "adam", "lr": 0.003}},
        "seeds": seeds if seeds is not None else significance_seeds(data_type, grid=grid),
        "noise": {t.arm: t.arm_spec(grid) for t in techniques},
        "evaluate": {"measures": measures},
    }


def comparisons(data_type: str, *, grid: bool = True) -> int:
    """How many configurations the recommended study compares with its baseline: every strength of each arm's
    sweep (one per arm without ``grid``)."""
    return sum(len(t.sweep[2]) if grid and t.sweep is not None else 1 for t in recommend(data_type))


def significance_seeds(data_type: str, *, grid: bool = True, alpha: float = 0.05) -> int:
    """The fewest seeds with which a comparison of the recommended study can be significant at ``alpha`` after
    Holm's correction over its ``comparisons``: 10 for images (16 comparisons), 9 for the other types."""
    from .stats import fewest_seeds  # scipy: not for `noisetrain --help`, which imports this module

    return fewest_seeds(alpha / comparisons(data_type, grid=grid))
