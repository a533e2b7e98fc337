"""Noise corruptions of CIFAR-10-C: contract, seeding, severity order and the paper's parameters."""

import pytest
import torch

from noisetrain.corruptions import noise

from corruptkit import natural, run

NAMES = ["gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"]


@pytest.mark.parametrize("name", NAMES)
def test_distance_grows_with_severity(name):
    x = natural((4, 3, 32, 32))
    distance = [(run(x, name, s) - x).abs().mean().item() for s in range(1, 6)]
    assert distance == sorted(distance) and len(set(distance)) == 5


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_other_float_dtypes_kept(dtype):
    x = natural((1, 3, 8, 8)).to(dtype)
    for name in NAMES:
        y = run(x, name, 5)
        assert y.dtype == dtype and 0 <= y.min() and y.max() <= 1


@pytest.mark.parametrize("severity", range(1, 6))
def test_gaussian_noise_std_is_the_papers(severity):
    gray = torch.full((4, 3, 64, 64), 0.5)
    std = (run(gray, "gaussian_noise", severity) - gray).std().item()
    assert std == pytest.approx(noise.GAUSSIAN_STD[severity - 1], rel=0.03)


@pytest.mark.parametrize("severity", range(1, 6))
def test_shot_noise_is_poisson_in_photons(severity):
    photons = noise.SHOT_PHOTONS[severity - 1]
    gray = torch.full((4, 3, 64, 64), 0.5)
    y = run(gray, "shot_noise", severity)
    assert y.mean().item() == pytest.approx(0.5, abs=0.005)
    assert y.var().item() == pytest.approx(0.5 / photons, rel=0.05)  # Var(Poisson(k x) / k) = x / k
    assert torch.allclose(y * photons, (y * photons).round(), atol=1e-3)


@pytest.mark.parametrize("severity", range(1, 6))
def test_impulse_noise_fraction_half_salt_half_pepper(severity):
    amount = noise.IMPULSE_AMOUNT[severity - 1]
    gray = torch.full((4, 3, 64, 64), 0.5)
    y = run(gray, "impulse_noise", severity)
    salt, pepper = (y == 1).float().mean().item(), (y == 0).float().mean().item()
    assert salt + pepper == pytest.approx(amount, rel=0.06)
    assert salt == pytest.approx(amount / 2, rel=0.12)
    assert torch.all((y == 0) | (y == 1) | (y == 0.5))


@pytest.mark.parametrize("severity", range(1, 6))
def test_speckle_noise_is_multiplicative(severity):
    x = torch.full((4, 3, 64, 64), 0.4)
    x[0] = 0.0
    y = run(x, "speckle_noise", severity)
    assert torch.equal(y[0], x[0])
    assert ((y[1:] - 0.4) / 0.4).std().item() == pytest.approx(noise.SPECKLE_STD[severity - 1], rel=0.03)
