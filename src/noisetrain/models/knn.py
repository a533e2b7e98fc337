"""k-nearest neighbours (scikit-learn) behind the model interface: a baseline without gradient training."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..checks import check_choice, check_int
from ..registry import ConfigError
from .base import MODELS, check_io

WEIGHTS = ("uniform", "distance")
TASKS = ("classification", "regression")
EPS = 1e-6
"""Floor of the class probabilities before the log, so that log-probabilities stay finite."""


@MODELS.register("knn")
class KNN(nn.Module):
    """k-nearest neighbours on flattened inputs (Cover & Hart, Nearest Neighbor Pattern Classification, 1967),
    through scikit-learn's ``KNeighborsClassifier`` / ``KNeighborsRegressor``.

    It has no parameters: ``fit(x, y)`` stores the training set (the training engine calls it instead of
    gradient steps). ``forward`` returns log class probabilities floored at 1e-6 (so softmax and argmax
    work as on logits) or the regression predictions.

    Args:
        input_shape: shape of one input, any number of dimensions (flattened).
        num_outputs: number of classes, or of regression targets.
        k: number of neighbours (>= 1). Default 5.
        weights: "uniform" or "distance" (inverse-distance weighted votes). Default "uniform".
        task: "classification" or "regression"; usually filled from the data's ``info``. Default
            "classification".

    Shapes: ``fit``: x (N, *input_shape), y (N,) int64 labels in [0, num_outputs) or float targets
    (N,) / (N, num_outputs). ``forward``: (M, *input_shape) in, (M, num_outputs) out.

    Example: ``KNN((4,), 3, k=3).fit(x, y)(x_test).argmax(1)``.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_outputs: int,
        k: int = 5,
        weights: str = "uniform",
        task: str = "classification",
    ) -> None:
        super().__init__()
        self.input_shape = check_io("KNN", input_shape, num_outputs)
        self.num_outputs = num_outputs
        check_int("KNN.k", k, 1)
        self.k = k
        check_choice("KNN.weights", weights, WEIGHTS)
        self.weights = weights
        check_choice("KNN.task", task, TASKS)
        self.task = task
        self.estimator_: Any = None

    def check_fit(self, count: int, source: str) -> None:
        """Raise ``ConfigError`` unless ``count`` training examples (those of ``source``) are at least ``k``."""
        if count < self.k:
            raise ConfigError(f"model.k={self.k} needs at least {self.k} training examples, and {source} has {count}: "
                              "use a smaller k")  # fmt: skip

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> KNN:
        """Store the training set ``x`` (N, *input_shape) with labels or targets ``y``; returns self."""
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor  # slow import, only when used

        self.check_fit(len(x), "the training set")
        if self.task == "classification" and (y.is_floating_point() or y.min() < 0 or y.max() >= self.num_outputs):
            raise ValueError(f"KNN classification needs int labels in [0, {self.num_outputs - 1}], got {y!r}")
        if self.task == "classification":
            estimator = KNeighborsClassifier(n_neighbors=self.k, weights=self.weights)
        else:
            estimator = KNeighborsRegressor(n_neighbors=self.k, weights=self.weights)
        self.estimator_ = estimator.fit(self._features(x), y.detach().cpu().numpy())
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class labels (M,) int64, or regression predictions (M, num_outputs) float32, on ``x``'s device."""
        predicted = torch.as_tensor(self._fitted().predict(self._features(x)), device=x.device)
        if self.task == "classification":
            return predicted.long()
        return predicted.float().reshape(len(x), self.num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.task == "regression":
            return self.predict(x)
        estimator = self._fitted()
        probabilities = torch.zeros(len(x), self.num_outputs, dtype=torch.float32)
        classes = torch.as_tensor(estimator.classes_).long()  # the labels seen in fit, sorted
        probabilities[:, classes] = torch.as_tensor(estimator.predict_proba(self._features(x))).float()
        return probabilities.clamp_min(EPS).log().to(x.device)

    def _fitted(self) -> Any:
        if self.estimator_ is None:
            raise RuntimeError("KNN is not fitted: call model.fit(x_train, y_train) before using it")
        return self.estimator_

    def _features(self, x: torch.Tensor) -> Any:
        """x as a float64 numpy array (N, prod(input_shape))."""
        return x.detach().reshape(len(x), math.prod(self.input_shape)).cpu().double().numpy()

    def extra_repr(self) -> str:
        return f"k={self.k}, weights={self.weights!r}, task={self.task!r}, fitted={self.estimator_ is not None}"
