"""Drivers that run a backend's pure protocol logic over a sync or async transport.

A backend operation is a generator (a *flow*): it yields *calls* (plain data: a Lua
script with keys and arguments, a SQL statement, a wait) and receives each call's reply.
The logic is written once; :func:`run_sync` and :func:`run_async` are the only places
where sync and async differ. An error raised by a transport is thrown into the flow,
so a flow can recover from it (for example reload a script after NOSCRIPT).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

#: A protocol step: yields calls, is sent their replies, returns the operation's result.
Flow = Generator[Any, Any, T]


class SyncTransport(Protocol):
    """Runs one call against the backend and returns its reply (blocking)."""

    def run(self, call: Any) -> Any: ...

    def close(self) -> None: ...


class AsyncTransport(Protocol):
    """Runs one call against the backend and returns its reply (awaitable)."""

    async def run(self, call: Any) -> Any: ...

    async def close(self) -> None: ...


def run_sync(flow: Flow[T], transport: SyncTransport) -> T:
    """Drive ``flow`` to completion with a blocking transport."""
    try:
        call = next(flow)
        while True:
            try:
                reply = transport.run(call)
            except Exception as exc:  # handed to the flow, which may recover
                call = flow.throw(exc)
            else:
                call = flow.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def run_async(flow: Flow[T], transport: AsyncTransport) -> T:
    """Drive ``flow`` to completion with an async transport."""
    try:
        call = next(flow)
        while True:
            try:
                reply = await transport.run(call)
            except Exception as exc:  # handed to the flow, which may recover
                call = flow.throw(exc)
            else:
                call = flow.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
