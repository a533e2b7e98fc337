"""Property tests: invariants that must hold for any parameters, shapes and recipes."""

from copy import deepcopy

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from noisetrain.noise.base import build_noise
from noisetrain.noise.inject import inject
from noisetrain.noise.sampling import WeightLaw
from noisetrain.noise.schedules import build_schedule

from testkit import same_snapshot, snapshot

values = st.floats(0.0, 10.0)
positive = st.floats(1e-3, 10.0)
schedules = st.one_of(
    st.builds(lambda v: {"kind": "constant", "value": v}, values),
    st.builds(lambda a, b: {"kind": "linear", "start": a, "end": b}, values, values),
    st.builds(lambda a, b: {"kind": "cosine", "start": a, "end": b}, values, values),
    st.builds(lambda a, b: {"kind": "exponential", "start": a, "end": b}, positive, positive),
    st.builds(lambda v, w: {"kind": "warmup", "value": v, "warmup": w}, values, st.floats(0.01, 1.0)),
    st.builds(lambda a, g: {"kind": "anneal", "start": a, "gamma": g}, values, st.floats(0.0, 2.0)),
)


@given(schedules, st.floats(-1.0, 2.0))
def test_schedule_values_stay_within_their_bounds(spec, progress):
    schedule = build_schedule(spec)
    low, high = schedule.bounds()
    assert low - 1e-9 <= schedule(progress) <= high + 1e-9


tensor_noises = st.sampled_from(
    [
        {"kind": "gaussian", "std": 0.3},
        {"kind": "gaussian", "std": 0.3, "mode": "multiplicative", "clip": [-1.0, 1.0]},
        {"kind": "uniform", "width": 0.5},
        {"kind": "salt_pepper", "p": 0.2},
        {"kind": "dropout", "p": 0.4},
        {"kind": "gaussian_dropout", "p": 0.4},
        {"kind": "alpha_dropout", "p": 0.2},
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    tensor_noises,
    st.lists(st.integers(1, 5), min_size=1, max_size=4),
    st.sampled_from([torch.float32, torch.bfloat16, torch.float64]),
    st.integers(0, 2**31),
)
def test_tensor_noise_keeps_shape_dtype_and_is_reproducible(spec, shape, dtype, seed):
    x = torch.randn(shape).to(dtype)
    a, b = build_noise({**spec, "seed": seed}), build_noise({**spec, "seed": seed})
    out = a(x)
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert torch.equal(out, b(x))
    a.eval()
    assert a(x) is x


recipe_items = st.sampled_from(
    [
        {"kind": "gaussian", "std": 0.1},
        {"kind": "gaussian", "std": 0.1, "at": "output:ReLU"},
        {"kind": "dropout", "p": 0.2, "at": "output:BatchNorm*|0"},
        {"kind": "weight_noise", "std": 0.1},
        {"kind": "dropconnect", "p": 0.1, "at": "weights:0"},
        {"kind": "bayesian"},
        {"kind": "learnable", "per_channel": True},
        {"kind": "mixup", "alpha": 0.2, "num_classes": 3},
        {"kind": "gradient_noise", "eta": 0.01},
    ]
)


@settings(max_examples=40, deadline=None)
@given(st.lists(recipe_items, min_size=1, max_size=5), st.integers(1, 3))
def test_any_recipe_attaches_runs_and_detaches_without_a_trace(recipe, handles):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    before = snapshot(model)
    attached = [inject(model, recipe) for _ in range(handles)]
    model(torch.randn(4, 5)).sum().backward()
    for handle in reversed(attached[::2]) if handles > 1 else attached:  # also out of order
        handle.remove()
    for handle in attached:
        handle.remove()
    after = snapshot(model)
    assert after[0] == before[0] and after[2] == before[2] and after[3] == before[3]
    model.zero_grad(set_to_none=True)
    model.load_state_dict(before[1])
    assert same_snapshot(before, snapshot(model))


@st.composite
def layers(draw: st.DrawFn) -> tuple[nn.Module, tuple[int, ...]]:
    """A Linear, Conv1d or Conv2d layer (groups, strides, padding modes, with or without bias), seeded, and the
    shape of an input for it: one example, a batch, or (Linear) a batch of sequences."""
    torch.manual_seed(draw(st.integers(0, 2**31)))
    kind = draw(st.sampled_from(["linear", "conv1d", "conv2d"]))
    groups = 1 if kind == "linear" else draw(st.sampled_from([1, 2]))
    inputs, outputs, bias = groups * draw(st.integers(2, 3)), groups * draw(st.integers(1, 3)), draw(st.booleans())
    if kind == "linear":
        return nn.Linear(inputs, outputs, bias=bias), (*draw(st.sampled_from([(), (3,), (2, 4)])), inputs)
    dims = 1 if kind == "conv1d" else 2
    module = (nn.Conv1d if dims == 1 else nn.Conv2d)(
        inputs,
        outputs,
        3,
        stride=draw(st.sampled_from([1, 2])),
        padding=1,
        groups=groups,
        bias=bias,
        padding_mode=draw(st.sampled_from(["zeros", "reflect", "circular"])),
    )
    return module, (*draw(st.sampled_from([(), (1,), (3,)])), inputs, *[5] * dims)


sampled_weight_noises = st.sampled_from(
    [
        {"kind": "weight_noise", "std": 0.3},
        {"kind": "weight_noise", "std": 0.3, "mode": "multiplicative", "relative": None},
        {"kind": "bayesian", "init_std": 0.2},
    ]
)


@settings(max_examples=60, deadline=None)
@given(layers(), sampled_weight_noises, st.integers(0, 2**31))
def test_flipout_gives_each_example_one_weight_sample(layer, spec, seed):
    """Whatever the layer, example n's output is the layer's with weight W + ΔW ∘ s_out,n s_in,nᵀ (and bias
    b + Δb ∘ s_out,n), ΔW and the signs being those of the pass."""
    module, shape = layer
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    model = nn.Sequential(module)
    inject(model, {**spec, "sampling": "flipout", "seed": seed})
    seen = []  # what the layer sees in the pass
    module.register_forward_hook(lambda m, args, out: seen.append((m.weight, m.bias)))
    out = model.train()(x)
    ((w, b),) = seen
    s_in, s_out = w.signs
    linear = isinstance(module, nn.Linear)
    batched = x.dim() > 1 if linear else x.dim() == w.dim()
    groups = 1 if linear else module.groups
    for n, (x_n, out_n) in enumerate(zip(x if batched else [x], out if batched else [out], strict=True)):
        per_group = s_in[n].view(groups, 1, -1).expand(groups, w.shape[0] // groups, -1).reshape(w.shape[:2])
        flips = s_out[n].view(-1, 1) * per_group  # the sign of each (output, input) pair
        weight = w.loc + w.delta * flips.view(*flips.shape, *[1] * (w.dim() - 2))
        bias = b.loc + b.delta * s_out[n] if isinstance(b, WeightLaw) else b
        expected = F.linear(x_n, weight, bias) if linear else module._conv_forward(x_n[None], weight, bias)[0]
        torch.testing.assert_close(out_n, expected, rtol=1e-4, atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(layers(), sampled_weight_noises, st.sampled_from(["local", "flipout"]), st.integers(0, 2**31))
def test_output_sampling_keeps_shapes_is_reproducible_and_clean_in_eval(layer, spec, sampling, seed):
    module, shape = layer
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    clean = module(x)
    models = [nn.Sequential(deepcopy(module)) for _ in range(2)]
    outputs = []
    for model in models:
        inject(model, {**spec, "sampling": sampling, "seed": seed})
        outputs.append(model.train()(x))
    assert outputs[0].shape == clean.shape and torch.isfinite(outputs[0]).all()
    assert torch.equal(outputs[0], outputs[1])  # the same seed, the same noise
    outputs[0].square().sum().backward()
    assert torch.isfinite(models[0][0].parametrizations.weight.original.grad).all()
    assert torch.equal(models[1].eval()(x), clean)
