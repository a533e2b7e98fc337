"""Where an injector's random values come from: torch's generator (``exact``) or a table of pre-drawn values (``fast``).

``exact``, the default, draws every value from the injector's ``torch.Generator``: i.i.d. and reproducible, at
torch's speed (on a CPU core about 4 ns per normal value, which is most of what noise costs a small model).

``fast`` reads the normal and uniform values an injector needs as one slice, at a random offset, of a table of
``TABLE_SIZE`` values drawn once from a fixed seed and shared by every injector on a device (the shared noise
table of Salimans et al. 2017, "Evolution Strategies as a Scalable Alternative to Reinforcement Learning",
arXiv:1703.03864). A slice is a view: no value is drawn or copied, so it must be read, never written. Within one
slice the values are i.i.d. draws of the law; two slices of ``n`` values share on average at most ``n / TABLE_SIZE``
of their values (at shifted positions), and the same value at the same position with probability
``1 / (TABLE_SIZE - n + 1)``. The offsets come from the injector's seed, so a fast run is as reproducible as an
exact one, and the same on every device (the table is drawn on the CPU in float32; other dtypes get it cast, so
float64 noise has float32 precision). Only per-element draws read the table; integer draws and the few values
per batch that pick samples, boxes, labels or a mixing weight stay exact (``exact(source)``).

Example:
    >>> eps = normal(x.shape, injector.generator(x.device), device=x.device, dtype=x.dtype)
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

import torch

GENERATOR_KINDS = ("exact", "fast")
"""The values of an injector's ``generator`` option."""

TABLE_SIZE = 2**23
"""Values per table: 32 MB in float32 per law and device."""

TABLE_SEED = 20171
"""Seed of the tables (the normal table uses it, the uniform table the next integer)."""

MAPPED_TABLES = 4
"""How many mapped tables (a function of a whole table, such as a scaled dropout mask) are kept, most recent first."""

_tables: dict[tuple[str, torch.device, torch.dtype], torch.Tensor] = {}
Mapped = torch.Tensor | tuple[torch.Tensor, ...]
"""What a mapped function returns: one tensor, or several (read at the same offset)."""

_mapped: OrderedDict[tuple[Hashable, torch.device, torch.dtype], Mapped] = OrderedDict()


def table(law: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The shared table of ``law`` (``normal``, or ``uniform`` on [0, 1)) on ``device`` in ``dtype``; drawn once."""
    key = (law, device, dtype)
    if key not in _tables:
        with torch.inference_mode(False):  # a table built in inference mode could not be saved for backward
            _tables[key] = _draw_table(law, device, dtype)
    return _tables[key]


def _draw_table(law: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    generator = torch.Generator().manual_seed(TABLE_SEED + (law == "uniform"))
    draw = torch.randn if law == "normal" else torch.rand
    values = draw(TABLE_SIZE, generator=generator).to(device=device, dtype=dtype)
    if law == "uniform":  # casting to a coarser dtype may round a value up to 1
        values = values.clamp_(max=torch.nextafter(torch.ones((), dtype=dtype), torch.zeros((), dtype=dtype)))
    return values


class NoiseTable:
    """The ``fast`` source of one injector on one device: table slices at offsets drawn by ``offsets`` (a CPU
    generator, so that no draw waits for the device), and ``generator`` for the draws that stay exact."""

    def __init__(self, generator: torch.Generator, offsets: torch.Generator) -> None:
        self.generator, self.offsets = generator, offsets
        self.device = generator.device
        self.last_key: Hashable = None

    def sample(self, law: str, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        """``prod(shape)`` consecutive table values from a random offset, as a read-only view of ``shape``."""
        return self._slice(table(law, self.device, dtype), shape)

    def mapped(
        self, law: str, fn: Callable[[torch.Tensor], Mapped], key: Hashable, shape: Sequence[int],
        dtype: torch.dtype,
    ) -> Mapped:  # fmt: skip
        """``fn`` of ``sample(law, shape, dtype)``: computed on the slice, or, once this source has asked for ``key``
        twice in a row (or another source has built it), a slice of ``fn`` of the whole table (of each of the
        tensors it returns, at one offset), kept with the ``MAPPED_TABLES - 1`` most recent others."""
        repeated, self.last_key = key == self.last_key, key
        cached = (key, self.device, dtype)
        if cached not in _mapped:
            if not repeated:
                return fn(self.sample(law, shape, dtype))
            with torch.inference_mode(False):
                _mapped[cached] = fn(table(law, self.device, dtype))
            while len(_mapped) > MAPPED_TABLES:
                _mapped.popitem(last=False)
        _mapped.move_to_end(cached)
        return self._slice(_mapped[cached], shape)

    def _slice(self, values: Mapped, shape: Sequence[int]) -> Mapped:
        """``prod(shape)`` consecutive values of ``values`` (of each of a tuple's tensors, at one offset)."""
        n = math.prod(shape)
        if n > TABLE_SIZE:  # more values than the table holds: several slices
            pieces = [self._slice(values, (min(TABLE_SIZE, n - start),)) for start in range(0, n, TABLE_SIZE)]
            if isinstance(values, tuple):
                return tuple(torch.cat(parts).view(shape) for parts in zip(*pieces, strict=True))
            return torch.cat(pieces).view(shape)
        offset = int(torch.randint(0, TABLE_SIZE - n + 1, (1,), generator=self.offsets))
        if isinstance(values, tuple):
            return tuple(table[offset : offset + n].view(shape) for table in values)
        return values[offset : offset + n].view(shape)


Source = torch.Generator | NoiseTable | None
"""What the noise functions take as ``generator``: torch's, a fast table, or None for torch's global generator."""


def normal(
    shape: Sequence[int], source: Source, *, device: torch.device, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Standard normal values of ``shape``: ``torch.randn`` from a generator, or a read-only table slice."""
    if isinstance(source, NoiseTable):
        return source.sample("normal", shape, dtype or torch.get_default_dtype())
    return torch.randn(shape, generator=source, device=device, dtype=dtype)


def uniform(
    shape: Sequence[int],
    source: Source,
    *,
    device: torch.device,
    dtype: torch.dtype | None = None,
    low: float = 0.0,
    high: float = 1.0,
) -> torch.Tensor:
    """Uniform values on [low, high) of ``shape``: ``uniform_`` from a generator (``torch.rand``'s values for 0, 1),
    or a table slice (read-only for 0, 1)."""
    if isinstance(source, NoiseTable):
        values = source.sample("uniform", shape, dtype or torch.get_default_dtype())
        return values if (low, high) == (0.0, 1.0) else values * (high - low) + low
    return torch.empty(shape, device=device, dtype=dtype).uniform_(low, high, generator=source)


def mapped(
    law: str,
    fn: Callable[[torch.Tensor], Mapped],
    key: Hashable,
    shape: Sequence[int],
    source: Source,
    *,
    device: torch.device,
    dtype: torch.dtype | None = None,
) -> Mapped:
    """``fn`` of ``shape`` values of ``law`` (``"normal"`` or ``"uniform"`` on [0, 1)), read-only: for example a
    scaled dropout mask, ``fn = lambda u: (u < keep).float() * scale``, named by ``key = ("keep", keep, scale)``.

    ``fn`` must be elementwise and depend on nothing but its input and ``key``; it may return a tuple of tensors
    (a mask and the values it selects), each of the input's shape. From a generator it gets fresh
    values; from a fast source, the slice the source would give, or the same values from a slice of ``fn`` of the
    whole table, kept once the source asked for ``key`` twice in a row: a constant strength then costs no pass over
    the values at all, a schedule that changes it every step builds nothing. The values do not depend on which.
    """
    if isinstance(source, NoiseTable):
        return source.mapped(law, fn, key, shape, dtype or torch.get_default_dtype())
    draw = normal if law == "normal" else uniform
    return fn(draw(shape, source, device=device, dtype=dtype))


def below(p: float, shape: Sequence[int], source: Source, *, device: torch.device) -> torch.Tensor:
    """A boolean mask of ``shape``, each entry True with probability ``p`` (``u < p`` of uniform values, mapped:
    one table serves every injector that masks at the same rate), read-only."""
    return mapped("uniform", lambda u: u < p, ("below", p), shape, source, device=device)


def exact(source: Source) -> torch.Generator | None:
    """The ``torch.Generator`` behind ``source``, for draws a table cannot serve (integers, box positions)."""
    return source.generator if isinstance(source, NoiseTable) else source
