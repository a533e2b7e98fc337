"""Fixtures shared across the test folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n 2: one thread per worker, not two workers of two threads
    os.environ.pop("COLUMNS", None)  # set by the workers; rich's console, made at import, would keep it for good
    torch.set_num_threads(1)

from noisetrain.cli import app  # after the worker's COLUMNS is gone


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``noisetrain demo`` run once (70 runs, about a minute): its study folder and what it printed at 80 columns."""
    folder = tmp_path_factory.mktemp("demo")
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["demo", "--output", str(folder), "-q"])
    assert result.exit_code == 0, result.output
    return folder, result.output


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked ``cuda`` where torch sees no GPU (``pytest -m cuda`` runs just them on a GPU)."""
    if not torch.cuda.is_available():
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(pytest.mark.skip(reason="needs CUDA"))
