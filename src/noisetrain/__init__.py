"""noisetrain: noise-injection training and robustness evaluation for PyTorch.

The names below are imported on first use (PEP 562), so that ``import noisetrain.<module>`` loads only what
that module needs: a study worker starts its orphan watch before torch is imported, and light commands start
fast.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__version__ = "0.1.0"
logging.getLogger(__name__).addHandler(logging.NullHandler())  # a library logs; the application shows it

SUBMODULES = ("attacks", "data", "evaluate", "models", "noise", "study", "train")
ATTRIBUTES = {
    "build_attack": "attacks", "RunConfig": "config", "TrainConfig": "config", "load_config": "config",
    "Dataset": "data", "Split": "data", "load_data": "data", "Record": "evaluate",
    "label_noise_robustness": "evaluate.label_noise", "build_model": "models", "ConfigError": "registry",
    "Registry": "registry", "fit": "train", "run": "train",
}  # fmt: skip
"""Public name -> the module (under ``noisetrain``) that defines it; the injectors come from ``noise``."""


def __getattr__(name: str) -> Any:
    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in ATTRIBUTES:
        return getattr(importlib.import_module(f".{ATTRIBUTES[name]}", __name__), name)
    noise = importlib.import_module(".noise", __name__)
    if name == "__all__":
        return ["__version__", *SUBMODULES, *ATTRIBUTES, *noise.__all__]
    if name in noise.__all__:
        return getattr(noise, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__getattr__("__all__")})
