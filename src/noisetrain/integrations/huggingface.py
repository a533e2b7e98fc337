"""A noise recipe in the Hugging Face Trainer: :class:`NoiseCallback` gives a ``transformers.Trainer`` the noise of
``fit``.

The callback attaches the recipe when training begins and takes it off when it ends, so the model ends exactly as
before. In between, the Trainer's events do what ``fit``'s loop does:

* ``on_train_begin`` attaches the recipe (seeds derived from ``seed``, by default ``TrainingArguments.seed``, as
  ``fit`` derives them), checks that every learnable noise parameter is in the optimizer and, when training resumes
  from a checkpoint of ``output_dir``, restores the injectors' states saved there;
* ``on_step_begin`` sets the schedules' progress, ``global_step / max_steps`` (``fit``'s ``step / total_steps``:
  optimizer steps done over all of them);
* ``on_pre_optimizer_step`` adds the gradient noise (``perturb_gradients``) once per optimizer step: after the
  backward passes of all accumulated micro-batches and after the Trainer's gradient clipping (``max_grad_norm``),
  just before ``optimizer.step()``, where ``fit`` adds it too. With fp16 loss scaling, transformers 5 has unscaled
  the gradients by then (it measures their norm); older versions only when they clip;
* evaluation and prediction run in eval mode (``Trainer.evaluate`` and ``predict`` call ``model.eval()``), where
  every injector is silent, as in ``fit``'s validation;
* ``on_save`` writes the injectors' states (generators, progress, counters, learnable parameters) to
  ``noisetrain_noise.pt`` in the checkpoint folder, so a train resumed from it continues the same noise stream;
* ``on_train_end`` removes the recipe. The Trainer has no event for a failed run: after an exception the recipe
  stays attached until ``remove()`` (or the next ``train()``, which carries on with it).

While attached, the model's ``state_dict`` holds the clean weights under their plain names (weight noise lives in
parametrizations), so Trainer checkpoints are ordinary ones and ``load_best_model_at_end`` loads them. The Trainer
calls ``model(**inputs)``; input noise acts on the model's first forward argument (``input_ids``,
``pixel_values``), so the callback passes that one positionally. ``EmbeddingNoise`` with ``protected`` ids (see
``EmbeddingNoise.from_tokenizer``) reads the ids the model's input embeddings receive: place it after them.

A callback reaches neither the batch nor the loss. ``Trainer(compute_loss_func=callback.loss)`` gives the recipe's
loss (cross-entropy with hard or soft targets and the recipe's label smoothing; with Bayesian weights, plus their
KL term over the number of training examples, as ``fit``); batch noise (label noise, mixup) goes through
``callback.batch(inputs)`` in ``compute_loss``::

    class NoisyTrainer(Trainer):
        def compute_loss(self, model, inputs, *args, **kwargs):
            return super().compute_loss(model, callback.batch(inputs), *args, **kwargs)

A recipe whose batch noise or loss is not routed so stops at its first step with a ``ConfigError``. Learnable noise
outside the weights needs its parameters in the optimizer, which the Trainer builds before training begins: attach
first and pass your own::

    handle = callback.attach(model)
    optimizer = torch.optim.AdamW([*model.parameters(), *handle.parameters()], lr=5e-5)
    trainer = Trainer(model, args, train_dataset=data, callbacks=[callback], optimizers=(optimizer, None))

Example:
    >>> callback = NoiseCallback([TokenMask.from_tokenizer(tokenizer), {"kind": "gradient_noise", "eta": 0.01}])
    >>> Trainer(model, args, train_dataset=data, callbacks=[callback]).train()
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.hooks import RemovableHandle
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..data import Dataset
from ..noise.base import derive_seed
from ..noise.inject import NoiseHandle, Recipe, inject
from ..noise.mixing import Mixup
from ..noise.sequences import EmbeddingNoise
from ..noise.weights import has_bayesian_weights, kl_weight
from ..registry import ConfigError
from ..train.checkpoint import load_checkpoint, save_checkpoint
from ..train.loop import with_data_facts

NOISE_FILE = "noisetrain_noise.pt"
"""The file in each Trainer checkpoint folder that holds the injectors' states."""


class NoiseCallback(TrainerCallback):
    """Attach ``recipe`` to the Trainer's model for each ``trainer.train()``.

    Args:
        recipe: as for ``noisetrain.fit``: specs, injectors, ``(selector, item)`` pairs.
        seed: the run's seed; the injectors' seeds derive from it as in ``fit``. None: ``TrainingArguments.seed``.
        data: a noisetrain ``Dataset`` whose facts (``num_classes``, ...) complete the specs, as in ``fit``.
    """

    def __init__(self, recipe: Recipe, *, seed: int | None = None, data: Dataset | None = None) -> None:
        self.recipe, self.seed, self.data = recipe, seed, data
        self.handle: NoiseHandle | None = None
        self._hooks: list[RemovableHandle] = []
        self._first = ""  # the name of the model's first forward argument
        self._needs: set[str] = set()  # the routes the recipe needs: "batch", "loss"
        self._routed: set[str] = set()  # the routes taken in this optimizer step

    # -- attaching -------------------------------------------------------------------------
    def attach(self, model: nn.Module) -> NoiseHandle:
        """Attach the recipe to ``model`` now rather than when training begins, e.g. to give your optimizer the
        learnable noise parameters (``handle.parameters()``); seeds derive from this callback's ``seed``."""
        return self._attach(model, self.seed)

    def _attach(self, model: nn.Module, seed: int | None) -> NoiseHandle:
        if self.handle is not None:
            if self.handle.model is not model:
                raise ConfigError("NoiseCallback: the recipe is attached to another model; call remove() first")
            return self.handle
        recipe = self.recipe if self.data is None else with_data_facts(self.recipe, self.data)
        handle = self.handle = inject(model, recipe, seed=derive_seed(seed, "noise"))
        try:
            self._first = next(iter(inspect.signature(model.forward).parameters), "")
            self._hooks = [
                model._register_state_dict_hook(self._plain_state),  # the public names need torch 2.5
                model._register_load_state_dict_pre_hook(self._noisy_state, with_module=True),
                *self._by_position(model),
            ]
            self._check_token_ids(model)
        except BaseException:
            self.remove()
            raise
        batch = handle.injectors("batch")
        mixing = any(isinstance(injector, Mixup) for injector in batch)
        self._needs = {"batch"} if batch else set()
        self._needs |= {"loss"} if handle.injectors("loss") or mixing or has_bayesian_weights(handle) else set()
        return handle

    def remove(self) -> None:
        """Take the recipe off the model, which is then exactly as before. Idempotent."""
        for hook in self._hooks:
            hook.remove()
        if self.handle is not None:
            self.handle.remove()
        self.handle, self._hooks = None, []

    def _by_position(self, model: nn.Module) -> list[RemovableHandle]:
        """A forward pre-hook that passes the first forward argument positionally, where input noise acts."""
        if not self.handle.injectors("input"):
            return []
        name = self._first

        def positional(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if args or name not in kwargs:
                return None
            kwargs = dict(kwargs)
            return (kwargs.pop(name),), kwargs

        return [model.register_forward_pre_hook(positional, prepend=True, with_kwargs=True)]

    def _check_token_ids(self, model: nn.Module) -> None:
        """Embedding noise with protected ids must follow the input embeddings, which receive the token ids (not
        the position or token-type embeddings, where its default place would also put it)."""
        protecting = [a for a in self.handle if isinstance(a.injector, EmbeddingNoise) and a.injector.protected]
        if not protecting:
            return
        embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
        name = next((name for name, module in model.named_modules() if module is embeddings), None)
        if name is None:
            raise ConfigError(
                "NoiseCallback: embedding_noise with protected ids reads the token ids at the model's input "
                "embeddings, found with model.get_input_embeddings(); give the model one or leave protected out"
            )
        if any(a.position != "output" or a.target != name for a in protecting):
            raise ConfigError(
                "NoiseCallback: embedding_noise with protected ids reads the token ids at the model's input "
                f"embeddings; place it after them (at='output:{name}')"
            )

    # -- checkpoints: clean weights under their plain names --------------------------------------------------
    def _noisy_tensors(self, model: nn.Module, prefix: str) -> Iterator[tuple[str, nn.Module, list[int]]]:
        """For each parametrized tensor with noise on it: its key without ``parametrizations.``, its
        parametrization list and the positions of this recipe's injectors in that list."""
        noise = self.handle.injectors("weights") if self.handle is not None else []
        for name, module in model.named_modules(prefix=prefix.removesuffix("."), remove_duplicate=False):
            if not parametrize.is_parametrized(module):
                continue
            for attr, chain in module.parametrizations.items():
                positions = [i for i, p in enumerate(chain) if any(p is injector for injector in noise)]
                if positions:
                    yield (f"{name}.{attr}" if name else attr), chain, positions

    def _plain_state(self, model: nn.Module, state: dict[str, Any], prefix: str, metadata: Any) -> None:
        """State-dict hook: drop the injectors' entries (``on_save`` keeps them) and, where only noise
        parametrizes a tensor, give its clean value its plain name."""
        for key, chain, positions in self._noisy_tensors(model, prefix):
            inner = _parametrized(key)
            for i in positions:
                for entry in [k for k in state if k.startswith(f"{inner}{i}.")]:
                    del state[entry]
            if len(positions) == len(chain):
                state[key] = state.pop(f"{inner}original")

    def _noisy_state(self, model: nn.Module, state: dict[str, Any], prefix: str, *args: Any) -> None:
        """Load pre-hook, the inverse of ``_plain_state``: plain names go to the parametrizations, and the
        injectors keep their state."""
        for key, chain, positions in self._noisy_tensors(model, prefix):
            inner = _parametrized(key)
            if len(positions) == len(chain) and key in state:
                state[f"{inner}original"] = state.pop(key)
            for i in positions:
                for entry, value in chain[i].state_dict(prefix=f"{inner}{i}.").items():
                    state.setdefault(entry, value)

    # -- the batch and the loss, which a callback cannot reach -------------------------------------------------
    def batch(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """``inputs`` with the recipe's batch noise (label noise, mixup, ...) on the model's first input and
        ``labels``, for ``Trainer.compute_loss``; unchanged in eval mode and when detached."""
        self._routed.add("batch")
        if self.handle is None:
            return dict(inputs)
        x, y = self.handle.batch(inputs[self._first], inputs["labels"])
        return {**inputs, self._first: x, "labels": y}

    def loss(self, outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        """The recipe's loss, for ``Trainer(compute_loss_func=callback.loss)``: cross-entropy of the logits (a tensor
        or ``outputs["logits"]``, classes last) with hard labels (-100 ignored) or soft targets and the recipe's
        label smoothing, as in ``fit``. When the Trainer passes ``num_items_in_batch`` (the targets of all the
        accumulated micro-batches), the batch mean is rescaled to a share of that total, as the Trainer expects.
        Not for causal language models, whose loss shifts the labels."""
        self._routed.add("loss")
        logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs
        soft = labels.is_floating_point()
        logits = logits.reshape(-1, logits.shape[-1])
        labels = labels.reshape(-1, labels.shape[-1]) if soft else labels.reshape(-1)
        count = len(labels) if soft else labels.ne(-100).sum()
        if not count:  # every label ignored: nothing to learn (the mean would be 0 / 0)
            return logits.sum() * 0
        if self.handle is None:
            loss = F.cross_entropy(logits, labels)
        else:
            loss = self.handle.loss(logits, labels) + self.handle.kl_term()
        return loss if num_items_in_batch is None else loss * (count / num_items_in_batch)

    # -- Trainer events --------------------------------------------------------------------------------------
    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        handle = self._attach(kwargs["model"], self.seed if self.seed is not None else args.seed)
        try:
            self._check_optimizer(handle, kwargs["optimizer"])
            handle.kl_weight = kl_weight(handle, getattr(kwargs.get("train_dataloader"), "dataset", None))
            if state.global_step:  # resumed from a checkpoint
                self._resume(handle, _checkpoint(args, state) / NOISE_FILE, state.global_step)
        except BaseException:
            self.remove()
            raise

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._attached().set_progress(state.global_step / state.max_steps)
        self._routed.clear()

    def on_pre_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        missing = sorted(self._needs - self._routed)
        if missing:
            self.remove()
            raise ConfigError("NoiseCallback: " + "; ".join(_UNROUTED[route] for route in missing))
        self._attached().perturb_gradients(kwargs["optimizer"])

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        for parameter in self._attached().parameters():  # the Trainer's model.zero_grad() misses those outside it
            parameter.grad = None

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if self.handle is not None and args.should_save:
            save_checkpoint({"noise": self.handle.state_dict()}, _checkpoint(args, state) / NOISE_FILE)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.remove()

    def _attached(self) -> NoiseHandle:
        if self.handle is None:
            raise RuntimeError("NoiseCallback: the recipe is not attached (was it removed during training?)")
        return self.handle

    @staticmethod
    def _check_optimizer(handle: NoiseHandle, optimizer: torch.optim.Optimizer) -> None:
        missing = handle.unoptimized([optimizer])
        if missing:
            raise ConfigError(
                f"NoiseCallback: {len(missing)} learnable noise parameters are in no optimizer; the Trainer builds "
                "its optimizer before training begins: call handle = callback.attach(model) first and pass "
                "Trainer(optimizers=(torch.optim.AdamW([*model.parameters(), *handle.parameters()]), None))"
            )

    @staticmethod
    def _resume(handle: NoiseHandle, path: Path, step: int) -> None:
        if path.is_file():
            handle.load_state_dict(load_checkpoint(path)["noise"])
        else:
            warnings.warn(
                f"NoiseCallback: training resumes at step {step} but {path} does not exist (a checkpoint from "
                "elsewhere, or written without the callback); the noise restarts from its seeds",
                stacklevel=2,
            )


_UNROUTED = {
    "batch": "the recipe's batch noise reached no batch; apply it in a Trainer subclass: def compute_loss(self, "
    "model, inputs, *args, **kwargs): return super().compute_loss(model, callback.batch(inputs), *args, **kwargs)",
    "loss": "the recipe's loss (label smoothing, mixing's soft targets, Bayesian weights' KL term) needs "
    "Trainer(compute_loss_func=callback.loss)",
}
"""What to do when a route the recipe needs was not taken in a training step."""


def _checkpoint(args: TrainingArguments, state: TrainerState) -> Path:
    """The folder of the Trainer's checkpoint at this step."""
    return Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"


def _parametrized(key: str) -> str:
    """``"fc.weight"`` -> ``"fc.parametrizations.weight."``, where parametrize keeps that tensor's entries."""
    module, _, attr = key.rpartition(".")
    return f"{module}.parametrizations.{attr}." if module else f"parametrizations.{attr}."
