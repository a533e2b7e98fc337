"""The training engine: one explicit loop with a noise recipe, early stopping, checkpoints and resume.

Example:
    >>> result = fit(model, data, noise=[{"kind": "gaussian", "std": 0.3}], config={"epochs": 5}, seed=0)
    >>> run({"data": "digits", "model": "mlp", "noise": [...], "train": {"epochs": 5}}, output="runs/a")
"""

from .callbacks import Callback, Callbacks, MetricsWriter
from .checkpoint import load_checkpoint, save_checkpoint
from .early_stopping import EarlyStopping
from .loop import Loop, TrainResult, fit
from .metrics import evaluate_split
from .run import RunResult, build, load_run, resolve_device, run

__all__ = [
    "Callback",
    "Callbacks",
    "EarlyStopping",
    "Loop",
    "MetricsWriter",
    "RunResult",
    "TrainResult",
    "build",
    "evaluate_split",
    "fit",
    "load_checkpoint",
    "load_run",
    "resolve_device",
    "run",
    "save_checkpoint",
]
