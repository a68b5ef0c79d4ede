"""``kanal.connect(url)`` and ``kanal.connect_async(url)``: a URL in, a queue client out."""

from __future__ import annotations

from typing import Any

from kanal import registry
from kanal.async_queue import AsyncQueue
from kanal.queue import Queue
from kanal.serializers import JSONSerializer, Serializer
from kanal.settings import DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_RESULT_TTL, Settings
from kanal.spi import Backend


def connect(
    url: str,
    *,
    serializer: Serializer | None = None,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    result_ttl: float = DEFAULT_RESULT_TTL,
    **backend_options: Any,
) -> Queue:
    """A blocking :class:`~kanal.Queue` on the backend that ``url``'s scheme names.

    ``memory://``, ``redis://``, ``postgresql+psycopg://``, ``sqlite:///jobs.db`` …;
    other keyword arguments go to the backend (e.g. ``clock=FakeClock()`` for memory).
    """
    settings = Settings(serializer or JSONSerializer(), max_payload_bytes, result_ttl)
    return Queue(open_backend(url, backend_options), settings=settings, url=url)


def connect_async(
    url: str,
    *,
    serializer: Serializer | None = None,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    result_ttl: float = DEFAULT_RESULT_TTL,
    **backend_options: Any,
) -> AsyncQueue:
    """An :class:`~kanal.AsyncQueue`; use it as ``async with kanal.connect_async(url) as q``."""
    settings = Settings(serializer or JSONSerializer(), max_payload_bytes, result_ttl)
    return AsyncQueue(open_backend(url, backend_options), settings=settings, url=url)


def open_backend(url: str, options: dict[str, Any]) -> Backend:
    """The backend that the scheme of ``url`` names, opened with ``options``."""
    return registry.resolve(url)(url, **options)
