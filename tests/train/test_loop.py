import copy
import math

import pytest
import torch
from torch import nn

from noisetrain.data import Dataset, Split
from noisetrain.registry import ConfigError
from noisetrain.train import Callback, fit

from testkit import toy_data

FAST = {"epochs": 3, "batch_size": 50, "optimizer": {"kind": "adam", "lr": 0.01}}


def mlp(inputs: int = 8, outputs: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(inputs, 32), nn.ReLU(), nn.Linear(32, outputs))


def metrics(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


class Recorder(Callback):
    def __init__(self):
        self.calls, self.states = [], []

    def on_fit_start(self, loop):
        self.calls.append("fit_start")

    def on_epoch_start(self, loop, epoch):
        self.calls.append(f"epoch_start {epoch}")

    def on_batch_end(self, loop, step, loss):
        self.calls.append("batch")

    def on_epoch_end(self, loop, record):
        self.calls.append(f"epoch_end {record['epoch']}")
        self.states.append(copy.deepcopy(loop.model.state_dict()))

    def on_checkpoint(self, loop, path):
        self.calls.append("checkpoint")

    def on_fit_end(self, loop, result):
        self.calls.append(f"fit_end {result.status}")


def test_learns_and_reports_every_metric():
    result = fit(mlp(), toy_data(), noise=[{"kind": "gaussian", "std": 0.1}], config={**FAST, "epochs": 8})
    assert result.status == "completed" and len(result.history) == 8
    last = result.history[-1]
    assert last["val_accuracy"] > 0.85 and last["train_loss"] < result.history[0]["train_loss"]
    expected = {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "grad_norm", "seconds"}
    assert expected <= set(last) and "noise/input/gaussian.std" in last
    assert last["grad_norm"] > 0 and last["seconds"] > 0 and last["lr"] == 0.01


def test_hooks_are_called_in_order():
    recorder = Recorder()
    fit(mlp(), toy_data(100), config={**FAST, "epochs": 2}, callbacks=[recorder])
    batches = ["batch"] * 2  # 60 training samples in batches of 50
    assert recorder.calls == [
        "fit_start", "epoch_start 1", *batches, "epoch_end 1", "epoch_start 2", *batches, "epoch_end 2",
        "fit_end completed",
    ]  # fmt: skip


def test_same_seed_same_metrics_other_seed_differs():
    noise = [{"kind": "gaussian", "std": 0.2}, {"kind": "dropout", "p": 0.2, "at": "output:ReLU"}]
    runs = [fit(mlp(), toy_data(), noise=noise, config=FAST, seed=s).history for s in (3, 3, 4)]
    assert metrics(runs[0]) == metrics(runs[1])
    assert metrics(runs[0]) != metrics(runs[2])


def test_adding_an_injector_leaves_the_data_order_alone():
    class Recording(nn.Module):
        def __init__(self):
            super().__init__()
            self.seen, self.net = [], mlp()

        def forward(self, x):
            if self.training:
                self.seen.append(x.clone())
            return self.net(x)

    orders = []
    for noise in ([], [{"kind": "dropout", "p": 0.3, "at": "output:net.1"}, {"kind": "gradient_noise", "eta": 0.1}]):
        model = Recording()
        fit(model, toy_data(), noise=noise, config=FAST, seed=5)
        orders.append(model.seen)
    assert all(torch.equal(a, b) for a, b in zip(*orders, strict=True))


def test_schedules_follow_training_progress():
    noise = [{"kind": "gaussian", "std": {"kind": "linear", "start": 0.4, "end": 0.0}}]
    config = {**FAST, "epochs": 4, "lr_schedule": {"kind": "cosine", "start": 1.0}}
    history = fit(mlp(), toy_data(), noise=noise, config=config).history
    stds = [r["noise/input/gaussian.std"] for r in history]
    lrs = [r["lr"] for r in history]
    steps = 6 * 4  # 300 training samples in batches of 50, 4 epochs
    assert stds == pytest.approx([0.4 * (1 - (6 * e + 5) / steps) for e in range(4)])
    assert lrs == pytest.approx([0.01 * 0.5 * (1 + math.cos(math.pi * 6 * (e + 1) / steps)) for e in range(4)])


def test_early_stopping_restores_a_true_copy_of_the_best_weights():
    recorder = Recorder()
    config = {**FAST, "epochs": 10, "early_stopping": {"monitor": "val_loss", "patience": 2, "min_delta": 100.0}}
    model = mlp()
    result = fit(model, toy_data(), config=config, callbacks=[recorder])
    assert result.status == "early_stopped" and result.best_epoch == 1 and len(result.history) == 3
    assert result.message.endswith("has not improved for 2 epochs; best epoch 1")
    final = model.state_dict()
    assert all(torch.equal(final[k], v) for k, v in recorder.states[0].items())
    assert not all(torch.equal(final[k], v) for k, v in recorder.states[-1].items())


def test_early_stopping_on_accuracy_maximises():
    config = {**FAST, "epochs": 6, "early_stopping": {"monitor": "val_accuracy", "patience": 6}}
    result = fit(mlp(), toy_data(), config=config)
    accuracies = [r["val_accuracy"] for r in result.history]
    assert result.best_epoch == accuracies.index(max(accuracies)) + 1


def test_diverging_run_stops_with_a_status_not_a_trace():
    data = toy_data(task="regression")
    config = {"epochs": 5, "batch_size": 50, "optimizer": {"kind": "sgd", "lr": 1e6}}
    result = fit(mlp(outputs=1), data, config=config)
    assert result.status == "diverged" and len(result.history) < 5
    assert "diverged in epoch" in result.message and "learning rate" in result.message


def test_regression_reports_rmse_and_mae_in_original_units():
    data = toy_data(task="regression")
    scaled = Dataset(data.name, "regression", *(Split(s.x, s.y / 4) for s in (data.train, data.val, data.test)),
                     info={"target_scale": 4.0, "target_offset": 7.0})  # fmt: skip
    config = {**FAST, "loss": "l1"}
    plain = fit(mlp(outputs=1), data, config=config).history[-1]
    rescaled = fit(mlp(outputs=1), scaled, config=config).history[-1]
    assert {"val_rmse", "val_mae", "train_rmse"} <= set(plain)
    assert rescaled["val_mae"] == pytest.approx(4 * (rescaled["val_loss"]), rel=1e-5)
    assert 0 < plain["val_mae"] <= plain["val_rmse"]


def test_gradient_clipping_reports_the_unclipped_norm():
    config = {**FAST, "epochs": 1, "optimizer": {"kind": "sgd", "lr": 0.1}}
    free = fit(mlp(), toy_data(), config=config).history[0]
    clipped = fit(mlp(), toy_data(), config={**config, "grad_clip": 1e-4}).history[0]
    assert clipped["grad_norm"] > 1e-3  # the norm before clipping
    assert clipped["train_loss"] > free["train_loss"]  # tiny steps learn less


@pytest.mark.parametrize("kind", ["sgd", "adam", "adamw", "sgld"])
def test_every_optimizer_trains(kind):
    lr = {"sgd": 0.1, "adam": 0.01, "adamw": 0.01, "sgld": 0.2}[kind]
    optimizer = {"kind": kind, "lr": lr, "temperature": 1e-6}
    result = fit(mlp(), toy_data(), config={**FAST, "epochs": 4, "optimizer": optimizer})
    assert result.history[-1]["val_accuracy"] > 0.6


def test_mixup_soft_targets_and_label_smoothing_train():
    noise = [{"kind": "mixup", "alpha": 0.4}, {"kind": "label_smoothing", "eps": 0.1}]
    result = fit(mlp(), toy_data(), noise=noise, config={**FAST, "epochs": 6})
    assert result.history[-1]["val_accuracy"] > 0.75


def test_adversarial_training_trains_on_harder_inputs():
    attack = {"kind": "fgsm", "eps": 0.5, "random_start": True, "bounds": None}
    clean = fit(mlp(), toy_data(), config=FAST).history
    adversarial = fit(mlp(), toy_data(), config={**FAST, "adversarial": {"attack": attack}}).history
    assert all(a["train_loss"] > c["train_loss"] for a, c in zip(adversarial, clean, strict=True))
    assert adversarial[-1]["val_accuracy"] > 0.6  # still learns


def test_adversarial_mode_train_keeps_noise_active():
    attack = {"kind": "pgd", "eps": 0.3, "steps": 2, "bounds": None}
    config = {**FAST, "epochs": 1, "adversarial": {"attack": attack, "mode": "train"}}
    assert fit(mlp(), toy_data(), noise=[{"kind": "gaussian", "std": 0.1}], config=config).status == "completed"


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match=r"train\.loss 'mse' does not fit the classification"):
        fit(mlp(), toy_data(), config={"loss": "mse"})
    with pytest.raises(ConfigError, match=r"epochs: Input should be greater than or equal to 1"):
        fit(mlp(), toy_data(), config={"epochs": 0})
    with pytest.raises(ConfigError, match=r"early_stopping\.monitor"):
        fit(mlp(), toy_data(), config={"early_stopping": {"monitor": "val_f1"}})


def test_noise_stays_attached_and_inactive_after_training():
    model = mlp()
    result = fit(model, toy_data(), noise=[{"kind": "gaussian", "std": 5.0}], config={**FAST, "epochs": 1})
    x = torch.randn(4, 8)
    assert not model.training and torch.equal(model(x), model(x))
    result.handle.remove()
    assert not result.handle.attachments


def test_recipe_specs_get_facts_from_the_data():
    from noisetrain.train.loop import with_data_facts

    data = toy_data()
    data.info.update(vocab_size=50, mask_id=1, std=[9.0])
    recipe = [{"kind": "mixup"}, ("batch", {"kind": "label_noise", "rate": 0.1, "num_classes": 3}),
              {"kind": "token_mask", "p": 0.1, "mask_id": 2}, {"kind": "gaussian", "std": 0.1}]  # fmt: skip
    assert with_data_facts(recipe, data) == [
        {"kind": "mixup", "num_classes": 3},
        ("batch", {"kind": "label_noise", "rate": 0.1, "num_classes": 3}),
        {"kind": "token_mask", "p": 0.1, "mask_id": 2, "vocab_size": 50},  # a mask id of its own is the spec's
        {"kind": "gaussian", "std": 0.1},
    ]
    # another class count or vocabulary would index labels or tokens the data does not have
    with pytest.raises(ConfigError, match=r"noise\[1\] \(label_noise\): num_classes=7, but data 'toy' has 3; leave"):
        with_data_facts([recipe[0], ("batch", {"kind": "label_noise", "rate": 0.1, "num_classes": 7})], data)
    with pytest.raises(ConfigError, match=r"noise\[0\] \(token_mask\): vocab_size=60, but data 'toy' has 50"):
        with_data_facts([{"kind": "token_mask", "p": 0.1, "vocab_size": 60}], data)


def test_grad_norm_is_the_global_l2_norm_of_the_gradients():
    data = toy_data()
    reference = mlp()
    loss = torch.nn.functional.cross_entropy(reference(data.train.x), data.train.y)
    grads = torch.autograd.grad(loss, list(reference.parameters()))
    expected = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))
    config = {"epochs": 1, "batch_size": len(data.train), "optimizer": {"kind": "sgd", "lr": 0.1}}
    record = fit(mlp(), data, config=config).history[0]
    assert record["grad_norm"] == pytest.approx(float(expected), rel=1e-5)


def test_closed_form_models_are_fitted_once():
    from noisetrain.models import build_model

    data = toy_data()
    knn = build_model({"kind": "knn", "k": 3}, input_shape=data.input_shape, num_outputs=3)
    result = fit(knn, data, config={"epochs": 5})
    assert result.status == "completed" and len(result.history) == 1 and result.history[0]["val_accuracy"] > 0.6
    assert result.message == "trained for 1 epoch"
    with pytest.raises(ConfigError, match="fitted in closed form"):
        fit(knn, data, noise=[{"kind": "gaussian", "std": 0.1}])


def test_bayesian_weights_add_their_kl_term_per_training_example():
    """One full-batch SGD step of ``fit`` equals the step on ``cross_entropy + kl_divergence / n_train`` (Blundell et
    al. 2015's minibatch ELBO), from the same weights and the same weight sample."""
    from noisetrain.noise import bayesian, kl_divergence

    data = toy_data(100)
    model = mlp()
    handle = bayesian(model, prior_std=0.5, init_std=0.05, seed=0)
    twin = copy.deepcopy(model)  # same weights, same injector generators
    loss = nn.functional.cross_entropy(twin.train()(data.train.x), data.train.y) + kl_divergence(twin) / 60
    loss.backward()
    config = {"epochs": 1, "batch_size": 60, "optimizer": {"kind": "sgd", "lr": 0.5}}
    result = fit(model, data, noise=handle, config=config)
    assert result.history[0]["train_loss"] < 1.5  # the data term alone: the KL term is about 5
    for (name, trained), (_, start) in zip(model.named_parameters(), twin.named_parameters(), strict=True):
        torch.testing.assert_close(trained, start - 0.5 * start.grad, rtol=1e-4, atol=1e-6, msg=name)
        assert (trained - start).abs().max() > 1e-4, name  # every mean and rho moved


def test_the_lean_update_changes_no_bit_and_gradient_noise_keeps_its_hook(monkeypatch):
    """Without gradient noise ``fit`` updates through ``lean_step``: the same metrics as ``optimizer.step``; with
    it, through ``optimizer.step``, which runs the noise's hook."""
    import noisetrain.train.loop as loop

    config = {**FAST, "lr_schedule": {"kind": "cosine", "start": 1.0}}
    recipes = {"input": [{"kind": "gaussian", "std": 0.1}], "gradient": [{"kind": "gradient_noise", "eta": 0.3}]}
    def trained(noise):
        return metrics(fit(mlp(), toy_data(), noise=noise, config=config).history)

    lean = {name: trained(noise) for name, noise in recipes.items()}
    monkeypatch.setattr(loop, "lean_step", lambda optimizer: optimizer.step)
    for name, noise in recipes.items():
        assert trained(noise) == lean[name], name
    assert all(a["train_loss"] != b["train_loss"] for a, b in zip(trained(None), lean["gradient"], strict=True))
