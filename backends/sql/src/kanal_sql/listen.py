"""PostgreSQL LISTEN connections for blocking waits, kept in a small pool per transport.

Each waiting thread or task takes its own listening connection (psycopg, autocommit),
so waits never share a socket. A connection is listening before the wait's check runs,
so a NOTIFY committed between the check and the wait still wakes it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from psycopg import sql

from kanal.errors import BackendUnavailable
from kanal_sql.config import SQLConfig

#: How long a pooled listener looks for notifications left over from an earlier wait.
_DRAIN = 0.0001


def _conninfo(config: SQLConfig) -> str:
    return config.sync_url.set(drivername="postgresql").render_as_string(hide_password=False)


def _unreachable(config: SQLConfig, exc: psycopg.Error) -> BackendUnavailable:
    return BackendUnavailable(f"cannot reach the database at {config.shown}: {exc}")


class SyncListeners:
    """Listening connections for blocking waits."""

    def __init__(self, config: SQLConfig, channel: str) -> None:
        self._config = config
        self._listen = sql.SQL("LISTEN {}").format(sql.Identifier(channel))
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()

    def acquire(self) -> psycopg.Connection[Any]:
        """A listening connection with nothing pending."""
        with self._lock:
            listener = self._idle.pop() if self._idle else None
        if listener is not None:
            for _ in listener.notifies(timeout=_DRAIN):
                pass
            return listener
        try:
            listener = psycopg.connect(_conninfo(self._config), autocommit=True)
            listener.execute(self._listen)
        except psycopg.Error as exc:
            raise _unreachable(self._config, exc) from None
        return listener

    def wait(self, listener: psycopg.Connection[Any], channels: tuple[str, ...], timeout: float) -> None:
        """Block until a notification names one of ``channels``, or ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            for note in listener.notifies(timeout=remaining, stop_after=1):
                if note.payload in channels:
                    return

    def release(self, listener: psycopg.Connection[Any], broken: bool) -> None:
        """Give ``listener`` back (a broken one is closed)."""
        if broken:
            listener.close()
        else:
            with self._lock:
                self._idle.append(listener)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for listener in idle:
            listener.close()


class AsyncListeners:
    """Listening connections for waits on an event loop."""

    def __init__(self, config: SQLConfig, channel: str) -> None:
        self._config = config
        self._listen = sql.SQL("LISTEN {}").format(sql.Identifier(channel))
        self._idle: list[psycopg.AsyncConnection[Any]] = []

    async def acquire(self) -> psycopg.AsyncConnection[Any]:
        """A listening connection with nothing pending."""
        if self._idle:
            listener = self._idle.pop()
            async for _ in listener.notifies(timeout=_DRAIN):
                pass
            return listener
        try:
            listener = await psycopg.AsyncConnection.connect(_conninfo(self._config), autocommit=True)
            await listener.execute(self._listen)
        except psycopg.Error as exc:
            raise _unreachable(self._config, exc) from None
        return listener

    async def wait(
        self, listener: psycopg.AsyncConnection[Any], channels: tuple[str, ...], timeout: float
    ) -> None:
        """Block until a notification names one of ``channels``, or ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            async for note in listener.notifies(timeout=remaining, stop_after=1):
                if note.payload in channels:
                    return

    async def release(self, listener: psycopg.AsyncConnection[Any], broken: bool) -> None:
        """Give ``listener`` back (a broken one is closed)."""
        if broken:
            await listener.close()
        else:
            self._idle.append(listener)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for listener in idle:
            await listener.close()
