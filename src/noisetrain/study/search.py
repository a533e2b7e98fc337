"""Search one strength of one arm and select it by validation: random draws, or Optuna's TPE sampler.

Random search is fixed before the study runs: its ``trials`` values become the arm's grid
(Bergstra & Bengio 2012, "Random Search for Hyper-Parameter Optimization"). Optuna search
(Akiba et al. 2019, arXiv:1907.10902) asks for values in rounds of ``workers`` trials, each scored
by the mean validation metric of its runs; a resumed search replays its finished trials first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..noise.base import NOISE
from ..registry import ConfigError, parameter_names
from .config import SearchConfig, StudyConfig
from .grid import spec_names

SIGNIFICANT = 4
"""Significant digits of a drawn value, so labels stay readable."""


def check_search(study: StudyConfig) -> None:
    """The searched arm and parameter exist and the range is valid; errors name ``search.<field>``."""
    search = study.search
    if search is None:
        return
    if search.arm not in study.noise:
        known = ", ".join(study.noise) or "none"
        raise ConfigError(f"search.arm: {search.arm!r} is not an arm of noise; arms: {known}")
    index, parameter = target(study)
    kind = study.noise[search.arm].noise[index].get("kind")
    accepted = parameter_names(NOISE.get(kind)) if isinstance(kind, str) and kind in NOISE else [parameter]
    if parameter not in accepted:
        raise ConfigError(
            f"search.parameter: {kind} has no parameter {parameter!r}; its parameters: {', '.join(accepted)}"
        )
    if not search.low < search.high:
        raise ConfigError(f"search: low must be < high, got low={search.low}, high={search.high}")
    if search.log and search.low <= 0:
        raise ConfigError(f"search: log=true needs low > 0, got low={search.low}")
    if search.method == "optuna":
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise ConfigError("search.method 'optuna' needs Optuna: pip install 'noisetrain[optuna]'") from None


def target(study: StudyConfig) -> tuple[int, str]:
    """``(index of the spec in the searched arm, parameter)`` that ``search.parameter`` names."""
    assert study.search is not None
    names = spec_names(study.noise[study.search.arm].noise)
    spec, _, parameter = study.search.parameter.rpartition(".")
    if spec not in names or not parameter:
        choices = ", ".join(f"{name}.<parameter>" for name in names) or "none (the arm has no noise specs)"
        raise ConfigError(
            f"search.parameter: {study.search.parameter!r} names no spec of arm {study.search.arm!r}; use {choices}"
        )
    return names.index(spec), parameter


def with_values(study: StudyConfig, values: Sequence[float]) -> StudyConfig:
    """``study`` with the searched parameter of the searched arm set to the grid ``values``."""
    assert study.search is not None
    index, parameter = target(study)
    arm = study.noise[study.search.arm]
    noise = [dict(item) for item in arm.noise]
    noise[index][parameter] = list(values)
    arms = {**study.noise, study.search.arm: arm.model_copy(update={"noise": noise})}
    return study.model_copy(update={"noise": arms})


def rounded(value: float) -> float:
    """``value`` to ``SIGNIFICANT`` digits, so labels stay readable."""
    return float(f"{value:.{SIGNIFICANT}g}")


def random_values(search: SearchConfig) -> list[float]:
    """``trials`` values drawn uniformly (log-uniformly with ``log``) from [low, high], seeded, sorted."""
    generator = np.random.default_rng(search.seed)
    if search.log:
        draws = np.exp(generator.uniform(math.log(search.low), math.log(search.high), search.trials))
    else:
        draws = generator.uniform(search.low, search.high, search.trials)
    return sorted({rounded(value) for value in draws})


def optuna_search(
    search: SearchConfig,
    score: Callable[[list[float]], list[float | None]],
    *,
    batch: int,
    replay: Sequence[tuple[float, float | None]] = (),
) -> Any:
    """Run ``search.trials`` Optuna trials, ``batch`` at a time; ``score(values)`` trains them and returns
    each value's validation score (None: its runs failed or diverged). ``replay`` holds trials finished
    earlier (value, score), told first; a resumed search asks different values than an uninterrupted one
    would, as its sampler is seeded ``seed + len(replay)``. Returns the ``optuna.Study``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "maximize" if search.maximize else "minimize"
    # replayed trials do not advance the sampler's generator: a fresh seed keeps it from repeating their values
    sampler = optuna.samplers.TPESampler(seed=search.seed + len(replay))
    study = optuna.create_study(direction=direction, sampler=sampler)
    for value, result in replay[: search.trials]:
        study.enqueue_trial({search.parameter: value})
        _tell(study, _ask(study, search), result)
    while len(study.trials) < search.trials:
        trials = [_ask(study, search) for _ in range(min(batch, search.trials - len(study.trials)))]
        values = [rounded(t.params[search.parameter]) for t in trials]
        for trial, result in zip(trials, score(values), strict=True):
            _tell(study, trial, result)
    return study


def _ask(study: Any, search: SearchConfig) -> Any:
    trial = study.ask()
    trial.suggest_float(search.parameter, search.low, search.high, log=search.log)
    return trial


def _tell(study: Any, trial: Any, result: float | None) -> None:
    import optuna

    if result is None or not math.isfinite(result):
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    else:
        study.tell(trial, result)
