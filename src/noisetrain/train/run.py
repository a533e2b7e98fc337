"""One run from a ``RunConfig``: load the data, build the model, attach the noise, train, test.

This is what ``noisetrain train`` and every run of a study execute. With an output
folder it writes ``config.yaml`` (the resolved config), ``metrics.jsonl``/``metrics.csv``
(one row per epoch), ``checkpoint.pt`` and ``result.json`` (the summary and the environment: versions,
host, device, git commit).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import torch
import yaml
from torch import nn

from ..config import EarlyStoppingConfig, RunConfig, TrainConfig, validate
from ..data import Dataset, load_data
from ..evaluate.keys import metric
from ..files import make_folder, strict_json, write_atomic
from ..models import build_model
from ..models.base import closed_form
from ..noise.base import derive_seed
from ..noise.inject import NoiseHandle
from ..registry import ConfigError
from .callbacks import Callback, MetricsWriter
from .checkpoint import load_checkpoint
from .environment import environment
from .loop import BATCHED_RESUME, TrainResult, attach_noise, check_attack_bounds, fit
from .metrics import Totals, resolve_loss, split_totals, target_scale

RUN_FILES = ("config.yaml", "metrics.jsonl", "metrics.csv", "checkpoint.pt", "result.json", "records.json")
"""The files of a run's folder: ``run``'s, and the records ``noisetrain evaluate`` writes next to them."""


@dataclass
class RunResult:
    """The trained model and data, the training result, the test metrics of one run and their 95% intervals over
    the test examples (``Totals.intervals``; none for a diverged run)."""

    config: RunConfig
    model: nn.Module
    data: Dataset
    train: TrainResult
    test: dict[str, float]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Status, message, best epoch, epochs run, wall time and test metrics, as JSON-ready values."""
        return {
            "status": self.train.status,
            "message": self.train.message,
            "best_epoch": self.train.best_epoch,
            "epochs": len(self.train.history),
            "seconds": self.train.seconds,
            **self.test,
        }


def resolve_device(device: str) -> torch.device:
    """``torch.device(device)``, or a ``ConfigError`` when that device is not available here."""
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} is not available: torch sees no CUDA device; use device=cpu")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {device!r} is not available; use device=cpu")
    return resolved


def build(config: RunConfig, data: Dataset | None = None) -> tuple[Dataset, nn.Module]:
    """Load the data (``config.data_spec()``, unless ``data``, already loaded from it, is given) and build the
    model, its initialisation seeded from ``derive_seed(seed, "init")``; check that the training settings fit
    them (``check_training``)."""
    data = data if data is not None else load_data(config.data_spec())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(config.seed, "init"))
        model = build_model(
            config.model, input_shape=data.input_shape, num_outputs=data.num_outputs,
            info={**data.info, "task": data.task},
        )  # fmt: skip
    check_training(config.train, data, model)
    return data, model


def check_training(train: TrainConfig, data: Dataset, model: nn.Module) -> None:
    """Refuse what would fail once training started, or leave a run without test numbers: an empty test split, a
    model that cannot take the data's inputs (one forward pass of two training inputs, in eval mode), a loss of the
    other task, early stopping without a validation split or on a metric the task does not have (closed-form
    models train in one step and ignore both)."""
    resolve_loss(train.loss, data)
    if not len(data.test):
        raise ConfigError(f"data {data.name!r} has an empty test split, and a run reports its test metrics: give it "
                          "test examples (test_size, n_test)")  # fmt: skip
    if closed_form(model):  # fitted in one step, and may need some training examples (a kNN model: k)
        if hasattr(model, "check_fit"):
            model.check_fit(len(data.train), f"data {data.name!r}")
        return
    check_forward(model, data)
    if train.adversarial is not None:
        check_attack_bounds(train.adversarial.attack, data)
    stopping = train.early_stopping
    if stopping is None:
        return
    if not len(data.val):
        raise ConfigError(f"train.early_stopping monitors {stopping.monitor} but data {data.name!r} has no "
                          "validation split; give it one (val_size, n_val) or remove early_stopping")  # fmt: skip
    monitors = get_args(EarlyStoppingConfig.model_fields["monitor"].annotation)
    fitting = [name for name in monitors if metric(name.removeprefix("val_")).fits(data.task)]
    if stopping.monitor not in fitting:
        raise ConfigError(f"train.early_stopping.monitor: {stopping.monitor!r} is not a {data.task} metric; use "
                          f"one of {', '.join(fitting)}")  # fmt: skip


def load_run(path: str | Path) -> tuple[RunConfig, Dataset, nn.Module]:
    """The config, data and trained model (noise attached, eval mode) of a checkpoint written by ``run``.

    Closed-form models (kNN) keep no tensors, so they are fitted again on the training split (exactly).
    """
    state = load_checkpoint(path)
    if "run" not in state:
        raise ConfigError(f"checkpoint {str(path)!r} holds no run config (written by fit, not run); load it in Python")
    config = validate(state["run"])
    data, model = build(config)
    handle = attach_noise(model, config.noise, data, seed=config.seed)
    try:
        model.load_state_dict(state["model"])
        handle.load_state_dict(state["noise"])
    except (RuntimeError, KeyError) as error:
        raise ConfigError(f"checkpoint {str(path)!r} does not fit the model its config builds: "
                          f"{str(error).strip().splitlines()[0]}") from None  # fmt: skip
    if closed_form(model):
        model.fit(data.train.x, data.train.y)
    return config, data, model.eval()


def attach_checked(model: nn.Module, config: RunConfig, data: Dataset) -> NoiseHandle:
    """Attach ``config.noise`` to ``model`` as ``fit`` does, after one noisy training forward pass of two training
    examples through a copy (batch noise, then the copy in training mode, without gradients and with torch's global
    random state restored): a recipe the data cannot take (cutout on flat inputs, mixup on regression targets) is
    a ``ConfigError`` here instead of a failure in the first batch."""
    if config.noise and not closed_form(model):
        spare = copy.deepcopy(model)  # the model itself draws nothing and keeps its BatchNorm statistics
        handle = attach_noise(spare, config.noise, data, seed=config.seed)
        try:
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                spare.train()(handle.batch(data.train.x[:2], data.train.y[:2])[0])
        except (RuntimeError, ValueError, TypeError, IndexError) as error:
            problem = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ConfigError(f"noise: the recipe cannot act on the training batches of data {data.name!r}: "
                              f"{problem}") from None  # fmt: skip
    return attach_noise(model, config.noise, data, seed=config.seed)


def check_forward(model: nn.Module, data: Dataset) -> None:
    """One forward pass of two training inputs in eval mode, without gradients; its failure is a ``ConfigError``."""
    x = data.train.x[:2]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(x)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        problem = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"model {type(model).__name__} cannot take the inputs of data {data.name!r} "
                          f"({str(x.dtype).removeprefix('torch.')} of shape {tuple(x.shape[1:])}): {problem}") from None
    finally:
        model.train(was_training)


def run(
    config: RunConfig | Mapping[str, Any],
    *,
    output: str | Path | None = None,
    callbacks: Iterable[Callback] = (),
    resume: bool = False,
    fresh: bool = False,
) -> RunResult:
    """Execute one run; with ``output``, write its files there (``resume=True`` continues its checkpoint, and
    changes nothing where that run had ended; ``fresh=True`` refuses a folder that holds a run, which a new one
    would leave with stale files).

    Nothing is written before every check has passed: the config, the device, a resumed checkpoint's config,
    the data, the model and the noise recipe attached to it.
    """
    config = validate(config)
    device = resolve_device(config.device)
    folder = Path(output) if output is not None else None
    checkpoint = folder / "checkpoint.pt" if folder is not None else None
    ended = check_resume(config, checkpoint) if resume else False
    data, model = build(config)
    handle = attach_checked(model, config, data)
    if fresh and not resume and folder is not None:
        held = next((name for name in RUN_FILES if (folder / name).exists()), None)
        if held is not None and not (folder / "checkpoint.pt").exists():  # a start that failed before saving
            raise ConfigError(f"{str(folder)!r} holds the start of a run that saved no checkpoint ({held}), which "
                              "cannot be resumed: delete that folder, or write this run to another --output")
        if held is not None:
            raise ConfigError(f"{str(folder)!r} holds a run already ({held}): continue it with --resume, or write "
                              "this one to another --output")  # fmt: skip
    trained = fit(
        model, data, noise=handle, config=config.train, seed=config.seed, device=device,
        callbacks=[*callbacks, *start_run(config, None if ended else folder)], checkpoint=checkpoint,
        resume=checkpoint if resume else None, extra={"run": config.model_dump(mode="json")},
    )  # fmt: skip
    return finish_run(config, data, model, trained, None if ended else folder)


def start_run(config: RunConfig, folder: Path | None) -> list[Callback]:
    """Write the run's ``config.yaml`` into ``folder`` (created); the callback writing its metrics there (none
    without a folder)."""
    if folder is None:
        return []
    make_folder(folder, "output")
    write_atomic(folder / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    return [MetricsWriter(folder)]


def finish_run(
    config: RunConfig, data: Dataset, model: nn.Module, trained: TrainResult, folder: Path | None
) -> RunResult:
    """The trained run's test metrics and ``RunResult``; with ``folder``, its ``result.json`` (summary and
    environment). Training wrote the checkpoint."""
    loss_name, scale = resolve_loss(config.train.loss, data), target_scale(data)
    if trained.status == "diverged":  # a model with non-finite weights: its test numbers mean nothing
        test, intervals = dict.fromkeys(Totals(loss_name, "cpu").summary("test"), float("nan")), {}
    else:
        test_split = data.test.to(resolve_device(config.device))
        totals = split_totals(model, test_split, loss_name=loss_name, batch_size=config.train.eval_batch_size)
        test, intervals = totals.summary("test", scale), totals.intervals("test", scale)
    result = RunResult(config, model, data, trained, test, intervals)
    if folder is not None:
        summary = {**result.summary(), **{f"{key}_ci": list(ends) for key, ends in intervals.items()},
                   "n_test": len(data.test), "environment": environment(config.device)}  # fmt: skip
        write_atomic(folder / "result.json", strict_json(summary, indent=2) + "\n")
    return result


def check_resume(config: RunConfig, checkpoint: Path | None) -> bool:
    """``ConfigError`` unless ``checkpoint`` exists and was written by a run of exactly ``config`` that can go on
    (not a member of a batched group, which keeps no optimiser state); whether that run had ended."""
    if checkpoint is None or not checkpoint.is_file():
        raise ConfigError(f"resume: no checkpoint at {str(checkpoint)!r}; a run that saved none starts again in an "
                          "empty --output")  # fmt: skip
    state = load_checkpoint(checkpoint)
    if state.get("batched"):
        raise ConfigError(f"resume: {str(checkpoint)!r}: {BATCHED_RESUME}")
    saved, current = state.get("run") or {}, config.model_dump(mode="json")
    changed = sorted(key for key in {*saved, *current} if saved.get(key) != current.get(key))
    if changed:
        raise ConfigError(
            f"resume: the checkpoint {str(checkpoint)!r} was written with another {', '.join(changed)}; resume with "
            f"its own config ({str(checkpoint.with_name('config.yaml'))!r}) or write to a new --output"
        )
    return state.get("ended") is not None
