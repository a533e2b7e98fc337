"""NoiseCallback: a Lightning fit draws the same noise as ``noisetrain.fit``, evaluates without noise, ends with the
module as before, resumes the same noise stream from a checkpoint, and reaches the optimizer with gradient noise."""

import copy
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

L = pytest.importorskip("lightning")

from noisetrain.config import OptimizerConfig  # noqa: E402
from noisetrain.data import load_data  # noqa: E402
from noisetrain.integrations.lightning import NoiseCallback  # noqa: E402
from noisetrain.noise.inject import no_noise  # noqa: E402
from noisetrain.registry import ConfigError  # noqa: E402
from noisetrain.train import fit  # noqa: E402
from noisetrain.train.optim import build_optimizer  # noqa: E402

from testkit import RECIPE_AT_EVERY_POSITION, FitSteps, LoopOrder, same, same_steps, snapshot  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:The '\\w+_dataloader' does not have many workers",
    "ignore:.*isinstance\\(treespec, LeafSpec\\).* is deprecated",
    "ignore:You defined a `validation_step` but have no `val_dataloader`",
)

ROOT = Path(__file__).parents[2]
SEED = 0
BATCH = 64
OPTIMIZER = OptimizerConfig(kind="sgd", lr=0.05)
RECIPE = RECIPE_AT_EVERY_POSITION


@pytest.fixture(scope="module")
def digits():
    return load_data({"kind": "digits", "train_size": 200})


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


class Net(L.LightningModule):
    """The user's side: ``self.noise.loss`` in ``training_step``, ``self.noise.parameters()`` in the optimizer."""

    def __init__(self, net: nn.Module, *, manual_batch: bool = False) -> None:
        super().__init__()
        self.net, self.manual_batch = net, manual_batch
        self.clean: dict[str, list[bool]] = {"train": [], "val": [], "test": [], "predict": []}

    def training_step(self, batch, batch_idx):
        x, y = self.noise.batch(*batch) if self.manual_batch else batch
        return self.noise.loss(self.net(x), y)

    def configure_optimizers(self):
        return build_optimizer(OPTIMIZER, [*self.net.parameters(), *self.noise.parameters()], seed=0)

    def same_as_clean(self, x: torch.Tensor) -> bool:
        output = self.net(x)
        with no_noise(self.net):
            return torch.equal(output, self.net(x))

    def validation_step(self, batch, batch_idx):
        self.clean["val"].append(self.same_as_clean(batch[0]))

    def test_step(self, batch, batch_idx):
        self.clean["test"].append(self.same_as_clean(batch[0]))

    def predict_step(self, batch, batch_idx):
        self.clean["predict"].append(self.same_as_clean(batch[0]))
        return self.clean["predict"][-1]


class Steps(L.Callback):
    """After each optimizer step: the loss and every attached injector's state."""

    def __init__(self) -> None:
        self.steps: list[tuple[torch.Tensor, dict]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps.append((outputs["loss"].detach().clone(), copy.deepcopy(pl_module.noise.state_dict())))


def trainer(callbacks, **options) -> "L.Trainer":
    settings = {"max_epochs": 2, "enable_checkpointing": False, **options}
    return L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=callbacks, **settings,
    )  # fmt: skip


def loader(split, *, shuffle_seed: int | None = None, batch_size: int = BATCH) -> DataLoader:
    data = TensorDataset(split.x, split.y)
    sampler = LoopOrder(len(data), shuffle_seed) if shuffle_seed is not None else None
    return DataLoader(data, batch_size=batch_size, sampler=sampler)


def test_a_lightning_fit_draws_the_same_noise_as_noisetrain_fit(digits):
    reference = FitSteps()
    result = fit(
        mlp(), digits, noise=RECIPE, seed=SEED, callbacks=[reference],
        config={"epochs": 2, "batch_size": BATCH, "optimizer": OPTIMIZER.model_dump()},
    )  # fmt: skip
    fitted = result.handle.model
    result.handle.remove()

    steps, module = Steps(), Net(mlp())
    trainer([NoiseCallback(RECIPE, seed=SEED, module="net", data=digits), steps]).fit(
        module, loader(digits.train, shuffle_seed=SEED)
    )
    assert len(steps.steps) == 8  # 2 epochs of ceil(200 / 64) batches
    # per step: the same loss (same noisy batch, input, activations, weights, label smoothing) and the same
    # injector states (generator states, schedule progress, gradient-noise step counter, learnable scale)
    assert same_steps(steps.steps, reference.steps)
    progress = [state["0"]["_extra_state"]["progress_"] for _, state in steps.steps]
    assert progress == [step / 8 for step in range(8)]
    assert same(module.net.state_dict(), fitted.state_dict())  # and so the same trained weights


class WithKL(Net):
    """A ``training_step`` for Bayesian weights: the recipe's loss plus their KL term."""

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.noise.loss(self.net(x), y) + self.noise.kl_term()


def test_bayesian_weights_train_with_their_kl_term_as_in_fit(digits):
    recipe = {"kind": "bayesian", "prior_std": 0.2, "init_std": 0.05}
    config = {"epochs": 2, "batch_size": BATCH, "optimizer": OPTIMIZER.model_dump()}
    fitted = fit(mlp(), digits, noise=recipe, seed=SEED, config=config).handle
    fitted.remove()  # the means stay, under their plain names
    module = WithKL(mlp())
    trainer([NoiseCallback(recipe, seed=SEED, module="net")]).fit(module, loader(digits.train, shuffle_seed=SEED))
    for key, value in fitted.model.state_dict().items():  # the KL term (weight decay 1 / (0.2² 200) on the means)
        torch.testing.assert_close(module.net.state_dict()[key], value, rtol=1e-5, atol=1e-6, msg=key)

    module = Net(mlp())  # its training_step leaves the KL term out: stopped before its first backward pass
    before = snapshot(module)
    with pytest.raises(ConfigError, match=re.escape("return self.noise.loss(...) + self.noise.kl_term() from")):
        trainer([NoiseCallback(recipe, seed=SEED, module="net")]).fit(module, loader(digits.train))
    assert same(snapshot(module)[1], before[1]) and not hasattr(module, "noise")

    class Stream(torch.utils.data.IterableDataset):  # no len(): no number of examples to weigh the KL term by
        def __iter__(self):
            return iter(zip(digits.train.x, digits.train.y, strict=True))

    with pytest.raises(ConfigError, match=r"the train dataset has no len\(\); use a map-style dataset"):
        trainer([NoiseCallback(recipe, seed=SEED, module="net")], max_steps=2).fit(WithKL(mlp()), DataLoader(Stream()))


def test_noise_is_off_in_validation_test_and_predict_and_on_in_training(digits):
    module = Net(mlp())
    callback = NoiseCallback(RECIPE, seed=SEED, module="net", data=digits)
    run = trainer([callback], limit_val_batches=2)
    run.fit(module, loader(digits.train), loader(digits.val))
    run.test(module, loader(digits.val))
    run.predict(module, loader(digits.val))
    clean = module.clean
    assert clean["val"] and all(clean["val"]) and all(clean["test"]) and all(clean["predict"])

    class Compare(L.Callback):  # in training the same forward pass is noisy
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            pl_module.clean["train"].append(pl_module.same_as_clean(batch[0]))

    trainer([NoiseCallback(RECIPE, seed=SEED, module="net", data=digits), Compare()]).fit(module, loader(digits.train))
    assert len(clean["train"]) == 8 and not any(clean["train"])


def test_the_module_ends_as_before_after_fit_and_after_a_failure(digits):
    module = Net(mlp())
    before, parameters = snapshot(module), dict(module.named_parameters())
    callback = NoiseCallback(RECIPE, seed=SEED, module="net", data=digits)
    trainer([callback]).fit(module, loader(digits.train))
    after = snapshot(module)
    # the same keys, modules and hooks; the values are the trained parameters, now plain again
    assert after[0] == before[0] and after[2:] == before[2:]
    state = module.state_dict()
    assert all(state[name].data_ptr() == p.data_ptr() for name, p in parameters.items())
    assert not torch.equal(after[1]["net.0.weight"], before[1]["net.0.weight"])
    assert callback.handle is None and not hasattr(module, "noise")

    class Fail(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            assert hasattr(pl_module, "noise") and type(pl_module.net[0]).__name__ == "ParametrizedLinear"
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        trainer([callback, Fail()]).fit(module, loader(digits.train))
    failed = snapshot(module)
    assert failed[0] == before[0] and failed[2:] == before[2:] and not hasattr(module, "noise")


@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")
def test_a_fit_resumed_from_a_checkpoint_continues_the_same_noise_stream(digits, tmp_path):
    full = Steps()
    saving = {"dirpath": tmp_path, "save_top_k": -1, "save_on_train_epoch_end": True}  # every epoch's end
    saver = L.pytorch.callbacks.ModelCheckpoint(**saving)
    run = trainer(
        [NoiseCallback(RECIPE, seed=SEED, module="net", data=digits), full, saver],
        max_epochs=4,
        enable_checkpointing=True,
    )
    run.fit(Net(mlp()), loader(digits.train))
    assert len(full.steps) == 16

    resumed, saver = Steps(), L.pytorch.callbacks.ModelCheckpoint(**saving)
    run = trainer(
        [NoiseCallback(RECIPE, seed=SEED, module="net", data=digits), resumed, saver],
        max_epochs=4,
        enable_checkpointing=True,
    )
    run.fit(Net(mlp()), loader(digits.train), ckpt_path=tmp_path / "epoch=1-step=8.ckpt")
    # generators, counters, progress and learnable scales come back from the checkpoint: the same steps follow
    assert same_steps(resumed.steps, full.steps[8:])


def test_a_checkpoint_saved_after_the_fit_holds_the_plain_module_and_no_noise_state(digits, tmp_path):
    run = trainer([NoiseCallback(RECIPE, seed=SEED, module="net", data=digits)], max_epochs=1)
    run.fit(Net(mlp()), loader(digits.train))
    run.save_checkpoint(tmp_path / "plain.ckpt")
    saved = torch.load(tmp_path / "plain.ckpt", weights_only=False)
    assert list(saved["state_dict"]) == list(Net(mlp()).state_dict())  # no parametrizations: weight noise is off

    recipe = [{"kind": "gaussian", "std": 0.1}]  # no weight noise, so the plain module also loads with noise on
    run = trainer([NoiseCallback(recipe, seed=SEED, module="net")], max_epochs=1)
    run.fit(Net(mlp()), loader(digits.train))
    run.save_checkpoint(tmp_path / "final.ckpt")
    with pytest.warns(UserWarning, match="the noise restarts from its seeds"):
        trainer([NoiseCallback(recipe, seed=SEED, module="net")], max_epochs=2).fit(
            Net(mlp()), loader(digits.train), ckpt_path=tmp_path / "final.ckpt"
        )


@pytest.mark.parametrize("manual", [False, True], ids=["automatic", "manual"])
def test_gradient_noise_reaches_the_optimizer_step(digits, manual):
    class Zero(Net):  # a loss with zero gradients: only the gradient noise moves the weights
        def __init__(self, net):
            super().__init__(net)
            self.automatic_optimization = not manual

        def training_step(self, batch, batch_idx):
            loss = (self.net(batch[0]) * 0).sum()
            if manual:
                optimizer = self.optimizers()
                optimizer.zero_grad()
                self.manual_backward(loss)
                optimizer.step()
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=OPTIMIZER.lr)

    class Grads(L.Callback):
        def __init__(self):
            self.before: list[torch.Tensor] = []

        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            self.before.append(pl_module.net[0].weight.grad.clone())

    module, grads = Zero(mlp()), Grads()
    start = module.net[0].weight.detach().clone()
    callback = NoiseCallback({"kind": "gradient_noise", "eta": 0.01, "gamma": 0.0}, seed=SEED, module="net")
    trainer([callback, grads], max_epochs=1).fit(module, loader(digits.train))
    assert len(grads.before) == 4 and all(bool(g.abs().gt(0).all()) for g in grads.before)
    # SGD without momentum: the weights moved by exactly -lr times the noisy gradients
    moved = start - sum(OPTIMIZER.lr * g for g in grads.before)
    assert torch.allclose(module.net[0].weight.detach(), moved, atol=1e-6)


def test_batch_noise_in_training_step_for_batches_the_callback_cannot_change(digits):
    recipe = [
        {"kind": "label_noise", "rate": 0.3, "num_classes": 10},
        {"kind": "mixup", "alpha": 0.4, "num_classes": 10},
    ]

    def tuples(split):
        def stack(samples):
            return tuple(torch.stack(column) for column in zip(*samples, strict=True))

        return DataLoader(TensorDataset(split.x, split.y), batch_size=BATCH, collate_fn=stack)

    with pytest.raises(TypeError, match=re.escape("pass batch_noise=False and write x, y = self.noise.batch(x, y)")):
        trainer([NoiseCallback(recipe, seed=SEED, module="net")]).fit(Net(mlp()), tuples(digits.train))

    automatic, written = Steps(), Steps()
    trainer([NoiseCallback(recipe, seed=SEED, module="net"), automatic]).fit(Net(mlp()), loader(digits.train))
    trainer([NoiseCallback(recipe, seed=SEED, module="net", batch_noise=False), written]).fit(
        Net(mlp(), manual_batch=True), tuples(digits.train)
    )
    assert same_steps(written.steps, automatic.steps)


def test_learnable_noise_outside_the_optimizer_is_an_error(digits):
    class Forgets(Net):
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    module = Forgets(mlp())
    before = snapshot(module)
    with pytest.raises(ConfigError, match=re.escape("1 learnable noise parameters are in no optimizer")):
        trainer([NoiseCallback({"kind": "learnable", "at": "output:0"}, module="net")]).fit(
            module, loader(digits.train)
        )
    after = snapshot(module)
    assert after[0] == before[0] and after[2:] == before[2:]


def test_the_seed_defaults_to_seed_everythings(digits, monkeypatch):
    def seeds(callback) -> list:
        found = []

        class Look(L.Callback):
            def on_validation_start(self, trainer, pl_module):
                found.extend(injector.seed for injector in pl_module.noise.injectors())

        trainer([callback, Look()]).validate(Net(mlp()), loader(digits.val))
        return found

    monkeypatch.setenv("PL_GLOBAL_SEED", "5")  # what lightning.seed_everything(5) sets
    assert seeds(NoiseCallback(RECIPE[:3], module="net")) == seeds(NoiseCallback(RECIPE[:3], seed=5, module="net"))
    monkeypatch.delenv("PL_GLOBAL_SEED")
    assert seeds(NoiseCallback(RECIPE[:3], module="net")) != seeds(NoiseCallback(RECIPE[:3], seed=5, module="net"))


def test_the_example_runs(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["lightning_digits.py", "--epochs", "2"])
    runpy.run_path(str(ROOT / "examples" / "integrations" / "lightning_digits.py"), run_name="__main__")
    rows = dict(line.rsplit(maxsplit=1) for line in capsys.readouterr().out.splitlines())
    assert set(rows) == {"clean accuracy", "accuracy under noise 0.5"}
    assert float(rows["clean accuracy"]) > 0.8


def test_the_readme_example_runs():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use it with Lightning", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(block, namespace)
    assert not hasattr(namespace["model"], "noise")
