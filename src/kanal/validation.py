"""Argument checks that run before any I/O, so bad input writes nothing.

Names are checked against fixed patterns (no key or SQL injection is possible: values are
always passed as script arguments or bound parameters, and names cannot contain key
separators, hash-tag braces, quotes or whitespace).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sized
from datetime import datetime, timedelta
from typing import Any

from kanal.errors import InvalidArgument, InvalidName
from kanal.models import EACH_KEY, JobState

QUEUE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
#: Job ids and keys also allow ``:``, ``@``, ``+`` and ``=`` (e.g. ``user:42``, e-mail addresses).
IDENTIFIER = re.compile(r"[A-Za-z0-9_.:@+=-]{1,128}")
_ID_CHARS = "letters, digits, _ . - : @ + ="
INT32 = (-(2**31), 2**31 - 1)
MAX_BATCH = 1000


def queue_name(value: object) -> str:
    """A queue name: 1-128 of ``A-Z a-z 0-9 _ . -``."""
    return _match(QUEUE_NAME, "queue name", value, "letters, digits, _ . -")


def queue_names(value: object) -> tuple[str, ...]:
    """One queue name or a non-empty sequence of distinct names."""
    names = (value,) if isinstance(value, str) else _sequence("queues", value)
    if not names:
        raise InvalidArgument("queues must name at least one queue")
    checked = tuple(queue_name(n) for n in names)
    if len(set(checked)) != len(checked):
        raise InvalidArgument(f"queues must not repeat a name, got {list(checked)!r}")
    return checked


def job_id(value: object) -> str:
    """A job id: 1-128 of ``A-Z a-z 0-9 _ . - : @ + =``."""
    return _match(IDENTIFIER, "job id", value, _ID_CHARS)


def key(value: object, *, allow_each: bool = False) -> str | None:
    """A job's key (None for none); ``EACH_KEY`` only where a limit scope is meant."""
    if value is None or (allow_each and value == EACH_KEY):
        return value
    return _match(IDENTIFIER, "key", value, _ID_CHARS)


def seconds(name: str, value: object, *, allow_zero: bool = True) -> float:
    """A finite, non-negative (or positive) number of seconds; a timedelta is accepted."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a finite number of seconds, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidArgument(f"{name} must be {bound} seconds, got {value!r}")
    return float(value)


def optional_seconds(name: str, value: object, *, allow_zero: bool = True) -> float | None:
    """Like :func:`seconds`, but None passes through."""
    return None if value is None else seconds(name, value, allow_zero=allow_zero)


def integer(name: str, value: object, *, low: int, high: int) -> int:
    """An int (not a bool) within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise InvalidArgument(f"{name} must be between {low} and {high}, got {value!r}")
    return value


def flag(name: str, value: object) -> bool:
    """A bool (not a truthy stand-in such as ``1`` or ``"yes"``)."""
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name} must be True or False, got {value!r}")
    return value


def priority(value: object) -> int:
    """A priority: a 32-bit int, lower runs first."""
    return integer("priority", value, low=INT32[0], high=INT32[1])


def max_attempts(value: object) -> int | None:
    """Deliveries before dead-lettering: an int >= 1, or None for no limit."""
    return None if value is None else integer("max_attempts", value, low=1, high=INT32[1])


def batch_limit(value: object) -> int:
    """How many jobs one call may take: 1 to :data:`MAX_BATCH`."""
    return integer("limit", value, low=1, high=MAX_BATCH)


def run_at(value: object) -> float:
    """An absolute time as epoch seconds; naive datetimes are rejected (ambiguous zone)."""
    if not isinstance(value, datetime):
        raise InvalidArgument(f"run_at must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgument("run_at must be timezone-aware (e.g. datetime.now(UTC))")
    return value.timestamp()


def schedule(delay: object, when: object) -> tuple[float, float | None]:
    """``(delay seconds, absolute run_at or None)``: at most one of the two may be given."""
    if delay is not None and when is not None:
        raise InvalidArgument("give either delay or run_at, not both")
    if when is not None:
        return 0.0, run_at(when)
    return seconds("delay", 0 if delay is None else delay), None


def states(value: object, name: str = "states") -> tuple[JobState, ...]:
    """A state or a non-empty sequence of states; None means every state."""
    if value is None:
        return tuple(JobState)
    items = (value,) if isinstance(value, str) else _sequence(name, value)
    if not items:
        raise InvalidArgument(f"{name} must name at least one state (None means every state)")
    try:
        return tuple(dict.fromkeys(JobState(str(s)) for s in items))
    except ValueError:
        allowed = ", ".join(s.value for s in JobState)
        raise InvalidArgument(f"{name} must be among {allowed}; got {value!r}") from None


def bounded(name: str, value: object, limit: int = MAX_BATCH) -> list[Any]:
    """The items of an iterable, refusing more than ``limit`` (never reads past ``limit + 1``)."""
    if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
        raise InvalidArgument(f"{name} must be an iterable, got {type(value).__name__}")
    items = list(itertools.islice(value, limit + 1))
    if len(items) > limit:
        given = len(value) if isinstance(value, Sized) else f"more than {limit}"
        raise InvalidArgument(f"at most {limit} {name} per call, got {given}")
    return items


def _match(pattern: re.Pattern[str], what: str, value: object, allowed: str) -> str:
    if not isinstance(value, str):
        raise InvalidName(f"{what} must be a string, got {type(value).__name__}")
    if not pattern.fullmatch(value):
        raise InvalidName(
            f"invalid {what} {value[:40]!r}{'...' if len(value) > 40 else ''}: "
            f"use 1-128 ASCII characters: {allowed}"
        )
    return value


def _sequence(name: str, value: object) -> tuple[object, ...]:
    if isinstance(value, bytes | bytearray) or not isinstance(value, Iterable):
        raise InvalidArgument(f"{name} must be a sequence, got {type(value).__name__}")
    return tuple(value)
