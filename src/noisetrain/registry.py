"""Name -> class registries for every pluggable family (noise, schedules, ...).

YAML files, the CLI and the Python API build objects through a registry from a
plain spec ``{"kind": name, **params}``; an unknown name or parameter gets an
error that lists what is known.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A spec or parameter is invalid; the message names the field and the allowed values."""


class Registry(Generic[T]):
    """A named family of classes that can be built from ``{"kind": ..., **params}`` specs.

    Example:
        >>> schedules = Registry("schedule")
        >>> @schedules.register("constant")
        ... class Constant: ...
    """

    def __init__(self, family: str) -> None:
        self.family = family
        self._entries: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator that registers ``cls`` under ``name`` and sets ``cls.kind``."""

        def decorate(cls: type[T]) -> type[T]:
            if name in self._entries:
                raise ValueError(f"{self.family} kind {name!r} is already registered")
            self._entries[name] = cls
            cls.kind = name  # type: ignore[attr-defined]
            return cls

        return decorate

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def get(self, name: str) -> type[T]:
        """The class registered under ``name``; the error lists the known names."""
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"unknown {self.family} kind {name!r}; known kinds: {', '.join(self.names())}") from None

    def build(self, spec: Mapping[str, Any], *, field: str | None = None) -> T:
        """Build an object from ``{"kind": name, **params}``.

        ``field`` is the path of the spec in a larger config and prefixes errors.
        """
        where = f"{field}: " if field else ""
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}a {self.family} spec must be a mapping with a 'kind' key, got {spec!r}")
        if "kind" not in spec:
            raise ConfigError(f"{where}{self.family} spec has no 'kind'; known kinds: {', '.join(self.names())}")
        params = {k: v for k, v in spec.items() if k != "kind"}
        try:
            cls = self.get(spec["kind"])
        except ConfigError as error:
            raise ConfigError(f"{where}{error}") from None
        accepted = parameter_names(cls)
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise ConfigError(
                f"{where}{self.family} {spec['kind']!r} has no parameter {', '.join(map(repr, unknown))}; "
                f"accepted: {', '.join(accepted)}"
            )
        try:
            return cls(**params)
        except ConfigError as error:
            raise ConfigError(f"{where}{error}") from None
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{where}{self.family} {spec['kind']!r}: {error}") from None


def parameter_names(cls: type) -> list[str]:
    """Names of the keyword parameters of ``cls.__init__`` (what a spec may set)."""
    signature = inspect.signature(cls.__init__)
    return [
        name
        for name, p in signature.parameters.items()
        if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
