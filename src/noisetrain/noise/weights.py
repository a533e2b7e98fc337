"""Noise on weights: Gaussian weight noise, DropConnect, Bayes-by-Backprop and learnable (PNI) noise.

All act through ``inject(model, ..., at="weights:PATTERN")`` (or ``"params:PATTERN"``): the
injector becomes a ``torch.nn.utils.parametrize`` parametrization, so its ``forward`` receives
the clean weight (the parameter the optimiser updates, ``module.parametrizations.weight.original``)
and returns the noisy one. In training it is drawn once per forward pass of the model: every use
of the weight in that pass (a module called twice, a weight tied between modules) sees the same
sample, the weight being one random variable (as one sample per minibatch in Blundell et al. 2015,
and one mask for all time steps in Gal & Ghahramani 2016, arXiv:1512.05287); each access outside a
forward pass draws anew. A tied weight gets one injector for all its uses (one ``rho``, one KL
term). In eval mode the clean weight is used (the posterior mean for ``BayesianWeights``) unless
``mc_mode`` is on.

With ``sampling="local"`` (local reparameterization, Kingma et al. 2015) or ``"flipout"`` (Wen et al. 2018),
``WeightNoise`` and ``BayesianWeights`` return the noisy weight's law instead of a sample, and the linear and
convolution layers using it sample their output from it: fewer values drawn (local) or noise decorrelated
across the examples of a batch (both); see ``noisetrain.noise.sampling``.

Example:
    >>> handle = inject(model, [WeightNoise(std=0.05), DropConnect(0.2)])
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_choice, check_int
from ..registry import ConfigError
from .activations import Dropout
from .base import NOISE, Injector, Number
from .inject import NoiseHandle, inject
from .inputs import GaussianNoise, gaussian_noise, tensor_std
from .sampling import SAMPLING, WeightLaw
from .schedules import Schedule
from .sources import Source

LAYERS = "weights:Linear|Conv1d|Conv2d|Conv3d"
"""Default selector of the weight injectors: the weights of every linear and convolution layer."""


def _initial(injector: Injector, name: str, value: float, low: float, **bounds: bool) -> float:
    """Validate a number that only sets an initial value, so it cannot be a schedule."""
    value = injector.number(name, value, low, **bounds)
    if isinstance(value, Schedule):
        raise ConfigError(
            f"{type(injector).__name__}.{name} sets an initial value and must be a number, not a schedule"
        )
    return value


def _sampling(injector: Injector, sampling: str) -> str:
    check_choice(f"{type(injector).__name__}.sampling", sampling, SAMPLING)
    return sampling


@NOISE.register("weight_noise")
class WeightNoise(GaussianNoise):
    """Gaussian noise on weights, redrawn at every forward in training (``GaussianNoise`` at weights).

    Weight noise as a regulariser: Graves 2011, "Practical Variational Inference for
    Neural Networks" (NeurIPS); An 1996, "The Effects of Adding Noise During Backpropagation
    Training on a Generalization Performance".

    Args:
        std: noise std (>= 0) or a schedule. Default 0.1.
        mode: ``"additive"`` (default) or ``"multiplicative"`` (``w * (1 + std * eps)``).
        relative: ``"tensor"`` (default: ``std`` is relative to each weight tensor's std),
            None (absolute, in weight units) or ``"feature"``.
        clip: ``(low, high)`` range for the noisy weights, or None.
        sampling: ``"weight"`` (default: one noisy weight per forward pass), ``"local"`` (Gaussian noise on each
            layer output, independent per example: Kingma et al. 2015, arXiv:1506.02557) or ``"flipout"`` (one
            perturbation with random signs per example: Wen et al. 2018, arXiv:1803.04386); the last two for
            weights of Linear and Conv layers, with ``clip=None``; see ``noisetrain.noise.sampling``.
        seed: seed of the generator.

    Example: ``inject(model, WeightNoise(std=0.05))``, ``WeightNoise(std=0.05, sampling="local")``.
    """

    positions = frozenset({"weights"})
    default_at = LAYERS

    def __init__(
        self,
        std: Number = 0.1,
        *,
        mode: str = "additive",
        relative: str | None = "tensor",
        clip: tuple[float, float] | None = None,
        sampling: str = "weight",
        seed: int | None = None,
    ) -> None:
        super().__init__(std, mode=mode, relative=relative, clip=clip, seed=seed)
        self.sampling = _sampling(self, sampling)
        if sampling != "weight" and clip is not None:
            raise ConfigError(
                f"WeightNoise.sampling={sampling!r} needs Gaussian noisy weights, which clip makes non-Gaussian: "
                "set clip=None or sampling='weight'"
            )

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.sampling == "weight" or not self.active:
            return super().forward(w)
        relative = self.scale(w)
        scale = self.current("std") * (1.0 if relative is None else relative)  # the noise's std, as drawn by weight
        if self.mode == "multiplicative":
            scale = w * scale
        return WeightLaw.of(w, scale, self.sampling, self.generator(w.device), "WeightNoise.sampling")


@NOISE.register("dropconnect")
class DropConnect(Dropout):
    """DropConnect: a fresh Bernoulli mask on the weight matrix at every forward in training.

    Wan et al. 2013, "Regularization of Neural Networks using DropConnect" (ICML). Kept
    weights are scaled by ``1 / (1 - p)``; inference uses the clean weight. It has no ``sampling`` option: its
    Bernoulli noise is not Gaussian (no local reparameterization) nor symmetric about the clean weight for
    ``p != 0.5`` (flipout's sign flips would change its law).

    Args:
        p: drop probability of each weight entry in [0, 1], or a schedule. Default 0.5.
        channelwise: drop whole kernels (``weight[o, i]``) instead of entries. Default False.
        seed: seed of the generator.

    Example: ``inject(model, DropConnect(0.3))``.
    """

    positions = frozenset({"weights"})
    default_at = LAYERS


@NOISE.register("bayesian")
class BayesianWeights(Injector):
    """Bayes by Backprop: a factorised Gaussian posterior over each weight, sampled per forward.

    Blundell et al. 2015, "Weight Uncertainty in Neural Networks", arXiv:1505.05424. The clean
    parameter is the mean ``mu``; this module holds ``rho`` (same shape, created by ``prepare``)
    with ``sigma = softplus(rho)``. Training samples ``w = mu + sigma * eps`` (reparameterised,
    so ``mu`` and ``rho`` get gradients); eval uses ``mu``, ``mc_mode`` samples. Add
    ``kl_divergence(model) / dataset_size`` to the loss.

    Args:
        prior_std: std of the prior ``N(0, prior_std^2)`` (> 0) or a schedule. Default 1.0.
        init_std: initial ``sigma`` (> 0). Default 1e-3.
        sampling: ``"weight"`` (default), ``"local"`` (the local reparameterization trick of Kingma et al. 2015,
            arXiv:1506.02557) or ``"flipout"`` (Wen et al. 2018, arXiv:1803.04386), for Linear and Conv layers;
            the posterior, its KL term and eval are the same for all three; see ``noisetrain.noise.sampling``.
        seed: seed of the generator.

    Example: ``handle = inject(model, BayesianWeights(prior_std=0.1))`` (or ``bayesian(model)``).
    """

    strength = "init_std"
    positions = frozenset({"weights"})
    default_at = LAYERS
    params = ("weight", "bias")

    def __init__(
        self, prior_std: Number = 1.0, *, init_std: float = 1e-3, sampling: str = "weight", seed: int | None = None
    ) -> None:
        super().__init__(seed=seed)
        self.prior_std = self.number("prior_std", prior_std, 0, low_open=True)
        self.init_std = _initial(self, "init_std", init_std, 0, low_open=True)
        self.sampling = _sampling(self, sampling)
        self.register_parameter("rho", None)

    def prepare(self, mu: torch.Tensor) -> None:
        """Create ``rho`` with ``mu``'s shape, dtype and device, so that ``softplus(rho) = init_std``."""
        inverse_softplus = self.init_std + math.log(-math.expm1(-self.init_std))
        self.rho = nn.Parameter(torch.full_like(mu.detach(), inverse_softplus))

    def sigma(self) -> torch.Tensor:
        """The posterior std ``softplus(rho)``."""
        if self.rho is None:
            raise RuntimeError(
                "BayesianWeights has no rho yet: place it with inject(model, ...) or call prepare(weight)"
            )
        return F.softplus(self.rho)

    def kl(self, mu: torch.Tensor) -> torch.Tensor:
        """``KL(N(mu, sigma^2) || N(0, prior_std^2))`` summed over all entries (a scalar), in closed form:
        ``sum(log(prior_std / sigma) + (sigma^2 + mu^2) / (2 prior_std^2) - 1/2)``, the sums of squares as dot
        products (training pays it at every step: a fifth less time per MLP step than ``torch.distributions``)."""
        prior = self.current("prior_std")
        m, s = mu.reshape(-1), self.sigma().reshape(-1)
        squares = torch.dot(m, m) + torch.dot(s, s)
        return squares / (2 * prior**2) - s.log().sum() + m.numel() * (math.log(prior) - 0.5)

    def forward(self, mu: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return mu
        if self.sampling != "weight":
            return WeightLaw.of(mu, self.sigma(), self.sampling, self.generator(mu.device), "BayesianWeights.sampling")
        return gaussian_noise(mu, 1.0, scale=self.sigma(), generator=self.generator(mu.device))


def bayesian(
    model: nn.Module,
    *,
    prior_std: float = 1.0,
    init_std: float = 1e-3,
    sampling: str = "weight",
    at: str = LAYERS,
    seed: int | None = None,
) -> NoiseHandle:
    """Make the weights and biases of ``model``'s layers Bayesian (``BayesianWeights`` at ``at``).

    Create the optimiser afterwards so that it sees the new ``rho`` parameters; train with
    ``loss = nll + kl_divergence(model) / dataset_size``. A tied weight gets one ``rho`` and one KL term,
    and one sample per forward pass for all its uses. ``handle.remove()`` restores the model (ties included).
    ``sampling``: see ``BayesianWeights``.

    Example: ``handle = bayesian(model, prior_std=0.1)``, ``bayesian(model, sampling="flipout")``.
    """
    return inject(model, (at, BayesianWeights(prior_std, init_std=init_std, sampling=sampling, seed=seed)))


def has_bayesian_weights(handle: NoiseHandle) -> bool:
    """Whether ``handle`` attached Bayesian weights, whose KL term belongs in the training loss."""
    return any(isinstance(injector, BayesianWeights) for injector in handle.injectors("weights"))


def kl_weight(handle: NoiseHandle, train: Any) -> float:
    """The weight of the KL term of ``handle``'s Bayesian weights when training on the data set ``train``: 1 / the
    number of training examples (the minibatch ELBO); 0 without Bayesian weights."""
    if not has_bayesian_weights(handle):
        return 0.0
    try:
        return 1 / len(train)
    except TypeError:
        raise ConfigError(
            "Bayesian weights weigh their KL term by the number of training examples, and the train dataset has no "
            "len(); use a map-style dataset"
        ) from None


def kl_divergence(model: nn.Module) -> torch.Tensor:
    """Sum of ``BayesianWeights.kl`` over every Bayesian injector in ``model`` (a scalar), each once.

    The mean of each is the clean parameter ``module.parametrizations[name].original``; a tied weight has
    one injector in the parametrizations of all its modules, counted once.
    """
    means = {
        injector: chain.original
        for module in model.modules()
        for chain in getattr(module, "parametrizations", {}).values()
        for injector in chain
        if isinstance(injector, BayesianWeights)
    }
    if not means:
        raise ValueError("model has no Bayesian weights; attach them with bayesian(model) first")
    return torch.stack([injector.kl(mu) for injector, mu in means.items()]).sum()


def learnable_noise(
    x: torch.Tensor, alpha: torch.Tensor, *, dim: int = 1, generator: Source = None
) -> torch.Tensor:
    """Parametric noise: ``x + alpha * std(x).detach() * eps``, differentiable in ``alpha``.

    He, Rakin & Fan 2019, "Parametric Noise Injection: Trainable Randomness to Improve Deep
    Neural Network Robustness against Adversarial Attack", arXiv:1811.09310.

    Args:
        x: floating tensor.
        alpha: scale, a scalar tensor or one value per channel, shape ``(x.shape[dim],)``.
        dim: the channel dimension of ``x`` for a per-channel ``alpha``.
        generator: source of randomness.

    Example: ``learnable_noise(weight, alpha, dim=0)``.
    """
    if alpha.dim() == 1:
        if x.dim() <= dim or x.shape[dim] != alpha.numel():
            raise ValueError(
                f"alpha of shape ({alpha.numel()},) needs x with that many channels at dim {dim}, got {tuple(x.shape)}"
            )
        alpha = alpha.view(-1, *[1] * (x.dim() - dim - 1))
    elif alpha.dim() != 0:
        raise ValueError(f"alpha must be a scalar or of shape (C,), got {tuple(alpha.shape)}")
    scale = alpha.to(device=x.device, dtype=x.dtype) * tensor_std(x)  # alpha may be on the CPU
    return gaussian_noise(x, 1.0, scale=scale, generator=generator)


@NOISE.register("learnable")
class LearnableNoise(Injector):
    """Learnable noise scale (PNI): ``x + alpha * std(x) * eps`` with a trainable ``alpha``; see ``learnable_noise``.

    Args:
        init: initial ``alpha`` (>= 0; 0 switches the injector off). Default 0.25 (as the paper).
        per_channel: one ``alpha`` per channel instead of one per tensor. At weights the count is
            the weight's output channels (``weight.shape[0]``); at inputs/outputs give ``channels``
            (the channel dim is 1, ``(N, C, *)``).
        channels: number of channels for ``per_channel`` (required outside weights).
        seed: seed of the generator.

    ``alpha`` trains with the model: at weights it is part of ``model.parameters()``, elsewhere
    add ``handle.parameters()`` to the optimiser (the paper trains it adversarially and without
    weight decay). ``inject`` does not move injectors at inputs or outputs: an ``alpha`` left on
    the CPU still works with CUDA activations (copied at each call); ``injector.to(device)`` avoids that.

    Example: ``inject(model, LearnableNoise(per_channel=True))``.
    """

    strength = "init"
    positions = frozenset({"input", "output", "weights"})
    default_at = LAYERS

    def __init__(
        self, init: float = 0.25, *, per_channel: bool = False, channels: int | None = None, seed: int | None = None
    ) -> None:
        super().__init__(seed=seed)
        self.init = _initial(self, "init", init, 0)
        self.per_channel = bool(per_channel)
        if channels is not None:
            check_int("LearnableNoise.channels", channels, 1)
        if channels is not None and not per_channel:
            raise ConfigError("LearnableNoise.channels needs per_channel=True")
        self.channels = channels
        self.channel_dim_ = 1
        shape = (channels,) if per_channel else ()
        alpha = None if per_channel and channels is None else nn.Parameter(torch.full(shape, self.init))
        self.register_parameter("alpha", alpha)

    def prepare(self, weight: torch.Tensor) -> None:
        """At weights: the channel dim is 0 and a per-channel ``alpha`` gets ``weight.shape[0]`` entries."""
        self.channel_dim_ = 0
        if not self.per_channel:
            return
        if self.channels is not None and self.channels != weight.shape[0]:
            raise ConfigError(
                f"LearnableNoise.channels is {self.channels} but the weight has {weight.shape[0]} output channels"
            )
        self.alpha = nn.Parameter(torch.full(weight.shape[:1], self.init, device=weight.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        if self.alpha is None:
            raise ConfigError("LearnableNoise.channels must be given for per_channel=True at inputs or outputs")
        return learnable_noise(x, self.alpha, dim=self.channel_dim_, generator=self.generator(x.device))
