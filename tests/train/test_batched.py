"""fit_batched: every member equals its own ``fit`` run up to float rounding; batchable says what cannot batch.

Tolerance: relative 1e-5 on every history value and test metric, 1e-5 relative + 1e-6 absolute on weights. The
batched matrix products sum in another order than one run's, so values differ by float32 rounding (observed
<= 6e-7 relative, weights <= 2e-7 absolute); the networks and epochs here are small enough that training does
not amplify it.
Every test runs with one torch thread, as study workers do: on a busy machine, the thread pool's wake-ups on the
stacked tensors cost milliseconds per operation.
"""

import json
import math

import pytest
import torch

from noisetrain.config import validate
from noisetrain.registry import ConfigError
from noisetrain.train import Callback, fit, load_run, run
from noisetrain.train.batched import batchable, fit_batched, member_parameters, run_batched, stack_models
from noisetrain.train.run import build

RTOL, ATOL = 1e-5, 1e-6
FUNCTION = {
    "kind": "function", "name": "rastrigin", "dim": 4, "n_train": 250, "n_val": 60, "n_test": 60,
    "target_noise": 5, "scale": "minmax", "scale_target": "minmax", "seed": "run",
}  # fmt: skip
MLP = {"kind": "mlp", "widths": [16], "activation": "sigmoid"}
REGRESSION = {"epochs": 3, "batch_size": 64, "loss": "l1", "optimizer": {"kind": "adam", "lr": 0.01}}
STOPPING = {
    "epochs": 30, "batch_size": 64, "loss": "mse", "optimizer": {"kind": "adam", "lr": 0.05},
    "early_stopping": {"monitor": "val_loss", "patience": 2},
}  # fmt: skip
"""Designed to stop early: seeds 0, 1 and 3 stop after epochs 4, 7 and 3, by clear margins (MSE: no kinks)."""


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def configs(seeds, *, data=FUNCTION, model=MLP, noise=(), train=REGRESSION):
    return [validate({"data": data, "model": model, "noise": list(noise), "train": train, "seed": s}) for s in seeds]


def separate(runs, change=None):
    """Each run trained alone by ``fit``: ``[(result, model)]``; ``change(index, model)`` edits a model first."""
    found = []
    for index, config in enumerate(runs):
        data, model = build(config)
        if change is not None:
            change(index, model)
        found.append((fit(model, data, noise=config.noise, config=config.train, seed=config.seed), model))
    return found


def batched(runs, change=None, callbacks=None):
    """The runs trained together by ``fit_batched``: ``[(result, model)]``."""
    built = [build(config) for config in runs]
    models = [model for _, model in built]
    for index, model in enumerate(models):
        if change is not None:
            change(index, model)
    results = fit_batched(
        models, [data for data, _ in built], seeds=[c.seed for c in runs], noises=[c.noise for c in runs],
        config=runs[0].train, callbacks=callbacks,
    )  # fmt: skip
    return list(zip(results, models, strict=True))


def assert_same_run(one, other, rtol=RTOL):
    """Same status, message, best epoch, epochs and record keys (in order); values within ``rtol``."""
    (a, model_a), (b, model_b) = one, other
    assert (b.status, b.message, b.best_epoch) == (a.status, a.message, a.best_epoch)
    assert [list(record) for record in b.history] == [list(record) for record in a.history]
    for record_a, record_b in zip(a.history, b.history, strict=True):
        for key, value in record_a.items():
            if key != "seconds":
                assert record_b[key] == pytest.approx(value, rel=rtol, abs=1e-9), key
    for (name, p), (_, q) in zip(model_a.state_dict().items(), model_b.state_dict().items(), strict=True):
        torch.testing.assert_close(q, p, rtol=rtol, atol=ATOL, msg=name)
    assert not model_b.training


class Snapshots(Callback):
    """The member's weights at the end of every epoch."""

    def __init__(self):
        self.weights = []

    def on_epoch_end(self, loop, record):
        self.weights.append({k: v.clone() for k, v in loop.model.state_dict().items()})


def same_weights(model, weights):
    return all(torch.equal(value, weights[key]) for key, value in model.state_dict().items())


@pytest.mark.parametrize("bias", [True, False])
def test_a_stacked_model_computes_each_members_forward_and_gives_back_its_parameters(bias):
    members = [
        torch.nn.Sequential(torch.nn.Linear(5, 7, bias=bias), torch.nn.Tanh(), torch.nn.Linear(7, 3, bias=bias))
        for _ in range(3)
    ]
    stacked = stack_models(members)
    x = torch.randn(3, 4, 2, 5)  # (members, batch, positions, features): the products' reshaping path
    out = stacked(x)
    for row, member in enumerate(members):
        torch.testing.assert_close(out[row], member(x[row]), rtol=1e-6, atol=1e-6)
        own = dict(member.named_parameters())
        given = member_parameters(stacked, row)
        assert given.keys() == own.keys()
        assert all(torch.equal(given[name], own[name]) for name in own)


def test_replicates_with_their_own_data_equal_their_own_runs_and_test_metrics():
    runs = configs([0, 1, 2])
    alone = [run(config) for config in runs]
    together = run_batched(runs)
    assert not torch.equal(together[0].data.train.x, together[1].data.train.x)  # each replicate draws its data
    for one, other in zip(alone, together, strict=True):
        assert_same_run((one.train, one.model), (other.train, other.model))
        assert other.test == pytest.approx(one.test, rel=RTOL)
        assert set(other.train.history[0]) >= {"train_loss", "train_rmse", "train_mae", "val_loss", "lr", "grad_norm"}


@pytest.mark.cuda
def test_members_on_cuda_equal_their_own_runs_on_cuda():
    runs = [
        validate({**config.model_dump(), "device": "cuda"})
        for config in configs([0, 1], noise=[{"kind": "gaussian", "std": 0.1}])
    ]
    alone = [run(config) for config in runs]
    together = run_batched(runs)
    for one, other in zip(alone, together, strict=True):
        assert next(other.model.parameters()).is_cuda
        assert_same_run((one.train, one.model), (other.train, other.model), rtol=1e-4)  # other kernels' rounding
        assert other.test == pytest.approx(one.test, rel=1e-4)


def test_classification_with_momentum_clipping_schedule_and_images():
    data = {"kind": "digits", "images": True, "seed": "run"}
    train = {
        "epochs": 3, "batch_size": 128, "grad_clip": 0.1, "lr_schedule": {"kind": "cosine", "start": 1.0},
        "optimizer": {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
    }  # fmt: skip
    runs = configs([0, 5], data=data, model={"kind": "mlp", "widths": [32, 32], "residual": True}, train=train)
    together = batched(runs)
    for one, other in zip(separate(runs), together, strict=True):
        assert_same_run(one, other)
    history = together[0][0].history
    assert history[0]["grad_norm"] > 0.1 and "val_accuracy" in history[0]  # the clipping acted
    assert history[-1]["lr"] < history[0]["lr"]


def test_members_stop_at_their_own_epochs_with_their_best_weights():
    runs = configs([0, 1, 3], train=STOPPING)
    snapshots = [Snapshots() for _ in runs]
    together = batched(runs, callbacks=[[s] for s in snapshots])
    for one, other in zip(separate(runs), together, strict=True):
        assert_same_run(one, other)
    assert [len(result.history) for result, _ in together] == [4, 7, 3]
    for (result, model), snapshot in zip(together, snapshots, strict=True):
        assert result.status == "early_stopped" and result.best_epoch < len(result.history)
        assert same_weights(model, snapshot.weights[result.best_epoch - 1])


def test_a_stopped_member_does_not_move_while_the_others_train():
    keep_last = {**STOPPING, "early_stopping": {**STOPPING["early_stopping"], "restore_best": False}}
    runs = configs([0, 1, 3], train=keep_last)
    snapshots = [Snapshots() for _ in runs]
    together = batched(runs, callbacks=[[s] for s in snapshots])
    for one, other in zip(separate(runs), together, strict=True):
        assert_same_run(one, other)
    assert [len(result.history) for result, _ in together] == [4, 7, 3]
    for (result, model), snapshot in zip(together, snapshots, strict=True):
        assert len(snapshot.weights) == len(result.history)
        assert same_weights(model, snapshot.weights[-1])  # exactly where it stopped, e.g. seed 3 after epoch 3 of 7


def test_a_diverging_member_leaves_the_others_alone():
    def poison(index, model):
        if index == 1:
            with torch.no_grad():
                model.head.weight[0, 0] = math.nan

    runs = configs([0, 1, 2])
    together = batched(runs, change=poison)
    for one, other in zip(separate(runs, change=poison), together, strict=True):
        if one[0].status == "diverged":
            summary = [(r.status, r.message, len(r.history), r.best_epoch) for r in (one[0], other[0])]
            assert summary[1] == summary[0] and math.isnan(other[0].history[-1]["train_loss"])
        else:
            assert_same_run(one, other)
    assert [result.status for result, _ in together] == ["completed", "diverged", "completed"]


def test_input_noise_draws_from_each_members_own_stream():
    scheduled = {"kind": "linear", "start": 0.2, "end": 0.0}
    noise = [{"kind": "gaussian", "std": scheduled}, {"kind": "uniform", "width": 0.1}]
    runs = configs([0, 1], noise=noise)
    together = batched(runs)
    for one, other in zip(separate(runs), together, strict=True):
        assert_same_run(one, other)
    assert "noise/input/gaussian.std" in together[0][0].history[-1]


def test_members_with_their_own_input_noise_equal_their_own_runs():
    scheduled = {"kind": "gaussian", "std": {"kind": "linear", "start": 0.3, "end": 0.0}}
    noises = [[], [{"kind": "gaussian", "std": 0.1}], [scheduled, {"kind": "uniform", "width": 0.1}]]
    runs = [configs([seed], noise=noise)[0] for seed, noise in zip([0, 0, 1], noises, strict=True)]
    assert batchable(runs) is None
    for one, other in zip(separate(runs), batched(runs), strict=True):
        assert_same_run(one, other)
    mixed = [runs[0], configs([1], noise=[{"kind": "gaussian", "std": 0.1, "at": "output:Sigmoid"}])[0]]
    assert "noise[0] (gaussian) acts at 'output'" in batchable(mixed)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"train": {**REGRESSION, "optimizer": {"kind": "adam", "lr": 0.1}}}, "differ in train"),
        ({"model": {"kind": "lenet"}}, "model 'lenet' has no batched form"),
        ({"model": {**MLP, "dropout": 0.1}}, "(Dropout) has no batched form"),
        ({"model": {**MLP, "batchnorm": True}}, "(BatchNorm1d) has no batched form"),
        ({"noise": [{"kind": "gaussian", "std": 0.1, "at": "output:Sigmoid"}]}, "acts at 'output'"),
        ({"noise": [{"kind": "weight_noise", "std": 0.1}]}, "acts at 'weights'"),
        ({"noise": [{"kind": "label_smoothing", "eps": 0.1}]}, "acts at 'loss'"),
        ({"noise": [{"kind": "learnable", "at": "input"}]}, "learns parameters"),
        ({"train": {**REGRESSION, "optimizer": {"kind": "sgld"}}}, "SGLD"),
        ({"train": {**REGRESSION, "adversarial": {"attack": {"kind": "fgsm", "eps": 0.1}}}}, "train.adversarial"),
        ({"train": {**REGRESSION, "checkpoint_every": 1}}, "checkpoint_every"),
    ],
)
def test_batchable_says_why_a_group_does_not_qualify(change, reason):
    base = {"data": FUNCTION, "model": MLP, "train": REGRESSION}
    group = [{**base, "seed": 0}, {**base, **change, "seed": 1}]
    if not reason.startswith("differ"):
        group[0] = {**group[1], "seed": 0}
    assert reason in batchable(group)
    with pytest.raises(ConfigError, match="run_batched: "):
        run_batched(group)


def test_batchable_accepts_seeds_of_one_config_with_input_noise():
    assert batchable(configs([0, 1, 2], noise=[{"kind": "gaussian", "std": 0.1}])) is None
    assert batchable([]) == "no runs"


def test_fit_batched_refuses_what_it_cannot_batch():
    (data, model), (other_data, other) = build(configs([0])[0]), build(configs([1])[0])
    small = build(configs([0], data={**FUNCTION, "n_train": 100})[0])[0]
    with pytest.raises(ConfigError, match="given twice"):
        fit_batched([model, model], [data, other_data], seeds=[0, 1])
    with pytest.raises(ConfigError, match="differ in task, classes or the shape"):
        fit_batched([model, other], [data, small], seeds=[0, 1])
    with pytest.raises(ConfigError, match="one data set, seed and noise recipe per model"):
        fit_batched([model, other], [data, other_data], seeds=[0])
    dropout = build(configs([0], model={**MLP, "dropout": 0.5})[0])[1]
    with pytest.raises(ConfigError, match=r"fit_batched: layer 'hidden.2' \(Dropout\)"):
        fit_batched([dropout], [data], seeds=[0])


def test_run_batched_writes_each_members_folder_as_run_does(tmp_path):
    runs = configs([0, 1], train=STOPPING)
    results = run_batched(runs, outputs=[tmp_path / "a", tmp_path / "b"])
    alone = run(runs[1], output=tmp_path / "alone")
    folder = tmp_path / "b"
    assert {p.name for p in folder.iterdir()} == {p.name for p in (tmp_path / "alone").iterdir()}
    assert (folder / "config.yaml").read_text() == (tmp_path / "alone" / "config.yaml").read_text()
    rows, expected_rows = ((f / "metrics.csv").read_text().splitlines() for f in (folder, tmp_path / "alone"))
    assert rows[0] == expected_rows[0] and len(rows) == len(expected_rows) == len(alone.train.history) + 1
    summary, expected = (json.loads((f / "result.json").read_text()) for f in (folder, tmp_path / "alone"))
    assert summary.keys() == expected.keys() and summary["best_epoch"] == expected["best_epoch"]
    assert summary["test_mae"] == pytest.approx(expected["test_mae"], rel=RTOL)
    config, _, model = load_run(folder / "checkpoint.pt")  # as `noisetrain evaluate` loads it
    assert config == runs[1] and same_weights(model, results[1].model.state_dict())
    with pytest.raises(ConfigError, match="batched group of runs, which keeps no optimizer state"):
        run(runs[1], output=folder, resume=True)
    data, model = build(runs[1])
    with pytest.raises(ConfigError, match="resume: the checkpoint was written by a batched group of runs"):
        fit(model, data, config=runs[1].train, seed=runs[1].seed, resume=folder / "checkpoint.pt")
