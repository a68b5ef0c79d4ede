"""The systems the harness can run, by name: ``NAME:TARGET`` builds ``NAME``'s factory(TARGET).

To add one (a raw-client baseline, a peer library), drop a module in this package that
decorates a factory with :func:`register`; import optional drivers inside the factory, so
that a missing driver only matters when that system is asked for.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from benchmarks.systems.base import System, SystemFactory

_factories: dict[str, SystemFactory] = {}


def register(name: str) -> Callable[[SystemFactory], SystemFactory]:
    """Register the decorated factory as system ``name``."""

    def decorate(factory: SystemFactory) -> SystemFactory:
        if name in _factories:
            raise ValueError(f"benchmark system {name!r} is registered twice")
        _factories[name] = factory
        return factory

    return decorate


def names() -> list[str]:
    """Every registered system name, sorted."""
    _discover()
    return sorted(_factories)


def create(spec: str) -> System:
    """Build the system that ``spec`` (``NAME:TARGET``, e.g. ``kanal:memory://``) names."""
    name, colon, target = spec.partition(":")
    if not colon or not target:
        raise ValueError(f"a system is NAME:TARGET, e.g. kanal:memory://; got {spec!r}")
    _discover()
    factory = _factories.get(name)
    if factory is None:
        raise ValueError(f"unknown benchmark system {name!r}; known: {', '.join(names())}")
    return factory(target)


def _discover() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
