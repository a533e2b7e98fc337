"""NoiseCallback: a transformers Trainer run draws the same noise as ``noisetrain.fit``, evaluates without noise, ends
with the model as before, writes plain checkpoints that resume the same noise stream, and reaches the optimizer with
gradient noise; token masking and NEFTune from a real tokenizer leave its special tokens alone."""

import copy
import gc
import os
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, IterableDataset

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here downloads; make sure nothing tries
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # the Trainer needs it

from safetensors.torch import load_file  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers, processors  # noqa: E402

from noisetrain.config import OptimizerConfig  # noqa: E402
from noisetrain.data import load_data  # noqa: E402
from noisetrain.integrations.huggingface import NOISE_FILE, NoiseCallback  # noqa: E402
from noisetrain.noise.inject import no_noise  # noqa: E402
from noisetrain.noise.sequences import EmbeddingNoise, TokenMask  # noqa: E402
from noisetrain.registry import ConfigError  # noqa: E402
from noisetrain.train import fit  # noqa: E402
from noisetrain.train.optim import build_optimizer  # noqa: E402

from testkit import RECIPE_AT_EVERY_POSITION, FitSteps, LoopOrder, same, same_steps, snapshot  # noqa: E402

ROOT = Path(__file__).parents[2]
SEED = 0
BATCH = 64
OPTIMIZER = OptimizerConfig(kind="sgd", lr=0.05)
RECIPE = RECIPE_AT_EVERY_POSITION
WORDS = "good great fine bad awful poor the a film plot was is very".split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# -- the models and data ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def quick_collections():
    """Each ``train()`` runs ``gc.collect()`` (accelerate's ``free_memory``): a third of a second over the objects
    of the imported libraries, milliseconds once they are frozen out of the collector's reach for this module."""
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="module")
def digits():
    return load_data({"kind": "digits", "train_size": 200})


class MLP(nn.Sequential):
    """fit's model, called the Trainer's way: ``model(x=...)`` (the Trainer gives the labels to the loss)."""

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)


def mlp() -> MLP:
    torch.manual_seed(0)
    return MLP(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


class Rows(Dataset):
    """A split as the Trainer's rows: ``{"x": features, "labels": class}``."""

    def __init__(self, split) -> None:
        self.x, self.y = split.x, split.y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


def tokenizer(*, mask: bool = True) -> "transformers.PreTrainedTokenizerFast":
    """A word-level tokenizer built here: [CLS] words [SEP], special tokens first."""
    vocab = {token: i for i, token in enumerate([*SPECIAL, *WORDS])}
    words = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    tokens = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
    return transformers.PreTrainedTokenizerFast(tokenizer_object=words, **tokens, mask_token="[MASK]" if mask else None)


def bert(vocab_size: int) -> "transformers.BertForSequenceClassification":
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=32, num_labels=2,
    )  # fmt: skip
    return transformers.BertForSequenceClassification(config)


class Sentences(Dataset):
    """Tokenized sentences of random length (padded batches), labelled by their first word."""

    def __init__(self, tok, n: int = 64) -> None:
        g = torch.Generator().manual_seed(1)
        lengths = torch.randint(3, 12, (n,), generator=g).tolist()
        text = [" ".join(WORDS[i] for i in torch.randint(0, len(WORDS), (k,), generator=g).tolist()) for k in lengths]
        self.rows = [{**tok(t), "labels": int(t.split()[0] in WORDS[:3])} for t in text]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


# -- the Trainer ---------------------------------------------------------------------------------------------------
class NoisyTrainer(transformers.Trainer):
    """The user's side: batch noise in ``compute_loss`` (the documented route). The tests also record each training
    step's loss, and may fix the data order to noisetrain's or compare each forward pass with a clean one."""

    def __init__(self, *args, noise: NoiseCallback, order: int | None = None, compare: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.noise, self.order, self.compare = noise, order, compare
        self.losses: list[torch.Tensor] = []
        self.clean: dict[bool, list[bool]] = {True: [], False: []}  # training -> forward passes equal to clean ones

    def compute_loss(self, model, inputs, *args, **kwargs):
        if self.compare:
            self.clean[model.training].append(same_as_clean(model, inputs))
        loss = super().compute_loss(model, self.noise.batch(inputs), *args, **kwargs)
        if model.training:
            self.losses.append(loss.detach().clone())
        return loss

    def _get_train_sampler(self, train_dataset=None):
        if self.order is None:
            return super()._get_train_sampler(train_dataset)
        return LoopOrder(len(self.train_dataset), self.order)


def same_as_clean(model: nn.Module, inputs: dict) -> bool:
    features = {k: v for k, v in inputs.items() if k != "labels"}
    with torch.no_grad():
        output = model(**features)
        with no_noise(model):
            return torch.equal(output, model(**features))


def arguments(folder: Path, **options) -> "transformers.TrainingArguments":
    """fit's settings: 2 epochs of batches of 64, constant learning rate, no clipping; no logs, no checkpoints."""
    settings = {
        "num_train_epochs": 2, "per_device_train_batch_size": BATCH, "per_device_eval_batch_size": BATCH,
        "learning_rate": OPTIMIZER.lr, "lr_scheduler_type": "constant", "max_grad_norm": 0.0, "seed": SEED,
        "save_strategy": "no", "logging_strategy": "no", "report_to": [], "use_cpu": True, "disable_tqdm": True,
        **options,
    }  # fmt: skip
    return transformers.TrainingArguments(output_dir=str(folder), **settings)


def trainer(
    model, noise, folder, train, *, optimizer=None, callbacks=(), eval_dataset=None, order=None, compare=False, **args
) -> NoisyTrainer:
    """A Trainer with the callback and the recipe's loss; with a learnable recipe, ``optimizer`` holds the attached
    handle's parameters."""
    return NoisyTrainer(
        model, arguments(folder, **args), train_dataset=train, eval_dataset=eval_dataset,
        callbacks=[noise, *callbacks], optimizers=(optimizer, None), compute_loss_func=noise.loss,
        noise=noise, order=order, compare=compare,
    )  # fmt: skip


def with_optimizer(model: nn.Module, noise: NoiseCallback) -> torch.optim.Optimizer:
    """fit's optimizer: the model's parameters and the handle's, which exist once the recipe is attached."""
    handle = noise.attach(model)
    return build_optimizer(OPTIMIZER, [*model.parameters(), *handle.parameters()], seed=0)


class States(transformers.TrainerCallback):
    """After each optimizer step: every attached injector's state."""

    def __init__(self, noise: NoiseCallback) -> None:
        self.noise, self.states = noise, []

    def on_step_end(self, args, state, control, **kwargs):
        self.states.append(copy.deepcopy(self.noise.handle.state_dict()))


def pairs(losses: list, states: list) -> list[tuple[torch.Tensor, dict]]:
    return list(zip(losses, states, strict=True))


# -- fit's noise, step by step ---------------------------------------------------------------------------------
def test_a_trainer_run_draws_the_same_noise_as_noisetrain_fit(digits, tmp_path):
    reference = FitSteps()
    result = fit(
        mlp(), digits, noise=RECIPE, seed=SEED, callbacks=[reference],
        config={"epochs": 2, "batch_size": BATCH, "optimizer": OPTIMIZER.model_dump()},
    )  # fmt: skip
    fitted = result.handle.model
    result.handle.remove()

    model, noise = mlp(), NoiseCallback(RECIPE, seed=SEED, data=digits)
    states = States(noise)
    run = trainer(model, noise, tmp_path, Rows(digits.train), optimizer=with_optimizer(model, noise), order=SEED,
                  callbacks=[states])  # fmt: skip
    run.train()
    steps = pairs(run.losses, states.states)
    assert len(steps) == 8  # 2 epochs of ceil(200 / 64) batches
    # per step: the same loss (same noisy batch, input, activations, weights, label smoothing) and the same
    # injector states (generator states, schedule progress, gradient-noise step counter, learnable scale)
    assert same_steps(steps, reference.steps)
    assert [state["0"]["_extra_state"]["progress_"] for state in states.states] == [step / 8 for step in range(8)]
    assert same(model.state_dict(), fitted.state_dict())  # and so the same trained weights


def test_bayesian_weights_train_with_their_kl_term_as_in_fit(digits, tmp_path):
    recipe = {"kind": "bayesian", "prior_std": 0.2, "init_std": 0.05}
    config = {"epochs": 2, "batch_size": BATCH, "optimizer": OPTIMIZER.model_dump()}
    fitted = fit(mlp(), digits, noise=recipe, seed=SEED, config=config).handle
    fitted.remove()  # the means stay, under their plain names
    model, noise = mlp(), NoiseCallback(recipe, seed=SEED)
    run = trainer(model, noise, tmp_path, Rows(digits.train), optimizer=with_optimizer(model, noise), order=SEED)
    run.train()
    for key, value in fitted.model.state_dict().items():  # the KL term (weight decay 1 / (0.2² 200) on the means)
        torch.testing.assert_close(model.state_dict()[key], value, rtol=1e-5, atol=1e-6, msg=key)
    assert run.evaluate(Rows(digits.val))["eval_loss"] > 0  # after training: the plain model, no KL term
    tok, noise = tokenizer(), NoiseCallback(recipe, seed=SEED)
    model = bert(len(tok))  # a model that computes its own loss, without the KL term
    unrouted = transformers.Trainer(model, arguments(tmp_path, max_steps=2), train_dataset=Sentences(tok),
                                    processing_class=tok, callbacks=[noise],
                                    optimizers=(with_optimizer(model, noise), None))  # fmt: skip
    with pytest.raises(ConfigError, match=re.escape("Bayesian weights' KL term) needs Trainer(compute_loss_func=")):
        unrouted.train()

    class Stream(IterableDataset):  # no len(): no number of training examples to weigh the KL term by
        def __iter__(self):
            return iter(Rows(digits.train)[i] for i in range(len(digits.train)))

    model, noise = mlp(), NoiseCallback(recipe, seed=SEED)
    with pytest.raises(ConfigError, match=r"the train dataset has no len\(\); use a map-style dataset"):
        trainer(model, noise, tmp_path, Stream(), optimizer=with_optimizer(model, noise), max_steps=2).train()
    assert noise.handle is None and not hasattr(model[0], "parametrizations")  # taken off again


# -- evaluation, the model afterwards, checkpoints ---------------------------------------------------------------
@pytest.mark.slow
def test_noise_is_off_in_evaluation_and_on_in_training(digits, tmp_path):
    model, noise = mlp(), NoiseCallback(RECIPE, seed=SEED, data=digits)
    run = trainer(
        model, noise, tmp_path, Rows(digits.train), optimizer=with_optimizer(model, noise), compare=True,
        eval_dataset=Rows(digits.val), eval_strategy="steps", eval_steps=4,
    )  # fmt: skip
    run.train()
    assert len(run.clean[True]) == 8 and not any(run.clean[True])  # each training forward pass is noisy
    assert len(run.clean[False]) >= 2 and all(run.clean[False])  # evaluations in training: attached, in eval mode
    assert noise.handle is None and run.evaluate()["eval_loss"] > 0  # afterwards the loss works without the noise


@pytest.mark.slow
def test_the_model_ends_as_before_after_training_and_after_a_failure_once_removed(tmp_path):
    tok = tokenizer()
    model = bert(len(tok))
    before, hooks = snapshot(model), (dict(model._state_dict_hooks), dict(model._load_state_dict_pre_hooks))
    recipe = [
        TokenMask.from_tokenizer(tok),
        ("output:*word_embeddings", EmbeddingNoise.from_tokenizer(tok)),
        {"kind": "weight_noise", "std": 0.01, "at": "weights:Linear"},
        {"kind": "gradient_noise", "eta": 0.01},
    ]
    noise = NoiseCallback(recipe, seed=SEED)
    options = {"model": model, "train_dataset": Sentences(tok), "processing_class": tok}
    transformers.Trainer(args=arguments(tmp_path, max_steps=2), callbacks=[noise], **options).train()
    after = snapshot(model)
    # the same keys, modules and hooks (state-dict hooks too); the values are the trained parameters, plain again
    assert after[0] == before[0] and after[2:] == before[2:]
    assert (dict(model._state_dict_hooks), dict(model._load_state_dict_pre_hooks)) == hooks
    assert not torch.equal(after[1]["classifier.weight"], before[1]["classifier.weight"])
    assert noise.handle is None

    class Fail(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            assert type(model.classifier).__name__ == "ParametrizedLinear"
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        transformers.Trainer(args=arguments(tmp_path, max_steps=2), callbacks=[noise, Fail()], **options).train()
    assert noise.handle is not None  # the Trainer has no event for a failed run: the recipe stays until remove()
    noise.remove()
    failed = snapshot(model)
    assert failed[0] == before[0] and failed[2:] == before[2:]


@pytest.mark.slow
def test_checkpoints_hold_the_plain_model_and_a_resumed_run_continues_the_same_noise_stream(digits, tmp_path):
    def run() -> tuple[NoisyTrainer, States]:
        model, noise = mlp(), NoiseCallback(RECIPE, seed=SEED, data=digits)
        states = States(noise)
        optimizer = with_optimizer(model, noise)  # attached now: the checkpoint loads through the noise
        return trainer(model, noise, tmp_path, Rows(digits.train), optimizer=optimizer, callbacks=[states],
                       num_train_epochs=3, save_strategy="epoch"), states  # fmt: skip

    full, states = run()
    full.train()
    assert len(states.states) == 12
    checkpoint = tmp_path / "checkpoint-4"
    assert sorted(load_file(checkpoint / "model.safetensors")) == sorted(mlp().state_dict())  # clean, plain names
    assert (checkpoint / NOISE_FILE).is_file()

    resumed, again = run()
    resumed.train(resume_from_checkpoint=str(checkpoint))
    # generators, counters, progress and learnable scales come back from the checkpoint: the same steps follow
    assert same_steps(pairs(resumed.losses, again.states), pairs(full.losses[4:], states.states[4:]))

    (tmp_path / "checkpoint-12" / NOISE_FILE).unlink()  # the last: nothing left to train
    with pytest.warns(UserWarning, match="checkpoint-12/noisetrain_noise.pt does not exist .* restarts from its seeds"):
        run()[0].train(resume_from_checkpoint=str(tmp_path / "checkpoint-12"))


@pytest.mark.slow
def test_load_best_model_at_end_loads_a_plain_checkpoint_into_the_noisy_model(digits, tmp_path):
    model, noise = mlp(), NoiseCallback({"kind": "weight_noise", "std": 0.02, "at": "weights:Linear"}, seed=SEED)
    options = {"eval_strategy": "epoch", "save_strategy": "epoch", "load_best_model_at_end": True}
    best = {"metric_for_best_model": "loss", "greater_is_better": True}  # the worst loss: the first epoch's weights
    trainer(model, noise, tmp_path, Rows(digits.train), eval_dataset=Rows(digits.val), **options, **best).train()
    first, last = (load_file(tmp_path / f"checkpoint-{step}" / "model.safetensors") for step in (4, 8))
    assert same(model.state_dict(), first) and not same(first, last)


# -- gradient noise ---------------------------------------------------------------------------------------------------
def test_gradient_noise_is_added_once_per_optimizer_step_after_clipping(digits, tmp_path):
    class Grads(transformers.TrainerCallback):
        def __init__(self):
            self.grads: list[torch.Tensor] = []

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            self.grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))

    model, noise = mlp(), NoiseCallback({"kind": "gradient_noise", "eta": 0.01}, seed=SEED)
    clipped, noisy = Grads(), Grads()  # the gradients as the Trainer leaves them, and with the noise
    start = torch.cat([p.detach().flatten() for p in model.parameters()])
    options = {"per_device_train_batch_size": BATCH // 2, "gradient_accumulation_steps": 2, "optim": "sgd"}
    settings = arguments(tmp_path, num_train_epochs=1, max_grad_norm=1e-3, **options)
    transformers.Trainer(model, settings, train_dataset=Rows(digits.train), callbacks=[clipped, noise, noisy],
                         compute_loss_func=noise.loss).train()  # fmt: skip
    assert len(clipped.grads) == len(noisy.grads) == 4  # one per optimizer step of 2 accumulated micro-batches
    assert all(g.norm() <= 1e-3 * 1.0001 for g in clipped.grads)  # the Trainer clipped first, then the noise came
    assert all((g - c).norm() > 1 for g, c in zip(noisy.grads, clipped.grads, strict=True))  # (std 0.1 each)
    # SGD without momentum: the weights moved by exactly -lr times the noisy gradients
    moved = start - sum(OPTIMIZER.lr * g for g in noisy.grads)
    assert torch.allclose(torch.cat([p.detach().flatten() for p in model.parameters()]), moved, atol=1e-6)


# -- the errors that say what to do -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({"kind": "label_noise", "rate": 0.3, "num_classes": 2}, "the recipe's batch noise reached no batch"),
        ({"kind": "label_smoothing", "eps": 0.1}, "needs Trainer(compute_loss_func=callback.loss)"),
        ({"kind": "mixup", "alpha": 0.4, "num_classes": 2}, "batch noise reached no batch; apply it in a Trainer"),
    ],
    ids=["batch", "loss", "mixing"],
)
def test_a_recipe_whose_batch_noise_or_loss_is_not_routed_stops_at_its_first_step(tmp_path, recipe, message):
    tok = tokenizer()
    model = bert(len(tok))
    before = snapshot(model)
    run = transformers.Trainer(model, arguments(tmp_path, max_steps=2), train_dataset=Sentences(tok),
                               processing_class=tok, callbacks=[NoiseCallback(recipe)])  # fmt: skip
    with pytest.raises(ConfigError, match=re.escape(message)):
        run.train()
    after = snapshot(model)  # taken off before any optimizer step
    assert after[0] == before[0] and after[2:] == before[2:] and same(after[1], before[1])


def test_learnable_noise_outside_the_optimizer_is_an_error(digits, tmp_path):
    model = mlp()
    before = snapshot(model)
    run = trainer(model, NoiseCallback({"kind": "learnable", "at": "output:0"}), tmp_path, Rows(digits.train))
    with pytest.raises(ConfigError, match=re.escape("1 learnable noise parameters are in no optimizer; the Trainer")):
        run.train()
    after = snapshot(model)
    assert after[0] == before[0] and after[2:] == before[2:]


def test_embedding_noise_with_protected_ids_must_follow_the_input_embeddings(tmp_path):
    tok = tokenizer()
    run = transformers.Trainer(bert(len(tok)), arguments(tmp_path, max_steps=1), train_dataset=Sentences(tok),
                               callbacks=[NoiseCallback(EmbeddingNoise.from_tokenizer(tok))])  # fmt: skip
    where = "place it after them (at='output:bert.embeddings.word_embeddings')"
    with pytest.raises(ConfigError, match=re.escape(where)):
        run.train()  # its default place is after every Embedding: positions and token types too


def test_the_seed_defaults_to_the_training_arguments(digits, tmp_path):
    def seeds(noise: NoiseCallback, seed: int) -> list:
        found = []

        class Look(transformers.TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                found.extend(injector.seed for injector in noise.handle.injectors())

        trainer(mlp(), noise, tmp_path, Rows(digits.train), callbacks=[Look()], seed=seed, max_steps=1).train()
        return found

    # TrainingArguments.seed when the callback has none; the callback's own over it (seeds of 0 would differ)
    assert seeds(NoiseCallback(RECIPE[:3]), 7) == seeds(NoiseCallback(RECIPE[:3], seed=7), 0)


# -- a real tokenizer's special tokens -----------------------------------------------------------------------------
def test_token_mask_from_a_tokenizer_never_changes_its_special_tokens():
    tok = tokenizer()
    masker = TokenMask.from_tokenizer(tok, p=0.3, seed=0)
    special_ids = torch.tensor(tok.all_special_ids)
    assert (masker.mask_id, masker.vocab_size, set(masker.protected)) == (4, len(tok), set(tok.all_special_ids))
    batch = tok.pad([{"input_ids": row["input_ids"]} for row in Sentences(tok, 3000)], return_tensors="pt")
    ids = batch["input_ids"]  # (3000, 13): [CLS] 3 to 11 words [SEP], then padding
    out = masker(ids)
    special = torch.isin(ids, special_ids)
    assert torch.equal(out[special], ids[special])  # 17,791 special positions, none changed
    changed = (out[~special] != ids[~special]).float().mean().item()  # 21,209 words, each selected w.p. 0.3
    assert abs(changed - 0.3 * (0.8 + 0.1 * (1 - 1 / len(tok)))) < 0.012  # 0.2645 here; std ~0.003
    assert abs((out[~special] == 4).float().mean().item() - 0.3 * (0.8 + 0.1 / len(tok))) < 0.012  # 0.2378
    with pytest.raises(ConfigError, match=r"the tokenizer \(\w+\) has no mask token; give it one"):
        TokenMask.from_tokenizer(tokenizer(mask=False))


def test_token_mask_and_neftune_from_a_tokenizer_spare_special_tokens_in_a_trainer_run(tmp_path):
    tok = tokenizer()
    model = bert(len(tok))
    batches, embedded = [], []
    model.register_forward_pre_hook(lambda m, args, kwargs: batches.append(args[0]), with_kwargs=True)

    class Look(transformers.TrainerCallback):  # after the noise callback: its hook runs after the embedding noise
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            def look(module, args, output):
                embedded.append((args[0], output, F.embedding(args[0], module.weight)))

            self.hook = model.get_input_embeddings().register_forward_hook(look)

        def on_train_end(self, args, state, control, **kwargs):
            self.hook.remove()

    recipe = [TokenMask.from_tokenizer(tok, p=0.5), ("output:*word_embeddings", EmbeddingNoise.from_tokenizer(tok))]
    run = transformers.Trainer(model, arguments(tmp_path, max_steps=2, per_device_train_batch_size=32),
                               train_dataset=Sentences(tok), processing_class=tok,
                               callbacks=[NoiseCallback(recipe, seed=SEED), Look()])  # fmt: skip
    run.train()
    special_ids = torch.tensor(tok.all_special_ids)
    assert len(batches) == len(embedded) == 2
    for ids, (masked, noisy, clean) in zip(batches, embedded, strict=True):
        special = torch.isin(ids, special_ids)  # the batch's [CLS], [SEP], padding
        assert torch.equal(masked[special], ids[special]) and bool((masked == tok.mask_token_id).any())
        kept = torch.isin(masked, special_ids)  # and, after masking, [MASK] too: no embedding noise there
        assert torch.equal(noisy[kept], clean[kept]) and bool((noisy[~kept] != clean[~kept]).all())


# -- the example ---------------------------------------------------------------------------------------------------
@pytest.mark.slow  # about 5 s: 100 steps of a tiny BERT and three evaluations
def test_the_example_runs(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)  # its Trainer's output_dir, runs/huggingface_text, is relative
    monkeypatch.setattr(sys, "argv", ["huggingface_text.py", "--epochs", "2"])
    runpy.run_path(str(ROOT / "examples" / "integrations" / "huggingface_text.py"), run_name="__main__")
    rows = dict(line.rsplit(maxsplit=1) for line in capsys.readouterr().out.splitlines())
    assert set(rows) == {"accuracy", "accuracy with 30% of the words masked"}
    assert float(rows["accuracy"]) > 0.8


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use it with Hugging Face Transformers", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)  # it writes runs/hf
    namespace: dict = {}
    exec(block, namespace)
    assert namespace["callback"].handle is None  # removed when train returned
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in namespace["model"].modules())
