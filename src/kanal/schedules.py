"""When periodic tasks run: every N seconds, or on a cron expression (croniter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from kanal import validation
from kanal.errors import InvalidArgument

#: Ticks of :class:`Every` are whole multiples of its period since this moment.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Schedule(Protocol):
    """The tick times of a periodic task. Every worker computes the same ticks."""

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after ``moment`` (an aware datetime)."""
        ...

    def describe(self) -> str:
        """A short human description, e.g. ``every 60s`` or ``cron '*/5 * * * *' UTC``."""
        ...


@dataclass(frozen=True, slots=True)
class Every:
    """Ticks ``seconds`` apart, aligned on the Unix epoch (so all workers agree on them)."""

    seconds: float

    def __post_init__(self) -> None:
        validation.seconds("every", self.seconds, allow_zero=False)

    def next_after(self, moment: datetime) -> datetime:
        period = max(round(self.seconds * 1_000_000), 1)
        micros = (moment - EPOCH) // timedelta(microseconds=1)
        return EPOCH + timedelta(microseconds=(micros // period + 1) * period)

    def describe(self) -> str:
        return f"every {self.seconds:g}s"


@dataclass(frozen=True, slots=True)
class Cron:
    """Ticks on a cron expression (five fields, or six with seconds) in time zone ``tz``."""

    expression: str
    tz: str = "UTC"
    _zone: tzinfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.expression, str) or not croniter.is_valid(self.expression):
            raise InvalidArgument(
                f"invalid cron expression {self.expression!r}: expected five fields "
                "'minute hour day-of-month month day-of-week', e.g. '*/5 * * * *'"
            )
        try:
            zone: tzinfo = UTC if self.tz == "UTC" else ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise InvalidArgument(f"unknown time zone {self.tz!r}, e.g. 'UTC' or 'Europe/Berlin'") from None
        object.__setattr__(self, "_zone", zone)

    def next_after(self, moment: datetime) -> datetime:
        found: datetime = croniter(self.expression, moment.astimezone(self._zone)).get_next(datetime)
        return found.astimezone(UTC)

    def describe(self) -> str:
        return f"cron {self.expression!r} {self.tz}"


def schedule_of(every: float | timedelta | None, cron: str | None, tz: str) -> Schedule:
    """The schedule for ``@app.periodic(every=...)`` or ``@app.periodic(cron=...)``."""
    if (every is None) == (cron is None):
        raise InvalidArgument("give exactly one of every= (seconds) or cron= (an expression)")
    if cron is not None:
        return Cron(cron, tz)
    assert every is not None
    return Every(validation.seconds("every", every, allow_zero=False))


def tick_id(task: str, tick: datetime) -> str:
    """The job id of one tick of ``task``: the same in every worker, so it is enqueued once."""
    stamp = tick.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    micros = tick.microsecond
    return f"{task}@{stamp}" + (f".{micros:06d}" if micros else "")


def tick_of(job_id: str) -> datetime:
    """The tick a :func:`tick_id` names."""
    stamp = job_id.rpartition("@")[2]
    fmt = "%Y%m%dT%H%M%S.%f" if "." in stamp else "%Y%m%dT%H%M%S"
    return datetime.strptime(stamp, fmt).replace(tzinfo=UTC)
