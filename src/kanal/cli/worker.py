"""``kanal worker``: run the tasks of an app."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import threading
from dataclasses import asdict

import click

from kanal import logs
from kanal.app import App
from kanal.errors import KanalError


@click.command()
@click.argument("app_path", metavar="MODULE[:APP]")
@click.option("--url", help="Backend URL instead of the app's own (passwords are never shown).")
@click.option(
    "--queue",
    "-q",
    "queues",
    multiple=True,
    help="Serve this queue (repeatable, in priority order; default: the queues of the app's tasks).",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 10_000),
    default=10,
    show_default=True,
    help="Jobs run at once.",
)
@click.option(
    "--batch", type=click.IntRange(1, 1000), help="Most jobs leased per call (default: --concurrency)."
)
@click.option(
    "--burst", is_flag=True, help="Work until no job is ready, then exit (for cron-started workers)."
)
@click.option(
    "--grace",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="Seconds running jobs get to finish on SIGTERM; the rest are given back.",
)
@click.option(
    "--poll",
    type=click.FloatRange(0, min_open=True),
    default=1.0,
    show_default=True,
    help="Seconds one blocking dequeue waits.",
)
@click.option(
    "--heartbeat",
    type=click.FloatRange(0, min_open=True),
    help="Seconds between lease renewals of a running job (default: half its lease).",
)
@click.option("--no-scheduler", is_flag=True, help="Do not enqueue the ticks of periodic tasks.")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object per line, with job_id, queue, task and attempt.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the worker's counts as JSON when it stops.")
def worker(
    app_path: str,
    url: str | None,
    queues: tuple[str, ...],
    concurrency: int,
    batch: int | None,
    burst: bool,
    grace: float,
    poll: float,
    heartbeat: float | None,
    no_scheduler: bool,
    log_level: str,
    log_format: str,
    as_json: bool,
) -> None:
    """Run the tasks of the App at MODULE:APP (APP defaults to ``app``) until SIGTERM or SIGINT.

    On SIGTERM or SIGINT the worker stops taking jobs, lets running ones finish for --grace
    seconds and gives the rest back; a second signal gives them back at once. With --burst it
    exits once no job is ready, so cron can start it (like dbbasic-queue's workers).

    \b
    Examples:
      kanal worker myapp.tasks:app --concurrency 20
      kanal worker myapp.tasks --queue email --queue default --burst
      kanal worker myapp.tasks --url postgresql://worker@db/app --log-format json
    """
    logs.configure(log_level, log_format)
    if url is not None:
        os.environ["KANAL_URL"] = url  # for an app made with App() and no URL of its own
    try:
        app = load_app(app_path)
        if url is not None:
            app.url = url
        work = app.worker(
            queues=queues or None,
            concurrency=concurrency,
            batch=batch,
            burst=burst,
            grace=grace,
            poll=poll,
            heartbeat=heartbeat,
            scheduler=not no_scheduler,
        )
        stats = asyncio.run(work.run())
    except KanalError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({**asdict(stats), "processed": stats.processed}))
    stuck = [t for t in threading.enumerate() if t.name.startswith("kanal-task")]
    if stuck:
        click.echo(
            f"{len(stuck)} sync task(s) ignored cancellation and still run; exiting without them", err=True
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def load_app(path: str) -> App:
    """Import ``module:attribute`` (attribute default ``app``) from the working directory."""
    module_name, _, attribute = path.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.BadParameter(f"cannot import {module_name!r}: {exc}", param_hint="MODULE[:APP]") from None
    found = getattr(module, attribute or "app", None)
    if not isinstance(found, App):
        raise click.BadParameter(
            f"{module_name}:{attribute or 'app'} is not a kanal.App (got {type(found).__name__})",
            param_hint="MODULE[:APP]",
        )
    return found
