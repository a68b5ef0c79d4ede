"""Commands on single jobs: ``kanal enqueue``, ``kanal inspect``, ``kanal jobs`` and ``kanal cancel``."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console

import kanal
from kanal.cli.options import (
    FiniteFloat,
    connected,
    json_option,
    key_option,
    page_options,
    parse_json,
    states_option,
    url_option,
)
from kanal.cli.output import echo_json, job_json, job_table, print_jobs, progress
from kanal.settings import DEFAULT_LEASE_TIMEOUT, DEFAULT_MAX_ATTEMPTS
from kanal.tasks import TASK_NAME, task_payload
from kanal.validation import INT32, MAX_BATCH


class MaxAttempts(click.IntRange):
    """A number of deliveries (at least 1), or ``unlimited`` (None)."""

    name = "integer"

    def __init__(self) -> None:
        super().__init__(min=1)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.lower() == "unlimited":
            return None
        return super().convert(value, param, ctx)


@click.command()
@click.argument("queue")
@click.argument("payload", required=False)
@click.option("--id", "job_id", help="Your job id; enqueueing an id that is kept already changes nothing.")
@click.option("--delay", type=FiniteFloat(min=0), help="Seconds to hold the job back.")
@click.option(
    "--priority", type=click.IntRange(*INT32), default=0, show_default=True, help="Lower runs first."
)
@click.option("--key", help="Sub-queue or tenant key, for per-key limits.")
@click.option(
    "--max-attempts",
    type=MaxAttempts(),
    metavar="N|unlimited",
    default=DEFAULT_MAX_ATTEMPTS,
    show_default=True,
    help="Deliveries before the job is dead-lettered, or 'unlimited'.",
)
@click.option(
    "--lease-timeout",
    type=FiniteFloat(min=0, min_open=True),
    default=DEFAULT_LEASE_TIMEOUT,
    show_default=True,
    help="Seconds each delivery lasts.",
)
@click.option("--lines", is_flag=True, help="With PAYLOAD '-': one JSON payload per line of stdin.")
@click.option("--task", help="Enqueue a call of this task instead of a PAYLOAD.")
@click.option(
    "--arg", "args", multiple=True, metavar="JSON", help="A positional argument of --task (repeatable)."
)
@click.option(
    "--kwarg", "kwargs", multiple=True, metavar="NAME=JSON", help="A keyword argument of --task (repeatable)."
)
@url_option
@json_option
def enqueue(
    queue: str,
    payload: str | None,
    job_id: str | None,
    delay: float | None,
    priority: int,
    key: str | None,
    max_attempts: int | None,
    lease_timeout: float,
    lines: bool,
    task: str | None,
    args: tuple[str, ...],
    kwargs: tuple[str, ...],
    url: str,
    as_json: bool,
) -> None:
    """Add a job to QUEUE and print its id.

    PAYLOAD is JSON text (a string needs quotes), or - to read one JSON value from stdin;
    with --lines, every line of stdin is a payload, enqueued in batches. With --task, the
    payload is a task call, {"task": NAME, "args": [...], "kwargs": {...}}, and PAYLOAD is
    not given. Nothing is written if any input is invalid.

    \b
    Examples:
      kanal enqueue email '{"to": "a@example.com"}' --delay 30 --key user-42
      kanal enqueue reports --task reports.weekly --arg 2024 --kwarg 'fmt="pdf"'
      produce-jobs | kanal enqueue email - --lines
    """
    if lines and job_id is not None:
        raise click.UsageError("--id names one job; it cannot be used with --lines")
    payloads = _payloads(payload, lines, task, args, kwargs)
    options: dict[str, Any] = {
        "delay": delay,
        "priority": priority,
        "key": key,
        "max_attempts": max_attempts,
        "lease_timeout": lease_timeout,
    }
    with connected(url) as q:
        if lines:
            _check_sizes(q, payloads)
            enqueued = _enqueue_all(q, queue, [kanal.JobSpec(p, **options) for p in payloads])
        else:
            enqueued = [q.enqueue(queue, payloads[0], id=job_id, **options)]
    if as_json:
        echo_json([job_json(job) for job in enqueued] if lines else job_json(enqueued[0]))
    else:
        for job in enqueued:
            click.echo(job.id)


def _payloads(
    payload: str | None, lines: bool, task: str | None, args: tuple[str, ...], kwargs: tuple[str, ...]
) -> list[Any]:
    """The payloads the arguments describe: one, or with --lines one per line of stdin."""
    if task is not None:
        if payload is not None or lines:
            raise click.UsageError("give either --task or a PAYLOAD, not both")
        return [_task_call(task, args, kwargs)]
    if args or kwargs:
        raise click.UsageError("--arg and --kwarg go with --task")
    if payload is None:
        raise click.UsageError("missing PAYLOAD (JSON text, or - for stdin) or --task")
    if lines and payload != "-":
        raise click.UsageError("--lines reads stdin: give PAYLOAD as -")
    if payload != "-":
        return [parse_json(payload, "PAYLOAD")]
    text = sys.stdin.read()
    if not lines:
        return [parse_json(text, "PAYLOAD (stdin)")]
    return [
        parse_json(line, f"PAYLOAD (stdin line {number})")
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip()
    ]


def _task_call(task: str, args: tuple[str, ...], kwargs: tuple[str, ...]) -> dict[str, Any]:
    """The task layer's payload for calling ``task(*args, **kwargs)``."""
    if not TASK_NAME.fullmatch(task):
        raise click.BadParameter(f"{task!r}: use 1-100 of letters, digits, _ . : -", param_hint="--task")
    named: dict[str, Any] = {}
    for item in kwargs:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise click.BadParameter(f"{item!r} is not NAME=JSON", param_hint="--kwarg")
        if name in named:
            raise click.BadParameter(f"{name!r} is given twice", param_hint="--kwarg")
        named[name] = parse_json(value, f"--kwarg {name}")
    return task_payload(task, [parse_json(arg, "--arg") for arg in args], named)


def _check_sizes(queue: kanal.Queue, payloads: list[Any]) -> None:
    """Refuse the whole input if any payload is over the size limit, before the first batch
    is written (enqueue_many checks one batch at a time)."""
    limit = queue.settings.max_payload_bytes
    for number, payload in enumerate(payloads, 1):
        size = len(queue.settings.serializer.dumps(payload))
        if size > limit:
            raise click.BadParameter(
                f"payload {number} is {size} bytes encoded, over the limit of {limit}", param_hint="PAYLOAD"
            )


def _enqueue_all(queue: kanal.Queue, name: str, specs: list[kanal.JobSpec]) -> list[kanal.Job]:
    """Enqueue ``specs`` in batches, with a progress bar on a terminal."""
    console = Console(stderr=True)
    jobs: list[kanal.Job] = []
    with progress(console, disable=not console.is_terminal) as bar:
        task = bar.add_task(f"enqueueing to {name}", total=len(specs))
        for start in range(0, len(specs), MAX_BATCH):
            jobs += queue.enqueue_many(name, specs[start : start + MAX_BATCH])
            bar.update(task, completed=len(jobs))
    return jobs


@click.command("inspect")
@click.argument("queue")
@click.argument("job_id")
@url_option
@json_option
def inspect_job(queue: str, job_id: str, url: str, as_json: bool) -> None:
    """Show every field of one job.

    \b
    Example:
      kanal inspect email 01J9Z5Q3K8M2N4P6R8T0V2X4Y6
    """
    with connected(url) as q:
        job = q.get(queue, job_id)
    if job is None:
        raise click.ClickException(f"no job {job_id!r} in queue {queue!r}")
    if as_json:
        echo_json(job_json(job))
    else:
        Console().print(job_table(job))


@click.command("jobs")
@click.argument("queue")
@states_option
@key_option
@page_options
@url_option
@json_option
def list_jobs(
    queue: str, states: tuple[str, ...], key: str | None, limit: int, offset: int, url: str, as_json: bool
) -> None:
    """List the jobs of QUEUE, oldest first.

    \b
    Examples:
      kanal jobs email --state ready --state scheduled --limit 20
      kanal jobs email --key user-42 --json
    """
    with connected(url) as q:
        found = q.list_jobs(queue, states=states or None, key=key, limit=limit, offset=offset)
    print_jobs(found, as_json, f"jobs in {queue}", ("id", "state", "pri", "key", "tries", "payload"))


@click.command()
@click.argument("queue")
@click.argument("job_id")
@click.option("--force", is_flag=True, help="Cancel a leased (running) job too; its lease goes stale.")
@url_option
@json_option
def cancel(queue: str, job_id: str, force: bool, url: str, as_json: bool) -> None:
    """Cancel a scheduled or ready job (with --force, a leased one too).

    \b
    Example:
      kanal cancel email 01J9Z5Q3K8M2N4P6R8T0V2X4Y6
    """
    with connected(url) as q:
        job = q.cancel(queue, job_id, force=force)
    if as_json:
        echo_json(job_json(job))
    else:
        click.echo(f"job {job.id} in queue {job.queue} is {job.state.value}")
