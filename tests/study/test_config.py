"""Bad study files: each error names the field and the allowed values, before anything runs."""

from pathlib import Path

import pytest

from noisetrain.registry import ConfigError
from noisetrain.study.config import load_study
from noisetrain.study.runner import plan

from studykit import tiny_study, write_study

BAD = {
    "unknown key": ({"epochs": 3}, r"epochs: Extra inputs are not permitted"),
    "unknown data": ({"data": {"kind": "mnits"}}, r"unknown dataset kind 'mnits' \(did you mean 'mnist'\?\); known"),
    "unknown model option": ({"model": {"kind": "mlp", "depth": 3}}, r"model.*'depth'"),
    "negative strength in a grid": (
        {"noise": {"g": [{"kind": "gaussian", "std": [0.1, -0.2]}]}},
        r"(?s)arm 'g' at noise.gaussian.std=-0.2: .*noise.g\[0\]: GaussianNoise.std must be in \[0, inf\)",
    ),
    "unknown noise kind": ({"noise": {"g": [{"kind": "gausian", "std": 0.1}]}}, r"noise.g\[0\]: unknown noise kind"),
    "bad position": (
        {"noise": {"d": [{"kind": "dropout", "p": 0.1, "at": "middle:ReLU"}]}},
        r"noise.d\[0\].at: unknown position 'middle'.*allowed: input, output:PATTERN",
    ),
    "reserved arm name": ({"noise": {"baseline": [{"kind": "gaussian", "std": 0.1}]}}, r"'baseline' \(reserved\)"),
    "empty recipe": ({"noise": {"g": []}}, r"noise.g: an arm needs at least one noise spec or a change of train"),
    "empty grid list": ({"train": {"epochs": []}}, r"train.epochs: an empty list gives no runs"),
    "bad train value in a grid": (
        {"train": {"epochs": [1, 0]}},
        r"(?s)at train.epochs=0: .*train.epochs: .*greater than or equal to 1",
    ),
    "bad seeds": ({"seeds": [1, 1]}, r"seeds must not repeat"),
    "negative seed count": ({"seeds": 0}, r"seeds: a count must be in \[1, 1,000,000\], got 0"),
    "bad backend": ({"execution": {"backend": "slurm"}}, r"execution.backend: Input should be 'local' or 'ray'"),
    "address without ray": ({"execution": {"address": "auto"}}, r"execution.address 'auto' is a Ray cluster address"),
    "true as a seed": ({"seeds": [0, True]}, r"seeds: must be an integer, got \[0, true\]"),
    "true as a worker count": ({"execution": {"workers": True}}, r"execution.workers: must be an integer, got true"),
    "true in a schedule": (
        {"train": {"lr_schedule": {"kind": "cosine", "start": True}}},
        r"cosine schedule: start must be a number, got True",
    ),
    "no runs": ({"baseline": False, "noise": {}}, r"noise: a study without a baseline \(baseline: false\) needs"),
    "bad workers": ({"execution": {"workers": 0}}, r"execution.workers: .*greater than or equal to 1"),
    "unknown measure": ({"evaluate": {"measures": ["clean", "robustnes"]}}, r"evaluate.measures\[1\]: unknown measure"),
    "bad measure value": (
        {"evaluate": {"measures": [{"kind": "adversarial", "eps": -1}]}},
        r"evaluate.measures\[0\] \(adversarial\): eps must be in \[0, inf\)",
    ),
    "report metric not recorded": (
        {"report": {"metric": "acc"}},
        r"report.metric: clean records accuracy, error, nll, rmse, mae, abs_error_std; got 'acc'",
    ),
    "report measure not evaluated": ({"report": {"measure": "corruptions"}}, r"report.measure: 'corruptions' is not"),
    "bad name": ({"name": "my study/1"}, r"name must be letters, digits"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_study_file_gets_a_clear_error(case: str, tmp_path: Path) -> None:
    changes, message = BAD[case]
    path = write_study(tmp_path, tiny_study(**changes))
    with pytest.raises(ConfigError, match=message):
        plan(load_study(path))
    assert not (tmp_path / "studies").exists()


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_study(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_study(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_study(tmp_path / "list.yaml")


def test_name_defaults_to_the_file_stem_and_overrides_apply(tmp_path: Path) -> None:
    study = tiny_study()
    del study["name"]
    path = tmp_path / "my-study.yaml"
    path.write_text(write_study(tmp_path, study).read_text())
    loaded = load_study(path, overrides=["train.epochs=[1, 2]", "execution.workers=2"])
    assert loaded.name == "my-study" and loaded.train["epochs"] == [1, 2] and loaded.execution.workers == 2
    study_, runs = plan(loaded, workers=1, backend=None)
    assert study_.execution.workers == 1 and len(runs) == 2 * 3 * 2
    with pytest.raises(ConfigError, match=r"execution.workers: Input should be greater than or equal to 1"):
        plan(loaded, workers=0)
