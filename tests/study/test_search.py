"""Strength search: random values fixed before the study, Optuna trials asked while it runs, both resumable."""

from pathlib import Path

import pandas as pd
import pytest

from noisetrain.registry import ConfigError
from noisetrain.report import build_report
from noisetrain.study.runner import DB, plan, run_study
from noisetrain.study.search import random_values
from noisetrain.study.store import Store

from studykit import study_config

SEARCH = {"arm": "gaussian", "parameter": "gaussian.std", "low": 0.01, "high": 0.5, "trials": 3}


def test_random_search_draws_seeded_values_into_the_arms_grid() -> None:
    study = study_config(search=SEARCH, seeds=1)
    values = random_values(study.search)
    assert len(values) == 3 and all(0.01 <= v <= 0.5 for v in values) and values == sorted(values)
    assert values == random_values(study.search)
    logged = random_values(study.search.model_copy(update={"log": True, "seed": 1}))
    assert logged != values
    resolved, runs = plan(study)
    assert sorted(r.factors["noise.gaussian.std"] for r in runs if r.arm == "gaussian") == values
    assert resolved.noise["gaussian"].noise[0]["std"] == values


BAD = {
    "unknown arm": ({"arm": "dropout"}, r"search.arm: 'dropout' is not an arm of noise; arms: gaussian"),
    "unknown spec": ({"parameter": "uniform.std"}, r"search.parameter: 'uniform.std' names no spec .*gaussian.<param"),
    "unknown parameter": ({"parameter": "gaussian.sdt"}, r"search.parameter: gaussian has no parameter 'sdt'; its"),
    "empty range": ({"low": 0.5, "high": 0.1}, r"search: low must be < high"),
    "log at zero": ({"low": 0.0, "log": True}, r"log=true needs low > 0"),
    "bad value at an end": ({"low": -0.5}, r"GaussianNoise.std must be in \[0, inf\)"),
    "bad metric": ({"metric": "test_accuracy"}, r"search.metric: Input should be 'val_accuracy'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_search(case: str) -> None:
    changes, message = BAD[case]
    with pytest.raises(ConfigError, match=message):
        plan(
            study_config(
                search={**SEARCH, **changes, "method": "optuna" if case == "bad value at an end" else "random"}
            )
        )


@pytest.mark.slow
def test_optuna_search_runs_its_trials_and_resumes_without_rerunning(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    study = study_config(search={**SEARCH, "method": "optuna"}, seeds=1)
    result = run_study(study, tmp_path)
    # the baseline and one run per trial (the arm's file value is not run: Optuna chooses)
    assert result.total == 4 and result.statuses == {"completed": 4}
    with Store(tmp_path / DB) as store:
        runs = store.runs()
        trials = runs[runs.arm == "gaussian"]["noise.gaussian.std"]
        assert len(trials) == 3 and trials.between(0.01, 0.5).all()
        assert len(store.best_metrics("val_accuracy")) == 4
    # the report selects the trial with the best mean validation accuracy
    written = build_report(tmp_path, formats=["csv"])
    assert tmp_path / "report" / "search.csv" in written.files
    trials = pd.read_csv(tmp_path / "report" / "search.csv")
    assert len(trials) == 3 and trials.selected.sum() == 1
    assert trials.loc[trials.selected, "validation"].item() == trials.validation.max()
    assert trials["noise.gaussian.std"].is_monotonic_increasing
    again = run_study(study, tmp_path)
    assert again.skipped == 4 and not again.statuses
    more = run_study(study_config(search={**SEARCH, "method": "optuna", "trials": 4}, seeds=1), tmp_path)
    assert more.skipped == 4 and more.statuses == {"completed": 1}
    # earlier trials outside a new range are not replayed: all trials of the new range are new runs
    moved = run_study(study_config(search={**SEARCH, "method": "optuna", "low": 0.6, "high": 0.9}, seeds=1), tmp_path)
    assert moved.skipped == 1 and moved.statuses == {"completed": 3}
