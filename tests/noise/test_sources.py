"""The fast noise source: the law of its values, how much two draws share, reproducibility, and the option."""

from __future__ import annotations

import itertools

import pytest
import torch
from scipy import stats

import noisetrain as nt
from noisetrain.config import validate
from noisetrain.noise import sources
from noisetrain.noise.base import Generators, build_noise
from noisetrain.noise.sources import TABLE_SIZE, NoiseTable, normal, table, uniform
from noisetrain.registry import ConfigError

N = 100_000


def fast(seed: int = 0) -> NoiseTable:
    source = Generators(seed, "fast")("cpu")
    assert isinstance(source, NoiseTable)
    return source


@pytest.mark.parametrize(
    ("law", "draw", "mean", "var", "cdf"),
    [("normal", normal, 0.0, 1.0, "norm"), ("uniform", uniform, 0.5, 1 / 12, "uniform")],
)
def test_moments_and_ks_of_a_slice(law, draw, mean, var, cdf) -> None:
    source = fast()
    values = torch.cat([draw((N,), source, device=torch.device("cpu")) for _ in range(10)]).double()
    assert abs(values.mean().item() - mean) < 4 * (var / len(values)) ** 0.5
    assert abs(values.var().item() / var - 1) < 0.01
    assert stats.kstest(values[:N].numpy(), cdf).pvalue > 0.01
    if law == "uniform":
        assert values.min() >= 0 and values.max() < 1


def test_successive_draws_and_targets_are_uncorrelated() -> None:
    cpu = torch.device("cpu")
    first, second = fast(0), fast(1)
    draws = [normal((N,), first, device=cpu) for _ in range(20)]
    bound = 5 / N**0.5  # five standard errors of a correlation of n independent pairs
    pairs = [*itertools.pairwise(draws), (draws[0], normal((N,), second, device=cpu))]
    for a, b in pairs:
        assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < bound


def test_two_draws_share_about_n_over_table_size_of_their_values() -> None:
    source, n = fast(), 2**20
    offsets = []
    for _ in range(3000):
        view = normal((n,), source, device=torch.device("cpu"))
        offsets.append((view.data_ptr() - table("normal", view.device, view.dtype).data_ptr()) // view.element_size())
    shared = [max(0, n - abs(a - b)) / n for a, b in itertools.pairwise(offsets)]
    expected = n / (TABLE_SIZE - n + 1) * (1 - n / (3 * (TABLE_SIZE - n + 1)))  # E max(0, 1 - |U1 - U2| / n)
    assert abs(sum(shared) / len(shared) - expected) < 0.02 and sum(shared) / len(shared) <= n / TABLE_SIZE * 1.3


def test_a_slice_is_a_view_the_injectors_never_write() -> None:
    pristine = table("normal", torch.device("cpu"), torch.float32).clone()
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    recipe = [
        {"kind": "gaussian", "std": 0.3, "generator": "fast"},
        {"kind": "weight_noise", "std": 0.1, "generator": "fast"},
        {"kind": "gradient_noise", "eta": 0.1, "generator": "fast"},
    ]
    handle = nt.inject(model, recipe, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    handle.bind(optimizer)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(32, 8)).square().mean().backward()
        optimizer.step()
    assert torch.equal(table("normal", torch.device("cpu"), torch.float32), pristine)


def test_more_values_than_the_table_holds() -> None:
    values = normal((TABLE_SIZE + 1000,), fast(), device=torch.device("cpu"))
    assert values.shape == (TABLE_SIZE + 1000,) and abs(values.std().item() - 1) < 0.01


def test_gaussian_input_noise_from_the_table_is_reproducible_and_resumable() -> None:
    x = torch.zeros(64, 10)

    def noisy(injector):
        return [injector(x) for _ in range(3)]

    a = build_noise({"kind": "gaussian", "std": 0.5, "seed": 7, "generator": "fast"}).train()
    b = build_noise({"kind": "gaussian", "std": 0.5, "seed": 7, "generator": "fast"}).train()
    exact = build_noise({"kind": "gaussian", "std": 0.5, "seed": 7}).train()
    first, again = noisy(a), noisy(b)
    assert all(torch.equal(u, v) for u, v in zip(first, again, strict=True))
    assert not torch.equal(first[0], exact(x)) and not torch.equal(first[0], first[1])
    assert abs(torch.cat(first).std().item() - 0.5) < 0.02
    state = a.state_dict()
    resumed = build_noise({"kind": "gaussian", "std": 0.5, "seed": 0, "generator": "fast"}).train()
    resumed.load_state_dict(state)
    assert torch.equal(resumed(x), a(x))


def test_the_option_in_configs_and_its_errors() -> None:
    injector = build_noise({"kind": "dropout", "p": 0.5, "generator": "fast"})
    expected = {"kind": "dropout", "p": 0.5, "channelwise": False, "seed": None, "generator": "fast"}
    assert injector.to_config() == expected
    assert "generator" not in build_noise({"kind": "dropout", "p": 0.5}).to_config()
    with pytest.raises(ConfigError, match=r"noise\[0\]: Dropout.generator must be one of 'exact', 'fast'; got 'quick'"):
        validate({"data": {"kind": "digits"}, "model": {"kind": "mlp"},
                            "noise": [{"kind": "dropout", "p": 0.5, "generator": "quick"}]})  # fmt: skip
    reseeded = build_noise({"kind": "gaussian", "std": 0.1, "generator": "fast"})
    reseeded.reseed(3)
    assert isinstance(reseeded.generator("cpu"), NoiseTable)


def test_dropout_rate_from_the_table() -> None:
    injector = build_noise({"kind": "dropout", "p": 0.3, "seed": 0, "generator": "fast"}).train()
    kept = torch.cat([(injector(torch.ones(100, 1000)) != 0).float().flatten() for _ in range(5)])
    assert abs(kept.mean().item() - 0.7) < 0.003  # 5e5 Bernoulli(0.7) draws: 4.5 standard errors


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "dropout", "p": 0.3},
        {"kind": "dropout", "p": 0.3, "channelwise": True},
        {"kind": "alpha_dropout", "p": 0.1},
        {"kind": "gaussian_dropout", "p": 0.2},
        {"kind": "gaussian", "std": 0.2, "mode": "multiplicative"},
        {"kind": "salt_pepper", "p": 0.2, "salt": 0.3, "low": -1.0, "high": 2.0},
        {"kind": "feature_mask", "p": 0.25},
        {"kind": "temporal_dropout", "p": 0.3},
    ],
)
def test_a_constant_strength_reads_a_mapped_table_with_the_values_of_the_slices(spec) -> None:
    sources._mapped.clear()
    x = torch.randn(16, 8, 5, 5)
    cached = build_noise({**spec, "seed": 3, "generator": "fast"}).train()
    sliced = build_noise({**spec, "seed": 3, "generator": "fast"}).train()
    outputs, built = [], []
    for _ in range(4):
        outputs.append(cached(x))
        built.append(len(sources._mapped))
    assert built == [0, 1, 1, 1]  # built at the second call with the same strength, then read
    for expected in outputs:
        sources._mapped.clear()
        sliced.generator("cpu").last_key = None  # no repeat: the function of a fresh slice
        assert torch.equal(sliced(x), expected)


def test_a_schedule_that_changes_the_strength_builds_no_table() -> None:
    sources._mapped.clear()
    injector = build_noise(
        {"kind": "dropout", "p": {"kind": "linear", "start": 0.1, "end": 0.5}, "seed": 0, "generator": "fast"}
    ).train()
    for step in range(5):
        injector.set_progress(step / 4)
        injector(torch.ones(10, 10))
    assert len(sources._mapped) == 0


def test_at_most_mapped_tables_are_kept_most_recent_first() -> None:
    sources._mapped.clear()
    injectors = [build_noise({"kind": "dropout", "p": p, "seed": 0, "generator": "fast"}).train()
                 for p in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)]  # fmt: skip
    for injector in injectors:
        injector(torch.ones(4, 4)), injector(torch.ones(4, 4))
    keys = [key[1] for key, _, _ in sources._mapped]
    assert len(keys) == sources.MAPPED_TABLES and keys == pytest.approx([0.7, 0.6, 0.5, 0.4])


def test_several_mapped_tensors_are_read_at_one_offset() -> None:
    def fn(u):
        return u < 0.5, u * 2

    sources._mapped.clear()
    source = fast()
    for shape in [(3, 7), (TABLE_SIZE + 5,)]:  # one slice; more values than the table holds
        for _ in range(2):  # the function of a slice, then slices of the mapped table
            below, doubled = source.mapped("uniform", fn, ("pair", 0.5), shape, torch.float32)
            assert below.shape == doubled.shape == shape and torch.equal(below, doubled < 1)


def test_mapped_from_a_generator_is_the_function_of_fresh_values() -> None:
    def fn(u):
        return (u < 0.25).float()

    mask = sources.mapped("uniform", fn, ("keep", 0.25), (1000,), torch.Generator().manual_seed(1), device="cpu")
    assert torch.equal(mask, fn(torch.rand(1000, generator=torch.Generator().manual_seed(1))))


def test_tables_first_built_in_inference_mode_still_train() -> None:
    sources._tables.clear()
    sources._mapped.clear()
    x = torch.randn(8, 16)
    injectors = [build_noise({"kind": kind, "p": 0.3, "seed": 0, "generator": "fast"}).train()
                 for kind in ("dropout", "gaussian_dropout")]  # fmt: skip
    with torch.inference_mode():  # e.g. MC dropout at evaluation, before any training step
        for injector in injectors:
            injector(x), injector(x)  # the second call builds the mapped table
    assert len(sources._mapped) == 2
    weight = torch.ones(16, requires_grad=True)
    for injector in injectors:
        injector(x * weight).sum().backward()  # the mask / factor is saved for backward
    assert weight.grad is not None and weight.grad.abs().sum() > 0
