"""Property tests: invariants that must hold for any parameters, shapes and recipes."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from noisetrain.noise.base import build_noise
from noisetrain.noise.inject import inject
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
