"""Early stopping that keeps a true copy of the best weights.

Keeping ``model.state_dict()`` without copying holds references to the live
tensors, so the "best" weights silently become the last ones; here the best
state is cloned.
"""

from __future__ import annotations

import copy
from typing import Any

from ..config import EarlyStoppingConfig

_MAXIMISED = ("val_accuracy",)


class EarlyStopping:
    """Track ``config.monitor``; ``update`` returns True when training should stop.

    ``best_state`` is a deep copy of whatever ``snapshot()`` returned at the best epoch.
    """

    def __init__(self, config: EarlyStoppingConfig) -> None:
        self.config = config
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_state: Any = None
        self.bad_epochs = 0

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        gain = value - self.best if self.config.monitor in _MAXIMISED else self.best - value
        return gain > self.config.min_delta

    def update(self, record: dict[str, Any], snapshot: Any) -> bool:
        """Record this epoch; ``snapshot`` is a callable returning the state to keep if it is the best."""
        value = record.get(self.config.monitor)
        if value is None:
            raise KeyError(f"early_stopping.monitor {self.config.monitor!r} is not among the metrics {sorted(record)}")
        if self.improved(value):
            self.best, self.best_epoch, self.bad_epochs = value, record["epoch"], 0
            if self.config.restore_best:
                self.best_state = copy.deepcopy(snapshot())
            return False
        self.bad_epochs += 1
        return self.bad_epochs >= self.config.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "best_state": self.best_state, "bad": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.best_state, self.bad_epochs = state["best_state"], state["bad"]
