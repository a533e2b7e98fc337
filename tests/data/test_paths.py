"""Root folder resolution, candidate folders and the message when data are missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from noisetrain.data.idx import MNIST
from noisetrain.data.paths import ENV_VAR, candidate_folders, data_root, default_root, find_folder, missing
from noisetrain.registry import ConfigError

REQUIRED = [("a", "a.gz"), ("b",)]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No NOISETRAIN_DATA, and a cache folder under ``tmp_path``."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_root_order_explicit_then_env_then_cache(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_root() == clean_env / "cache" / "noisetrain" / "data"
    assert data_root(None) == default_root()
    monkeypatch.setenv(ENV_VAR, str(clean_env / "env"))
    assert data_root(None) == clean_env / "env"
    assert data_root(clean_env / "mine") == clean_env / "mine"
    assert data_root(str(clean_env / "mine")) == clean_env / "mine"


def test_home_default_and_user_expansion(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_root() == tmp_path / ".cache" / "noisetrain" / "data"
    assert data_root("~/data") == tmp_path / "data"


def test_empty_env_var_counts_as_unset(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "")
    assert data_root(None) == default_root()
    assert candidate_folders(None, "mnist") == [default_root() / "mnist"]


def test_candidates(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert candidate_folders(clean_env / "r", "mnist") == [clean_env / "r" / "mnist", clean_env / "r"]
    monkeypatch.setenv(ENV_VAR, str(clean_env / "env"))
    assert candidate_folders(None, "mnist") == [clean_env / "env" / "mnist", default_root() / "mnist"]
    env, cache = clean_env / "env", default_root()
    both = [env / "mnist", env / "MNIST/raw", cache / "mnist", cache / "MNIST/raw"]
    assert candidate_folders(None, "mnist", ("MNIST/raw",)) == both
    assert candidate_folders(env, "mnist", ("MNIST/raw",)) == [env / "mnist", env / "MNIST/raw", env]


def test_find_folder_takes_the_first_complete_candidate(tmp_path: Path) -> None:
    first, second, third = (tmp_path / name for name in ("first", "second", "third"))
    for folder, files in ((first, ["a"]), (second, ["a.gz", "b"]), (third, ["a", "b"])):
        folder.mkdir()
        for name in files:
            (folder / name).write_bytes(b"")
    assert missing(first, REQUIRED) == ["b"]
    assert missing(tmp_path / "absent", REQUIRED) == ["a|a.gz", "b"]
    assert find_folder([tmp_path / "absent", first, second, third], REQUIRED) == second
    assert find_folder([first], REQUIRED) is None


def test_bad_root_type() -> None:
    with pytest.raises(ConfigError, match="root must be a folder path"):
        data_root(3)  # type: ignore[arg-type]


def test_missing_data_message_lists_every_place_and_the_remedies(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(clean_env / "env"))
    (clean_env / "env" / "mnist").mkdir(parents=True)
    (clean_env / "env" / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(ConfigError) as error:
        MNIST().load()
    message = str(error.value)
    assert "MNIST files not found" in message
    assert f"{clean_env / 'env' / 'mnist'} (missing train-labels-idx1-ubyte|train-labels-idx1-ubyte.gz" in message
    assert "train-images" not in message.split("\n")[1]  # the file that is there is not reported
    assert f"{default_root() / 'mnist'} (no such folder)" in message
    assert ENV_VAR in message and "download=True" in message
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz" in message
    assert f"into {clean_env / 'env' / 'mnist'}" in message


def test_explicit_root_may_be_the_data_folder_itself(tmp_path: Path, mnist_like) -> None:
    mnist_like(tmp_path / "digits")
    data = MNIST(root=tmp_path / "digits", val_size=0.0).load()
    assert data.info["source"] == str(tmp_path / "digits")
    assert len(data.train) == 60
