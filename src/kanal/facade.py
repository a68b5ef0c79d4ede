"""What :class:`~kanal.Queue` and :class:`~kanal.AsyncQueue` share besides their methods."""

from __future__ import annotations

from kanal.operations import Context
from kanal.settings import Settings
from kanal.spi import Backend
from kanal.url import redact


class QueueBase:
    """Holds the backend, the settings and the (redacted) URL."""

    def __init__(self, backend: Backend, *, settings: Settings | None = None, url: str | None = None) -> None:
        self._ctx = Context(backend, settings or Settings())
        self._url = None if url is None else redact(url)

    @property
    def backend(self) -> Backend:
        """The backend this queue runs on."""
        return self._ctx.backend

    @property
    def settings(self) -> Settings:
        """The connection-wide options."""
        return self._ctx.settings

    @property
    def url(self) -> str | None:
        """The URL this queue was connected with, password redacted."""
        return self._url

    def __repr__(self) -> str:
        where = self._url or type(self._ctx.backend).__name__
        return f"<{type(self).__name__} {where}>"
