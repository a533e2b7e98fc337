"""Output sampling of weight noise (noisetrain.noise.sampling): the local reparameterization trick and flipout
against weight sampling and the closed form, their gradients, and what they refuse."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from noisetrain.noise.base import build_noise
from noisetrain.noise.inject import inject, mc_mode
from noisetrain.noise.sampling import SAMPLING, WeightLaw
from noisetrain.noise.weights import BayesianWeights, DropConnect, WeightNoise, bayesian, kl_divergence
from noisetrain.registry import ConfigError

from testkit import TiedLM, Twice, tiny_mlp

DRAWS = 4000


@pytest.fixture(autouse=True)
def one_thread():
    """Thousands of passes of tiny layers: one thread avoids waiting on a second for each small op (on loaded
    cores a 2x4x4 convolution took 4 ms on two threads, 0.05 ms on one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def layer(kind: str) -> tuple[nn.Module, torch.Tensor, object]:
    """A tiny layer (seeded), an input batch of distinct examples, and the layer's map ``f(x, weight, bias)``."""
    torch.manual_seed(0)
    if kind == "linear":
        return nn.Linear(5, 3), torch.randn(4, 5), F.linear
    if kind == "conv1d":
        module, x = nn.Conv1d(2, 3, 3, padding=1), torch.randn(2, 2, 6)
    elif kind == "grouped":  # two groups, reflection padding, stride 2
        module, x = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, padding_mode="reflect"), torch.randn(2, 4, 5, 5)
    else:
        module, x = nn.Conv2d(2, 3, 3, padding=1), torch.randn(2, 2, 4, 4)
    return module, x, lambda x, w, b=None: module._conv_forward(x, w, b)


def randomize_rho(handle) -> None:
    """Various posterior stds, from 0.05 to 0.7, for every Bayesian injector of ``handle``."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for injector in handle.injectors():
            injector.rho.uniform_(-3.0, 0.0, generator=generator)


# name -> (recipe item for sampling s, the std of (weight, bias) given the clean layer and its injectors)
CASES = {
    "additive": (lambda s: WeightNoise(0.3, relative=None, sampling=s, seed=0), lambda m, h: (0.3, None)),
    "tensor": (lambda s: WeightNoise(0.3, sampling=s, seed=0), lambda m, h: (0.3 * m.weight.std(), None)),
    "feature": (
        lambda s: WeightNoise(0.3, relative="feature", sampling=s, seed=0),
        lambda m, h: (0.3 * m.weight.std(dim=0), None),
    ),
    "multiplicative": (
        lambda s: WeightNoise(0.3, mode="multiplicative", relative=None, sampling=s, seed=0),
        lambda m, h: (0.3 * m.weight, None),
    ),
    "bias": (
        lambda s: ("params:0.bias", WeightNoise(0.3, relative=None, sampling=s, seed=0)),
        lambda m, h: (None, 0.3),
    ),
    "bayesian": (
        lambda s: BayesianWeights(init_std=0.2, sampling=s, seed=0),
        lambda m, h: tuple(F.softplus(i.rho) for i in h.injectors()),
    ),
}


def closed_form(kind: str, case: str, sampling: str = "weight"):
    """The layer with the case's injector (sampling ``sampling``), its input, and the exact mean and variance of
    each output value: ``f(x, W) + b`` and ``f(x², W_std²) + b_std²``."""
    module, x, f = layer(kind)
    make, stds = CASES[case]
    model = nn.Sequential(module)
    handle = inject(model, make(sampling))
    if case == "bayesian":
        randomize_rho(handle)
    with torch.no_grad():
        model.eval()
        w_std, b_std = stds(model[0], handle)
        mean = model(x)
        var = torch.zeros_like(mean)
        if w_std is not None:
            var += f(x * x, torch.broadcast_to(torch.as_tensor(w_std), module.weight.shape) ** 2)
        if b_std is not None:
            b_var = torch.broadcast_to(torch.as_tensor(b_std), module.bias.shape) ** 2
            var += b_var.view(-1, *[1] * (x.dim() - 2))
    return model.train(), x, mean, var


def draws(model: nn.Module, x: torch.Tensor, n: int = DRAWS) -> torch.Tensor:
    """``n`` forward passes of ``model`` on ``x``: shape (n, *output)."""
    with torch.no_grad():
        return torch.stack([model(x) for _ in range(n)])


@pytest.mark.parametrize(
    ("kind", "case"),
    [("linear", case) for case in CASES]
    + [  # convolutions draw 4,000 passes of larger outputs: seconds each, so in the slow suite
        pytest.param(kind, case, marks=pytest.mark.slow)
        for kind, case in [("conv2d", case) for case in CASES]
        + [("conv1d", "additive"), ("conv1d", "bayesian"), ("grouped", "tensor"), ("grouped", "bayesian")]
    ],
)
def test_each_output_has_the_law_of_weight_sampling(kind, case):
    estimates = {}
    for sampling in SAMPLING:
        model, x, mean, var = closed_form(kind, case, sampling)
        samples = draws(model, x)
        estimates[sampling] = samples.mean(0), samples.var(0)
        # the closed form, per example and output value: mean within 5 standard errors, variance within 12%
        # (its relative standard error is sqrt(2 / 3999) = 2.2%)
        assert ((estimates[sampling][0] - mean).abs() <= 5 * (var / DRAWS).sqrt()).all(), sampling
        torch.testing.assert_close(estimates[sampling][1], var, rtol=0.12, atol=0, msg=sampling)
    for sampling in ("local", "flipout"):  # and each other: the same law as weight sampling's
        torch.testing.assert_close(estimates[sampling][1], estimates["weight"][1], rtol=0.17, atol=0)


@pytest.mark.parametrize("kind", ["linear", pytest.param("conv2d", marks=pytest.mark.slow)])  # conv2d: seconds
def test_local_and_flipout_noise_is_uncorrelated_across_examples(kind):
    correlations = {}
    for sampling in SAMPLING:
        model, x, mean, _ = closed_form(kind, "additive", sampling)
        same = x[:1].expand(2, *x.shape[1:])  # two identical examples
        noise = (draws(model, same) - mean[:1]).flatten(2)  # (draws, 2 examples, values)
        first, second = noise[:, 0] - noise[:, 0].mean(0), noise[:, 1] - noise[:, 1].mean(0)
        correlations[sampling] = (first * second).mean(0) / (first.std(0) * second.std(0))
        if sampling == "weight":  # one weight sample for the batch: identical examples, identical outputs
            assert torch.equal(noise[:, 0], noise[:, 1])
    assert (correlations["weight"] > 0.999).all()
    # independent (local) or uncorrelated (flipout): within 5 standard errors (1 / sqrt(4000) = 0.016) of 0
    assert correlations["local"].abs().max() < 0.08
    assert correlations["flipout"].abs().max() < 0.08


def test_flipout_noise_is_uncorrelated_but_not_independent():
    """Wen et al.'s "pseudo-independent": for a 1 -> 1 layer the noise is x * ΔW * s_in * s_out, so identical
    examples have uncorrelated noise of the same magnitude."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 1))
    inject(model, WeightNoise(0.3, relative=None, sampling="flipout", seed=0))
    clean = model[0].parametrizations.weight.original + model[0].bias
    noise = draws(model.train(), torch.ones(2, 1)) - clean.detach()
    assert torch.corrcoef(noise[:, :, 0].T)[0, 1].abs() < 0.08
    torch.testing.assert_close(noise[:, 0].abs(), noise[:, 1].abs())


def captured(model: nn.Module, *modules: nn.Module) -> list:
    """The weight and bias each of ``modules`` sees at each call in a pass (laws under output sampling)."""
    seen: list = []
    for module in modules:
        module.register_forward_hook(lambda m, args, out: seen.append((m.weight, m.bias)))
    return seen


@pytest.mark.parametrize("kind", ["linear", "conv2d"])
def test_flipout_gives_each_example_one_perturbed_weight(kind):
    module, x, f = layer(kind)
    model = nn.Sequential(module)
    randomize_rho(bayesian(model, sampling="flipout", seed=0))
    seen = captured(model, module)
    out = model.train()(x)
    ((w, b),) = seen
    assert isinstance(w, WeightLaw) and isinstance(b, WeightLaw) and w.shape == module.weight.shape
    s_in, s_out = w.signs
    assert set(s_in.unique().tolist()) == set(s_out.unique().tolist()) == {-1.0, 1.0}
    channels = (-1, 1) if kind == "linear" else (-1, 1, 1, 1)
    for n in range(len(x)):  # example n: W + ΔW ∘ s_out s_inᵀ and b + Δb ∘ s_out
        weight = w.loc + w.delta * s_out[n].view(channels) * s_in[n].view(1, -1, *channels[2:])
        bias = b.loc + b.delta * s_out[n]
        torch.testing.assert_close(out[n], f(x[n : n + 1], weight, bias)[0], rtol=1e-5, atol=1e-6)


class TwoBatches(Twice):
    """The layer on the batch and on its first two examples."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).sum() + self.fc(x[:2]).sum()


class TiedTwo(nn.Module):
    """Two Linear layers sharing one weight."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Linear(6, 6), nn.Linear(6, 6)
        self.b.weight = self.a.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


@pytest.mark.parametrize("model_class", [Twice, TiedTwo])
def test_flipout_keeps_one_weight_per_example_across_uses(model_class):
    model = model_class()
    inject(model, WeightNoise(0.2, sampling="flipout", seed=0))
    seen = captured(model, *dict.fromkeys([model.fc] if model_class is Twice else [model.a, model.b]))
    x = torch.randn(5, 6)
    out = model.train()(x)
    (w, bias_1), (same, bias_2) = seen
    assert same is w  # one law for the pass
    s_in, s_out = w.signs
    for n in range(len(x)):  # example n sees one weight in both uses
        weight = w.loc + w.delta * s_out[n].view(-1, 1) * s_in[n].view(1, -1)
        torch.testing.assert_close(out[n], F.linear(torch.relu(F.linear(x[n], weight, bias_1)), weight, bias_2))
    model(x[:2]).sum().backward()  # a new pass may have another batch size, not a second use in the pass
    model = TwoBatches()
    inject(model, WeightNoise(0.2, sampling="flipout", seed=0))
    with pytest.raises(ConfigError, match="after 5 of 6 -> 6: flipout keeps its signs per example for the whole"):
        model.train()(x)


def test_gradients_of_local_sampling_are_the_closed_form():
    """Bayesian Linear layer in float64: y = x mu + b + sqrt(x² sigma² + sigma_b²) eps, eps recovered from y."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2)).double()
    handle = bayesian(model, sampling="local", seed=0)
    randomize_rho(handle)
    x, c = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    out = model.train()(x)
    (c * out).sum().backward()
    mu, mu_b = (model[0].parametrizations[n].original for n in ("weight", "bias"))
    rho, rho_b = (i.rho for i in handle.injectors())
    sigma, sigma_b = F.softplus(rho).detach(), F.softplus(rho_b).detach()
    sd = (x**2 @ sigma.T**2 + sigma_b**2).sqrt()
    eps = (out.detach() - F.linear(x, mu.detach(), mu_b.detach())) / sd
    g = c * eps / sd  # dL/d(variance) * 2
    torch.testing.assert_close(mu.grad, c.T @ x)
    torch.testing.assert_close(mu_b.grad, c.sum(0))
    torch.testing.assert_close(rho.grad, (g.T @ x**2) * sigma * torch.sigmoid(rho.detach()))
    torch.testing.assert_close(rho_b.grad, g.sum(0) * sigma_b * torch.sigmoid(rho_b.detach()))


def test_gradients_of_local_multiplicative_noise_are_the_closed_form():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2)).double()
    inject(model, WeightNoise(0.3, mode="multiplicative", relative=None, sampling="local", seed=0))
    x, c = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    out = model.train()(x)
    (c * out).sum().backward()
    w, b = model[0].parametrizations.weight.original, model[0].bias
    sd = (x**2 @ (0.3 * w.detach().T) ** 2).sqrt()
    eps = (out.detach() - F.linear(x, w.detach(), b.detach())) / sd
    torch.testing.assert_close(w.grad, c.T @ x + ((c * eps / sd).T @ x**2) * 0.09 * w.detach())


def finite_difference(loss, parameter: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    grad = torch.zeros_like(parameter)
    with torch.no_grad():
        for i in range(parameter.numel()):
            entry = parameter.view(-1)[i : i + 1]
            entry += h
            up = loss()
            entry -= 2 * h
            down = loss()
            entry += h
            grad.view(-1)[i] = (up - down) / (2 * h)
    return grad


@pytest.mark.parametrize("sampling", ["local", "flipout"])
@pytest.mark.parametrize("kind", ["linear", "conv2d"])
def test_gradients_match_finite_differences(sampling, kind):
    """The same noise at every evaluation (each reseeds the injectors), in float64."""
    module, x, _ = layer(kind)
    model = nn.Sequential(module).double().train()
    handle = bayesian(model, sampling=sampling, seed=0)
    randomize_rho(handle)
    x = x.double()
    c = torch.randn(model(x).shape, dtype=torch.float64)

    def loss() -> torch.Tensor:
        for injector in handle.injectors():
            injector.reseed(5)
        return (c * model(x)).sum()

    loss().backward()
    parameters = [module.parametrizations.weight.original, *(i.rho for i in handle.injectors())]
    for parameter in parameters:
        torch.testing.assert_close(parameter.grad, finite_difference(loss, parameter), rtol=1e-6, atol=1e-7)


def test_kl_and_parameters_do_not_depend_on_sampling():
    kls, keys = [], []
    for sampling in SAMPLING:
        model = tiny_mlp()
        bayesian(model, prior_std=0.3, init_std=0.05, sampling=sampling, seed=0)
        model.train()(torch.randn(8, 6)).sum().backward()
        kls.append(kl_divergence(model))
        keys.append(list(model.state_dict()))
    assert all(torch.equal(kl, kls[0]) for kl in kls) and all(k == keys[0] for k in keys)  # checkpoints fit all three


@pytest.mark.parametrize("sampling", ["local", "flipout"])
@pytest.mark.parametrize("kind", ["linear", "conv2d"])
def test_eval_is_the_clean_layer_and_mc_mode_samples(sampling, kind):
    for case in ("tensor", "bayesian"):
        model, x, mean, _ = closed_form(kind, case, sampling)
        model.eval()
        with torch.no_grad():
            assert torch.equal(model(x), mean)  # the clean (mean) layer, as under weight sampling
            assert model[0].weight is model[0].parametrizations.weight.original
            with mc_mode(model):
                assert not torch.equal(model(x), mean)


def test_default_is_weight_sampling_bit_for_bit():
    outputs = []
    for injector in (WeightNoise(0.1, seed=0), WeightNoise(0.1, sampling="weight", seed=0)):
        model = tiny_mlp()
        handle = inject(model, ("weights:0", injector))
        handle.injectors()[0].reseed(5)
        x = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
        outputs.append(model.train()(x))
    clean = model[0].parametrizations.weight.original.detach()
    eps = torch.randn(clean.shape, generator=torch.Generator().manual_seed(5))
    by_hand = model[2](model[1](F.linear(x, torch.addcmul(clean, eps, 0.1 * clean.std()), model[0].bias)))
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(outputs[0], by_hand)
    assert WeightNoise().sampling == BayesianWeights().sampling == "weight"


@pytest.mark.parametrize("sampling", ["local", "flipout"])
def test_bfloat16(sampling):
    model = tiny_mlp().to(torch.bfloat16)
    bayesian(model, init_std=0.05, sampling=sampling, seed=0)
    out = model.train()(torch.randn(4, 6, dtype=torch.bfloat16))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    out.float().sum().backward()
    assert model[0].parametrizations.weight[0].rho.grad.abs().sum() > 0


@pytest.mark.cuda
@pytest.mark.parametrize("sampling", ["local", "flipout"])
def test_cuda(sampling):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 3 * 3, 2)).cuda()
    bayesian(model, sampling=sampling, seed=0)
    out = model.train()(torch.randn(8, 3, 5, 5, device="cuda"))
    out.square().sum().backward()
    assert out.is_cuda and model[0].parametrizations.weight[0].rho.grad.abs().sum() > 0


def test_bare_parameter_used_by_f_linear():
    class Kernel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel = nn.Parameter(torch.randn(3, 5))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.linear(x, self.kernel)

    torch.manual_seed(0)
    model = Kernel()
    inject(model, ("params:kernel", WeightNoise(0.3, relative=None, sampling="local", seed=0)))
    x = torch.randn(4, 5)
    samples = draws(model.train(), x)
    clean = F.linear(x, model.parametrizations.kernel.original.detach())
    assert ((samples.mean(0) - clean).abs() <= 5 * 0.3 * (x**2).sum(1, keepdim=True).sqrt() / DRAWS**0.5).all()
    torch.testing.assert_close(samples.var(0), 0.09 * (x**2).sum(1, keepdim=True).expand(4, 3), rtol=0.12, atol=0)


# -- refusals ---------------------------------------------------------------------------------------------------


def test_unknown_sampling_and_non_gaussian_noise_are_refused():
    with pytest.raises(ConfigError, match=r"WeightNoise\.sampling must be one of 'weight', 'local', 'flipout'"):
        WeightNoise(sampling="gibbs")
    with pytest.raises(ConfigError, match=r"BayesianWeights\.sampling must be one of 'weight', 'local', 'flipout'"):
        build_noise({"kind": "bayesian", "sampling": "mean"})
    with pytest.raises(ConfigError, match=r"WeightNoise\.sampling='flipout' needs Gaussian .* clip=None"):
        WeightNoise(sampling="flipout", clip=(-1.0, 1.0))
    with pytest.raises(ConfigError, match="'dropconnect' has no parameter 'sampling'"):
        build_noise({"kind": "dropconnect", "p": 0.2, "sampling": "local"})


class MatMul(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.kernel = nn.Parameter(torch.randn(5, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.kernel


# case -> (model, input, recipe for sampling s, when it is refused, what the error says)
REFUSED = {
    "embedding": (
        TiedLM,
        torch.randint(0, 10, (4, 5)),
        lambda s: ("weights:embedding", WeightNoise(0.1, sampling=s, seed=0)),
        "forward",
        "is used by embedding",
    ),
    "matmul": (
        MatMul,
        torch.randn(4, 5),
        lambda s: ("params:kernel", WeightNoise(0.1, sampling=s, seed=0)),
        "forward",
        "is used by matmul",
    ),
    # a parametrization after a sampling injector: parametrize evaluates it on the law when attaching it
    "then-dropconnect": (
        tiny_mlp,
        torch.randn(4, 6),
        lambda s: [WeightNoise(0.1, sampling=s, seed=0), DropConnect(0.2, seed=0)],
        "inject",
        "is used by mul",
    ),
    "two-samplers": (
        tiny_mlp,
        torch.randn(4, 6),
        lambda s: [WeightNoise(0.1, sampling=s, seed=0), BayesianWeights(sampling="local")],
        "inject",
        "already samples: at most one injector per weight",
    ),
}


@pytest.mark.parametrize("sampling", ["local", "flipout"])
@pytest.mark.parametrize("case", list(REFUSED))
def test_uses_other_than_linear_and_convolution_are_refused(sampling, case):
    make, x, recipe, when, message = REFUSED[case]
    model = make()
    refused = pytest.raises(ConfigError, match=rf"WeightNoise\.sampling='{sampling}' .*{message}")
    if when == "inject":
        with refused:
            inject(model, recipe(sampling))
        return
    inject(model, recipe(sampling))
    with refused:
        model.train()(x)
    model.eval()(x)  # eval mode uses the clean weight


@pytest.mark.parametrize("model_class", [Twice, TiedTwo])
def test_local_refuses_a_second_use_in_one_pass(model_class):
    model = model_class()
    handle = inject(model, WeightNoise(0.1, sampling="local", seed=0))
    assert len(handle) == 1  # a tied weight is one target
    with pytest.raises(ConfigError, match=r"used twice in one forward pass .* 'flipout' keeps them one weight"):
        model.train()(torch.randn(2, 6))


def test_a_refused_attachment_leaves_the_model_as_it_was() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    state = {name: value.clone() for name, value in model.state_dict().items()}
    with pytest.raises(ConfigError, match="sampling='local' samples the output of linear and convolution layers"):
        inject(model, [WeightNoise(std=0.1, sampling="local"), DropConnect(0.2)])
    assert not any(parametrize.is_parametrized(layer) for layer in model)
    assert model.state_dict().keys() == state.keys()
    assert all(torch.equal(model.state_dict()[name], value) for name, value in state.items())
