"""Runs that differ only by seed and input noise, trained together as one batched model.

A small network spends most of a training step in Python and dispatch overhead, run after run. Here M runs
(the *members*) train as one model whose parameters are stacked along a leading member dimension
(``torch.func.stack_module_state``): every ``Linear`` becomes a batched matrix product (``torch.baddbmm``), what
``torch.vmap`` of ``torch.func.functional_call`` computes, at half its step time for the 4-70-1 network;
activations act elementwise as they are. One optimiser steps all members: Adam, AdamW and SGD act
elementwise, so one optimiser over stacked tensors equals M separate ones. Each member keeps what its run of
:func:`~noisetrain.train.fit` has: its model's initialisation, its own data set (equal shapes), its data order,
its own input noise recipe (kinds, strengths and schedules may differ between members) drawing from its own
streams, its gradient norm and clipping, its early stopping, divergence check and best weights; the per-member
``Loop`` holds them, and its metrics, early stopping and validation code run unchanged. A member that stops
leaves the stack (its rows and optimiser state), so it cannot move again.
Results equal ``fit``'s up to float rounding (the batched matrix products sum in another order, and the optimiser
runs its fused kernel); a loss with kinks (L1) can turn that rounding into other trajectories over many epochs,
as it does for one run whose initial weights move by one ulp.

Example:
    >>> results = fit_batched(models, datasets, seeds=[0, 1, 2], config={"epochs": 150, "batch_size": 64},
    ...                       noises=[[], [{"kind": "gaussian", "std": 0.1}], [{"kind": "gaussian", "std": 0.3}]])
    >>> [r.best_epoch for r in results]
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.func import stack_module_state

from ..config import RunConfig, TrainConfig, parse, validate
from ..data import Dataset, Split
from ..models import MODELS, build_model
from ..models.base import ACTIVATIONS
from ..models.mlp import Residual
from ..noise.base import build_noise
from ..noise.inject import Recipe, recipe_items
from ..registry import ConfigError
from .callbacks import Callback
from .loop import Loop, Status, TrainResult, with_data_facts
from .metrics import Totals
from .optim import build_lr_scheduler, build_optimizer, lean_step
from .run import RunResult, build, finish_run, resolve_device, start_run

BATCHED_MODELS = ("mlp",)
"""Model kinds whose forward pass only chains their layers (no own arithmetic that a member dimension breaks)."""
LAYERS = (nn.Linear, nn.Flatten, nn.Sequential, Residual, *ACTIVATIONS.values())
"""Layer types with a batched form: Linear and Flatten are replaced, the others act on stacked tensors as is."""


class StackedLinear(nn.Module):
    """``nn.Linear`` of M members at once, its parameters laid out for ``torch.baddbmm``: input (M, N, ..., in),
    weight (M, in, out), bias (M, 1, out) or None. Built from the members' stacked ``nn.Linear`` weights (M, out, in)
    and biases (M, out); the layout spares the forward pass a transpose and an unsqueeze, and the backward pass
    their nodes (a tenth of a 4-70-1 network's step)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().transpose(1, 2).contiguous())
        self.bias = nn.Parameter(bias.detach().unsqueeze(1).clone()) if bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x if x.dim() == 3 else x.reshape(len(x), -1, x.shape[-1])
        out = torch.bmm(flat, self.weight) if self.bias is None else torch.baddbmm(self.bias, flat, self.weight)
        return out if x.dim() == 3 else out.reshape(*x.shape[:-1], out.shape[-1])

    def member(self, row: int) -> dict[str, torch.Tensor]:
        """The ``nn.Linear`` parameters of the member at ``row`` (views), by name."""
        found = {"weight": self.weight[row].T}
        if self.bias is not None:
            found["bias"] = self.bias[row, 0]
        return found


def stack_models(models: Sequence[nn.Module]) -> nn.Module:
    """One model computing the forward passes of all ``models`` (same architecture, layers in ``LAYERS``) on
    stacked inputs (M, N, ...): a copy of the first with ``StackedLinear`` layers and ``Flatten`` shifted past the
    member dimension, named as the members' layers (:func:`member_parameters` gives a member's parameters)."""
    params, _ = stack_module_state(list(models))
    stacked = copy.deepcopy(models[0])
    for name, module in list(stacked.named_modules()):
        if type(module) is nn.Linear:
            batched: nn.Module = StackedLinear(params[f"{name}.weight"], params.get(f"{name}.bias"))
        elif type(module) is nn.Flatten:
            batched = nn.Flatten(*(dim + 1 if dim >= 0 else dim for dim in (module.start_dim, module.end_dim)))
        else:
            continue
        parent, _, child = name.rpartition(".")
        setattr(stacked.get_submodule(parent), child, batched)
    return stacked


def member_parameters(stacked: nn.Module, row: int) -> dict[str, torch.Tensor]:
    """The parameters of the member at ``row`` of a :func:`stack_models` model (views), named and shaped as in
    the member's own model."""
    return {
        f"{name}.{key}": value
        for name, module in stacked.named_modules()
        if isinstance(module, StackedLinear)
        for key, value in module.member(row).items()
    }


# -- what qualifies -------------------------------------------------------------------------------------------
def batchable(configs: Sequence[RunConfig | Mapping[str, Any]]) -> str | None:
    """Why the runs of ``configs`` cannot train as one batched model (None when they can).

    They qualify when they differ only by seed and noise recipe, the model is one of ``BATCHED_MODELS`` built of
    ``LAYERS`` (no dropout, no BatchNorm), every recipe acts at ``input`` only and learns nothing, and training has
    no adversarial attack, no SGLD and no intermediate checkpoints (a group is not resumed mid-way).
    """
    runs = [validate(config) for config in configs]
    if not runs:
        return "no runs"
    dumps = [run.model_dump(mode="json", exclude={"seed", "noise"}) for run in runs]
    changed = [key for key in dumps[0] if any(dump[key] != dumps[0][key] for dump in dumps)]
    if changed:
        return f"the runs differ in {', '.join(changed)}, not only in the seed and the noise"
    config = runs[0]
    if config.model["kind"] not in BATCHED_MODELS:
        return f"model {config.model['kind']!r} has no batched form (batched models: {', '.join(BATCHED_MODELS)})"
    if config.train.checkpoint_every:
        return "train.checkpoint_every: a batched group writes no intermediate checkpoints"
    with torch.random.fork_rng(devices=[]):  # the probe's initialisation leaves the caller's stream alone
        probe = build_model(config.model, input_shape=(1,), num_outputs=1)  # its layer types do not depend on data
    return _model_refusal(probe) or _train_refusal(config.train) or _noises_refusal([run.noise for run in runs])


def _model_refusal(model: nn.Module) -> str | None:
    """Why ``model`` has no batched form (None when it has)."""
    kinds = {MODELS.get(kind) for kind in BATCHED_MODELS}
    if type(model) not in kinds:
        return f"model {type(model).__name__} has no batched form (batched models: {', '.join(BATCHED_MODELS)})"
    for name, module in model.named_modules():
        if name and type(module) not in LAYERS:
            return (
                f"layer {name!r} ({type(module).__name__}) has no batched form; batched layers: Linear, Flatten "
                "and activations (dropout draws from one generator per run, BatchNorm keeps running statistics)"
            )
    return None


def _train_refusal(train: TrainConfig) -> str | None:
    """Why training settings ``train`` cannot be batched (None when they can)."""
    if train.adversarial is not None:
        return "train.adversarial: the attack crafts each run's batches against its own model"
    if train.optimizer.kind == "sgld":
        return "train.optimizer: SGLD draws its noise per parameter tensor, one stream per run"
    return None


def _noise_refusal(recipe: Recipe) -> str | None:
    """Why the noise ``recipe`` cannot be batched: every item must act at ``input`` and learn nothing."""
    for index, (selector, spec) in enumerate(recipe_items(recipe)):
        try:
            injector = build_noise(spec, field=f"noise[{index}]")
        except ConfigError as error:
            return str(error)
        position = (selector or injector.default_at).partition(":")[0]
        if position != "input":
            return f"noise[{index}] ({injector.kind}) acts at {position!r}; batched members take noise at 'input' only"
        if any(True for _ in injector.parameters()):
            return f"noise[{index}] ({injector.kind}) learns parameters of its own"
    return None


def _noises_refusal(recipes: Iterable[Recipe]) -> str | None:
    """The first refusal of ``_noise_refusal`` among ``recipes`` (each distinct one checked once)."""
    distinct = {repr(recipe): recipe for recipe in recipes}
    return next(filter(None, map(_noise_refusal, distinct.values())), None)


def _members_refusal(
    models: Sequence[nn.Module],
    datasets: Sequence[Dataset],
    seeds: Sequence[int],
    noises: Sequence[Recipe],
    train: TrainConfig,
) -> str | None:
    counts = len(models), len(datasets), len(seeds), len(noises)
    if not models or len(set(counts)) > 1:
        got = "{} models, {} data sets, {} seeds, {} recipes".format(*counts)
        return f"give one data set, seed and noise recipe per model, got {got}"
    if len({id(model) for model in models}) < len(models):
        return "a model object is given twice; build one per member"
    architectures = {tuple((name, p.shape) for name, p in model.named_parameters()) for model in models}
    if len(architectures) > 1:
        return "the models differ in their parameters' names or shapes"
    facts = {
        (d.task, d.num_classes, d.train.x.shape, d.train.x.dtype, d.train.y.shape, d.train.y.dtype) for d in datasets
    }
    if len(facts) > 1:
        return "the data sets differ in task, classes or the shape or type of their training splits"
    recipes = [with_data_facts(noise, data) for noise, data in zip(noises, datasets, strict=True)]
    return _model_refusal(models[0]) or _train_refusal(train) or _noises_refusal(recipes)


# -- training ------------------------------------------------------------------------------------------------
def fit_batched(
    models: Sequence[nn.Module],
    datasets: Sequence[Dataset],
    *,
    seeds: Sequence[int],
    noises: Sequence[Recipe] | None = None,
    config: TrainConfig | Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
    callbacks: Sequence[Iterable[Callback]] | None = None,
    checkpoints: Sequence[str | Path | None] | None = None,
    extras: Sequence[Mapping[str, Any]] | None = None,
) -> list[TrainResult]:
    """Train member ``i`` = (``models[i]``, ``datasets[i]``, ``seeds[i]``, ``noises[i]``) as ``fit(models[i],
    datasets[i], noise=noises[i], config=config, seed=seeds[i])`` would, all in one batched model; one
    ``TrainResult`` each. ``noises``: one input-noise recipe per member (None: no noise for any).

    Each model ends as ``fit`` leaves it (best weights restored with early stopping, noise attached, eval mode).
    ``callbacks``: one list per member; they get ``on_fit_start``, ``on_epoch_start``, ``on_epoch_end`` and
    ``on_fit_end`` with the member's ``Loop`` (no ``on_batch_end``). A record's ``seconds`` is the member's
    share of the batched epoch plus its own validation. ``checkpoints``: one file (or None) per member, written at
    the end with ``extras`` (one mapping per member) and ``"batched": True``; it has no optimiser state, so it
    loads for evaluation but cannot be resumed. No intermediate checkpoints, no resume. Run it with one torch thread
    (as study workers do): the stacked tensors are too small for intra-op threads, whose wake-ups cost
    milliseconds per operation on a busy machine.
    """
    config = parse(TrainConfig, config or {})
    noises = [[] for _ in models] if noises is None else list(noises)
    reason = _members_refusal(models, datasets, seeds, noises, config)
    if reason:
        raise ConfigError(f"fit_batched: {reason}")
    device = torch.device(device)
    stacked = stack_models([model.to(device) for model in models])  # before the members' noise hooks
    members = len(models)
    files = [Path(path) if path is not None else None for path in checkpoints or [None] * members]
    loops = [
        Loop(
            model, data, noise=noise, config=config, seed=seed, device=device, callbacks=mine, checkpoint=file,
            extra={**extra, "batched": True},
        )
        for model, data, seed, noise, mine, file, extra in zip(
            models, datasets, seeds, noises, callbacks or [()] * members, files, extras or [{}] * members,
            strict=True,
        )
    ]  # fmt: skip
    return _Batched(stacked, loops, config).run()


class _Batched:
    """The state of one batched training: the stacked model and its optimiser, and each member's ``Loop``
    (its data, data order, noise, early stopping and history). Use :func:`fit_batched` rather than this class."""

    def __init__(self, model: nn.Module, loops: list[Loop], config: TrainConfig) -> None:
        self.model, self.loops, self.config = model.train(), loops, config
        self.params = list(model.parameters())
        fused = loops[0].device.type in ("cpu", "cuda")  # one kernel per tensor: the update up to rounding, faster
        self.optimizer = build_optimizer(config.optimizer, model.parameters(), seed=0, fused=fused)  # seed: SGLD's
        self.update = lean_step(self.optimizer)  # its step without the per-call bookkeeping
        for loop in loops:  # the members' own optimisers never step: this one steps them all
            loop.optimizer = loop.scheduler = None
        self.steps = loops[0].steps_per_epoch
        self.scheduler = build_lr_scheduler(config.lr_schedule, self.optimizer, total_steps=config.epochs * self.steps)
        self.x = torch.stack([loop.data.train.x for loop in loops])
        self.y = torch.stack([loop.data.train.y for loop in loops])
        self.rows = list(range(len(loops)))  # the member at each row of the stack
        self.ends: dict[int, tuple[Status, str]] = {}

    def run(self) -> list[TrainResult]:
        for loop in self.loops:
            loop.callbacks.on_fit_start(loop)
        epoch = 0
        while self.rows and epoch < self.config.epochs:
            for member in self.rows:
                self.loops[member].callbacks.on_epoch_start(self.loops[member], epoch + 1)
            started = time.perf_counter()
            sums = self.train_epoch(epoch).cpu()
            share = (time.perf_counter() - started) / len(self.rows)
            kept = [row for row in range(len(self.rows)) if not self.end_epoch(row, sums[row], share)]
            if len(kept) < len(self.rows):
                self.keep(kept)
            epoch += 1
        return [self.result(member) for member in range(len(self.loops))]

    def train_epoch(self, epoch: int) -> torch.Tensor:
        """One pass of every member over its training split, each in its own order; returns the ``Totals`` sums
        of the pass, one row per member."""
        loops = [self.loops[member] for member in self.rows]
        orders = torch.stack([_one_pass(loop.data.train, loop.data_order) for loop in loops]).to(self.x.device)
        every = torch.arange(len(loops), device=self.x.device)[:, None]
        xs, ys = self.x[every, orders], self.y[every, orders]  # the pass's samples, in each member's order
        noisy = any(len(loop.handle) for loop in loops)
        size, total = self.config.batch_size, self.config.epochs * self.steps
        outputs, losses, norms = [], [], []
        for step, start in enumerate(range(0, xs.shape[1], size)):
            x, y = xs[:, start : start + size], ys[:, start : start + size]
            if noisy:
                x = _input_noise(loops, x, (epoch * self.steps + step) / total)
            output = self.model(x)
            loss = self.losses(output, y)
            for param in self.params:  # zero_grad(set_to_none=True), without its per-call cost
                param.grad = None
            loss.sum().backward()  # each member's rows get the gradient of its own loss only
            norms.append(self.gradient_norms())
            self.update()
            if self.scheduler is not None:
                self.scheduler.step()
            outputs.append(output.detach())
            losses.append(loss.detach())
        return self.sums(torch.cat(outputs, dim=1), ys, torch.stack(losses, dim=1), torch.stack(norms, dim=1))

    def losses(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Each member's training loss (batch mean), as ``training_loss`` computes it for one run."""
        name = self.loops[0].loss_name
        if name == "cross_entropy":
            losses = nn.functional.cross_entropy(output.flatten(0, 1), target.flatten(0, 1), reduction="none")
            return losses.view(len(output), -1).mean(dim=1)
        loss = nn.functional.mse_loss if name == "mse" else nn.functional.l1_loss
        return loss(output, target.reshape(output.shape).to(output.dtype), reduction="none").flatten(1).mean(dim=1)

    def gradient_norms(self) -> torch.Tensor:
        """Each member's global L2 gradient norm, clipped to ``grad_clip`` per member when set (as
        ``torch.nn.utils.clip_grad_norm_`` does for one run: factor ``clip / (norm + 1e-6)``, at most 1)."""
        grads = [param.grad for param in self.params if param.grad is not None]
        flat = torch.cat([g.flatten(1) for g in grads], dim=1)
        norms = torch.linalg.vecdot(flat, flat).sqrt()
        if self.config.grad_clip is not None:
            factor = (self.config.grad_clip / (norms + 1e-6)).clamp(max=1.0)
            for g in grads:
                g.mul_(factor.view(-1, *[1] * (g.dim() - 1)))
        return norms

    def sums(self, output: torch.Tensor, y: torch.Tensor, losses: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
        """What ``Totals.add`` sums over a pass, per member: ``[loss * n, correct or squared error, absolute error,
        gradient norm]``, from the pass's outputs (M, N, ...), targets, and per-step losses and norms (M, steps)."""
        size = self.config.batch_size
        sizes = torch.tensor([min(size, y.shape[1] - start) for start in range(0, y.shape[1], size)], device=y.device)
        if self.loops[0].loss_name == "cross_entropy":
            hits = (output.argmax(dim=-1) == y).sum(dim=1).to(losses.dtype)
            return torch.stack([(losses * sizes).sum(dim=1), hits, torch.zeros_like(hits), norms.sum(dim=1)], dim=1)
        error = (output.float() - y.reshape(output.shape).float()).flatten(1)
        outputs = error.shape[1] // y.shape[1]  # per sample
        columns = [(losses * sizes * outputs).sum(dim=1), error.square().sum(dim=1), error.abs().sum(dim=1)]
        return torch.stack([*columns, norms.sum(dim=1)], dim=1)

    def end_epoch(self, row: int, sums: torch.Tensor, share: float) -> bool:
        """Copy the weights of the member at ``row`` into its model, validate, record, check; True when it is done."""
        member = self.rows[row]
        loop = self.loops[member]
        started = time.perf_counter()
        with torch.no_grad():
            stacked = member_parameters(self.model, row)
            for name, param in loop.model.named_parameters():
                param.copy_(stacked[name])
        n = len(loop.data.train) * (1 if loop.loss_name == "cross_entropy" else loop.data.num_outputs)
        record = loop.epoch_record(_summary(loop, sums, n, self.steps), self.optimizer.param_groups[0]["lr"])
        record["seconds"] = share + time.perf_counter() - started
        end = loop.end_epoch(record)
        if end is not None:
            self.ends[member] = end
        return end is not None

    def keep(self, kept: list[int]) -> None:
        """Keep only the rows ``kept`` of the stack: parameters, optimiser state (momenta) and training data."""
        index = torch.tensor(kept, dtype=torch.long, device=self.x.device)
        with torch.no_grad():
            for param in self.params:
                state = self.optimizer.state.get(param, {})
                for key, value in state.items():
                    if isinstance(value, torch.Tensor) and value.shape == param.shape:
                        state[key] = value[index]
                param.grad = None
                param.data = param.data[index]
        self.x, self.y = self.x[index], self.y[index]
        self.rows = [self.rows[row] for row in kept]

    def result(self, member: int) -> TrainResult:
        """The member's result, its model at its best weights and its checkpoint written (as ``Loop.run`` does)."""
        loop = self.loops[member]
        loop.restore_best()
        if loop.checkpoint is not None:
            loop.save(loop.checkpoint)
        return loop.result(*self.ends[member], sum(record["seconds"] for record in loop.history))


def _one_pass(split: Split, generator: torch.Generator) -> torch.Tensor:
    """The order in which ``split.batches(..., generator=generator)`` visits the samples in one pass (drawn by
    ``Split.batches`` itself; the order does not depend on the batch size)."""
    index = torch.arange(len(split))
    return next(Split(index, index).batches(len(split), generator=generator))[0]


def _input_noise(loops: list[Loop], x: torch.Tensor, progress: float) -> torch.Tensor:
    """Each member's input injectors on its rows of ``x``, in order, from its own generators (as the input hooks
    of its model apply them in training mode)."""
    noisy = []
    for loop, rows in zip(loops, x, strict=True):
        loop.handle.set_progress(progress)
        for injector in loop.handle.injectors("input"):
            injector.training = True
            rows = injector(rows)
        noisy.append(rows)
    return torch.stack(noisy)


def _summary(loop: Loop, sums: torch.Tensor, count: int, steps: int) -> dict[str, float]:
    """``Totals.summary`` of one member's training sums."""
    totals = Totals(loop.loss_name, sums.device)
    totals.sums, totals.count, totals.steps = sums, count, steps
    return totals.summary("train", loop.target_scale)


# -- whole runs ------------------------------------------------------------------------------------------------
def run_batched(
    configs: Sequence[RunConfig | Mapping[str, Any]], *, outputs: Sequence[str | Path | None] | None = None
) -> list[RunResult]:
    """``noisetrain.train.run(config, output=output)`` for each of ``configs`` and ``outputs`` (runs that differ
    only by seed and input noise, see :func:`batchable`), trained together by :func:`fit_batched`; each output
    folder gets the files ``run`` writes there (its checkpoint cannot be resumed)."""
    runs = [validate(config) for config in configs]
    reason = batchable(runs)
    if reason:
        raise ConfigError(f"run_batched: {reason}")
    device = resolve_device(runs[0].device)
    folders = [Path(output) if output is not None else None for output in outputs or [None] * len(runs)]
    built = [build(run) for run in runs]
    trained = fit_batched(
        [model for _, model in built], [data for data, _ in built], seeds=[run.seed for run in runs],
        noises=[run.noise for run in runs], config=runs[0].train, device=device,
        callbacks=[start_run(run, folder) for run, folder in zip(runs, folders, strict=True)],
        checkpoints=[folder / "checkpoint.pt" if folder is not None else None for folder in folders],
        extras=[{"run": run.model_dump(mode="json")} for run in runs],
    )  # fmt: skip
    return [
        finish_run(run, data, model, train, folder)
        for run, (data, model), train, folder in zip(runs, built, trained, folders, strict=True)
    ]
