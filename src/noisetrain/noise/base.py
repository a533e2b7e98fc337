"""The base class every injector shares: parameters, activity, randomness, config.

An injector is a small ``nn.Module`` holding its hyperparameters. It is *active*
when it is in training mode (or Monte-Carlo mode is on), enabled, and its
strength is non-zero; otherwise it returns its input unchanged. Randomness comes
from a ``torch.Generator`` per device, seeded from ``seed`` (or, when ``seed`` is
None, from one draw of torch's global generator at first use, so that
``torch.manual_seed`` still makes unseeded runs repeatable).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from ..checks import check_choice, check_number, check_range, check_seed
from ..registry import ConfigError, Registry, parameter_names
from .schedules import Schedule, build_schedule
from .sources import GENERATOR_KINDS, NoiseTable

Number = float | Schedule
"""A strength: a plain number or a schedule of training progress."""

NOISE: Registry[Injector] = Registry("noise", shared=("generator",))
"""Every registered injector, by kind; every kind also takes ``generator: exact | fast`` (see ``use_generator``)."""


def derive_seed(seed: int | None, key: str) -> int | None:
    """A stable seed for the copy of an injector attached at ``key`` (None stays None)."""
    if seed is None:
        return None
    digest = hashlib.blake2b(f"{seed}/{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class Generators:
    """Lazily seeded sources of randomness, one per device, all from one seed.

    ``kind`` ``exact`` gives a ``torch.Generator`` per device; ``fast`` a :class:`~noisetrain.noise.sources.NoiseTable`
    per device, whose offsets come from one CPU generator of their own. With ``seed=None`` the seed is drawn once
    from torch's global generator at first use. ``state()``/``set_state()`` save and restore them for checkpoints.
    """

    def __init__(self, seed: int | None, kind: str = "exact") -> None:
        self.seed = seed
        self.kind = kind
        self.by_device: dict[torch.device, torch.Generator] = {}
        self.offsets: torch.Generator | None = None
        self.tables: dict[torch.device, NoiseTable] = {}

    def __call__(self, device: torch.device | str) -> torch.Generator | NoiseTable:
        generator = self.exact(device)
        if self.kind == "exact":
            return generator
        if generator.device not in self.tables:
            self.tables[generator.device] = NoiseTable(generator, self.table_offsets())
        return self.tables[generator.device]

    def exact(self, device: torch.device | str) -> torch.Generator:
        """The ``torch.Generator`` of ``device``, created and seeded at first use."""
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        generator = self.by_device.get(device)
        if generator is None:
            generator = self.by_device[device] = torch.Generator(device=device).manual_seed(self.first_seed())
        return generator

    def table_offsets(self) -> torch.Generator:
        """The CPU generator of the fast source's table offsets, created and seeded at first use."""
        if self.offsets is None:
            self.offsets = torch.Generator().manual_seed(derive_seed(self.first_seed(), "offsets"))
        return self.offsets

    def first_seed(self) -> int:
        """The seed, drawn from torch's global generator if it was None."""
        if self.seed is None:
            self.seed = int(torch.randint(0, 2**62, (1,)).item())
        return self.seed

    def state(self) -> dict[str, torch.Tensor]:
        """Generator states by device name, and ``offsets`` for the fast source's."""
        state = {str(device): g.get_state() for device, g in self.by_device.items()}
        return state if self.offsets is None else {**state, "offsets": self.offsets.get_state()}

    def set_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore states saved by ``state``."""
        for device, value in state.items():
            (self.table_offsets() if device == "offsets" else self.exact(device)).set_state(value)


class Injector(nn.Module):
    """Base class of all noise injectors.

    Subclasses set the class attributes below, store each constructor argument
    under its own name (validated through ``number`` or ``noisetrain.checks``), and call
    ``self.active`` and ``self.current(name)`` in ``forward``.
    """

    kind: ClassVar[str]
    strength: ClassVar[str]
    """Name of the parameter whose value 0 switches the injector off."""
    positions: ClassVar[frozenset[str]] = frozenset({"input", "output"})
    """Where ``inject`` may place it: input, output, weights, batch, gradients, loss."""
    default_at: ClassVar[str] = "input"
    """The selector used when ``inject`` is given the injector without one."""
    params: ClassVar[tuple[str, ...]] = ("weight",)
    """The parameters a ``weights:PATTERN`` selector picks in each module it matches."""

    def __init__(self, *, seed: int | None = None) -> None:
        super().__init__()
        check_seed(f"{type(self).__name__}.seed", seed)
        self.seed = seed
        self.enabled_ = True
        self.mc_ = False
        self.progress_ = 0.0
        self.generators_ = Generators(seed)

    # -- parameters -----------------------------------------------------------------
    def number(
        self,
        name: str,
        value: float | Schedule | Mapping[str, Any],
        low: float = -math.inf,
        high: float = math.inf,
        *,
        low_open: bool = False,
        high_open: bool = False,
    ) -> Number:
        """Validate a numeric (or scheduled) parameter; a schedule must stay in range over all progress."""
        what = f"{type(self).__name__}.{name}"
        built = build_schedule(value, field=what)
        for bound in built.bounds() if isinstance(built, Schedule) else (built,):
            check_range(what, bound, low, high, low_open=low_open, high_open=high_open)
        return built

    def current(self, name: str) -> float:
        """The value of parameter ``name`` at the current training progress."""
        value = getattr(self, name)
        return value(self.progress_) if isinstance(value, Schedule) else value

    def set_progress(self, progress: float) -> None:
        """Tell the injector how far training has come (0 = start, 1 = end); drives schedules. ``fit`` sets the
        share of steps done before each step, ``k / total``, so its last step runs at ``1 - 1 / total``."""
        self.progress_ = check_number("progress", progress)  # NaN would surface later as a strength of NaN

    @property
    def active(self) -> bool:
        """True when the injector should perturb: training or MC mode, enabled, strength non-zero."""
        return (self.training or self.mc_) and self.enabled_ and self.current(self.strength) != 0

    def observe(self, inputs: tuple[Any, ...]) -> None:
        """Called by ``inject`` with the inputs of the module whose output this injector perturbs, just before it
        does; nothing by default (``EmbeddingNoise`` reads the token ids there)."""

    # -- randomness -----------------------------------------------------------------
    def generator(self, device: torch.device | str) -> torch.Generator | NoiseTable:
        """This injector's source of randomness on ``device`` (see :mod:`noisetrain.noise.sources`)."""
        return self.generators_(device)

    def use_generator(self, kind: str) -> Injector:
        """Draw from ``kind``: ``exact`` (torch's generator, the default) or ``fast`` (slices of a shared table of
        pre-drawn values); restarts the random stream from the seed. Returns the injector."""
        check_choice(f"{type(self).__name__}.generator", kind, GENERATOR_KINDS)
        self.generators_ = Generators(self.seed, kind)
        return self

    def reseed(self, seed: int | None) -> None:
        """Restart the random stream from ``seed``."""
        self.seed = seed
        self.generators_ = Generators(seed, self.generators_.kind)

    # -- one draw per forward pass -------------------------------------------------------
    _held: list[Any] | None = None

    def hold(self, on: bool) -> None:
        """While on, every call returns the result of the first call since ``hold(True)`` instead of drawing anew.

        ``inject`` holds its weight injectors during each forward pass of the model, so that a weight used
        twice in one pass (a module called twice, a parameter tied between modules) is one sample."""
        self._held = [] if on else None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._held is None:
            return super().__call__(*args, **kwargs)
        if not self._held:
            self._held.append(super().__call__(*args, **kwargs))
        return self._held[0]

    # -- checkpoints ------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, Any]:
        """Runtime state for ``state_dict``: generator states, progress, and every other trailing-underscore
        number or tensor (step counters, fitted statistics). Mode flags (``mc_``) are not state."""
        state: dict[str, Any] = {"generators_": self.generators_.state()}
        for name, value in vars(self).items():
            if name.endswith("_") and name != "mc_" and isinstance(value, bool | int | float | torch.Tensor):
                state[name] = value
        return state

    def set_extra_state(self, state: Mapping[str, Any]) -> None:
        for name, value in state.items():
            if name == "generators_":
                self.generators_.set_state(value)
            else:
                setattr(self, name, value)

    # -- config and display ----------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """The spec that rebuilds this injector through ``build_noise``."""
        config: dict[str, Any] = {"kind": self.kind}
        for name in parameter_names(type(self)):
            value = getattr(self, name)
            if isinstance(value, Schedule):
                value = value.to_config()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, torch.Tensor):
                value = value.tolist()
            config[name] = value
        if self.generators_.kind != "exact":
            config["generator"] = self.generators_.kind
        return config

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in parameter_names(type(self)))


def build_noise(spec: Injector | Mapping[str, Any], *, field: str | None = None) -> Injector:
    """Build an injector from ``{"kind": ..., **params}`` (an injector passes through).

    Example:
        >>> build_noise({"kind": "gaussian", "std": {"kind": "linear", "start": 0.1, "end": 0.0}})
    """
    if isinstance(spec, Injector):
        return spec
    injector = NOISE.build(spec, field=field)
    try:
        return injector.use_generator(spec.get("generator", "exact"))
    except ConfigError as error:
        raise ConfigError(f"{field}: {error}" if field else str(error)) from None
