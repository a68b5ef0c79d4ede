"""How the ``kanal`` commands print: JSON for scripts, rich tables and progress for people."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kanal.models import Job, JobState, QueueStats, StateCounts

#: How much of a payload or an error a job table shows.
PREVIEW = 60


def echo_json(value: Any) -> None:
    """Print ``value`` as JSON; datetimes become ISO 8601 text."""
    click.echo(json.dumps(value, indent=2, default=_iso))


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def job_json(job: Job) -> dict[str, Any]:
    """Every field of ``job``, as JSON values (datetimes still to be formatted by :func:`echo_json`)."""
    return dataclasses.asdict(job)


def counts_json(counts: StateCounts) -> dict[str, int]:
    """``{state: count}`` for every state, and ``total``."""
    return {state.value: counts[state] for state in JobState} | {"total": counts.total}


def stats_json(stats: QueueStats) -> dict[str, Any]:
    """A queue's counts, paused flag and counts per key."""
    keys = {key: counts_json(counts) for key, counts in stats.keys.items()}
    return {"queue": stats.queue, "paused": stats.paused, **counts_json(stats), "keys": keys}


def jobs_count(n: int, adjective: str = "") -> str:
    """``"1 job"``, ``"3 dead jobs"``."""
    return f"{n} {adjective + ' ' if adjective else ''}job{'' if n == 1 else 's'}"


def progress(console: Console, **options: Any) -> Progress:
    """A progress bar with a description, a count of the total, and the time taken."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, **options)


def _list(title: str, caption: str | None = None) -> Table:
    """A table of many rows, compact enough for 80 columns."""
    return Table(title=title, caption=caption, box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)


def stats_table(all_stats: list[QueueStats], title: str, caption: str | None = None) -> Table:
    """One row per queue (and per key with counts of its own) with its counts per state."""
    table = _list(title, caption)
    table.add_column("queue")
    for header in [state.value for state in JobState] + ["total"]:
        table.add_column(header, justify="right", min_width=len(header))
    for stats in all_stats:
        table.add_row(stats.queue + (" (paused)" if stats.paused else ""), *_counts(stats))
        for key, counts in stats.keys.items():
            table.add_row(f"  key {key}", *_counts(counts), style="dim")
    return table


def _counts(counts: StateCounts) -> list[str]:
    return [str(counts[state]) for state in JobState] + [str(counts.total)]


#: What a job table can show: header, and the cell of one job.
JOB_COLUMNS: dict[str, Callable[[Job], str]] = {
    "id": lambda job: job.id,
    "state": lambda job: job.state.value,
    "pri": lambda job: str(job.priority),
    "key": lambda job: job.key or "",
    "tries": lambda job: f"{job.attempts}/{job.max_attempts or '∞'}",
    "finished": lambda job: "" if job.finished_at is None else f"{job.finished_at:%Y-%m-%d %H:%M:%S}",
    "payload": lambda job: _cut(json.dumps(job.payload)),
    "last error": lambda job: _cut(job.last_error or ""),
}


def jobs_table(jobs: list[Job], title: str, columns: Sequence[str]) -> Table:
    """A page of jobs, one row each, with these :data:`JOB_COLUMNS`; long texts cut short."""
    table = _list(title)
    for header in columns:
        numeric = header in ("pri", "tries")
        table.add_column(header, justify="right" if numeric else "left", no_wrap=header in ("id", "finished"))
    for job in jobs:
        table.add_row(*(JOB_COLUMNS[header](job) for header in columns))
    return table


def print_jobs(jobs: list[Job], as_json: bool, title: str, columns: Sequence[str]) -> None:
    """Print a page of jobs: every field as JSON, or a table with these :data:`JOB_COLUMNS`."""
    if as_json:
        echo_json([job_json(job) for job in jobs])
    else:
        Console().print(jobs_table(jobs, title, columns))


def _cut(text: str) -> str:
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def job_table(job: Job) -> Table:
    """Every field of one job, one row each."""
    table = Table(title=f"job {job.id} in queue {job.queue}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field in dataclasses.fields(job):
        value = getattr(job, field.name)
        if field.name in ("payload", "result"):
            shown = json.dumps(value, indent=2)
        elif value is None:
            shown = "-"
        elif isinstance(value, datetime):
            shown = value.isoformat()
        else:
            shown = str(value)
        table.add_row(field.name, shown)
    return table
