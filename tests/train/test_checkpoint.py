import pytest
import torch
from torch import nn

from noisetrain.registry import ConfigError
from noisetrain.train import Callback, fit, load_checkpoint, save_checkpoint

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
