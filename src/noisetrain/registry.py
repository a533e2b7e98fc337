"""Name -> class registries for every pluggable family (noise, schedules, ...).

YAML files, the CLI and the Python API build objects through a registry from a
plain spec ``{"kind": name, **params}``; an unknown name or parameter gets an
error that lists what is known.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import types
import typing
from collections import abc
from collections.abc import Callable, Iterable, Iterator, Mapping
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

    def __init__(self, family: str, *, shared: tuple[str, ...] = ()) -> None:
        self.family = family
        self.shared = shared
        """Options every kind accepts and the caller applies (``check`` leaves them out of the parameters)."""
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
        except (KeyError, TypeError):
            raise ConfigError(f"unknown {self.family} kind {name!r}{suggest(name, self.names())}; known kinds: "
                              f"{', '.join(self.names())}") from None  # fmt: skip

    def complete(self, spec: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, Any]:
        """``spec`` with every fact its kind's constructor takes and the spec leaves out (None facts skipped).

        Facts are what the caller knows from elsewhere, e.g. the data's ``vocab_size`` or ``num_classes``.
        A spec of an unknown kind is returned unchanged, for ``build`` to report.
        """
        spec = dict(spec)
        if isinstance(spec.get("kind"), str) and spec["kind"] in self:
            accepted = parameter_names(self.get(spec["kind"]))
            spec.update({k: v for k, v in facts.items() if k in accepted and k not in spec and v is not None})
        return spec

    def check(
        self, spec: Mapping[str, Any], *, field: str | None = None, context: Iterable[str] = ()
    ) -> tuple[type[T], dict[str, Any]]:
        """Check the kind and parameter names of ``spec`` without building it; return the class and params.

        ``context`` names arguments the caller supplies (e.g. a model's input shape, set by the
        data); a spec may not set them itself.
        """
        where = f"{field}: " if field else ""
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}a {self.family} spec must be a mapping with a 'kind' key, got {spec!r}")
        if "kind" not in spec:
            raise ConfigError(f"{where}{self.family} spec has no 'kind'; known kinds: {', '.join(self.names())}")
        params = {k: v for k, v in spec.items() if k != "kind"}
        clash = sorted(set(params) & set(context))
        if clash:
            names = ", ".join(map(repr, clash))
            raise ConfigError(f"{where}{self.family} spec may not set {names}: the caller supplies it")
        try:
            cls = self.get(spec["kind"])
        except ConfigError as error:
            raise ConfigError(f"{where}{error}") from None
        accepted = [name for name in parameter_names(cls) if name not in context] + list(self.shared)
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise ConfigError(
                f"{where}{self.family} {spec['kind']!r} has no parameter {', '.join(map(repr, unknown))}"
                f"{suggest(unknown[0], accepted)}; accepted: {', '.join(accepted)}"
            )
        return cls, {name: value for name, value in params.items() if name not in self.shared}

    def build(self, spec: Mapping[str, Any], *, field: str | None = None, **context: Any) -> T:
        """Build an object from ``{"kind": name, **params}``; ``context`` as in ``check``, with values.

        ``field`` is the path of the spec in a larger config and prefixes errors.
        """
        cls, params = self.check(spec, field=field, context=context)
        where = f"{field}: " if field else ""
        missing = [p.name for p in _keywords(cls) if p.default is p.empty and p.name not in {*params, *context}]
        if missing:
            names, example = " and ".join(map(repr, missing)), ", ".join(f"{m}: ..." for m in missing)
            them = "it" if len(missing) == 1 else "them"
            raise ConfigError(f"{where}{self.family} {spec['kind']!r} needs {names}: set {them} in its spec, e.g. "
                              f"{{kind: {spec['kind']}, {example}}}")  # fmt: skip
        try:
            return cls(**params, **context)
        except ConfigError as error:
            raise ConfigError(f"{where}{error}") from None
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{where}{self.family} {spec['kind']!r}: {error}") from None


def suggest(name: object, known: Iterable[str]) -> str:
    """``"; did you mean 'gaussian'?"`` for the known name closest to a misspelt ``name``, or ``""``."""
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


@functools.cache
def _keywords(cls: type) -> tuple[inspect.Parameter, ...]:
    """The keyword parameters of ``cls.__init__`` (read once per class: signatures are slow to build)."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return tuple(p for p in parameters if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def parameter_names(cls: type) -> list[str]:
    """Names of the keyword parameters of ``cls.__init__`` (what a spec may set)."""
    return [p.name for p in _keywords(cls)]


def parameter_defaults(cls: type) -> dict[str, Any]:
    """``{name: default}`` of the keyword parameters of ``cls.__init__`` that have a default (tuples as lists)."""
    return {
        p.name: list(p.default) if isinstance(p.default, tuple) else p.default
        for p in _keywords(cls)
        if p.default is not p.empty
    }


def sequence_parameters(cls: type) -> set[str]:
    """Parameters of ``cls.__init__`` whose annotation admits a sequence or tensor (a list is a value there).

    A study reads any other list as a grid axis; see ``noisetrain.study.grid``.
    """
    hints = typing.get_type_hints(cls.__init__)
    return {name for name in parameter_names(cls) if name in hints and _admits_sequence(hints[name])}


def _admits_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_admits_sequence(arg) for arg in typing.get_args(annotation))
    target = origin or annotation
    if not isinstance(target, type) or issubclass(target, (str, bytes)):
        return False
    return issubclass(target, (tuple, list, abc.Sequence)) or target.__name__ == "Tensor"
