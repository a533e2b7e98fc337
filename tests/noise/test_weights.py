"""Noise on weights: weight noise, DropConnect, Bayes by Backprop and learnable (PNI) noise through inject."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal

from noisetrain.noise.base import NOISE, build_noise
from noisetrain.noise.inject import inject, mc_mode
from noisetrain.noise.inputs import GaussianNoise
from noisetrain.noise.weights import (
    BayesianWeights,
    DropConnect,
    LearnableNoise,
    WeightNoise,
    bayesian,
    kl_divergence,
    learnable_noise,
)
from noisetrain.registry import ConfigError

from testkit import TiedLM, Twice, same_snapshot, snapshot, tiny_cnn, tiny_mlp


def attached(injector, shape=(64, 64)) -> tuple[nn.Linear, torch.Tensor]:
    """A Linear layer with ``injector`` on its weight, and the clean weight (the parametrization's original)."""
    torch.manual_seed(0)
    layer = nn.Linear(shape[1], shape[0])
    inject(nn.Sequential(layer), ("weights:0", injector))
    return layer, layer.parametrizations.weight.original


WEIGHT_INJECTORS = [
    lambda: WeightNoise(0.1, seed=0),
    lambda: DropConnect(0.3, seed=0),
    lambda: BayesianWeights(init_std=0.05, seed=0),
    lambda: LearnableNoise(seed=0),
    lambda: LearnableNoise(per_channel=True, seed=0),
]


# -- shared behaviour on weights ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [tiny_mlp, tiny_cnn])
@pytest.mark.parametrize("injector", WEIGHT_INJECTORS)
def test_through_inject(make, injector):
    model = make()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(8, 6) if make is tiny_mlp else torch.randn(8, 3, 5, 5)
    handle = inject(model, injector())  # default placement: weights of every Linear/Conv layer
    assert {a.selector for a in handle} == {"weights:Linear|Conv1d|Conv2d|Conv3d"}
    layer = model[0]
    clean = layer.parametrizations.weight.original.detach().clone()
    model.train()
    assert not torch.equal(layer.weight, clean)  # noisy in training
    assert not torch.equal(layer.weight, layer.weight)  # a new draw at each access
    model(x).square().sum().backward()
    assert torch.equal(layer.parametrizations.weight.original, clean)  # the clean weight is never modified
    assert layer.parametrizations.weight.original.grad.abs().sum() > 0  # ... and gets the gradient
    model.eval()
    assert torch.equal(layer.weight, clean)  # eval: exactly the clean weight
    with mc_mode(model):
        assert not torch.equal(layer.weight, clean)
    handle.remove()
    after = model.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[k], before[k]) for k in before if "running" not in k and "num_batches" not in k)


@pytest.mark.parametrize("injector", WEIGHT_INJECTORS)
def test_identity_when_disabled_and_seeds(injector):
    layer, clean = attached(injector())
    layer.parametrizations.weight[0].enabled_ = False
    assert layer.weight is clean
    assert torch.equal(attached(injector())[0].weight, attached(injector())[0].weight)  # same seed, same draw
    other = attached(injector())[0]
    other.parametrizations.weight[0].reseed(1)
    assert not torch.equal(other.weight, attached(injector())[0].weight)


@pytest.mark.parametrize("injector", WEIGHT_INJECTORS)
def test_bfloat16(injector):
    model = tiny_mlp().to(torch.bfloat16)
    inject(model, injector())
    out = model.train()(torch.randn(4, 6, dtype=torch.bfloat16))
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert model[0].weight.dtype == torch.bfloat16


@pytest.mark.cuda
@pytest.mark.parametrize("injector", WEIGHT_INJECTORS)
def test_cuda(injector):
    model = tiny_cnn().cuda()
    inject(model, injector())
    x = torch.randn(8, 3, 5, 5, device="cuda")
    model.train()(x).square().sum().backward()
    assert model[0].weight.device.type == "cuda"
    assert model[0].parametrizations.weight.original.grad.abs().sum() > 0
    if isinstance(model[0].parametrizations.weight[0], BayesianWeights):
        assert kl_divergence(model).device.type == "cuda"


@pytest.mark.cuda
def test_cuda_learnable_at_outputs_with_alpha_on_cpu():
    model = tiny_cnn().cuda()  # inject does not move injectors placed by hook: alpha stays on the CPU
    handle = inject(model, ("output:BatchNorm2d", LearnableNoise(per_channel=True, channels=4, seed=0)))
    out = model.train()(torch.randn(8, 3, 5, 5, device="cuda"))
    out.square().sum().backward()
    assert out.is_cuda and handle.injectors()[0].alpha.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "injector",
    [
        WeightNoise({"kind": "linear", "start": 0.1, "end": 0.0}, mode="multiplicative", relative=None, clip=(-1, 1)),
        WeightNoise(0.1, sampling="local"),
        DropConnect(0.2, channelwise=True, seed=4),
        BayesianWeights(0.5, init_std=0.01),
        BayesianWeights(sampling="flipout"),
        LearnableNoise(0.1, per_channel=True, channels=8),
    ],
)
def test_config_round_trip_and_repr(injector):
    config = injector.to_config()
    assert build_noise(config).to_config() == config
    assert NOISE.get(config["kind"]) is type(injector)
    assert all(f"{name}=" in repr(injector) for name in config if name != "kind")


def test_registered_kinds():
    kinds = ("weight_noise", "dropconnect", "bayesian", "learnable")
    classes = (WeightNoise, DropConnect, BayesianWeights, LearnableNoise)
    assert tuple(NOISE.get(k) for k in kinds) == classes


# -- weight noise -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "measure"),
    [
        ({}, lambda noisy, clean: (noisy - clean).std() / clean.std()),  # relative to the tensor's std
        ({"relative": None}, lambda noisy, clean: (noisy - clean).std()),
        ({"relative": None, "mode": "multiplicative"}, lambda noisy, clean: (noisy / clean - 1).std()),
    ],
)
def test_weight_noise_std(kwargs, measure):
    layer, clean = attached(WeightNoise(0.05, seed=0, **kwargs))
    values = torch.stack([measure(layer.weight, clean).detach() for _ in range(10)])
    assert values.mean().item() == pytest.approx(0.05, rel=0.02)  # 40960 draws: rel. std error ~0.4%


def test_weight_noise_schedule():
    layer, clean = attached(WeightNoise({"kind": "linear", "start": 0.0, "end": 0.2}, relative=None, seed=0))
    injector = layer.parametrizations.weight[0]
    assert layer.weight is clean  # std 0 at the start
    injector.set_progress(0.5)
    assert (layer.weight - clean).std().item() == pytest.approx(0.1, rel=0.05)


def test_weight_noise_changes_defaults_and_adds_sampling():
    assert WeightNoise().to_config() | {"kind": "gaussian"} == {
        **NOISE.get("gaussian")().to_config(),
        "relative": "tensor",
        "sampling": "weight",
    }
    with pytest.raises(ConfigError, match=r"WeightNoise\.std"):
        WeightNoise(-1.0)
    with pytest.raises(ConfigError, match="cannot act at 'output'"):
        inject(tiny_mlp(), ("output:ReLU", WeightNoise()))


# -- DropConnect ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropconnect_masks_weight_entries(p):
    layer, clean = attached(DropConnect(p, seed=0), shape=(100, 100))
    first, second = layer.weight.detach(), layer.weight.detach()
    for noisy in (first, second):
        dropped = noisy == 0
        assert abs(dropped.float().mean().item() - p) < 0.015  # 10000 entries: std <= 0.005
        torch.testing.assert_close(noisy[~dropped], clean[~dropped].detach() / (1 - p), rtol=1e-6, atol=0)
    assert not torch.equal(first == 0, second == 0)  # a new mask at each forward
    layer.eval()
    assert layer.weight is clean


def test_dropconnect_gradient_is_masked():
    layer, clean = attached(DropConnect(0.5), shape=(8, 10))
    injector = layer.parametrizations.weight[0]
    x = torch.randn(5, 10)
    injector.reseed(0)
    layer(x).sum().backward()
    injector.reseed(0)
    kept = (layer.weight != 0).float()  # the same mask as in the forward above
    torch.testing.assert_close(clean.grad, kept * x.sum(0) / 0.5)


def test_dropconnect_errors_and_schedule():
    with pytest.raises(ConfigError, match=r"DropConnect\.p"):
        DropConnect(2.0)
    with pytest.raises(ConfigError, match="cannot act at 'input'"):
        inject(tiny_mlp(), ("input", DropConnect(0.1)))
    layer, clean = attached(DropConnect({"kind": "step", "values": [0.0, 0.5], "milestones": [0.5]}, seed=0))
    assert layer.weight is clean
    layer.parametrizations.weight[0].set_progress(0.6)
    assert abs((layer.weight == 0).float().mean().item() - 0.5) < 0.03


# -- Bayes by Backprop ----------------------------------------------------------------------------------------


def test_bayesian_kl_is_closed_form():
    torch.manual_seed(0)
    mu, rho = torch.randn(30, 7), torch.randn(30, 7)
    injector = BayesianWeights(prior_std=0.7)
    injector.prepare(mu)
    with torch.no_grad():
        injector.rho.copy_(rho)
    sigma = F.softplus(rho)
    expected = torch.distributions.kl_divergence(Normal(mu, sigma), Normal(0.0, 0.7)).sum()
    closed = (math.log(0.7) - sigma.log() + (sigma**2 + mu**2) / (2 * 0.7**2) - 0.5).sum()
    torch.testing.assert_close(injector.kl(mu), expected)
    torch.testing.assert_close(injector.kl(mu), closed)


def test_bayesian_prepare_sets_init_std():
    for init_std in (1e-3, 0.1, 3.0, 50.0):
        injector = BayesianWeights(init_std=init_std)
        injector.prepare(torch.zeros(4, 3, dtype=torch.float64))
        assert injector.rho.shape == (4, 3)
        torch.testing.assert_close(injector.sigma(), torch.full((4, 3), init_std, dtype=torch.float64))


def test_bayesian_samples_have_mean_mu_and_std_sigma():
    layer, mu = attached(BayesianWeights(init_std=0.3, seed=0), shape=(20, 30))
    injector = layer.parametrizations.weight[0]
    with torch.no_grad():
        injector.rho.uniform_(-2.0, 1.0, generator=torch.Generator().manual_seed(1))  # various sigmas
        samples = torch.stack([layer.weight for _ in range(500)])
    z = (samples - mu) / injector.sigma()  # standard normal if w ~ N(mu, sigma^2)
    assert abs(z.mean().item()) < 0.01  # 300000 draws: std error 0.002
    assert z.std().item() == pytest.approx(1.0, abs=0.01)
    standard_error = injector.sigma().detach() / math.sqrt(500)
    assert ((samples.mean(0) - mu.detach()) / standard_error).abs().max() < 5  # per entry; 600 entries
    torch.testing.assert_close(samples.std(0), injector.sigma().detach(), rtol=0.2, atol=0)  # 500 draws each


def test_bayesian_gradients_reach_mu_and_rho_and_eval_uses_mu():
    model = tiny_mlp()
    handle = bayesian(model, prior_std=0.5, seed=0)
    assert len(handle) == 4  # weight and bias of both Linear layers
    x = torch.randn(8, 6)
    loss = model.train()(x).square().mean() + kl_divergence(model) / 100
    loss.backward()
    for layer in (model[0], model[2]):
        for name in ("weight", "bias"):
            chain = layer.parametrizations[name]
            assert chain.original.grad.abs().sum() > 0
            assert chain[0].rho.grad.abs().sum() > 0
    model.eval()
    assert model[0].weight is model[0].parametrizations.weight.original
    with mc_mode(model):
        assert not torch.equal(model[0].weight, model[0].parametrizations.weight.original)


def test_kl_divergence_sums_every_layer():
    model = tiny_mlp()
    bayesian(model, prior_std=2.0, init_std=0.1)
    terms = [chain[0].kl(chain.original) for layer in (model[0], model[2]) for chain in layer.parametrizations.values()]
    torch.testing.assert_close(kl_divergence(model), sum(terms))
    with pytest.raises(ValueError, match="no Bayesian weights"):
        kl_divergence(tiny_mlp())


def test_the_handles_kl_term_is_the_weighted_kl_in_training_and_0_otherwise():
    model = tiny_mlp()
    handle = bayesian(model, prior_std=2.0, init_std=0.1)
    assert handle.kl_term() == 0.0 and handle.kl_taken  # no weight set: nothing to add
    handle.kl_weight = 1 / 50
    torch.testing.assert_close(handle.kl_term(), kl_divergence(model) / 50)
    model.eval()
    assert handle.kl_term() == 0.0  # evaluation loss: the data term alone


def test_bayesian_training_lowers_the_loss():
    torch.manual_seed(0)
    x = torch.randn(128, 6)
    y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 1).long()  # 3 classes
    model = tiny_mlp()
    bayesian(model, prior_std=1.0, init_std=1e-2, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def losses() -> torch.Tensor:  # (nll, kl / N)
        return torch.stack([F.cross_entropy(model(x), y), kl_divergence(model) / len(x)])

    model.train()
    with torch.no_grad():
        initial = torch.stack([losses() for _ in range(10)]).mean(0)
    for _ in range(150):
        optimizer.zero_grad()
        losses().sum().backward()
        optimizer.step()
    with torch.no_grad():
        final = torch.stack([losses() for _ in range(10)]).mean(0)
    assert final.sum() < 0.7 * initial.sum()  # about 6.3 -> 3.6
    assert final[0] < 0.3 * initial[0]  # the data term: about 1.0 -> 0.14
    assert final[1] < initial[1]  # sigma grows towards the prior


def test_bayesian_errors():
    with pytest.raises(ConfigError, match=r"BayesianWeights\.prior_std must be in \(0"):
        BayesianWeights(prior_std=0.0)
    with pytest.raises(ConfigError, match=r"BayesianWeights\.init_std must be in \(0"):
        BayesianWeights(init_std=-1.0)
    with pytest.raises(ConfigError, match=r"BayesianWeights\.init_std .* not a schedule"):
        BayesianWeights(init_std={"kind": "linear", "start": 0.1, "end": 0.2})
    with pytest.raises(RuntimeError, match="no rho"):
        BayesianWeights()(torch.zeros(3))


def test_bayesian_prior_std_schedule():
    injector = BayesianWeights({"kind": "linear", "start": 1.0, "end": 0.1})
    mu = torch.zeros(10)
    injector.prepare(mu)
    start = injector.kl(mu)
    injector.set_progress(1.0)
    assert injector.kl(mu) < start


# -- learnable (PNI) noise ------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.1, 0.5, 1.0])
def test_learnable_noise_std_scales_with_alpha(alpha):
    x = torch.randn(100_000, generator=torch.Generator().manual_seed(1)) * 3.0
    noise = learnable_noise(x, torch.tensor(alpha), generator=torch.Generator().manual_seed(0)) - x
    assert noise.std().item() == pytest.approx(alpha * 3.0, rel=0.01)


def test_learnable_per_channel_at_weights():
    layer, clean = attached(LearnableNoise(per_channel=True, seed=0), shape=(4, 5000))
    injector = layer.parametrizations.weight[0]
    assert injector.alpha.shape == (4,)
    with torch.no_grad():
        injector.alpha.copy_(torch.tensor([0.0, 0.1, 0.5, 1.0]))
        noise_std = (layer.weight - clean).std(dim=1)
    torch.testing.assert_close(noise_std, injector.alpha * clean.std(), rtol=0.05, atol=1e-6)


def test_learnable_per_channel_at_outputs():
    model = tiny_cnn()
    handle = inject(model, ("output:BatchNorm2d", LearnableNoise(per_channel=True, channels=4, seed=0)))
    injector = handle.injectors()[0]
    with torch.no_grad():
        injector.alpha.copy_(torch.tensor([0.0, 0.2, 0.4, 0.8]))
        x = torch.randn(64, 4, 10, 10)
        noise = injector(x) - x
    torch.testing.assert_close(noise.transpose(0, 1).flatten(1).std(1), injector.alpha * x.std(), rtol=0.05, atol=1e-6)
    assert list(handle.parameters()) == [injector.alpha]


@pytest.mark.parametrize("at", ["weights:Linear", "output:ReLU", "input"])
def test_learnable_alpha_gets_gradient(at):
    model = tiny_mlp()
    handle = inject(model, (at, LearnableNoise(seed=0)))
    model.train()(torch.randn(8, 6)).square().sum().backward()
    for injector in handle.injectors():
        assert injector.alpha.grad is not None
        assert injector.alpha.grad.abs() > 0


@pytest.mark.parametrize(("alpha_shape", "dim"), [((), 1), ((260,), 0)])
def test_learnable_gradients_are_those_of_x_plus_alpha_std_eps(alpha_shape, dim):
    """On a large tensor a one-value alpha, or one per index of the first dim, takes its gradient as a dot product
    (``_ScaledNoise``): the same gradients as autograd's through ``x + alpha * std(x) * eps`` (float64)."""
    x = torch.randn(260, 256, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    alpha = torch.rand(alpha_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4)).requires_grad_()
    weight = torch.randn(260, 256, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = learnable_noise(x, alpha, dim=dim, generator=torch.Generator().manual_seed(2))
    assert type(out.grad_fn).__name__ == "_ScaledNoiseBackward"
    (out * weight).sum().backward()
    scale = alpha.detach().view(-1, *[1] * (1 - dim)) * x.detach().std()
    eps = (out.detach() - x.detach()) / scale
    x_grad, alpha_grad = x.grad.clone(), alpha.grad.clone()
    x.grad = alpha.grad = None
    (x + alpha.view(-1, *[1] * (1 - dim)) * x.detach().std() * eps).mul(weight).sum().backward()
    torch.testing.assert_close(alpha_grad, alpha.grad, rtol=1e-12, atol=0)
    torch.testing.assert_close(x_grad, x.grad, rtol=0, atol=0)


def test_learnable_errors():
    with pytest.raises(ConfigError, match=r"LearnableNoise\.init must be in \[0"):
        LearnableNoise(-0.1)
    with pytest.raises(ConfigError, match=r"LearnableNoise\.channels"):
        LearnableNoise(channels=4)
    with pytest.raises(ConfigError, match=r"LearnableNoise\.channels"):
        LearnableNoise(per_channel=True, channels=0)
    with pytest.raises(ConfigError, match=r"LearnableNoise\.channels is 7 but the weight has 16"):
        inject(tiny_mlp(), ("weights:0", LearnableNoise(per_channel=True, channels=7)))
    model = tiny_mlp()
    inject(model, ("output:ReLU", LearnableNoise(per_channel=True)))
    with pytest.raises(ConfigError, match=r"LearnableNoise\.channels must be given"):
        model.train()(torch.randn(2, 6))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        learnable_noise(torch.zeros(2, 4), torch.ones(3))


def test_learnable_init_zero_is_off():
    x = torch.randn(4, 3)
    assert LearnableNoise(0.0)(x) is x
    assert LearnableNoise(0.25).eval()(x) is x


# -- tied weights: one parameter, one injector, one sample per forward pass -----------------------------------


INPUTS = {TiedLM: torch.randint(0, 10, (4, 5)), Twice: torch.randn(4, 6)}


@pytest.mark.parametrize("model_class", [TiedLM, Twice])
@pytest.mark.parametrize("injector", WEIGHT_INJECTORS)
def test_every_use_of_a_weight_sees_one_sample_per_pass(model_class, injector):
    model = model_class()
    before, x = snapshot(model), INPUTS[model_class]
    handle = inject(model, injector())
    if model_class is TiedLM:  # the decoder matched the default selector; its tied weight is one target
        chains = (model.embedding.parametrizations.weight, model.decoder.parametrizations.weight)
        assert chains[0][0] is chains[1][0] and chains[0].original is chains[1].original
        assert [a.target for a in handle] == ["embedding.weight", "decoder.bias"][: len(handle)]
        chain = chains[1]
    else:
        chain = model.fc.parametrizations.weight
    out = model.train()(x)
    first, second = model.seen[0::2] if model_class is Twice else model.seen[:2]
    assert torch.equal(first, second) and not torch.equal(first, chain.original)  # both uses: one noisy sample
    assert torch.equal(out, model.by_hand(x))
    out.square().sum().backward()
    assert chain.original.grad.abs().sum() > 0
    again = model(x)
    assert not torch.equal(model.seen[0], first) and torch.equal(again, model.by_hand(x))  # a new pass, a new draw
    handle.remove()
    assert same_snapshot(before, snapshot(model))
    if model_class is TiedLM:
        assert model.decoder.weight is model.embedding.weight  # still tied


def test_bayesian_tied_weight_has_one_rho_and_the_kl_of_the_untied_layer():
    model = TiedLM()
    single = nn.Linear(8, 10)  # the same layer, untied
    with torch.no_grad():
        single.weight.copy_(model.decoder.weight)
        single.bias.copy_(model.decoder.bias)
    for m in (model, single):
        bayesian(m, prior_std=0.5, init_std=0.05, seed=0)
    assert [n for n, _ in model.named_parameters() if n.endswith("rho")] == [
        "embedding.parametrizations.weight.0.rho",
        "decoder.parametrizations.bias.0.rho",
    ]
    rhos = {"weight": torch.randn(10, 8), "bias": torch.randn(10)}
    with torch.no_grad():
        for layer in (model.decoder, single):
            for name, rho in rhos.items():
                layer.parametrizations[name][0].rho.copy_(rho)
    closed = sum(
        torch.distributions.kl_divergence(Normal(chain.original, F.softplus(rhos[name])), Normal(0.0, 0.5)).sum()
        for name, chain in single.parametrizations.items()
    )
    assert torch.equal(kl_divergence(model), kl_divergence(single))  # exact: one term per tensor, as untied
    torch.testing.assert_close(kl_divergence(model), closed)


def test_bayesian_tied_gradients_sum_over_both_uses():
    model = TiedLM().double()  # float64: eps recovered from the sample exactly enough
    bayesian(model, init_std=0.1, seed=0)
    ids = INPUTS[TiedLM]
    chain = model.decoder.parametrizations.weight
    injector = chain[0]
    model.train()(ids).square().sum().backward()
    mu, rho = chain.original, injector.rho
    eps = ((model.seen[0] - mu) / injector.sigma()).detach()  # the one draw of this pass
    mu_, rho_ = mu.detach().clone().requires_grad_(), rho.detach().clone().requires_grad_()
    w = mu_ + F.softplus(rho_) * eps
    F.linear(F.embedding(ids, w), w, model.seen[2].detach()).square().sum().backward()
    torch.testing.assert_close(mu.grad, mu_.grad)
    torch.testing.assert_close(rho.grad, rho_.grad)
    assert rho.grad.abs().sum() > 0


def test_hold_ends_with_the_pass_even_when_the_forward_fails():
    model = Twice()
    handle = inject(model, [GaussianNoise(0.0), WeightNoise(0.1, seed=0)])
    with pytest.raises(TypeError, match="passed positionally"):
        model()  # fails in the input hook, before the pass starts
    model.fail = True
    with pytest.raises(RuntimeError, match="failed forward"):
        model(torch.randn(2, 6))
    assert not torch.equal(model.fc.weight, model.fc.weight)  # outside a pass: a new draw at each access
    model.fail = False
    x = torch.randn(2, 6)
    assert torch.equal(model(x), model.by_hand(x)) and torch.equal(model.seen[0], model.seen[2])
    handle.remove()


def test_feature_relative_weight_noise_refuses_a_one_row_weight_and_leaves_the_model_alone() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 1))  # a one-output head: std over 1 row
    before = snapshot(model)
    with pytest.raises(ConfigError, match=r"recipe\[0\] at '2.weight': WeightNoise.relative='feature' .* \(1, 8\)"):
        inject(model, WeightNoise(0.1, relative="feature"))
    assert same_snapshot(before, snapshot(model))
    handle = inject(model.train(), ("weights:0", WeightNoise(0.5, relative="feature", seed=1)))
    x = torch.randn(5, 4)
    assert not torch.equal(model[0](x), model[0](x))  # the 8-row layer gets its noise
    handle.remove()
