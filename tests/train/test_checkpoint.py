import csv
import json
import re
from functools import partial

import pytest
import torch
from torch import nn

from noisetrain.registry import ConfigError
from noisetrain.train import Callback, fit, load_checkpoint, save_checkpoint
from noisetrain.train.callbacks import MetricsWriter

from testkit import toy_data

NOISE = [
    {"kind": "gaussian", "std": {"kind": "cosine", "start": 0.3}},
    {"kind": "dropout", "p": 0.2, "at": "output:ReLU"},
    {"kind": "weight_noise", "std": 0.02, "at": "weights:Linear"},
    {"kind": "label_noise", "rate": 0.1},
    {"kind": "gradient_noise", "eta": 0.01},
]
CONFIG = {
    "epochs": 5,
    "batch_size": 40,
    "optimizer": {"kind": "sgd", "lr": 0.05, "momentum": 0.9},
    "lr_schedule": {"kind": "warmup", "value": 1.0, "warmup": 0.3},
    "early_stopping": {"patience": 10},
    "adversarial": {"attack": {"kind": "fgsm", "eps": 0.1, "random_start": True, "bounds": None}},
}


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 3))


class Interrupt(Callback):
    def __init__(self, after: int):
        self.after = after

    def on_epoch_end(self, loop, record):
        if record["epoch"] == self.after:
            raise KeyboardInterrupt


def strip(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


def tensors(module):
    return [v for v in module.state_dict().values() if isinstance(v, torch.Tensor)]


def test_resume_reaches_the_same_final_weights(tmp_path):
    whole = model()
    expected = fit(whole, toy_data(), noise=NOISE, config=CONFIG, seed=7)
    broken = model()
    checkpoint = tmp_path / "run.pt"
    config = {**CONFIG, "checkpoint_every": 1}
    with pytest.raises(KeyboardInterrupt):
        fit(broken, toy_data(), noise=NOISE, config=config, seed=7, checkpoint=checkpoint, callbacks=[Interrupt(3)])
    assert load_checkpoint(checkpoint)["epoch"] == 2  # the epoch-3 checkpoint was never written
    resumed = model()
    result = fit(resumed, toy_data(), noise=NOISE, config=config, seed=7, checkpoint=checkpoint, resume=checkpoint)
    assert strip(result.history) == strip(expected.history)
    assert all(torch.equal(a, b) for a, b in zip(tensors(whole), tensors(resumed), strict=True))
    assert load_checkpoint(checkpoint)["epoch"] == 5
    interrupted = load_checkpoint(checkpoint)  # the run's seconds: the two epochs before the resume and the rest
    assert interrupted["ended"] == ["completed", "trained for 5 epochs"]
    assert result.seconds >= sum(record["seconds"] for record in result.history)


def test_a_resumed_run_writes_each_epoch_once_into_its_metrics(tmp_path):
    """Interrupted after epoch 3 with a checkpoint at epoch 2, the run trains epoch 3 again: its metrics files hold
    each epoch once, as an uninterrupted run's do."""
    checkpoint, config = tmp_path / "checkpoint.pt", {**CONFIG, "checkpoint_every": 2}
    run = partial(fit, config=config, checkpoint=checkpoint)
    with pytest.raises(KeyboardInterrupt):
        run(model(), toy_data(), callbacks=[MetricsWriter(tmp_path), Interrupt(3)])
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3 and load_checkpoint(checkpoint)["epoch"] == 2
    run(model(), toy_data(), resume=checkpoint, callbacks=[MetricsWriter(tmp_path)])
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert epochs == [int(row["epoch"]) for row in rows] == [1, 2, 3, 4, 5]


def test_resuming_a_run_that_ended_trains_nothing_and_saves_nothing(tmp_path):
    """An early-stopped run's final checkpoint holds its best weights at its last epoch: training on from it would
    be another run. Resuming it gives the run's own result and leaves the checkpoint as it was."""
    checkpoint = tmp_path / "run.pt"
    config = {**CONFIG, "epochs": 8, "early_stopping": {"patience": 1, "min_delta": 100.0}}
    first = fit(model(), toy_data(), config=config, seed=3, checkpoint=checkpoint)
    assert first.status == "early_stopped" and len(first.history) == 2 and not first.ended_before
    saved = checkpoint.read_bytes()
    again = fit(model(), toy_data(), config=config, seed=3, checkpoint=checkpoint, resume=checkpoint)
    assert again.ended_before and (again.status, again.message) == (first.status, first.message)
    assert again.history == first.history and again.best_epoch == first.best_epoch == 1
    assert again.seconds == load_checkpoint(checkpoint)["seconds"] and 0 < again.seconds <= first.seconds
    assert checkpoint.read_bytes() == saved


def test_checkpoint_holds_the_run_and_loads_weights_only(tmp_path):
    path = tmp_path / "final.pt"
    fit(model(), toy_data(), noise=NOISE, config={**CONFIG, "epochs": 1}, checkpoint=path, extra={"run": {"a": 1}})
    state = torch.load(path, weights_only=True)
    keys = {"model", "optimizer", "scheduler", "noise", "rng", "early_stopping", "history", "config", "seed"}
    assert keys <= set(state)
    assert state["run"] == {"a": 1} and state["epoch"] == 1 and state["config"]["optimizer"]["kind"] == "sgd"


def test_resume_refuses_other_settings(tmp_path):
    path = tmp_path / "run.pt"
    fit(model(), toy_data(), config={"epochs": 1}, checkpoint=path, seed=1)
    with pytest.raises(ConfigError, match="other training settings or another seed"):
        fit(model(), toy_data(), config={"epochs": 1}, resume=path, seed=2)


def test_checkpoint_files_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(ConfigError, match="not a noisetrain checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    save_checkpoint({"x": 1}, tmp_path / "sub" / "ok.pt")
    assert load_checkpoint(tmp_path / "sub" / "ok.pt")["x"] == 1
    assert not list((tmp_path / "sub").glob("*.tmp"))


def test_any_file_that_is_no_checkpoint_is_named_not_an_internal_error(tmp_path):
    """torch's weights-only loader raises KeyError or IndexError on some short text files (``echo hi > hi.pt``):
    an internal error, exit 1, where a user gave the wrong file."""
    import random

    rng = random.Random(0)
    garbage = [b"hi\n", b"ab", b"hello", b"{}", *(rng.randbytes(rng.choice([1, 2, 3, 5, 10, 50, 200])) for _ in
                                                  range(300))]  # fmt: skip
    for index, data in enumerate(garbage):
        path = tmp_path / f"{index}.pt"
        path.write_bytes(data)
        with pytest.raises(ConfigError, match=rf"'{re.escape(str(path))}' is not a (readable|noisetrain) checkpoint"):
            load_checkpoint(path)
    with pytest.raises(ConfigError, match=r"checkpoint '/dev/null' is not a file; give a checkpoint\.pt"):
        load_checkpoint("/dev/null")
