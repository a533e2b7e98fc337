import pytest
import torch
from torch import nn

from noisetrain.attacks import ATTACKS, FGSM, PGD, Attack, build_attack, project, random_start
from noisetrain.noise.inject import inject, injectors_in
from noisetrain.noise.inputs import GaussianNoise
from noisetrain.registry import ConfigError

from testkit import same_snapshot, snapshot, tiny_cnn, tiny_mlp

EVERY = [FGSM(0.1), FGSM(0.1, random_start=True, seed=0), PGD(0.1, steps=3, seed=0), PGD(0.5, norm="l2", seed=0)]


def batch(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


def mixed_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


# -- registry and validation --------------------------------------------------------
def test_registry_builds_every_kind_and_round_trips_config():
    assert ATTACKS.names() == ["fgsm", "pgd"]
    pgd = build_attack({"kind": "pgd", "eps": 0.03, "steps": 5, "norm": "l2", "bounds": None, "seed": 3})
    assert isinstance(pgd, PGD) and (pgd.eps, pgd.steps, pgd.norm, pgd.bounds, pgd.seed) == (0.03, 5, "l2", None, 3)
    assert build_attack(pgd.to_config()).to_config() == pgd.to_config()
    fgsm = build_attack({"kind": "fgsm", "eps": 1, "random_start": True})
    assert isinstance(fgsm.eps, float) and fgsm.bounds == (0.0, 1.0) and fgsm.to_config()["bounds"] == [0.0, 1.0]
    assert build_attack(fgsm) is fgsm
    assert "PGD(eps=0.03, steps=5" in repr(pgd)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "pgd", "eps": -0.1}, "attack: PGD.eps must be in [0, inf)"),
        ({"kind": "fgsm", "eps": float("inf")}, "FGSM.eps must be in [0, inf)"),
        ({"kind": "pgd", "eps": True}, "PGD.eps must be a number"),
        ({"kind": "pgd", "eps": 0.1, "norm": "l1"}, "PGD.norm must be one of 'linf', 'l2'; got 'l1'"),
        ({"kind": "pgd", "eps": 0.1, "loss": "hinge"}, "PGD.loss must be one of 'ce', 'mse'"),
        ({"kind": "pgd", "eps": 0.1, "eot": 0}, "PGD.eot must be in [1, inf)"),
        ({"kind": "pgd", "eps": 0.1, "steps": 2.5}, "PGD.steps must be an int"),
        ({"kind": "pgd", "eps": 0.1, "restarts": 0}, "PGD.restarts"),
        ({"kind": "pgd", "eps": 0.1, "step": 0}, "PGD.step must be in (0, inf)"),
        ({"kind": "fgsm", "eps": 0.1, "random_start": "yes"}, "FGSM.random_start must be true or false"),
        ({"kind": "fgsm", "eps": 0.1, "bounds": (1, 0)}, "FGSM.bounds"),
        ({"kind": "fgsm", "eps": 0.1, "seed": -1}, "FGSM.seed"),
        ({"kind": "cw", "eps": 0.1}, "unknown attack kind 'cw'; known kinds: fgsm, pgd"),
        ({"kind": "fgsm", "eps": 0.1, "steps": 3}, "has no parameter 'steps'"),
    ],
)
def test_bad_specs_name_the_field(spec, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[").replace(")", r"\)")):
        build_attack(spec)


def test_build_attack_prefixes_the_field():
    with pytest.raises(ConfigError, match=r"^train\.attack: "):
        build_attack({"kind": "pgd", "eps": -1}, field="train.attack")


# -- projection and random starts -----------------------------------------------------
def test_l2_projection_rescales_only_samples_outside_the_ball():
    g = torch.Generator().manual_seed(0)
    delta = torch.randn(64, 3, 4, generator=g) * torch.linspace(0.1, 3.0, 64).view(-1, 1, 1)
    out = project(delta, 1.0, "l2")
    before, after = delta.flatten(1).norm(dim=1), out.flatten(1).norm(dim=1)
    inside = before <= 1.0
    assert 0 < inside.sum() < 64
    assert torch.equal(out[inside], delta[inside])
    torch.testing.assert_close(after[~inside], torch.ones(int((~inside).sum())))
    cosine = nn.functional.cosine_similarity(out.flatten(1), delta.flatten(1))
    torch.testing.assert_close(cosine, torch.ones(64))
    # it is the nearest point of the ball: no random point of the ball is closer
    other = project(torch.randn(1000, 3, 4, generator=g), 1.0, "l2")
    far = delta[~inside][0]
    assert (out[~inside][0] - far).norm() <= (other - far).flatten(1).norm(dim=1).min()


def test_linf_projection_clips_entries():
    delta = torch.tensor([[-2.0, -0.5, 0.0, 0.3, 4.0]])
    torch.testing.assert_close(project(delta, 0.4, "linf"), torch.tensor([[-0.4, -0.4, 0.0, 0.3, 0.4]]))


@pytest.mark.parametrize("bounds", [(0.0, 1.0), None])
def test_linf_clamp_to_the_box_equals_projecting_then_bounding(bounds):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 5, generator=g)
    x_adv = x + 0.5 * torch.randn(64, 5, generator=g)
    attack = PGD(0.2, bounds=bounds)
    expected = x + project(x_adv - x, 0.2, "linf")
    expected = expected if bounds is None else expected.clamp(*bounds)
    torch.testing.assert_close(attack.clamp(x, x_adv), expected)
    torch.testing.assert_close(attack.clamp(x, x_adv, attack.box(x)), expected)
    low, high = attack.box(x)
    assert torch.equal(attack.clamp(x, x), x) and bool((low <= x).all() and (x <= high).all())


def test_random_starts_are_uniform_in_the_ball():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(20000, 5)
    linf = random_start(x, 0.5, "linf", g)
    assert linf.abs().max() <= 0.5 and linf.std().item() == pytest.approx(0.5 / 3**0.5, rel=0.02)
    l2 = random_start(x, 2.0, "l2", g).norm(dim=1)
    assert l2.max() <= 2.0 + 1e-5
    # uniform in a d-ball: P(r <= t * eps) = t^d
    assert (l2 <= 2.0 * 0.8).float().mean().item() == pytest.approx(0.8**5, abs=0.015)


# -- shared behaviour of every attack ----------------------------------------------------
@pytest.mark.parametrize("attack", EVERY, ids=lambda a: f"{a.kind}-{a.norm}-start={a.random_start}")
def test_constraint_and_bounds_hold(attack):
    model = tiny_mlp()
    x, y = batch(64)
    x[:8] = 0.0  # on the boundary, where the random start and the steps leave the box
    x_adv = attack(model, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(dim=1) if attack.norm == "linf" else delta.norm(dim=1)
    assert size.max() <= attack.eps + 1e-6
    assert size.mean() > 0.5 * attack.eps  # it moved


@pytest.mark.parametrize("kind", ["fgsm", "pgd"])
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_eps_zero_returns_x_exactly(kind, norm):
    model = tiny_mlp()
    x, y = batch()
    x = x * 3 - 1  # even outside the bounds
    attack = build_attack({"kind": kind, "eps": 0.0, "norm": norm, "random_start": True})
    x_adv = attack(model, x, y)
    assert torch.equal(x_adv, x) and x_adv is not x


def test_dtype_shape_of_images_and_double_precision():
    model = tiny_cnn().double()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 5, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (8,), generator=g)
    for attack in (PGD(0.1, steps=2, seed=0), PGD(0.5, norm="l2", steps=2, seed=0)):
        x_adv = attack(model, x, y)
        assert x_adv.shape == x.shape and x_adv.dtype == torch.float64
        assert (x_adv - x).flatten(1).norm(p=float("inf") if attack.norm == "linf" else 2, dim=1).max() <= 0.5 + 1e-9


def test_works_under_no_grad():
    model = tiny_mlp()
    x, y = batch()
    with torch.no_grad():
        x_adv = PGD(0.1, steps=2, seed=0)(model, x, y)
    assert not torch.equal(x_adv, x)


# -- the model's mode and state ---------------------------------------------------------
@pytest.mark.parametrize("eot", [1, 4])
@pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
def test_call_restores_every_flag_and_leaves_state_alone(mode, eot):
    model = mixed_model()
    handle = inject(model, [GaussianNoise(std=0.1, seed=0), ("output:1", GaussianNoise(std=0.1, seed=1))])
    model.train(mode != "eval")
    if mode == "mixed":
        model[1].eval()
        model[3].eval()
    x, y = batch()
    model(x)  # the hooks set the injectors' flags from the model's
    flags = [m.training for m in model.modules()] + [i.training for i in injectors_in(model)]
    mc = [i.mc_ for i in injectors_in(model)]
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    model[0].bias.grad = None
    before = snapshot(model)

    PGD(0.1, steps=2, eot=eot, seed=0)(model, x, y)

    assert [m.training for m in model.modules()] + [i.training for i in injectors_in(model)] == flags
    assert [i.mc_ for i in injectors_in(model)] == mc
    assert same_snapshot(before, snapshot(model))  # BatchNorm running statistics and weights unchanged
    assert model[0].bias.grad is None
    assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for n, p in model.named_parameters() if n != "0.bias")
    handle.remove()


def test_flags_restored_when_the_attack_fails():
    model = mixed_model().train()
    x, _ = batch()
    with pytest.raises((IndexError, RuntimeError)):
        FGSM(0.1, eot=2)(model, x, torch.full((32,), 9))  # label out of range
    assert all(m.training for m in model.modules())


def test_perturb_keeps_the_models_mode():
    model = mixed_model().train()
    x, y = batch()
    mean = model[1].running_mean.clone()
    FGSM(0.1).perturb(model, x, y)
    assert all(m.training for m in model.modules())
    assert not torch.equal(model[1].running_mean, mean)  # train-mode BatchNorm saw the batch: the caller's choice


def test_call_is_deterministic_in_eval_and_stochastic_with_eot():
    model = tiny_mlp()
    inject(model, GaussianNoise(std=1.0, seed=0))
    x, y = batch()
    eval_runs = [FGSM(0.1, bounds=None)(model, x, y) for _ in range(2)]
    assert torch.equal(*eval_runs)  # the injector is off in eval mode
    mc_runs = [FGSM(0.1, norm="l2", bounds=None, eot=2)(model, x, y) for _ in range(2)]
    assert not torch.equal(*mc_runs)  # under mc_mode the input noise is drawn


def test_eot_gradient_is_closer_to_the_expected_gradient():
    model = tiny_mlp()
    inject(model, GaussianNoise(std=1.0, seed=0))
    x, y = batch(64)

    def direction(eot: int) -> torch.Tensor:  # l2 FGSM without bounds: eps * grad / ||grad||
        return FGSM(1.0, norm="l2", bounds=None, eot=eot)(model, x, y) - x

    reference = direction(512)
    cosine = {eot: nn.functional.cosine_similarity(direction(eot), reference).mean().item() for eot in (1, 8)}
    assert cosine[8] > cosine[1] + 0.1
    assert cosine[8] > 0.9


def test_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        Attack(0.1)(tiny_mlp(), *batch())
