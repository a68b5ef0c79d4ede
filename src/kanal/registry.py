"""Backends by URL scheme, found through the ``kanal.backends`` entry-point group.

Lookup tries the exact scheme, then the part before ``+``: ``postgresql+psycopg://``
resolves to the backend registered as ``postgresql``, which receives the whole URL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from kanal.errors import UnknownScheme
from kanal.spi import Backend
from kanal.url import redact, scheme_of

GROUP = "kanal.backends"

#: Builds a backend from the full URL and the backend's own options.
BackendFactory = Callable[..., Backend]

#: What to install for schemes kanal knows about but that are not installed.
INSTALL_HINTS = {
    "redis": 'pip install "kanal[redis]"',
    "rediss": 'pip install "kanal[redis]"',
    "postgresql": 'pip install "kanal[postgres]"',
    "postgres": 'pip install "kanal[postgres]"',
    "mysql": 'pip install "kanal[mysql]"',
    "mariadb": 'pip install "kanal[mysql]"',
    "sqlite": 'pip install "kanal[sqlite]"',
}

_registered: dict[str, BackendFactory] = {}
_lock = threading.Lock()


def register_backend(scheme: str, factory: BackendFactory) -> None:
    """Register ``factory`` for ``scheme`` in this process (overrides entry points)."""
    with _lock:
        _registered[scheme.lower()] = factory


def unregister_backend(scheme: str) -> None:
    """Remove an in-process registration (entry points are unaffected)."""
    with _lock:
        _registered.pop(scheme.lower(), None)


def installed_schemes() -> list[str]:
    """Every scheme a URL may use here, sorted."""
    return sorted({ep.name for ep in entry_points(group=GROUP)} | set(_registered))


def resolve(url: str) -> BackendFactory:
    """The factory for ``url``'s scheme, or :class:`UnknownScheme` saying what to install."""
    scheme = scheme_of(url)
    for candidate in dict.fromkeys((scheme, scheme.split("+", 1)[0])):
        factory = _registered.get(candidate) or _load_entry_point(candidate)
        if factory is not None:
            return factory
    base = scheme.split("+", 1)[0]
    hint = INSTALL_HINTS.get(base)
    message = (
        f"no kanal backend handles {scheme!r} (URL {redact(url)!r}); "
        f"installed schemes: {', '.join(installed_schemes())}"
    )
    raise UnknownScheme(message + (f"; to use {base}://, run: {hint}" if hint else ""))


def _load_entry_point(scheme: str) -> BackendFactory | None:
    for ep in entry_points(group=GROUP, name=scheme):
        factory: Any = ep.load()
        return factory  # type: ignore[no-any-return]
    return None
