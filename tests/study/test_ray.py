"""The Ray backend on a real local Ray instance gives the same results as the local backend."""

from pathlib import Path

import pytest

from noisetrain.study.runner import DB, run_study
from noisetrain.study.store import Store

from studykit import study_config

pytest.importorskip("ray")

COLUMNS = ["key", "measure", "metric", "setting"]


@pytest.mark.slow
def test_ray_backend_matches_the_local_backend(tmp_path: Path) -> None:
    study = study_config(noise={"gaussian": [{"kind": "gaussian", "std": 0.2}]})
    local = run_study(study, tmp_path / "local", workers=2)
    ray = run_study(study, tmp_path / "ray", workers=2, backend="ray")
    assert local.statuses == ray.statuses == {"completed": 4}
    with Store(tmp_path / "local" / DB) as a, Store(tmp_path / "ray" / DB) as b:
        ours, theirs = (s.records().sort_values(COLUMNS).reset_index(drop=True) for s in (a, b))
        assert ours[COLUMNS].equals(theirs[COLUMNS])
        assert (ours.value - theirs.value).abs().max() == 0
        assert set(b.runs().status) == {"completed"}
