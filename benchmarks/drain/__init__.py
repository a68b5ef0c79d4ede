"""Whole-worker drain benchmark: each system's real worker runs N ready no-op jobs (see README.md).

A system here is a worker bound to one backend: ``NAME:URL`` builds ``NAME``'s factory(URL).
Modules in this package register factories with :func:`register`, importing optional drivers
inside the factory, as :mod:`benchmarks.systems` does for the protocol-level harness.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from urllib.parse import urlsplit

from benchmarks.drain.base import Drain

#: Builds a system from the URL after ``NAME:``.
DrainFactory = Callable[[str], Drain]

_factories: dict[str, DrainFactory] = {}
#: Modules of this package that hold no systems.
_HELPERS = {"base", "runner"}
#: URL schemes that name the same backend (the base of ratios is per backend).
_SCHEMES = {"rediss": "redis", "postgres": "postgresql", "mariadb": "mysql"}


def register(name: str) -> Callable[[DrainFactory], DrainFactory]:
    """Register the decorated factory as system ``name``."""

    def decorate(factory: DrainFactory) -> DrainFactory:
        if name in _factories:
            raise ValueError(f"drain system {name!r} is registered twice")
        _factories[name] = factory
        return factory

    return decorate


def names() -> list[str]:
    """Every registered system name, sorted."""
    _discover()
    return sorted(_factories)


def split(spec: str) -> tuple[str, str]:
    """``NAME:URL`` as (name, url)."""
    name, colon, url = spec.partition(":")
    if not colon or not url:
        raise ValueError(f"a system is NAME:URL, e.g. kanal:redis://127.0.0.1:6379/0; got {spec!r}")
    return name, url


def create(spec: str) -> Drain:
    """Build the system that ``spec`` (``NAME:URL``) names."""
    name, url = split(spec)
    _discover()
    factory = _factories.get(name)
    if factory is None:
        raise ValueError(f"unknown drain system {name!r}; known: {', '.join(names())}")
    return factory(url)


def backend_of(spec: str) -> str:
    """The backend a system runs on: its URL's scheme without a driver suffix (``redis``,
    ``postgresql``, ``mysql``, ``sqlite``)."""
    scheme = urlsplit(split(spec)[1]).scheme.split("+")[0]
    return _SCHEMES.get(scheme, scheme)


def _discover() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _HELPERS:
            importlib.import_module(f"{__name__}.{module.name}")
