"""Every registered model on tiny inputs: output shapes, a few training steps that reduce the loss, and
noise injection (train step, silent in eval mode, removed without a trace)."""

import pytest
import torch
import torch.nn.functional as F

import noisetrain as nt
from noisetrain.models import MODELS, build_model

from testkit import snapshot

TEXT_INFO = {"vocab_size": 50, "pad_id": 0}


def text_ids(n: int, length: int) -> torch.Tensor:
    """(n, length) ids in [1, 50), right-padded with 0 to random lengths in [2, length]."""
    ids = torch.randint(1, 50, (n, length))
    lengths = torch.randint(2, length + 1, (n,))
    return ids.masked_fill(torch.arange(length) >= lengths[:, None], 0)


# (id, spec, input_shape, num_outputs, info); every registered kind but knn (no gradients) appears
CASES = [
    ("mlp", {"kind": "mlp", "widths": [32, 32]}, (1, 3, 4), 3, None),
    ("mlp-bn-dropout", {"kind": "mlp", "widths": [32], "batchnorm": True, "dropout": 0.1}, (8,), 3, None),
    ("mlp-regression", {"kind": "mlp", "widths": [16], "activation": "tanh"}, (5,), 1, None),
    ("lenet", {"kind": "lenet"}, (1, 28, 28), 10, None),
    ("lenet-16", {"kind": "lenet"}, (3, 16, 16), 3, None),
    ("cnn32", {"kind": "cnn32", "widths": [8, 16]}, (3, 16, 16), 3, None),
    ("resnet18", {"kind": "resnet18", "width": 0.125}, (3, 8, 8), 3, None),
    ("resnet20", {"kind": "resnet20", "width": 0.5}, (1, 8, 8), 3, None),
    ("cnn1d", {"kind": "cnn1d", "widths": [8, 8]}, (40,), 3, None),
    ("cnn1d-channels", {"kind": "cnn1d", "widths": [16, 16], "global_pool": True}, (2, 20), 3, None),
    ("mlp-residual", {"kind": "mlp", "widths": [12, 16, 16], "residual": True}, (12,), 3, None),
    ("cnn1d-per-layer", {"kind": "cnn1d", "widths": [8, 8], "kernel_size": [5, 3], "padding": 1}, (40,), 3, None),
    ("gru", {"kind": "gru", "hidden": 32}, (12,), 3, None),
    ("gru-mnist1d", {"kind": "gru", "hidden": 6, "bidirectional": True, "readout": "flatten"}, (40,), 3, None),
    ("lstm", {"kind": "lstm", "hidden": 32, "layers": 2, "dropout": 0.1}, (2, 12), 3, None),
    ("lstm-regression", {"kind": "lstm", "hidden": 8, "bidirectional": True}, (3, 10), 1, None),
    ("text-gru", {"kind": "text", "embedding_dim": 8, "hidden": 16}, (10,), 3, TEXT_INFO),
    ("text-cnn", {"kind": "text", "embedding_dim": 8, "hidden": 16, "encoder": "cnn"}, (10,), 3, TEXT_INFO),
]
IDS = [case[0] for case in CASES]


def test_cases_cover_the_registry():
    assert {spec["kind"] for _, spec, *_ in CASES} | {"knn"} == set(MODELS.names())


def tiny(spec, input_shape, num_outputs, info, n=4):
    torch.manual_seed(0)
    model = build_model(spec, input_shape=input_shape, num_outputs=num_outputs, info=info)
    x = text_ids(n, input_shape[0]) if spec["kind"] == "text" else torch.randn(n, *input_shape)
    y = torch.randn(n, 1) if num_outputs == 1 else torch.randint(0, num_outputs, (n,))
    return model, x, y


def loss_of(output, y):
    return F.mse_loss(output, y) if y.is_floating_point() else F.cross_entropy(output, y)


@pytest.mark.parametrize(("name", "spec", "input_shape", "num_outputs", "info"), CASES, ids=IDS)
def test_output_shape(name, spec, input_shape, num_outputs, info):
    for n in (2, 3):
        model, x, _ = tiny(spec, input_shape, num_outputs, info, n=n)
        model.eval()
        output = model(x)
        assert output.shape == (n, num_outputs) and output.dtype == torch.float32
        assert torch.isfinite(output).all()


@pytest.mark.parametrize(("name", "spec", "input_shape", "num_outputs", "info"), CASES, ids=IDS)
def test_training_steps_reduce_the_loss(name, spec, input_shape, num_outputs, info):
    model, x, y = tiny(spec, input_shape, num_outputs, info, n=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    losses = []
    for _ in range(20):
        loss = loss_of(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    assert losses[-1] < 0.6 * losses[0]
    assert loss_of(model(x), y).item() < 0.6 * losses[0]


def recipe(name):
    noise = {"kind": "gaussian", "std": 0.1, "seed": 0}
    at = "output:ReLU"
    if name.startswith("text"):  # input noise on token ids makes no sense: noise the embeddings instead
        noise = {"kind": "embedding_noise", "alpha": 5.0, "seed": 0}
        at = "output:Embedding" if name == "text-gru" else at  # the GRU encoder has no ReLU
    if name == "mlp-regression":  # tanh activations
        at = "output:Tanh"
    if name.startswith(("gru", "lstm")):  # no ReLU: drop units of the recurrent outputs
        at = "output:GRU|LSTM"
    return [noise, {"kind": "dropout", "p": 0.1, "at": at, "seed": 1}]


@pytest.mark.parametrize(("name", "spec", "input_shape", "num_outputs", "info"), CASES, ids=IDS)
def test_injection(name, spec, input_shape, num_outputs, info):
    model, x, y = tiny(spec, input_shape, num_outputs, info)
    before = snapshot(model)
    handle = nt.inject(model, recipe(name))
    assert len(handle) >= 2
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()
    loss = loss_of(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters())
    optimizer.step()

    model.eval()
    with torch.no_grad():
        noisy_eval = model(x)
        with nt.no_noise(model):
            assert torch.equal(noisy_eval, model(x))
    handle.remove()
    after = snapshot(model)
    assert after[0] == before[0] and after[2] == before[2] and after[3] == before[3]


def test_knn_with_input_noise():
    torch.manual_seed(0)
    model = build_model({"kind": "knn", "k": 1}, input_shape=(2, 2), num_outputs=3)
    x, y = torch.randn(12, 2, 2), torch.arange(12) % 3
    model.fit(x, y)
    clean = model(x)
    before = snapshot(model)
    with nt.inject(model, {"kind": "gaussian", "std": 3.0, "seed": 0}):
        model.train()
        noisy = model(x)
        assert noisy.shape == (12, 3) and not torch.equal(noisy, clean)
        model.eval()
        assert torch.equal(model(x), clean)
    after = snapshot(model)
    assert after[0] == before[0] and after[2] == before[2] and after[3] == before[3]
