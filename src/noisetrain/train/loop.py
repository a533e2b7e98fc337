"""The training loop: one explicit pass per epoch, then validation, early stopping and checkpoints.

``fit(model, data, noise=recipe, config=...)`` trains any ``nn.Module`` on a
:class:`~noisetrain.data.Dataset` with a recipe of injectors. One seed fixes
everything through separate streams (``derive_seed(seed, name)``): the data order,
the noise, the attack's random starts, SGLD's noise and torch's own generator
(``nn.Dropout``); adding an injector therefore leaves the data order alone.
Models with a ``fit(x, y)`` method (the kNN baseline) are fitted in closed form. Bayesian weights add their
KL term over the number of training examples to the loss (the minibatch ELBO of Blundell et al. 2015,
arXiv:1505.05424); the reported ``train_loss`` is the data term.

Example:
    >>> result = fit(model, data, noise=[{"kind": "gaussian", "std": 0.3}], config={"epochs": 5})
    >>> result.status, result.history[-1]["val_accuracy"]
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ..attacks import build_attack
from ..config import DATA_FACTS, TrainConfig, parse
from ..data import Dataset
from ..data.dataset import inside
from ..models.base import closed_form
from ..noise.base import NOISE, derive_seed
from ..noise.inject import NoiseHandle, Recipe, inject, recipe_items
from ..noise.weights import kl_weight
from ..registry import ConfigError
from ..text import counted
from .callbacks import Callback, Callbacks
from .checkpoint import load_checkpoint, save_checkpoint
from .early_stopping import EarlyStopping
from .metrics import Totals, evaluate_split, resolve_loss, target_scale, training_loss
from .optim import build_lr_scheduler, build_optimizer, lean_step

Status = Literal["completed", "early_stopped", "diverged"]

BATCHED_RESUME = (
    "the checkpoint was written by a batched group of runs, which keeps no optimizer state; "
    "train the run again without resume"
)
"""Why a batched member's checkpoint cannot be resumed."""


@dataclass
class TrainResult:
    """What ``fit`` returns. ``history`` has one record per epoch; ``handle`` holds the attached noise."""

    status: Status
    message: str
    history: list[dict[str, Any]]
    best_epoch: int | None
    handle: NoiseHandle
    seconds: float
    ended_before: bool = False
    """True when ``fit`` resumed the checkpoint of a run that had ended: it trained nothing and saved nothing."""


class Loop:
    """The state of one training run; callbacks receive it. Use :func:`fit` rather than this class."""

    def __init__(
        self,
        model: nn.Module,
        data: Dataset,
        *,
        noise: Recipe | NoiseHandle | None,
        config: TrainConfig,
        seed: int,
        device: torch.device,
        callbacks: Iterable[Callback],
        checkpoint: Path | None,
        extra: Mapping[str, Any],
    ) -> None:
        self.config, self.seed, self.device = config, seed, device
        self.model, self.data = model.to(device), data.to(device)
        self.callbacks = Callbacks(callbacks)
        self.checkpoint, self.extra = checkpoint, dict(extra)
        self.loss_name = resolve_loss(config.loss, data)
        self.target_scale = target_scale(data)
        self.closed_form = closed_form(model)
        if isinstance(noise, NoiseHandle):
            self.handle = noise
        else:
            self.handle = attach_noise(model, noise or [], data, seed=seed)
        if self.closed_form and len(self.handle):
            raise ConfigError(f"noise: {type(model).__name__} is fitted in closed form: a noise recipe has no effect")
        self.steps_per_epoch = math.ceil(len(data.train) / config.batch_size)
        self.handle.kl_weight = kl_weight(self.handle, data.train)
        self.data_order = torch.Generator().manual_seed(derive_seed(seed, "data"))
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler = None
        if not self.closed_form:
            params = [*model.parameters(), *self.handle.parameters()]
            self.optimizer = build_optimizer(config.optimizer, params, seed=derive_seed(seed, "optimizer"))
            self.handle.bind(self.optimizer)
            total = config.epochs * self.steps_per_epoch
            self.scheduler = build_lr_scheduler(config.lr_schedule, self.optimizer, total_steps=total)
            # without gradient noise (a step hook), SGD and Adam(W) skip Optimizer.step's bookkeeping: the same bits;
            # taken after the scheduler, which wraps optimizer.step
            lean = config.optimizer.kind != "sgld" and not self.handle.injectors("gradients")
            self.update = lean_step(self.optimizer) if lean else self.optimizer.step
        self.attack = None
        if config.adversarial is not None:
            check_attack_bounds(config.adversarial.attack, data)
            self.attack = build_attack(
                {"seed": derive_seed(seed, "attack"), **config.adversarial.attack}, field="train.adversarial.attack"
            )
        stops = config.early_stopping is not None and not self.closed_form  # one closed-form step: nothing to stop
        self.stopper = EarlyStopping(config.early_stopping) if stops else None
        self.history: list[dict[str, Any]] = []
        self.epoch = 0  # epochs finished
        self.epochs = 1 if self.closed_form else config.epochs  # one closed-form step
        self.ended: tuple[Status, str] | None = None  # the run's verdict, once it has one
        self.seconds_before, self.started = 0.0, time.perf_counter()  # seconds of the run before a resume

    # -- one epoch ---------------------------------------------------------------------
    def train_epoch(self) -> dict[str, Any]:
        """One pass over the training split, then validation; returns the epoch's record."""
        model, config, optimizer = self.model, self.config, self.optimizer
        assert optimizer is not None
        model.train()
        totals = Totals(self.loss_name, self.device)
        total_steps = config.epochs * self.steps_per_epoch
        batches = self.data.train.batches(config.batch_size, generator=self.data_order)
        for step, (x, y) in enumerate(batches):
            # noise schedules follow training progress; batch noise (label noise, mixup) comes first
            self.handle.set_progress((self.epoch * self.steps_per_epoch + step) / total_steps)
            x, y = self.handle.batch(x, y)
            if self.attack is not None:
                x = self.attack(model, x, y) if config.adversarial.mode == "eval" else self.attack.perturb(model, x, y)
                model.train()
            # forward, backward, clip, step
            output = model(x)
            loss = training_loss(self.loss_name, self.handle, output, y)
            objective = loss + self.handle.kl_term() if self.handle.kl_weight else loss
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            grad_norm = self._gradient_norm()
            self.update()
            if self.scheduler is not None:
                self.scheduler.step()
            # running sums stay on the device: one host sync per epoch
            totals.add(loss, output, y, grad_norm)
            self.callbacks.on_batch_end(self, step, loss.detach())
        return self.epoch_record(totals.summary("train", self.target_scale), optimizer.param_groups[0]["lr"])

    def epoch_record(self, train: dict[str, float], lr: float) -> dict[str, Any]:
        """The record of the epoch being trained: its training ``Totals.summary``, validation, learning rate,
        mean gradient norm and the noise strengths."""
        record: dict[str, Any] = {"epoch": self.epoch + 1, **train}
        grad_norm = record.pop("grad_norm", 0.0)
        record.update(self._validate())
        record["lr"] = lr
        record["grad_norm"] = grad_norm
        record.update(self._noise_strengths())
        return record

    def fit_epoch(self) -> dict[str, Any]:
        """Closed-form models: one call to ``model.fit`` on the training split."""
        self.model.fit(self.data.train.x, self.data.train.y)
        self.model.eval()
        train = evaluate_split(
            self.model, self.data.train, prefix="train", loss_name=self.loss_name,
            batch_size=self.config.eval_batch_size, scale=self.target_scale,
        )  # fmt: skip
        return {"epoch": 1, **train, **self._validate()}

    def _validate(self) -> dict[str, float]:
        if not len(self.data.val):
            return {}
        self.model.eval()
        return evaluate_split(
            self.model, self.data.val, prefix="val", loss_name=self.loss_name,
            batch_size=self.config.eval_batch_size, scale=self.target_scale,
        )  # fmt: skip

    def _gradient_norm(self) -> torch.Tensor:
        """The global L2 norm of the gradients before clipping; with ``grad_clip`` set, clips them to it."""
        assert self.optimizer is not None
        params = [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        if self.config.grad_clip is not None:
            return torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        flat = [p.grad.reshape(-1) for p in params]  # dot products: about twice as fast as vector_norm on CPU
        return torch.stack([torch.dot(g, g) for g in flat]).sum().sqrt()

    def _noise_strengths(self) -> dict[str, float]:
        """The current strength of every attached injector, as ``noise/<selector>/<kind>.<parameter>``."""
        return {
            f"noise/{a.selector}/{a.injector.kind}.{a.injector.strength}": a.injector.current(a.injector.strength)
            for a in self.handle
        }

    # -- the run -----------------------------------------------------------------------
    def run(self, resume: Path | None = None) -> TrainResult:
        """Train until the last epoch, early stopping or divergence; restore the best weights if asked. A resumed
        checkpoint of a run that had ended gives that run's result: nothing trains and nothing is saved."""
        self.started = time.perf_counter()
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(derive_seed(self.seed, "torch"))
            if resume is not None:
                self.load_state_dict(load_checkpoint(resume))
            ended_before = self.ended is not None
            self.callbacks.on_fit_start(self)
            if self.ended is None:
                self.ended = self._epochs()
                self.restore_best()
                if self.checkpoint is not None:
                    self.save(self.checkpoint)
        return self.result(*self.ended, self.seconds_before if ended_before else self.elapsed(), ended_before)

    def elapsed(self) -> float:
        """The run's training time so far: before a resume and since."""
        return self.seconds_before + time.perf_counter() - self.started

    def _epochs(self) -> tuple[Status, str]:
        while self.epoch < self.epochs:
            self.callbacks.on_epoch_start(self, self.epoch + 1)
            started = time.perf_counter()
            record = self.fit_epoch() if self.closed_form else self.train_epoch()
            record["seconds"] = time.perf_counter() - started
            end = self.end_epoch(record)
            if end is not None:
                return end
            every = self.config.checkpoint_every
            if self.checkpoint is not None and every and self.epoch % every == 0:
                self.save(self.checkpoint)
        return self.completed()  # resumed from a checkpoint of the last epoch

    def end_epoch(self, record: dict[str, Any]) -> tuple[Status, str] | None:
        """Record the epoch just trained, then the verdict: ``fit``'s status and message when the run ends after
        it (divergence, early stopping, the last epoch), None to go on."""
        self.history.append(record)
        self.epoch += 1
        self.callbacks.on_epoch_end(self, record)
        bad = sorted(k for k, v in record.items() if k.endswith("_loss") and not math.isfinite(v))
        if bad:
            return "diverged", (
                f"training diverged in epoch {self.epoch}: {', '.join(bad)} is not finite; "
                "try a lower learning rate, gradient clipping (train.grad_clip) or weaker noise"
            )
        if self.stopper is not None and self.stopper.update(record, self._weights):
            return "early_stopped", (
                f"stopped after epoch {self.epoch}: {self.stopper.config.monitor} has not improved for "
                f"{counted(self.stopper.config.patience, 'epoch')}; best epoch {self.stopper.best_epoch}"
            )
        return self.completed() if self.epoch >= self.epochs else None

    def completed(self) -> tuple[Status, str]:
        """The verdict of a run that trained all its epochs."""
        return "completed", f"trained for {counted(self.epoch, 'epoch')}"

    def restore_best(self) -> None:
        """Load the best epoch's weights (model and noise) when early stopping kept them."""
        if self.stopper is not None and self.stopper.best_state is not None:
            self.model.load_state_dict(self.stopper.best_state["model"])
            self.handle.load_state_dict(self.stopper.best_state["noise"])

    def result(self, status: Status, message: str, seconds: float, ended_before: bool = False) -> TrainResult:
        """End the run: the model in eval mode, its ``TrainResult`` (given to ``on_fit_end``)."""
        self.model.eval()
        best = self.stopper.best_epoch if self.stopper is not None else self.epoch
        result = TrainResult(status, message, self.history, best, self.handle, seconds, ended_before)
        self.callbacks.on_fit_end(self, result)
        return result

    # -- checkpoints -------------------------------------------------------------------
    def _weights(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "noise": self.handle.state_dict()}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue: weights, optimiser, scheduler, noise, random streams, history."""
        rng = {"torch": torch.get_rng_state(), "data": self.data_order.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        if self.attack is not None:
            rng["attack"] = self.attack.generators_.state()
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "noise": self.handle.state_dict(),
            "rng": rng,
            "early_stopping": self.stopper.state_dict() if self.stopper is not None else None,
            "history": self.history,
            "ended": list(self.ended) if self.ended is not None else None,
            "seconds": self.elapsed(),
            "config": self.config.model_dump(mode="json"),
            "seed": self.seed,
            **self.extra,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a checkpoint written by a run with the same seed and training settings."""
        if state.get("batched"):
            raise ConfigError(f"resume: {BATCHED_RESUME}")
        saved = state["config"], state["seed"]
        if saved != (self.config.model_dump(mode="json"), self.seed):
            raise ConfigError("resume: the checkpoint was written with other training settings or another seed")
        self.model.load_state_dict(state["model"])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.handle.load_state_dict(state["noise"])
        torch.set_rng_state(state["rng"]["torch"])
        self.data_order.set_state(state["rng"]["data"])
        if "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        if self.attack is not None:
            self.attack.generators_.set_state(state["rng"]["attack"])
        if self.stopper is not None:
            self.stopper.load_state_dict(state["early_stopping"])
        self.history, self.epoch = list(state["history"]), state["epoch"]
        self.ended = tuple(state["ended"]) if state.get("ended") else None  # type: ignore[assignment]
        self.seconds_before = state.get("seconds", 0.0)  # older checkpoints keep neither

    def save(self, path: Path) -> None:
        save_checkpoint(self.state_dict(), path)
        self.callbacks.on_checkpoint(self, path)


def check_attack_bounds(spec: Mapping[str, Any], data: Dataset) -> None:
    """Adversarial training needs real-valued inputs inside the attack's ``bounds``, which it clamps the perturbed
    inputs into: (0, 1) by default, where standardised inputs would be cut to that box."""
    x = data.train.x
    if not x.is_floating_point():
        raise ConfigError(f"train.adversarial: attacks perturb real-valued inputs, and data {data.name!r} has "
                          f"{str(x.dtype).removeprefix('torch.')} inputs (token ids); use input or "
                          "embedding noise instead")  # fmt: skip
    bounds = build_attack(spec, field="train.adversarial.attack").bounds
    if bounds is not None and not inside(x, *bounds):
        raise ConfigError(f"train.adversarial.attack.bounds {bounds} do not contain the training inputs of data "
                          f"{data.name!r} ({float(x.min()):.3g} to {float(x.max()):.3g}), which the attack would clamp "
                          "into them; set bounds: null for unbounded (standardised) data, or scale the data into "
                          "the bounds")  # fmt: skip


def with_data_facts(recipe: Recipe, data: Dataset) -> list[Any]:
    """The recipe with the ``DATA_FACTS`` its specs take and leave out filled in from ``data``."""
    facts = {"num_classes": data.num_classes, **{k: data.info[k] for k in DATA_FACTS if k in data.info}}
    items: list[Any] = []
    for index, (selector, spec) in enumerate(recipe_items(recipe)):
        for fact in ("num_classes", "vocab_size"):  # another count would index labels or tokens the data lacks
            given, known = spec.get(fact) if isinstance(spec, Mapping) else None, facts.get(fact)
            if given is not None and known is not None and given != known:
                raise ConfigError(f"noise[{index}] ({spec.get('kind')}): {fact}={given!r}, but data {data.name!r} has "
                                  f"{known}; leave {fact} out, the data gives it")  # fmt: skip
        spec = NOISE.complete(spec, facts) if isinstance(spec, Mapping) else spec
        items.append(spec if selector is None else (selector, spec))
    return items


def attach_noise(model: nn.Module, recipe: Recipe, data: Dataset, *, seed: int) -> NoiseHandle:
    """Attach a run's recipe the way ``fit`` does: facts from the data filled in, seeds derived from ``seed``."""
    return inject(model, with_data_facts(recipe, data), seed=derive_seed(seed, "noise"))


def fit(
    model: nn.Module,
    data: Dataset,
    *,
    noise: Recipe | NoiseHandle | None = None,
    config: TrainConfig | Mapping[str, Any] | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    callbacks: Iterable[Callback] = (),
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    extra: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` with a noise recipe; return the status, per-epoch metrics and the handle.

    Args:
        model: any ``nn.Module`` (or a model with ``fit(x, y)``, fitted in closed form).
        data: a :class:`~noisetrain.data.Dataset`; it is moved to ``device``.
        noise: a recipe for :func:`~noisetrain.noise.inject` (items without a seed get one derived
            from ``seed``), or a handle already attached to ``model`` and not yet bound to an optimizer.
        config: a :class:`~noisetrain.config.TrainConfig` or a mapping of its fields.
        seed: the run's seed; same seed, same metrics on CPU.
        device: where to train.
        callbacks: hooks called during training (progress bars, metric writers).
        checkpoint: file written at the end (and every ``config.checkpoint_every`` epochs).
        resume: a checkpoint of the same run to continue from; the result equals an uninterrupted run's.
        extra: more entries for the checkpoint (e.g. the resolved run config).

    The noise stays attached when training ends (inactive in eval mode); ``result.handle.remove()``
    takes it off. With early stopping and ``restore_best``, the model ends at the best epoch's weights.
    """
    config = parse(TrainConfig, config or {})
    loop = Loop(
        model, data, noise=noise, config=config, seed=seed, device=torch.device(device),
        callbacks=callbacks, checkpoint=Path(checkpoint) if checkpoint is not None else None, extra=extra or {},
    )  # fmt: skip
    return loop.run(Path(resume) if resume is not None else None)
