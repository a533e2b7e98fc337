"""A corpus of bad inputs to every command: each exits 2 with one ``error:`` line naming the file or field, no
traceback, and leaves every file already on disk byte for byte as it was."""

from __future__ import annotations

import hashlib
import pickle
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from noisetrain.cli import app

runner = CliRunner(env={"COLUMNS": "200"})
TINY = ["--set", "data={kind: digits, train_size: 200}", "--set", "model={kind: mlp, widths: [8]}",
        "--set", "train.epochs=1", "--quiet"]  # fmt: skip
BOMB = "a: &a [x]\n" + "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n"
                              for p, c in zip("abcdefg", "bcdefgh", strict=True))  # 10**7 values from 71 aliases
STUDY = {
    "name": "tiny", "data": {"kind": "digits"}, "model": {"kind": "mlp", "widths": [8]}, "train": {"epochs": 1},
    "seeds": 1, "noise": {"g": [{"kind": "gaussian", "std": 0.1}]}, "evaluate": {"measures": ["clean"]},
}  # fmt: skip


class Foreign:
    """An object no noisetrain checkpoint holds: torch's weights_only loader must refuse to build it."""


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a trained run, broken checkpoints, YAML files and a study store, as a user might have."""
    root = tmp_path_factory.mktemp("place")
    assert runner.invoke(app, ["train", *TINY, "--output", str(root / "run")]).exit_code == 0
    iris = ["--set", "data=iris", "--set", "model={kind: mlp, widths: [8]}", "--set", "train.epochs=1", "--quiet"]
    assert runner.invoke(app, ["train", *iris, "--output", str(root / "iris")]).exit_code == 0
    good = root / "run" / "checkpoint.pt"
    (root / "truncated.pt").write_bytes(good.read_bytes()[:300])
    (root / "text.pt").write_text("not a checkpoint\n")
    torch.save({"a": torch.ones(2)}, root / "foreign.pt")
    torch.save({"format": 1, "payload": Foreign()}, root / "pickle.pt")
    torch.save({"a": 1}, root / "legacy.pt", _use_new_zipfile_serialization=False)
    state = torch.load(good, weights_only=True)
    state["model"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                      for k, v in state["model"].items()}  # fmt: skip
    torch.save(state, root / "nan.pt")
    state = torch.load(good, weights_only=True)
    state["model"] = {k: v[:1] if v.ndim else v for k, v in state["model"].items()}
    torch.save(state, root / "shapes.pt")
    (root / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (root / "nested.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    (root / "list.yaml").write_text("- a\n- b\n")
    (root / "broken.yaml").write_text("a: [1,\n")
    (root / "duplicate.yaml").write_text("data: digits\nmodel: mlp\ntrain: {epochs: 1}\ntrain: {epochs: 2}\n")
    (root / "bomb.yaml").write_text(BOMB)
    (root / "a_file").write_text("in the way\n")
    (root / "folder").mkdir()
    (root / "started").mkdir()  # what a run that failed in its first epoch leaves
    (root / "started" / "config.yaml").write_text((root / "run" / "config.yaml").read_text())
    for name, change in {
        "study": {}, "arms": None, "negative": {"noise": {"g": [{"kind": "gaussian", "std": -0.2}]}},
        "measure": {"evaluate": {"measures": ["clean", "robustness"]}}, "metric": {"report": {"metric": "ece"}},
        "address": {"execution": {"address": "auto"}}, "seeds": {"seeds": 0}, "name": {"name": "a/b"},
        "infinite": {"noise": {"g": [{"kind": "gaussian", "std": float("inf")}]}},
        "lr": {"train": {"epochs": 1, "optimizer": {"lr": float("inf")}}},
        "setting": {"evaluate": {"measures": ["clean"], "settings": {"eps": 0.1}}},
        "selector": {"noise": {"g": [{"kind": "dropout", "at": "output:Conv2d"}]}}, "cuda": {"device": "cuda"},
        "search_arm": {"search": {"arm": "nope", "parameter": "gaussian.std", "low": 0.1, "high": 0.2}},
        "search_range": {"search": {"arm": "g", "parameter": "gaussian.std", "low": 0.5, "high": 0.1}},
        "measure_option": {"evaluate": {"measures": [{"kind": "calibration", "num_bins": 0}]}},
        "baseline_arm": {"noise": {"baseline": [{"kind": "gaussian"}]}}, "repeated_seeds": {"seeds": [1, 1]},
        "typo_field": {"execution": {"worker": 2}},
        "flat_corruptions": {"evaluate": {"measures": ["clean", "corruptions"]}},
        "task_metric": {"report": {"metric": "rmse"}}, "other": {"name": "other"},
        "knn_attack": {"model": {"kind": "knn", "k": 3}, "noise": {},
                       "evaluate": {"measures": ["clean", "adversarial"]}},
    }.items():  # fmt: skip
        text = yaml.safe_dump({**STUDY, **(change or {})}, sort_keys=False)
        if change is None:  # two arms of one name: the second would silently win
            text = text.replace("noise:\n", "noise:\n  g: [{kind: uniform}]\n")
        (root / f"{name}.yaml").write_text(text)
    anchors = BOMB.replace(": &", ": &").splitlines()
    bomb = "\n".join(f"x{line}" for line in anchors)  # the anchors under keys of their own
    (root / "bomb_study.yaml").write_text(f"{yaml.safe_dump(STUDY)}{bomb}\nreport: {{setting: {{eps: *h}}}}\n")
    assert runner.invoke(app, ["study", "run", str(root / "study.yaml"), "-o", str(root / "done"), "-q"]).exit_code == 0
    (root / "junk").mkdir()
    (root / "junk" / "study.db").write_text("not sqlite\n")
    (root / "dbfolder" / "study.db").mkdir(parents=True)
    return root


def args(*parts: str) -> Callable[[Path], list[str]]:
    """A command line whose ``{}`` parts name files in the fixture's folder."""
    return lambda root: [part.replace("{}", str(root)) for part in parts]


CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    # train: files and YAML
    "train missing config": (args("train", "-c", "{}/missing.yaml"), "config file '{}/missing.yaml' does not exist"),
    "train cutout on flat data": (args("train", *TINY, "--set", "noise=[{kind: cutout}]", "-o", "{}/never"),
                                  "noise: the recipe cannot act on the training batches of data 'digits': cutout"),
    "train mixup on regression": (args("train", *TINY, "--set", "data=diabetes",
                                       "--set", "noise=[{kind: mixup}]", "-o", "{}/never"), "soft targets"),
    "train resume of no run": (args("train", "-o", "{}/folder", "--resume"),
                               "resume: '{}/folder' holds no run (no config.yaml); give the folder of a run"),
    "train too many threads": (args("train", *TINY, "--threads", "50000"), "less than or equal to 1024"),
    "train token mask on digits": (args("train", *TINY, "--set", "noise=[{kind: token_mask}]", "-o", "{}/never"),
                                   "noise 'token_mask' needs 'mask_id' and 'vocab_size': set them in its spec, e.g. "
                                   "{kind: token_mask, mask_id: ..., vocab_size: ...}"),
    "train attack bounds cut standardised inputs": (
        args("train", *TINY, "--set", "train.adversarial={attack: {kind: fgsm, eps: 0.1}}", "-o", "{}/never"),
        "train.adversarial.attack.bounds (0.0, 1.0) do not contain the training inputs of data 'digits'"),
    "train mixup with another class count": (
        args("train", *TINY, "--set", "noise=[{kind: mixup, alpha: 0.2, num_classes: 3}]", "-o", "{}/never"),
        "noise[0] (mixup): num_classes=3, but data 'digits' has 10; leave num_classes out, the data gives it"),
    "train without a test split": (args("train", *TINY, "--set", "data={kind: iris, test_size: 0}", "-o", "{}/never"),
                                   "data 'iris' has an empty test split, and a run reports its test metrics"),
    "train into a failed start": (args("train", *TINY, "-o", "{}/started"),
                                  "holds the start of a run that saved no checkpoint (config.yaml), which cannot be "
                                  "resumed: delete that folder"),
    "train resume of a failed start": (args("train", "-o", "{}/started", "--resume"),
                                       "a run that saved none starts again in an empty --output"),
    "train knn with more neighbours than examples": (
        args("train", *TINY, "--set", "model={kind: knn, k: 1000}", "-o", "{}/never"),
        "model.k=1000 needs at least 1000 training examples, and data 'digits' has "),
    "train true as a seed": (args("train", *TINY, "--set", "seed=true", "-o", "{}/never"),
                             "error: invalid config: seed: must be an integer, got true\n"),
    "train into a run's folder": (args("train", *TINY, "-o", "{}/run"),
                                  "'{}/run' holds a run already (config.yaml): continue it with --resume, or write"),
    "train config is a folder": (args("train", "-c", "{}/folder"), "is a folder; give the YAML file"),
    "train binary config": (args("train", "-c", "{}/binary.yaml"), "is not a text file"),
    "train nested config": (args("train", "-c", "{}/nested.yaml"), "nests too deeply"),
    "train list config": (args("train", "-c", "{}/list.yaml"), "must hold a mapping at the top level"),
    "train broken YAML": (args("train", "-c", "{}/broken.yaml"), "is not valid YAML"),
    "train duplicate key": (args("train", "-c", "{}/duplicate.yaml"), "key 'train' is given twice, on lines 3 and 4"),
    "train alias bomb": (args("train", "-c", "{}/bomb.yaml"), "expands to more than 1,000,000 values"),
    "train bad override YAML": (args("train", "--set", "train.epochs=[1,"), "the value is not valid YAML"),
    "train override without =": (args("train", "--set", "epochs"), "must look like key.path=value"),
    "train zero epochs": (args("train", *TINY, "--set", "train.epochs=0"), "train.epochs"),
    "train infinite lr": (args("train", *TINY, "--set", "train.optimizer.lr=.inf"), "should be a finite number"),
    "train infinite std": (args("train", *TINY, "--set", "noise=[{kind: gaussian, std: .inf}]"),
                           "GaussianNoise.std must be in [0, inf), got inf"),
    "train misspelt noise": (args("train", *TINY, "--set", "noise=[{kind: gausian}]"), "did you mean 'gaussian'?"),
    "train misspelt parameter": (args("train", *TINY, "--set", "noise=[{kind: gaussian, stdd: 0.1}]"),
                                 "did you mean 'std'?"),
    "train unknown data": (args("train", *TINY, "--set", "data=imagenet"), "unknown dataset kind 'imagenet'"),
    "train unknown model option": (args("train", *TINY, "--set", "model.depth=3"), "has no parameter 'depth'"),
    "train missing CUDA": (args("train", *TINY, "--set", "device=cuda", "-o", "{}/cuda"), "torch sees no CUDA device"),
    "train negative seed": (args("train", *TINY, "--set", "seed=-1"), "seed"),
    "train resume without checkpoint": (args("train", *TINY, "-o", "{}/fresh", "--resume"), "resume: no checkpoint"),
    "train output is a file": (args("train", *TINY, "-o", "{}/a_file"), "a_file"),
    "train output nowhere to write": (args("train", *TINY, "-o", "/proc/noisetrain/run"),
                                      "output: cannot write in '/proc/noisetrain/run'"),
    "train missing data folder": (args("train", *TINY, "--set", "data={kind: mnist, root: /nonexistent/mnist}",
                                       "-o", "{}/run"), "/nonexistent/mnist"),  # the run's config.yaml stays
    "train resume with other settings": (args("train", "-c", "{}/run/config.yaml", "--set", "train.epochs=3",
                                              "-o", "{}/run", "--resume", "-q"), "was written with another train"),
    "train resume another run's folder": (args("train", *TINY, "--set", "seed=5", "-o", "{}/run", "--resume"),
                                          "was written with another seed"),
    "train bad validation share": (args("train", *TINY, "--set", "data.val_size=1.5"), "val_size"),
    "train zero batch size": (args("train", *TINY, "--set", "train.batch_size=0"), "train.batch_size"),
    "train unknown loss": (args("train", *TINY, "--set", "train.loss=hinge"), "train.loss"),
    "train unknown monitor": (args("train", *TINY, "--set", "train.early_stopping={monitor: val_f1}"),
                              "train.early_stopping.monitor"),
    "train bad attack": (args("train", *TINY, "--set", "train.adversarial={attack: {kind: pgd, eps: -1}}"), "eps"),
    "train bad lr schedule": (args("train", *TINY, "--set", "train.lr_schedule={kind: cosine, start: -1}"),
                              "lr_schedule"),
    "train unknown position": (args("train", *TINY, "--set", "noise=[{kind: gaussian, at: middle}]"),
                               "unknown position 'middle'"),
    "train bad label noise": (args("train", *TINY, "--set", "noise=[{kind: label_noise, p: 1.5}]"), "noise[0]"),
    "train unknown device": (args("train", *TINY, "--set", "device=gpu0"), "device must be 'cpu', 'cuda'"),
    "train misspelt field": (args("train", *TINY, "--set", "train.epoch=3"), "did you mean 'epochs'?"),
    "train misspelt section": (args("train", *TINY, "--set", "sed=1"), "did you mean 'seed'?"),
    "train zero train size": (args("train", *TINY, "--set", "data.train_size=0"), "train_size"),
    "train selector matches nothing": (args("train", *TINY, "--set", "noise=[{kind: dropout, at: 'output:Conv2d'}]"),
                                       "Conv2d"),
    # evaluate: checkpoints and measures
    "evaluate missing checkpoint": (args("evaluate", "-c", "{}/missing.pt"),
                                    "checkpoint '{}/missing.pt' does not exist"),
    "evaluate checkpoint is a folder": (args("evaluate", "-c", "{}/folder"), "is a folder; give its checkpoint.pt"),
    "evaluate truncated checkpoint": (args("evaluate", "-c", "{}/truncated.pt"), "is not a readable checkpoint"),
    "evaluate text checkpoint": (args("evaluate", "-c", "{}/text.pt"), "is not a readable checkpoint"),
    "evaluate foreign checkpoint": (args("evaluate", "-c", "{}/foreign.pt"), "is not a noisetrain checkpoint"),
    "evaluate a short text as checkpoint": (args("evaluate", "-c", "{}/a_file"), "is not a readable checkpoint"),
    "evaluate a device as checkpoint": (args("evaluate", "-c", "/dev/null"), "'/dev/null' is not a file"),
    "evaluate pickle payload": (args("evaluate", "-c", "{}/pickle.pt"), "no code in it ran"),
    "evaluate legacy format": (args("evaluate", "-c", "{}/legacy.pt"), "legacy.pt"),
    "evaluate NaN weights": (args("evaluate", "-c", "{}/nan.pt"), "non-finite weights"),
    "evaluate mismatched shapes": (args("evaluate", "-c", "{}/shapes.pt"), "does not fit the model its config builds"),
    "evaluate no measures": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", ""), "give at least one measure"),
    "evaluate misspelt measure": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "clen"),
                                  "did you mean 'clean'?"),
    "evaluate unknown measure": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "clean,robust"),
                                 "unknown measure 'robust'"),
    "evaluate negative eps": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "adversarial:eps=-1"),
                              "eps must be in [0, inf), got -1"),
    "evaluate bad option YAML": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "adversarial:eps=@0"),
                                 "not valid YAML"),
    "evaluate unclosed bracket": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "adversarial:eps=[0"),
                                  "measures: 'adversarial:eps=[0': a '[' is never closed"),
    "evaluate unknown sweep kind": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "noise_sweep:kinds=gaussan"),
                                    "gaussan"),
    "evaluate zero batch size": (args("evaluate", "-c", "{}/run/checkpoint.pt", "--batch-size", "0"),
                                 "Invalid value for '--batch-size'"),
    "evaluate missing baseline": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "corruptions",
                                       "--baseline", "{}/missing.pt"), "missing.pt"),
    "evaluate baseline without corruptions": (args("evaluate", "-c", "{}/run/checkpoint.pt", "--baseline",
                                                   "{}/run/checkpoint.pt"), "add corruptions to --measures, or leave"),
    "evaluate baseline of other data": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "corruptions",
                                             "--baseline", "{}/iris/checkpoint.pt"), "was trained on other data than"),
    "evaluate corruptions on flat data": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "corruptions"),
                                          "corruptions"),
    "evaluate negative sigma": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "certified:sigma=-1"), "sigma"),
    "evaluate zero bins": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "calibration:num_bins=0"),
                           "num_bins"),
    "evaluate negative rho": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "flatness:rho=-0.1"), "rho"),
    "evaluate zero samples": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "uncertainty:samples=0"),
                              "samples"),
    "evaluate unknown norm": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "adversarial:norm=l3"), "norm"),
    "evaluate unknown attack": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "adversarial:attacks=cw"),
                                "attacks"),
    "evaluate unknown option": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-m", "clean:bins=3"),
                                "unknown option 'bins'"),
    "evaluate negative seed": (args("evaluate", "-c", "{}/run/checkpoint.pt", "--seed", "-1"),
                               "Invalid value for '--seed'"),
    "evaluate missing option value": (args("evaluate", "-c"), "Option '-c' requires an argument"),
    "evaluate output is a file": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-o", "{}/a_file"),
                                  "a_file' (a file is in the way); give a folder you can write in"),
    "evaluate output inside a file": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-o", "{}/a_file/sub"),
                                      "--output: cannot write in"),
    "evaluate output nowhere to write": (args("evaluate", "-c", "{}/run/checkpoint.pt", "-o", "/proc/noisetrain/x"),
                                         "--output: cannot write in '/proc/noisetrain/x'"),
    "evaluate missing checkpoint into a new folder": (args("evaluate", "-c", "{}/missing.pt", "-o", "{}/new/records"),
                                                      "missing.pt' does not exist"),
    # study validate and run
    "validate missing file": (args("study", "validate", "{}/missing.yaml"), "does not exist"),
    "validate folder": (args("study", "validate", "{}/folder"), "is a folder"),
    "validate a device file": (args("study", "validate", "/dev/null"), "'/dev/null' is not a regular file"),
    "validate broken YAML": (args("study", "validate", "{}/broken.yaml"), "is not valid YAML"),
    "validate two arms of one name": (args("study", "validate", "{}/arms.yaml"), "key 'g' is given twice"),
    "validate an arm that repeats another": (
        args("study", "validate", "{}/study.yaml", "--set",
             "noise={a: [{kind: gaussian, std: 0.1}], b: [{kind: gaussian, std: 0.1}]}"),
        "noise.b: every run of this arm is a run of arm 'a'"),
    "validate alias bomb in report": (args("study", "validate", "{}/bomb_study.yaml"), "expands to more than"),
    "validate negative std": (args("study", "validate", "{}/negative.yaml"), "noise.g[0]: GaussianNoise.std"),
    "validate infinite std": (args("study", "validate", "{}/infinite.yaml"), "GaussianNoise.std must be in [0, inf)"),
    "validate infinite lr": (args("study", "validate", "{}/lr.yaml"), "finite number"),
    "validate unknown measure": (args("study", "validate", "{}/measure.yaml"), "unknown measure 'robustness'"),
    "validate unrecorded metric": (args("study", "validate", "{}/metric.yaml"), "report.metric"),
    "validate metric of the other task": (
        args("study", "validate", "{}/task_metric.yaml"), "report.metric: 'rmse' is a regression metric"),
    "validate address without ray": (args("study", "validate", "{}/address.yaml"), "execution.address"),
    "validate zero seeds": (args("study", "validate", "{}/seeds.yaml"), "seeds"),
    "validate a billion seeds": (args("study", "validate", "{}/study.yaml", "--set", "seeds=1000000000"),
                                 "seeds: a count must be in [1, 1,000,000], got 1,000,000,000"),
    "validate slash in name": (args("study", "validate", "{}/name.yaml"), "name must be letters"),
    "validate unused setting": (args("study", "validate", "{}/setting.yaml"), "'eps' is accepted by none"),
    "validate selector matches nothing": (args("study", "validate", "{}/selector.yaml"),
                                          "arm 'g' (g): noise.g[0]: selector 'output:Conv2d' matched no module"),
    "validate missing CUDA": (args("study", "validate", "{}/cuda.yaml"), "torch sees no CUDA device"),
    "validate unknown search arm": (args("study", "validate", "{}/search_arm.yaml"), "search"),
    "validate empty search range": (args("study", "validate", "{}/search_range.yaml"), "search"),
    "validate bad measure option": (args("study", "validate", "{}/measure_option.yaml"),
                                    "evaluate.measures[0] (calibration): num_bins"),
    "validate an arm called baseline": (args("study", "validate", "{}/baseline_arm.yaml"), "'baseline' (reserved)"),
    "validate attack on kNN": (args("study", "validate", "{}/knn_attack.yaml"),
                               "measures[1] (adversarial) on data 'digits': adversarial: KNN is fitted in closed"),
    "validate repeated seeds": (args("study", "validate", "{}/repeated_seeds.yaml"), "seeds must not repeat"),
    "validate misspelt field": (args("study", "validate", "{}/typo_field.yaml"), "did you mean 'workers'?"),
    "validate measure the data cannot take": (args("study", "validate", "{}/flat_corruptions.yaml"),
                                              "evaluate.measures[1] (corruptions)"),
    "validate negative seeds override": (args("study", "validate", "{}/study.yaml", "--set", "seeds=-1"), "seeds"),
    "validate zero workers": (args("study", "validate", "{}/study.yaml", "--set", "execution.workers=0"),
                              "execution.workers"),
    "run bad study": (args("study", "run", "{}/negative.yaml", "-o", "{}/never", "-q"), "GaussianNoise.std"),
    "run unknown backend": (args("study", "run", "{}/study.yaml", "--backend", "spark", "-o", "{}/never", "-q"),
                            "execution.backend"),
    "run zero workers": (args("study", "run", "{}/study.yaml", "--workers", "0", "-o", "{}/never"), "--workers"),
    "run misspelt command": (args("study", "rn", "{}/study.yaml"), "No such command 'rn'"),
    "misspelt command": (args("trian"), "Did you mean 'train'?"),
    "run output is a file": (args("study", "run", "{}/study.yaml", "-o", "{}/a_file", "-q"), "a_file"),
    "run output nowhere to write": (args("study", "run", "{}/study.yaml", "-o", "/proc/noisetrain/study", "-q"),
                                    "study output: cannot write in '/proc/noisetrain/study'"),
    "run another study into a study's folder": (args("study", "run", "{}/other.yaml", "-o", "{}/done", "-q"),
                                                "holds the study 'tiny', not 'other': run this one into another"),
    # report, export, recommend
    "report without store": (args("report", "{}/folder"), "no study store"),
    "report bad format": (args("report", "{}/done", "--formats", "pdf"), "formats must be one or more of md, latex"),
    "report no format": (args("report", "{}/done", "--formats", " , "), "formats must be one or more of md, latex, "
                         "csv, html; got none"),
    "report store is junk": (args("report", "{}/junk"), "is not a noisetrain study store"),
    "report store is a folder": (args("report", "{}/dbfolder"), "no study store"),
    "report output is a file": (args("report", "{}/done", "-o", "{}/a_file"), "a_file"),
    "report output nowhere to write": (args("report", "{}/done", "-o", "/proc/noisetrain/report"),
                                       "report output: cannot write in '/proc/noisetrain/report'"),
    "export output nowhere to write": (args("study", "export", "{}/done", "-o", "/proc/noisetrain/export"),
                                       "export output: cannot write in '/proc/noisetrain/export'"),
    "export bad format": (args("study", "export", "{}/done", "--format", "xlsx"), "export format must be"),
    "export without store": (args("study", "export", "{}/folder"), "no study store"),
    "recommend unknown data type": (args("recommend", "--data-type", "audio-ish"), "data"),
    "recommend into a missing folder": (args("recommend", "-t", "tabular", "--write", "{}/missing/s.yaml"),
                                        "error: {}/missing/s.yaml: no such file or folder"),
    "recommend onto a folder": (args("recommend", "-t", "tabular", "--write", "{}/folder"), "folder' exists"),
    "recommend onto a file": (args("recommend", "-t", "tabular", "--write", "{}/a_file"), "a_file' exists; recommend"),
    "recommend seeds without a file": (args("recommend", "-t", "tabular", "--seeds", "3"),
                                       "--seeds sets the seeds of the study file that --write writes"),
    "recommend too many seeds": (args("recommend", "-t", "tabular", "--seeds", "2000000", "--write", "{}/s.yaml"),
                                 "seeds: a count must be in [1, 1,000,000], got 2,000,000"),
    "recommend more runs than max_runs": (args("recommend", "-t", "tabular", "--seeds", "10000", "--write",
                                               "{}/s.yaml"),
                                          "--seeds 10,000: the study would have 110,000 runs, more than "
                                          "execution.max_runs (100,000); use at most 9,090 seeds"),
}  # fmt: skip


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` and its content's hash (folders as such)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for p in sorted(root.rglob("*"))}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_is_one_line_exit_2_and_changes_nothing(
    case: str, place: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(place)  # default output folders (runs/train, studies/NAME) land where the snapshot sees them
    command, expected = CASES[case]
    before = snapshot(place)
    result = runner.invoke(app, command(place))
    output = result.output
    assert result.exit_code == 2, f"{case}: exit {result.exit_code}\n{output}\n{result.exception!r}"
    assert "Traceback" not in output and "internal error" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert expected.replace("{}", str(place)) in output, output
    assert snapshot(place) == before, f"{case} changed files on disk"


def test_debug_shows_the_traceback_and_a_bug_names_its_log(place: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    debugged = runner.invoke(app, ["--debug", "evaluate", "-c", str(place / "missing.pt")])
    assert debugged.exit_code == 1 and "does not exist" in str(debugged.exception)  # raised, not reported
    import noisetrain.config

    def broken(*_: object, **__: object) -> None:
        raise ZeroDivisionError("\n        a bug\n        in two lines")  # the line shows its first words

    monkeypatch.setattr(noisetrain.config, "load_config", broken)
    result = runner.invoke(app, ["train", *TINY])
    assert result.exit_code == 1 and "internal error (a bug in noisetrain): ZeroDivisionError: a bug" in result.output
    log = Path(result.output.split("its traceback is in ")[1].split(";")[0])
    assert "Traceback" in log.read_text() and "ZeroDivisionError" in log.read_text()
    log.unlink()


def test_ctrl_c_is_one_line_and_exit_status_130(place: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import noisetrain.config

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(noisetrain.config, "load_config", interrupted)
    result = runner.invoke(app, ["train", *TINY])
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert result.output.strip() == (
        "interrupted: what was written stays; a study's finished runs are in its store, and the same command resumes it"
    )


def test_the_corpus_is_large_and_the_files_are_what_they_claim(place: Path) -> None:
    assert len(CASES) >= 100
    with pytest.raises(pickle.UnpicklingError):  # the payload really is refused by torch itself
        torch.load(place / "pickle.pt", weights_only=True)
    assert torch.load(place / "legacy.pt", weights_only=True) == {"a": 1}  # a readable file of another format


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (PermissionError(13, "Permission denied", "/data/study.lock"), "/data/study.lock: permission denied;"),
        (OSError(28, "No space left on device", "/r/h.md"), "/r/h.md: no space left on the device; free some space"),
        (OSError(30, "Read-only file system", "/mnt/x"), "/mnt/x: the file system is read-only; choose another"),
        (IsADirectoryError(21, "Is a directory", "/a"), "/a: is a folder; give a file"),
        (FileExistsError(17, "File exists", "/out"), "/out: exists and is not a folder; choose another path"),
        (NotADirectoryError(20, "Not a directory", "/f/x"), "/f/x: a part of this path is a file, not a folder"),
        (sqlite3.OperationalError("disk I/O error"), "the study store could not be read or written (disk I/O error)"),
        (MemoryError(), "out of memory; use a smaller batch_size"),
        (ZeroDivisionError("x"), None),
    ],
)
def test_every_expected_failure_has_its_line(error: Exception, line: str | None) -> None:
    from noisetrain.terminal import explain

    found = explain(error)
    assert found is None if line is None else found.startswith(line), found


def test_a_full_disk_while_writing_the_report_is_one_line_and_keeps_the_old_report(
    place: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import noisetrain.report.formats as formats

    before = snapshot(place / "done" / "report")

    def full(path: Path, data: object) -> Path:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(formats, "write_atomic", full)
    result = runner.invoke(app, ["report", str(place / "done")])
    assert result.exit_code == 2 and "headline.md: no space left on the device" in result.output
    assert snapshot(place / "done" / "report") == before


def test_is_stochastic_is_nan_safe() -> None:
    from torch import nn

    from noisetrain.evaluate.records import is_stochastic

    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    assert not is_stochastic(model, torch.ones(4, 3))  # NaN outputs in the same places: deterministic
    assert is_stochastic(nn.Dropout(0.5).train(), torch.ones(64, 3))
