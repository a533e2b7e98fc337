"""noisetrain: noise-injection training and robustness evaluation for PyTorch."""

import logging

from . import attacks, data, evaluate, models, noise, train
from .attacks import build_attack
from .config import RunConfig, TrainConfig, load_config
from .data import Dataset, Split, load_data
from .evaluate import Record
from .evaluate.label_noise import label_noise_robustness
from .models import build_model
from .noise import *  # noqa: F403
from .noise import __all__ as _noise_all
from .registry import ConfigError, Registry
from .train import fit, run

__version__ = "0.1.0"
logging.getLogger(__name__).addHandler(logging.NullHandler())  # a library logs; the application shows it
__all__ = [
    "ConfigError",
    "Dataset",
    "Record",
    "Registry",
    "RunConfig",
    "Split",
    "TrainConfig",
    "__version__",
    "attacks",
    "build_attack",
    "build_model",
    "data",
    "evaluate",
    "fit",
    "label_noise_robustness",
    "load_config",
    "load_data",
    "models",
    "noise",
    "run",
    "train",
    *_noise_all,
]
