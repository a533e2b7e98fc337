"""A noise recipe in PyTorch Lightning: :class:`NoiseCallback` gives a ``LightningModule`` the noise of ``fit``.

The callback attaches the recipe in ``setup`` and takes it off in ``teardown`` (or when the run fails), so
the module ends exactly as before. In between:

* ``on_fit_start`` checks that every learnable noise parameter is in an optimizer, and ``on_train_start`` sets
  the weight of Bayesian weights' KL term, 1 / the number of training examples (as ``fit``);
* ``on_train_batch_start`` sets the schedules' progress, ``global_step / estimated_stepping_batches`` (``fit``'s
  ``step / total_steps``: optimizer steps done over all of them; schedules need a known length), then applies
  the batch noise to a list batch ``[x, y, ...]`` in place (the object ``training_step`` receives);
* ``on_before_optimizer_step`` adds the gradient noise once the gradients exist (``perturb_gradients``;
  ``bind`` does not work here: Lightning calls ``optimizer.step(closure)``, and torch runs step pre-hooks
  before the closure computes the gradients). This is before Lightning's gradient clipping, whereas ``fit`` clips first;
* validation, test and predict run in eval mode, where every injector is silent, as in ``fit``'s evaluation;
* ``state_dict``/``load_state_dict`` put the injectors' states (generators, progress, counters, learnable
  parameters) in Lightning checkpoints, so a fit resumed from one continues the same noise stream.

``training_step`` must do what a callback cannot: compute the loss (with Bayesian weights, plus
``self.noise.kl_term()``, which ``fit`` adds: a training step without it stops with a ``ConfigError`` before its
backward pass), and apply batch noise to a batch that is not a list (pass ``batch_noise=False``). The handle is
``self.noise`` while attached::

    def training_step(self, batch, batch_idx):
        x, y = batch                          # or: x, y = self.noise.batch(*batch) with batch_noise=False
        return self.noise.loss(self(x), y)    # cross-entropy: soft targets, the recipe's label smoothing
                                              # Bayesian weights: + self.noise.kl_term()

    def configure_optimizers(self):           # learnable noise outside the weights needs its parameters
        return torch.optim.SGD([*self.parameters(), *self.noise.parameters()], lr=0.1)

Input noise acts on the first argument of the target's ``forward``: call ``self(x)``, or attach to the
submodule that ``training_step`` calls (``module="net"``). Checkpoints written during a fit hold the module
with the noise on (weight noise as parametrizations), like ``fit``'s own; a Trainer with this callback loads
them in any stage, which is why the recipe is attached in every stage. ``trainer.save_checkpoint`` after
``fit`` writes the plain module.

Example:
    >>> trainer = lightning.Trainer(max_epochs=5, callbacks=[NoiseCallback([{"kind": "gaussian", "std": 0.3}])])
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch

from ..data import Dataset
from ..noise.base import derive_seed
from ..noise.inject import NoiseHandle, Recipe, inject
from ..noise.weights import kl_weight
from ..registry import ConfigError
from ..train.loop import with_data_facts


class NoiseCallback(pl.Callback):
    """Attach ``recipe`` to a LightningModule for each ``trainer.fit``, ``validate``, ``test`` and ``predict``.

    Args:
        recipe: as for ``noisetrain.fit``: specs, injectors, ``(selector, item)`` pairs.
        seed: the run's seed; the injectors' seeds derive from it as in ``fit``. None: the seed of
            Lightning's ``seed_everything`` if one was set, else the injectors draw theirs from torch.
        module: dotted name of the submodule to attach to (None: the LightningModule).
        data: a noisetrain ``Dataset`` whose facts (``num_classes``, ...) complete the specs, as in ``fit``.
        attribute: the LightningModule's attribute holding the ``NoiseHandle`` while attached.
        batch_noise: apply batch noise to list batches before ``training_step``; False: call
            ``x, y = self.noise.batch(x, y)`` in ``training_step`` (tuple, dict or custom batches).
    """

    def __init__(
        self,
        recipe: Recipe,
        *,
        seed: int | None = None,
        module: str | None = None,
        data: Dataset | None = None,
        attribute: str = "noise",
        batch_noise: bool = True,
    ) -> None:
        self.recipe, self.seed, self.module, self.data = recipe, seed, module, data
        self.attribute, self.batch_noise = attribute, batch_noise
        self.handle: NoiseHandle | None = None

    @property
    def state_key(self) -> str:
        return self._generate_state_key(module=self.module, attribute=self.attribute)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if hasattr(pl_module, self.attribute):
            raise ConfigError(
                f"NoiseCallback: {type(pl_module).__name__} already has an attribute {self.attribute!r}; "
                "name another for the handle with NoiseCallback(attribute=...)"
            )
        target = pl_module if self.module is None else pl_module.get_submodule(self.module)
        seed = self.seed if self.seed is not None else _lightning_seed()
        recipe = self.recipe if self.data is None else with_data_facts(self.recipe, self.data)
        self.handle = inject(target, recipe, seed=derive_seed(seed, "noise"))
        setattr(pl_module, self.attribute, self.handle)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        assert self.handle is not None
        missing = self.handle.unoptimized(trainer.optimizers)
        if missing:
            raise ConfigError(
                f"NoiseCallback: {len(missing)} learnable noise parameters are in no optimizer; build it in "
                f"configure_optimizers from [*self.parameters(), *self.{self.attribute}.parameters()]"
            )

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        assert self.handle is not None
        self.handle.kl_weight = kl_weight(self.handle, getattr(trainer.train_dataloader, "dataset", None))

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        assert self.handle is not None
        self.handle.kl_taken = False
        self.handle.set_progress(trainer.global_step / trainer.estimated_stepping_batches)
        if not self.batch_noise or not self.handle.injectors("batch"):
            return
        if not (isinstance(batch, list) and len(batch) >= 2):
            raise TypeError(
                f"NoiseCallback: batch noise changes a list batch [x, y, ...] in place, got {type(batch).__name__}; "
                f"pass batch_noise=False and write x, y = self.{self.attribute}.batch(x, y) in training_step"
            )
        batch[0], batch[1] = self.handle.batch(batch[0], batch[1])

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        if self.handle is not None and self.handle.kl_weight and not self.handle.kl_taken:
            raise ConfigError(
                "NoiseCallback: Bayesian weights add their KL term to the training loss: return "
                f"self.{self.attribute}.loss(...) + self.{self.attribute}.kl_term() from training_step"
            )

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if self.handle is not None:
            self.handle.perturb_gradients(optimizer)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._remove(pl_module)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._remove(pl_module)

    def _remove(self, pl_module: pl.LightningModule) -> None:
        if self.handle is not None:
            self.handle.remove()
            delattr(pl_module, self.attribute)
            self.handle = None

    def state_dict(self) -> dict[str, Any]:
        """``{"noise": the attached injectors' states}``, None when detached (a checkpoint saved after the fit)."""
        return {"noise": self.handle.state_dict() if self.handle is not None else None}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        assert self.handle is not None  # Lightning restores callbacks after ``setup``
        if state_dict["noise"] is not None:
            self.handle.load_state_dict(state_dict["noise"])
        elif len(self.handle):
            warnings.warn(
                "NoiseCallback: the checkpoint holds no noise state (it was saved with the noise off, after the "
                "fit); the noise restarts from its seeds",
                stacklevel=2,
            )


def _lightning_seed() -> int | None:
    """The seed of Lightning's ``seed_everything`` (it sets ``PL_GLOBAL_SEED``), or None."""
    seed = os.environ.get("PL_GLOBAL_SEED")
    return int(seed) if seed is not None else None
