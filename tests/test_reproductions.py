"""Every study in ``reproductions/`` runs, reduced: 2 epochs, 2 seeds, the first value of each data axis and zip
group, smaller training and test sets; its report builds. The full studies are run by hand
(``reproductions/README.md``)."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml

from noisetrain.data import DATASETS
from noisetrain.data.cifar import load_pickle
from noisetrain.data.idx import read_idx
from noisetrain.noise.base import NOISE
from noisetrain.report import build_report
from noisetrain.study import load_study, run_study
from noisetrain.study.grid import assign, axes

FOLDER = Path(__file__).parents[1] / "reproductions"
STUDIES = sorted(FOLDER.glob("*.yaml"))
SHARED = Path(os.environ.get("NOISETRAIN_DATA") or Path(__file__).parents[2] / "shared" / "data")


LARGE = ("mnist", "cifar10", "mnist1d")
"""Data sets whose training split the reduced studies cut to 256 samples."""
TEST_SETS = {
    "cifar-10-batches-py": (256, ("test_batch",)),
    "mnist": (1000, ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")),
}
"""The shared data's test files that the reduced studies read cut to their first images, per folder: how many,
and the files (the models' evaluation on the full test sets took most of a reduced study's time)."""
SMALL_MEASURES = {
    "corruptions": {"corruptions": ["gaussian_noise", "fog"], "severities": [3]},
    "adversarial": {"attacks": ["pgd"], "steps": 1, "eps": [0.03], "passes": 2}, "noise_sweep": {"strengths": [0.1]},
    "flatness": {"iterations": 2, "num_samples": 64},
    "certified": {"n0": 10, "n": 20, "num_points": 8},
}  # fmt: skip
"""Options that make the slow measures quick in the reduced studies."""


def reduced(raw: dict) -> dict:
    """The study with 2 epochs, 2 seeds (1 on CIFAR-10), one value per axis of the data and the noise specs and
    per zip group, 256 training samples of the large data sets (MNIST-1D generates 1,000 in all), quick measure
    options, one worker."""
    found = axes(raw["data"], ("data",), DATASETS)
    for arm, recipe in raw.get("noise", {}).items():
        specs = recipe if isinstance(recipe, list) else recipe.get("noise", [])
        where = ("noise", arm) if isinstance(recipe, list) else ("noise", arm, "noise")
        found += [axis for index, spec in enumerate(specs) for axis in axes(spec, (*where, index), NOISE)]
    raw = assign(raw, [(axis, axis.values[0]) for axis in found])
    raw["train"]["epochs"] = 2
    raw["replicates" if "replicates" in raw else "seeds"] = 1 if raw["data"]["kind"] == "cifar10" else 2  # CPU time
    raw["zip"] = [{name: values[:1] for name, values in group.items()} for group in raw.get("zip", [])]
    raw["execution"] = {**raw.get("execution", {}), "workers": 1}
    if raw["data"]["kind"] in LARGE:
        raw["data"]["train_size"] = 256
    if raw["data"]["kind"] == "mnist1d":
        raw["data"]["num_samples"] = 1000  # generated anew for each run: 3 s for the package's default 5,000
    measures = raw.get("evaluate", {}).get("measures", [])
    for index, spec in enumerate(measures):
        kind = spec if isinstance(spec, str) else spec["kind"]
        if kind in SMALL_MEASURES:
            measures[index] = {**({"kind": kind} if isinstance(spec, str) else spec), **SMALL_MEASURES[kind]}
    return raw


def shrunk_test_sets(folder: Path) -> Path:
    """A data folder with the shared data, the files of ``TEST_SETS`` cut to their first images (in the
    publishers' formats, read by the real loaders); the other files are links to the shared ones."""
    folder.mkdir(parents=True)
    for source in SHARED.iterdir():
        if source.is_dir() and source.name not in TEST_SETS:
            (folder / source.name).symlink_to(source)
    for name, (_, tests) in TEST_SETS.items():
        (folder / name).mkdir()
        for source in (SHARED / name).iterdir():
            if source.name.removesuffix(".gz") not in tests:
                (folder / name / source.name).symlink_to(source)
    images, (file,) = TEST_SETS["cifar-10-batches-py"]
    batch = load_pickle(SHARED / "cifar-10-batches-py" / file)
    batch["data"], batch["labels"] = np.asarray(batch["data"][:images]), batch["labels"][:images]
    (folder / "cifar-10-batches-py" / file).write_bytes(pickle.dumps(batch))
    images, files = TEST_SETS["mnist"]
    for file in files:  # IDX: type 0x08 (uint8), the dimensions, each a big-endian uint32, the bytes
        first = read_idx(SHARED / "mnist" / f"{file}.gz")[:images]
        header = bytes([0, 0, 8, first.ndim]) + np.asarray(first.shape, dtype=">u4").tobytes()
        (folder / "mnist" / file).write_bytes(header + first.tobytes())
    return folder


def test_there_are_reproductions() -> None:
    assert {path.stem for path in STUDIES} == {
        "mnist1d", "functions", "noise_mlp", "noise_mlp_recipes", "noise_cnn", "uci_classification", "uci_regression",
        "cifar10_weight_noise"}


@pytest.mark.slow
@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_reproduction_runs_reduced(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = yaml.safe_load(path.read_text())
    if raw["data"]["kind"] in ("mnist", "cifar10"):
        if not SHARED.is_dir():
            pytest.skip(f"needs the shared data in {SHARED} (set NOISETRAIN_DATA)")
        monkeypatch.setenv("NOISETRAIN_DATA", str(shrunk_test_sets(tmp_path / "data")))
    small = tmp_path / path.name
    small.write_text(yaml.safe_dump(reduced(raw), sort_keys=False))
    result = run_study(load_study(small), tmp_path / "study")
    assert result.statuses["completed"] + result.statuses["early_stopped"] == result.total > 0, result.statuses
    assert build_report(tmp_path / "study").page.is_file()
