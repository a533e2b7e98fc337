"""Every registered injector on tiny models: built from config, forward + backward + step, silent in
eval mode, and removed without a trace."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import noisetrain as nt
from noisetrain.noise.base import NOISE, build_noise

from testkit import same_snapshot, snapshot


class TextModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(50, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(ids).mean(dim=1))


def tiny(name: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    if name == "mlp":
        model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
        return model, torch.rand(12, 8), torch.randint(0, 3, (12,))
    if name == "cnn":
        model = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)
        )
        return model, torch.rand(12, 3, 8, 8), torch.randint(0, 3, (12,))
    if name == "conv1d":
        model = nn.Sequential(nn.Conv1d(2, 4, 5, padding=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 32, 3))
        return model, torch.randn(12, 2, 32), torch.randint(0, 3, (12,))
    model = TextModel()
    return model, torch.randint(1, 50, (12, 10)), torch.randint(0, 3, (12,))


# kind -> (model, spec); every registered kind must appear (see test_examples_cover_the_registry)
EXAMPLES = [
    ("gaussian", "mlp", {"std": 0.1}),
    ("gaussian", "cnn", {"std": 0.1, "at": "output:BatchNorm*"}),
    ("gaussian", "cnn", {"std": 0.1, "relative": "tensor", "at": "weights:Conv2d"}),
    ("uniform", "mlp", {"width": 0.1}),
    ("uniform", "cnn", {"width": 0.1}),
    ("salt_pepper", "mlp", {"p": 0.1}),
    ("salt_pepper", "cnn", {"p": 0.1}),
    ("feature_mask", "mlp", {"p": 0.2}),
    ("cutout", "cnn", {"size": 3}),
    ("random_erasing", "cnn", {"p": 0.5}),
    ("dropout", "mlp", {"p": 0.3, "at": "output:ReLU"}),
    ("dropout", "cnn", {"p": 0.3, "channelwise": True, "at": "output:ReLU"}),
    ("alpha_dropout", "mlp", {"p": 0.2, "at": "output:ReLU"}),
    ("gaussian_dropout", "cnn", {"p": 0.2, "at": "output:ReLU"}),
    ("weight_noise", "mlp", {"std": 0.05}),
    ("weight_noise", "cnn", {"std": 0.05}),
    ("dropconnect", "mlp", {"p": 0.2}),
    ("dropconnect", "cnn", {"p": 0.2}),
    ("bayesian", "mlp", {"prior_std": 0.5}),
    ("bayesian", "cnn", {"prior_std": 0.5}),
    ("learnable", "mlp", {"per_channel": True}),
    ("learnable", "cnn", {"init": 0.1, "at": "output:BatchNorm2d"}),
    ("gradient_noise", "mlp", {"eta": 0.01}),
    ("gradient_noise", "cnn", {"eta": 0.01}),
    ("label_noise", "mlp", {"rate": 0.2, "num_classes": 3}),
    ("label_noise", "cnn", {"rate": 0.2, "num_classes": 3, "mode": "asymmetric"}),
    ("target_noise", "mlp", {"std": 0.1}),
    ("label_smoothing", "mlp", {"eps": 0.1}),
    ("label_smoothing", "cnn", {"eps": 0.1}),
    ("mixup", "mlp", {"alpha": 0.4, "num_classes": 3}),
    ("mixup", "cnn", {"alpha": 0.4, "num_classes": 3}),
    ("cutmix", "cnn", {"alpha": 1.0, "num_classes": 3}),
    ("token_mask", "text", {"p": 0.15, "mask_id": 0, "vocab_size": 50}),
    ("embedding_noise", "text", {"alpha": 5.0}),
    ("temporal_dropout", "conv1d", {"p": 0.1}),
    ("background_noise", "conv1d", {"snr_db": 20.0}),
    ("speed_perturb", "conv1d", {"factor": [0.9, 1.1]}),
    ("weight_noise", "mlp", {"std": 0.05, "mode": "multiplicative", "sampling": "local"}),
    ("weight_noise", "cnn", {"std": 0.05, "sampling": "local"}),
    ("weight_noise", "conv1d", {"std": 0.05, "sampling": "flipout"}),
    ("bayesian", "mlp", {"prior_std": 0.5, "sampling": "flipout"}),
    ("bayesian", "cnn", {"prior_std": 0.5, "sampling": "local"}),
]


def test_examples_cover_the_registry():
    assert {kind for kind, _, _ in EXAMPLES} == set(NOISE.names())


@pytest.mark.parametrize("generator", ["exact", "fast"])
@pytest.mark.parametrize(("kind", "model_name", "params"), EXAMPLES, ids=[f"{k}-{m}" for k, m, _ in EXAMPLES])
def test_train_step_eval_identity_and_removal(kind, model_name, params, generator):
    model, x, y = tiny(model_name)
    if kind == "target_noise":
        y = y.float()  # a regression target
    spec = {"kind": kind, **params, "seed": 0} if kind != "label_smoothing" else {"kind": kind, **params}
    if generator == "fast":
        spec["generator"] = "fast"
    injector = build_noise({k: v for k, v in spec.items() if k != "at"})
    assert build_noise(injector.to_config()).to_config() == injector.to_config()

    model.eval()
    with torch.no_grad():
        clean = model(x)
    before = snapshot(model)

    handle = nt.inject(model, spec)
    optimizer = torch.optim.SGD([*model.parameters(), *handle.parameters()], lr=0.01)
    handle.bind(optimizer)
    model.train()
    xb, yb = handle.batch(x, y)
    logits = model(xb)
    loss = F.mse_loss(logits[:, 0], yb) if kind == "target_noise" else handle.loss(logits, yb)
    if kind == "bayesian":
        loss = loss + nt.kl_divergence(model) / 1000
    optimizer.zero_grad()
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    optimizer.step()

    model.eval()  # inactive in eval mode: the (updated) model equals itself without noise
    with torch.no_grad():
        noisy_eval = model(x)
        with nt.no_noise(model):
            assert torch.equal(noisy_eval, model(x))
    handle.remove()
    after = snapshot(model)
    assert after[0] == before[0] and after[2] == before[2] and after[3] == before[3]
    assert clean.shape == noisy_eval.shape


@pytest.mark.parametrize("kind", NOISE.names())
def test_strength_zero_is_identity(kind):
    cls = NOISE.get(kind)
    example = next(params for k, _, params in EXAMPLES if k == kind)
    params = {k: v for k, v in example.items() if k != "at"}
    if cls.strength in ("init_std",):
        pytest.skip("Bayesian weights have no zero strength (sigma > 0); they are off in eval mode")
    params[cls.strength] = 0.0 if cls.strength != "size" else 0
    injector = build_noise({"kind": kind, **params})
    assert not injector.active


def test_same_seed_same_numbers_across_models():
    outputs = []
    for _ in range(2):
        model, x, _ = tiny("cnn")
        nt.inject(model, [{"kind": "gaussian", "std": 0.1, "seed": 3}, {"kind": "dropconnect", "p": 0.2, "seed": 4}])
        outputs.append(model(x))
    assert torch.equal(*outputs)


def test_snapshot_helper_detects_changes():
    model, _, _ = tiny("mlp")
    before = snapshot(model)
    with torch.no_grad():
        model[0].weight.add_(1)
    assert not same_snapshot(before, snapshot(model))
