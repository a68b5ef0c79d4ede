"""Clocks for the memory backend: the system clock, or a fake one that tests move by hand."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from kanal.errors import InvalidArgument


class Clock(Protocol):
    """Epoch seconds, as the memory backend's "server time"."""

    #: False when the clock moves only when told to (waits then use real time only).
    follows_real_time: bool

    def now(self) -> float: ...

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever the clock is moved by hand."""


class SystemClock:
    """The wall clock (``time.time()``)."""

    follows_real_time = True

    def now(self) -> float:
        return time.time()

    def subscribe(self, callback: Callable[[], None]) -> None:
        """The system clock is never moved by hand, so there is nothing to report."""


class FakeClock:
    """A clock that stands still until :meth:`advance` or :meth:`set` moves it.

    Give it to the memory backend (``kanal.connect("memory://", clock=clock)``) and unit
    tests can check delays, lease expiry, retries and rate limits without sleeping.
    Moving the clock wakes consumers blocked in ``dequeue(wait=...)``.
    """

    follows_real_time = False

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = _finite("start", start)
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def now(self) -> float:
        return self._now

    def subscribe(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks.append(callback)

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (>= 0) and return the new time."""
        if _finite("seconds", seconds) < 0:
            raise InvalidArgument(f"a clock only moves forward; got seconds={seconds!r}")
        return self.set(self._now + seconds)

    def set(self, now: float) -> float:
        """Move the clock to ``now`` (never backwards) and return it."""
        if _finite("now", now) < self._now:
            raise InvalidArgument(f"a clock only moves forward: {now!r} < {self._now!r}")
        with self._lock:
            self._now = float(now)
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()
        return self._now


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a finite number, got {value!r}")
    return float(value)
