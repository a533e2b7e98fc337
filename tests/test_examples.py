"""Every example run config validates and trains for one short epoch; every example study validates."""

import os
from pathlib import Path

import pytest
import yaml

from noisetrain.config import validate
from noisetrain.study import load_study, plan
from noisetrain.train import run

CONFIGS = [
    pytest.param(path, marks=pytest.mark.slow) if path.stem == "cifar10_resnet20_pgd" else path  # ResNet-20: seconds
    for path in sorted((Path(__file__).parents[1] / "examples" / "configs").glob("*.yaml"))
]
SHARED = Path(os.environ.get("NOISETRAIN_DATA") or Path(__file__).parents[2] / "shared" / "data")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: getattr(p, "stem", None))
def test_example_config_runs(path, tmp_path, monkeypatch):
    raw = yaml.safe_load(path.read_text())
    data = raw["data"]
    if data["kind"] in ("mnist", "cifar10"):
        if not SHARED.is_dir():
            pytest.skip(f"needs the shared data in {SHARED} (set NOISETRAIN_DATA)")
        monkeypatch.setenv("NOISETRAIN_DATA", str(SHARED))
    if data["kind"] == "function":
        data["n_train"] = 200
    elif data["kind"] in ("text", "timeseries"):
        data["num_samples"] = 400
    else:
        data["train_size"] = 200
    raw.setdefault("train", {})["epochs"] = 1
    result = run(validate(raw), output=tmp_path)
    assert result.train.status == "completed"
    assert (tmp_path / "result.json").is_file()


STUDIES = sorted((Path(__file__).parents[1] / "examples" / "studies").glob("*.yaml"))


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_example_study_validates(path, monkeypatch):
    if yaml.safe_load(path.read_text())["data"]["kind"] in ("mnist", "cifar10"):
        if not SHARED.is_dir():
            pytest.skip(f"needs the shared data in {SHARED} (set NOISETRAIN_DATA): a study plan loads its data")
        monkeypatch.setenv("NOISETRAIN_DATA", str(SHARED))
    study, runs = plan(load_study(path))
    assert runs and study.name == path.stem
