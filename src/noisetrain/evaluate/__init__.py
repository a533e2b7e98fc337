"""Robustness evaluation: every measure a noise-training study needs, as records.

``evaluate(model, data, ["clean", "noise_sweep", {"kind": "adversarial", "eps": [0, 0.03]}])``
runs the named measures on the test split (the validation split where a measure fits
something, e.g. temperature scaling) and returns :class:`Record` objects (measure, metric,
setting, value, confidence interval) that the study store and the reports consume.

Measures: ``clean``, ``noise_sweep``, ``corruptions``, ``adversarial``, ``calibration``,
``uncertainty``, ``flatness``, ``certified``, ``cost``; ``label_noise_robustness`` trains a
recipe on noisy labels (it needs a run config, not a trained model).
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    """The public names (``suite.__all__``) come from ``suite``, imported on first use (PEP 562), so that
    ``evaluate.keys`` (metric facts for configs and reports) loads without torch."""
    suite = importlib.import_module(".suite", __name__)
    if name == "__all__" or name in suite.__all__:
        return getattr(suite, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
