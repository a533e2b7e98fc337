import copy
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from noisetrain.noise.activations import AlphaDropout
from noisetrain.noise.base import Injector
from noisetrain.noise.inject import inject, injectors_in, mc_mode, no_noise, parse_selector
from noisetrain.noise.inputs import GaussianNoise
from noisetrain.noise.weights import LearnableNoise, WeightNoise
from noisetrain.registry import ConfigError

from testkit import same_snapshot, snapshot


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5)
    )


def test_input_noise_only_in_training():
    model = nn.Identity()
    handle = inject(model, GaussianNoise(std=0.5, seed=0))
    x = torch.zeros(4000, 8)
    assert model(x).std().item() == pytest.approx(0.5, rel=0.02)
    model.eval()
    assert model(x) is x
    handle.remove()


def test_output_selector_after_every_batchnorm():
    model = cnn()
    handle = inject(model, ("output:BatchNorm*", GaussianNoise(std=0.1)))
    assert [a.target for a in handle] == ["1"]
    model2 = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 2), nn.BatchNorm1d(2))
    assert [a.target for a in inject(model2, ("output:BatchNorm*", GaussianNoise()))] == ["1", "3"]
    assert [a.target for a in inject(model2, ("output:0|2", GaussianNoise()))] == ["0", "2"]


def test_output_noise_changes_only_the_hooked_output():
    model = nn.Sequential(nn.Linear(4, 4), nn.Identity())
    captured = {}
    model[1].register_forward_hook(lambda m, i, o: captured.setdefault("in", i[0]))
    clean = model[0](torch.ones(2, 4))
    inject(model, ("output:0", GaussianNoise(std=1.0, seed=3)))
    out = model(torch.ones(2, 4))
    assert not torch.allclose(out, clean)
    assert torch.equal(captured["in"], out)  # the noisy output is what the next layer sees


def test_weight_noise_keeps_clean_weights_and_gradients_reach_them():
    model = mlp()
    clean = model[0].weight.detach().clone()
    handle = inject(model, ("weights:Linear", GaussianNoise(std=0.1, seed=0)))
    original = model[0].parametrizations.weight.original
    noisy_a, noisy_b = model[0].weight, model[0].weight
    assert not torch.equal(noisy_a, clean) and not torch.equal(noisy_a, noisy_b)  # resampled per access
    model(torch.randn(8, 6)).sum().backward()
    assert torch.equal(original.detach(), clean)
    assert original.grad is not None and original.grad.abs().sum() > 0
    model.eval()
    assert torch.equal(model[0].weight, clean)
    handle.remove()


def test_remove_restores_the_model_exactly():
    for model in (mlp(), cnn()):
        before = snapshot(model)
        handle = inject(
            model,
            [
                GaussianNoise(0.1),
                ("output:BatchNorm*", GaussianNoise(0.1)),
                ("weights:Linear|Conv2d", GaussianNoise(0.01, relative="tensor")),
            ],
        )
        with torch.no_grad():
            model.eval()
            model(torch.randn(2, 6) if isinstance(model[0], nn.Linear) else torch.randn(2, 3, 8, 8))
        handle.remove()
        handle.remove()  # idempotent
        assert same_snapshot(before, snapshot(model))


def test_optimizer_created_before_inject_updates_the_clean_weights():
    model = mlp()
    weight = model[0].weight
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with inject(model, ("weights:Linear", GaussianNoise(0.01))):
        model(torch.randn(8, 6)).sum().backward()
        before = weight.detach().clone()
        optimizer.step()
        assert not torch.equal(weight.detach(), before)
    assert model[0].weight is weight


def test_two_handles_on_the_same_weight_remove_in_any_order():
    for order in ((0, 1), (1, 0)):
        model = mlp()
        before = snapshot(model)
        handles = [inject(model, ("weights:Linear", GaussianNoise(0.01))) for _ in range(2)]
        assert len(model[0].parametrizations.weight) == 2
        for i in order:
            handles[i].remove()
        assert same_snapshot(before, snapshot(model))


def test_targets_get_independent_streams_and_seeds_repeat():
    def run() -> list[torch.Tensor]:
        model = nn.Sequential(nn.Identity(), nn.Identity())
        inject(model, ("output:*", GaussianNoise(std=1.0, seed=7)))
        return [model(torch.zeros(5)) for _ in range(2)]

    first, second = run(), run()
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))  # same seed, same numbers
    assert not torch.equal(first[0], first[1])  # the stream advances


def test_copies_are_attached_and_the_template_is_untouched():
    template = GaussianNoise(std=0.1, seed=5)
    handle = inject(mlp(), ("weights:Linear", template))
    attached = handle.injectors()
    assert len(attached) == 2 and all(i is not template for i in attached)
    assert len({i.seed for i in attached}) == 2 and template.seed == 5 and template.generators_.by_device == {}


def test_sequential_root_does_not_call_the_injector_as_a_layer():
    model = nn.Sequential(nn.Linear(3, 2))
    inject(model, GaussianNoise(std=0.0))
    assert list(model._modules) == ["0"]
    assert model(torch.ones(1, 3)).shape == (1, 2)


def test_tuple_outputs_get_noise_on_the_first_element():
    gru = nn.GRU(3, 4, batch_first=True)
    wrapper = nn.ModuleDict({"gru": gru})
    handle = inject(wrapper, ("output:gru", GaussianNoise(std=1.0, seed=1)))
    x = torch.randn(2, 5, 3)
    out, hidden = gru(x)
    handle.disable()
    clean_out, clean_hidden = gru(x)
    assert not torch.allclose(out, clean_out) and torch.allclose(hidden, clean_hidden)


def test_schedules_follow_handle_progress():
    model = nn.Identity()
    handle = inject(model, GaussianNoise(std={"kind": "linear", "start": 1.0, "end": 0.0}, seed=0))
    x = torch.zeros(4000)
    assert model(x).std().item() == pytest.approx(1.0, rel=0.05)
    handle.set_progress(0.75)
    assert model(x).std().item() == pytest.approx(0.25, rel=0.05)
    handle.set_progress(1.0)
    assert model(x) is x


def test_specs_with_at_and_default_positions():
    model = mlp()
    handle = inject(model, [{"kind": "gaussian", "std": 0.1}, {"kind": "gaussian", "std": 0.2, "at": "output:ReLU"}])
    assert [(a.selector, a.target) for a in handle] == [("input", ""), ("output:ReLU", "2")]


def test_no_noise_and_mc_mode():
    model = mlp()
    inject(model, [GaussianNoise(0.3), ("weights:Linear", GaussianNoise(0.1))])
    x = torch.randn(16, 6)
    assert not torch.equal(model(x), model(x))
    with no_noise(model):
        assert torch.equal(model(x), model(x))  # injectors and dropout off, even in training mode
        assert not model[3].training
    assert model[3].training
    model.eval()
    assert all(i.enabled_ for i in injectors_in(model))
    running_mean = model[1].running_mean.clone()
    with mc_mode(model):
        a, b = model(x), model(x)
        assert not torch.equal(a, b)
        assert model[3].training and not model[1].training
    assert torch.equal(model[1].running_mean, running_mean)  # BatchNorm stayed in eval
    assert not model[3].training and torch.equal(model(x), model(x))
    assert all(not i.mc_ for i in injectors_in(model))


def test_injectors_in_finds_every_placement_and_deepcopy_is_independent():
    model = mlp()
    inject(model, [GaussianNoise(0.3), ("output:ReLU", GaussianNoise(0.1)), ("weights:Linear", GaussianNoise(0.1))])
    assert len(injectors_in(model)) == 4
    clone = copy.deepcopy(model)
    with no_noise(clone):
        clone.eval()
        model.eval()
        x = torch.randn(3, 6)
        assert torch.equal(clone(x), clone(x))
    assert all(i.enabled_ for i in injectors_in(model))
    assert all(isinstance(i, Injector) for i in injectors_in(clone))


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("middle", "unknown position 'middle'.*allowed: input, output:PATTERN"),
        ("output", "needs a module pattern"),
        ("params", r"needs a parameter pattern, e.g. 'params:\*.weight'"),
        ("input:x", "takes no pattern"),
    ],
)
def test_selector_errors(selector, message):
    with pytest.raises(ConfigError, match=message):
        parse_selector(selector)


def test_placement_errors_come_before_any_attachment():
    model = mlp()
    before = snapshot(model)
    with pytest.raises(ConfigError, match=r"recipe\[1\]: selector 'output:Conv\*' matched no module; module types"):
        inject(model, [GaussianNoise(0.1), ("output:Conv*", GaussianNoise(0.1))])
    with pytest.raises(ConfigError, match=r"recipe\[0\].at: GaussianNoise cannot act at 'batch'"):
        inject(model, ("batch", GaussianNoise(0.1)))
    with pytest.raises(ConfigError, match=r"recipe\[0\]: unknown noise kind 'gausian' \(did you mean 'gaussian'\?\)"):
        inject(model, {"kind": "gausian"})
    assert same_snapshot(before, snapshot(model))
    with pytest.raises(ConfigError, match="at most one injector may act at 'loss'"):
        inject(model, [{"kind": "label_smoothing", "eps": 0.1}, {"kind": "label_smoothing", "eps": 0.2}])
    assert same_snapshot(before, snapshot(model))


def test_handle_state_dict_resumes_the_same_random_streams():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    recipe = [
        {"kind": "gaussian", "std": {"kind": "linear", "start": 0.5, "end": 0.0}, "seed": 1},
        {"kind": "weight_noise", "std": 0.1, "at": "weights:Linear", "seed": 2},
        {"kind": "gradient_noise", "eta": 0.1, "seed": 3},
    ]
    x = torch.randn(5, 4)
    handle = inject(model, recipe)
    model(x)
    handle.set_progress(0.25)
    handle.injectors("gradients")[0].step_ = 7
    state = copy.deepcopy(handle.state_dict())
    expected = model(x)
    model(x)  # advance every stream
    handle.set_progress(0.9)
    handle.load_state_dict(state)
    assert torch.equal(model(x), expected)
    assert handle.injectors("gradients")[0].step_ == 7
    assert all(i.progress_ == 0.25 for i in handle.injectors())
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True).keys() == state.keys()
    with pytest.raises(ValueError, match="injectors"):
        handle.load_state_dict({})


def test_recipe_seed_fixes_unseeded_items_without_touching_seeded_ones():
    model = nn.Sequential(nn.Linear(4, 4))
    x = torch.randn(3, 4)

    def draw(recipe, seed):
        with inject(model, recipe, seed=seed):
            return model(x)

    unseeded = [{"kind": "gaussian", "std": 1.0}]
    assert torch.equal(draw(unseeded, 5), draw(unseeded, 5))
    assert not torch.equal(draw(unseeded, 5), draw(unseeded, 6))
    seeded = [{"kind": "gaussian", "std": 1.0, "seed": 1}]
    assert torch.equal(draw(seeded, 5), draw(seeded, 6))
    template = GaussianNoise(std=1.0)
    draw([template], 5)
    assert template.seed is None


# -- selectors reach any parameter and the model itself -------------------------------------------------


class Kernel(nn.Module):
    """A bare parameter named ``kernel`` used through ``F.linear``; remembers the kernel each call used."""

    def __init__(self, size: int = 64) -> None:
        super().__init__()
        self.kernel = nn.Parameter(torch.randn(size, size))
        self.used: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self.kernel
        self.used.append(kernel)
        return F.linear(x, kernel)


def kernels() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(Kernel(), nn.ReLU(), Kernel(), nn.Linear(64, 3))


def test_weights_selector_names_a_bare_parameter():
    model = kernels()
    before = snapshot(model)
    clean = model[0].kernel.detach().clone()
    handle = inject(model, ("weights:0.kernel", WeightNoise(0.1, relative=None, seed=0)))
    assert [a.target for a in handle] == ["0.kernel"] and not parametrize.is_parametrized(model[2])
    x = torch.randn(5, 64)
    out = model.train()(x)
    used = model[0].used[-1]
    assert (used - clean).std().item() == pytest.approx(0.1, rel=0.05)  # 4096 draws: rel. std error ~1.1%
    torch.testing.assert_close(out, model[3](model[2](F.relu(F.linear(x, used)))))
    out.sum().backward()
    original = model[0].parametrizations.kernel.original
    assert torch.equal(original.detach(), clean) and original.grad.abs().sum() > 0
    handle.remove()
    assert same_snapshot(before, snapshot(model))


def test_params_selector_globs_parameter_names():
    model = kernels()
    assert [a.target for a in inject(model, ("params:*.kernel", GaussianNoise(0.1)))] == ["0.kernel", "2.kernel"]
    assert [a.target for a in inject(kernels(), ("params:*", GaussianNoise(0.1)))] == [
        "0.kernel", "2.kernel", "3.weight", "3.bias"
    ]
    model = kernels()
    handle = inject(model, ("params:3.*|0.k*", LearnableNoise(seed=0)))
    assert [a.target for a in handle] == ["0.kernel", "3.weight", "3.bias"]
    assert handle.injectors("weights") == handle.injectors() and not list(handle.parameters())  # alpha is the model's
    assert sum(p is handle.injectors()[0].alpha for p in model.parameters()) == 1
    with pytest.raises(ConfigError, match=r"recipe\[0\].at: AlphaDropout cannot act at 'weights'"):
        inject(model, ("params:*", AlphaDropout(0.1)))


def test_the_model_itself_and_its_bare_parameters_are_matched():
    torch.manual_seed(0)
    layer = nn.Linear(6, 6)
    weight = layer.weight
    handle = inject(layer, WeightNoise(0.1))  # the default selector, weights:Linear|Conv..., matches the root
    assert [(a.target, type(layer).__name__) for a in handle] == [("weight", "ParametrizedLinear")]
    assert not torch.equal(layer.weight, weight)
    handle.remove()
    assert type(layer) is nn.Linear and layer.weight is weight
    root = Kernel(8)
    with inject(root, ("weights:kernel", GaussianNoise(0.5, seed=0))) as handle:
        x = torch.randn(3, 8)
        out = root(x)
        assert [a.target for a in handle] == ["kernel"]
        assert not torch.equal(root.used[-1], root.parametrizations.kernel.original)
        torch.testing.assert_close(out, F.linear(x, root.used[-1]))
    assert [a.target for a in inject(nn.Linear(2, 2), ("output:Linear", GaussianNoise()))] == [""]


def test_a_module_under_two_names_is_one_target():
    model = nn.Module()
    model.a = model.b = nn.Linear(3, 3)
    handle = inject(model, ("weights:b", WeightNoise()))
    assert [a.target for a in handle] == ["a.weight"] and len(model.a.parametrizations.weight) == 1


def test_weight_normed_layers_are_still_selected():
    torch.manual_seed(0)
    model = nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Linear(4, 4)), nn.Linear(4, 2))
    before = snapshot(model)
    handle = inject(model, ("params:*.weight", WeightNoise(seed=0)))
    assert [a.target for a in handle] == ["0.weight", "1.weight"] and len(model[0].parametrizations.weight) == 2
    handle.disable()
    normed = model[0].weight
    handle.enable()
    assert not torch.equal(model[0].weight, normed)  # noise on top of the weight-normed weight
    handle.remove()
    assert same_snapshot(before, snapshot(model))


def test_selectors_that_match_no_parameter_list_the_parameters():
    model = kernels()
    message = (
        "recipe[0]: selector 'weights:*.kernel' matched no parameter; module types here: Kernel, Linear, ReLU, "
        "Sequential; parameters here: 0.kernel, 2.kernel, 3.weight, 3.bias (parameter globs: 'params:PATTERN')"
    )
    with pytest.raises(ConfigError) as error:
        inject(model, ("weights:*.kernel", WeightNoise()))  # in weights:, a parameter name is taken verbatim
    assert str(error.value) == message
    with pytest.raises(ConfigError, match=r"selector 'params:\*.kern' matched no parameter; .* 0.kernel, 2.kernel"):
        inject(model, ("params:*.kern", WeightNoise()))
    with pytest.raises(ConfigError, match=r"parameters here: 0.weight, 0.bias, .*, 9.bias, \.\.\. \(4 more\) \("):
        inject(nn.Sequential(*[nn.Linear(2, 2) for _ in range(12)]), ("weights:Conv2d", WeightNoise()))
    with pytest.raises(ConfigError, match="parameters here: none"):
        inject(nn.ReLU(), WeightNoise())


def test_inject_takes_a_module():
    with pytest.raises(TypeError, match=r"inject: model must be a torch\.nn\.Module, got str"):
        inject("model", GaussianNoise())


@pytest.mark.parametrize(
    ("recipe", "message"),
    [("gaussian", r"a spec such as \{'kind': 'gaussian'\}, or a list of them; got str 'gaussian'"),
     (None, r"recipe must be an injector, .* got NoneType None"), (3, r"got int 3")],
)  # fmt: skip
def test_a_recipe_of_the_wrong_type_is_named(recipe, message):
    """``inject(model, "gaussian")`` iterated the string and complained about a spec 'g'; None was a TypeError."""
    with pytest.raises(ConfigError, match=message):
        inject(nn.Linear(2, 2), recipe)


def test_bind_takes_an_optimizer_and_progress_a_number():
    handle = inject(nn.Linear(2, 2), GaussianNoise())
    with pytest.raises(TypeError, match=r"bind takes the torch\.optim\.Optimizer of the model, got str"):
        handle.bind("sgd")  # an AttributeError about register_step_pre_hook
    with pytest.raises(ConfigError, match=r"progress must be in \(-inf, inf\), got nan"):
        handle.set_progress(float("nan"))  # accepted: the next forward failed on a std of NaN
