"""The README's Python examples must run as written (a tiny loader stands in for the user's data)."""

import re
from pathlib import Path

import pytest
import torch

from noisetrain import ConfigError

README = Path(__file__).parents[1] / "README.md"
BAD_SPEC = 'nt.build_noise({"kind": "gausian"})'


def test_readme_examples_run():
    tour, config = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[:2]
    loader = [(torch.randn(16, 64), torch.randint(0, 10, (16,))) for _ in range(3)]
    namespace = {"epochs": 2, "loader": loader, "x": loader[0][0]}
    exec(tour.replace("    ...\n", "    pass\n"), namespace)
    assert BAD_SPEC in config
    exec(config.replace(BAD_SPEC, ""), namespace)  # reuses the tour's model and imports
    assert namespace["model"](torch.randn(4, 64)).shape == (4, 10)
    expected = r"unknown noise kind 'gausian' \(did you mean 'gaussian'\?\); known kinds: alpha_dropout, "
    with pytest.raises(ConfigError, match=expected):
        exec(BAD_SPEC, namespace)


def test_readme_training_run_example():
    block = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[2]
    namespace: dict = {}
    exec("import noisetrain as nt\n" + block, namespace)
    result = namespace["result"]
    assert result.train.status in ("completed", "early_stopped") and result.test["test_accuracy"] > 0.8


def test_readme_cli_examples_use_existing_configs():
    for path in re.findall(r"--config (examples/\S+\.yaml)", README.read_text()):
        assert (README.parent / path).is_file(), path


def test_readme_evaluation_example():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    namespace: dict = {}
    exec("import noisetrain as nt\n" + blocks[2] + blocks[3], namespace)
    measures = {r.measure for r in namespace["records"]}
    assert measures == {"clean", "noise_sweep", "adversarial", "calibration"}


def test_readme_study_file_validates(tmp_path):
    from noisetrain.study import load_study, plan

    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S) if b.startswith("name:")]
    (tmp_path / "study.yaml").write_text(block)
    study, runs = plan(load_study(tmp_path / "study.yaml"))
    assert study.search is not None and {r.arm for r in runs} >= {"baseline", "activation", "adversarial"}
