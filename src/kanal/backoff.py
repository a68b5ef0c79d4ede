"""How long a failed task waits before its next attempt: exponential backoff with jitter."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from kanal import validation
from kanal.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class Backoff:
    """``initial * factor ** (attempt - 1)`` seconds, at most ``maximum``, spread by ``jitter``.

    ``jitter=0.25`` picks each delay at random within 25% below or above the exponential
    value, so jobs that failed together do not all come back at the same moment.
    ``Backoff(5, factor=1)`` retries every 5 seconds.
    """

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 3600.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        validation.seconds("backoff initial", self.initial)
        validation.seconds("backoff maximum", self.maximum)
        if isinstance(self.factor, bool) or not isinstance(self.factor, int | float) or self.factor < 1:
            raise InvalidArgument(f"backoff factor must be a number >= 1, got {self.factor!r}")
        if (
            isinstance(self.jitter, bool)
            or not isinstance(self.jitter, int | float)
            or not 0 <= self.jitter <= 1
        ):
            raise InvalidArgument(f"backoff jitter must be between 0 and 1, got {self.jitter!r}")

    def delay(self, attempt: int, rng: Callable[[float, float], float] = random.uniform) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first delivery)."""
        exponent = min(max(attempt, 1) - 1, 64)
        base = min(self.maximum, self.initial * self.factor**exponent)
        return min(self.maximum, base * rng(1 - self.jitter, 1 + self.jitter))


#: What ``@app.task(backoff=...)`` accepts: a :class:`Backoff`, a fixed number of seconds,
#: a timedelta, or a function of the attempt number returning seconds.
BackoffLike = Backoff | float | timedelta | Callable[[int], float]


def as_backoff(value: BackoffLike) -> Callable[[int], float]:
    """The delay function for ``value``, checked now (a bad value fails at task definition)."""
    if isinstance(value, Backoff):
        return value.delay
    if isinstance(value, int | float | timedelta):
        fixed = validation.seconds("backoff", value)
        return lambda attempt: fixed
    if callable(value):
        return value
    raise InvalidArgument(
        f"backoff must be a Backoff, seconds, a timedelta or a function of the attempt, got {value!r}"
    )
