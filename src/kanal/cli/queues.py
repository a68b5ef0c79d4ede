"""Commands on whole queues: ``kanal stats``, ``pause``, ``resume``, ``purge`` and ``limits``."""

from __future__ import annotations

from collections.abc import Sequence
from time import sleep
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

import kanal
from kanal.cli.options import (
    FiniteFloat,
    connected,
    json_option,
    key_option,
    one_line,
    states_option,
    url_option,
    yes_option,
)
from kanal.cli.output import echo_json, jobs_count, stats_json, stats_table


@click.command()
@click.argument("queues", nargs=-1)
@click.option(
    "--watch",
    "interval",
    type=FiniteFloat(min=0.1),
    is_flag=False,
    flag_value=2.0,
    default=None,
    metavar="[SECONDS]",
    help="Refresh every SECONDS (default 2) until Ctrl-C.",
)
@url_option
@json_option
def stats(queues: tuple[str, ...], interval: float | None, url: str, as_json: bool) -> None:
    """Show how many jobs each queue has in each state (every queue if none is named).

    Keys with limits of their own get a row each, under their queue.

    \b
    Examples:
      kanal stats
      kanal stats email reports --watch 5
      kanal stats email --json
    """
    if as_json and interval is not None:
        raise click.UsageError("--watch shows a live table; it cannot be combined with --json")
    with connected(url) as queue:
        if as_json:
            echo_json([stats_json(s) for s in _stats(queue, queues)])
        elif interval is None:
            Console().print(_table(queue, queues))
        else:
            _watch(queue, queues, interval)


def _stats(queue: kanal.Queue, names: Sequence[str]) -> list[kanal.QueueStats]:
    return [queue.stats(name) for name in names] if names else queue.queues()


def _table(queue: kanal.Queue, names: Sequence[str], caption: str | None = None) -> Table:
    return stats_table(_stats(queue, names), f"queues at {queue.url}", caption)


def _watch(queue: kanal.Queue, names: Sequence[str], interval: float) -> None:
    """Redraw the table every ``interval`` seconds until Ctrl-C."""
    caption = f"every {interval:g} s; Ctrl-C to stop"
    with Live(_table(queue, names, caption), auto_refresh=False) as live:
        try:
            while True:
                sleep(interval)
                live.update(_table(queue, names, caption), refresh=True)
        except KeyboardInterrupt:
            pass


def _set_paused(name: str, url: str, as_json: bool, paused: bool) -> None:
    with connected(url) as queue:
        (queue.pause if paused else queue.resume)(name)
    if as_json:
        echo_json({"queue": name, "paused": paused})
    else:
        click.echo(f"queue {name} at {queue.url} is {'paused' if paused else 'running'}")


@click.command()
@click.argument("queue")
@url_option
@json_option
def pause(queue: str, url: str, as_json: bool) -> None:
    """Hand out no jobs of QUEUE until it is resumed (enqueue keeps working).

    \b
    Example:
      kanal pause email
    """
    _set_paused(queue, url, as_json, paused=True)


@click.command()
@click.argument("queue")
@url_option
@json_option
def resume(queue: str, url: str, as_json: bool) -> None:
    """Hand out the jobs of a paused QUEUE again.

    \b
    Example:
      kanal resume email
    """
    _set_paused(queue, url, as_json, paused=False)


def purge_jobs(name: str, states: Sequence[str], key: str | None, url: str, yes: bool, as_json: bool) -> None:
    """Delete the jobs of a queue in ``states`` (every state if empty) of ``key``, after asking."""
    with connected(url) as queue:
        if not yes:
            which = f"the {'/'.join(states)} jobs" if states else "every job"
            of_key = f" of key {key}" if key else ""
            click.confirm(f"Delete {which}{of_key} in queue {name} at {queue.url}?", abort=True, err=True)
        purged = queue.purge(name, states=states or None, key=key)
    if as_json:
        echo_json({"queue": name, "purged": purged})
    else:
        click.echo(f"purged {jobs_count(purged)} from queue {name}")


@click.command()
@click.argument("queue")
@states_option
@key_option
@yes_option
@url_option
@json_option
def purge(queue: str, states: tuple[str, ...], key: str | None, yes: bool, url: str, as_json: bool) -> None:
    """Delete jobs of QUEUE for good: every job, or those in the given states.

    Asks first unless --yes is given. Limits and the paused flag are kept.

    \b
    Examples:
      kanal purge email --state completed --state cancelled
      kanal purge email --key user-42 --yes
    """
    purge_jobs(queue, states, key, url, yes, as_json)


@click.group()
def limits() -> None:
    """Show or change the rate and concurrency limits of a queue or key.

    \b
    Examples:
      kanal limits get email
      kanal limits set email --rate 10 --burst 20 --concurrency 4
      kanal limits set email --key '*' --every 2
    """


scope_option = click.option(
    "--key",
    help="The limits of this key, or '*' for each key without limits of its own (default: the queue).",
)


@limits.command("get")
@click.argument("queue")
@scope_option
@url_option
@json_option
def get_limits(queue: str, key: str | None, url: str, as_json: bool) -> None:
    """Show the limits set for exactly this scope.

    \b
    Examples:
      kanal limits get email
      kanal limits get email --key user-42 --json
    """
    with connected(url) as q:
        _show_limits(q, queue, key, as_json)


@limits.command("set")
@click.argument("queue")
@scope_option
@click.option("--rate", type=FiniteFloat(min=0, min_open=True), help="Jobs per second, on average.")
@click.option("--burst", type=FiniteFloat(min=1), help="Jobs that may go at once (default 1).")
@click.option(
    "--every", type=FiniteFloat(min=0, min_open=True), help="One job every SECONDS (instead of --rate)."
)
@click.option("--concurrency", type=click.IntRange(min=1), help="At most N leased jobs at once.")
@click.option("--clear-rate", is_flag=True, help="Remove the rate limit.")
@click.option("--clear-concurrency", is_flag=True, help="Remove the concurrency limit.")
@url_option
@json_option
def set_limits(
    queue: str,
    key: str | None,
    rate: float | None,
    burst: float | None,
    every: float | None,
    concurrency: int | None,
    clear_rate: bool,
    clear_concurrency: bool,
    url: str,
    as_json: bool,
) -> None:
    """Set or remove limits; they apply to the very next dequeue. Prints the limits now set.

    \b
    Examples:
      kanal limits set email --rate 10 --burst 20
      kanal limits set email --key user-42 --every 60 --concurrency 1
      kanal limits set email --clear-rate --clear-concurrency
    """
    new_rate = _rate_limit(rate, burst, every, clear_rate)
    if concurrency is not None and clear_concurrency:
        raise click.UsageError("give either --concurrency or --clear-concurrency, not both")
    if new_rate is None and not clear_rate and concurrency is None and not clear_concurrency:
        raise click.UsageError("nothing to set: give --rate, --every, --concurrency or a --clear option")
    with connected(url) as q:
        if new_rate is not None or clear_rate:
            q.set_rate_limit(queue, new_rate, key=key)
        if concurrency is not None or clear_concurrency:
            q.set_concurrency_limit(queue, concurrency, key=key)
        _show_limits(q, queue, key, as_json)


def _rate_limit(
    rate: float | None, burst: float | None, every: float | None, clear: bool
) -> kanal.RateLimit | None:
    """The rate limit the options describe, or None (none given, or --clear-rate)."""
    if rate is not None and every is not None:
        raise click.UsageError("give either --rate or --every, not both")
    if clear and (rate is not None or every is not None or burst is not None):
        raise click.UsageError("--clear-rate cannot be combined with --rate, --every or --burst")
    try:
        if every is not None:
            return kanal.RateLimit.every(every, burst=burst or 1.0)
        if rate is not None:
            return kanal.RateLimit(rate, burst or 1.0)
    except kanal.InvalidArgument as exc:
        raise click.BadParameter(one_line(exc), param_hint="--rate/--every/--burst") from None
    if burst is not None:
        raise click.UsageError("--burst goes with --rate or --every")
    return None


def _show_limits(queue: kanal.Queue, name: str, key: str | None, as_json: bool) -> None:
    rate = queue.get_rate_limit(name, key=key)
    concurrency = queue.get_concurrency_limit(name, key=key)
    if as_json:
        shown: Any = None if rate is None else {"rate": rate.rate, "burst": rate.burst}
        echo_json({"queue": name, "key": key, "rate": shown, "concurrency": concurrency})
        return
    table = Table(title=f"limits of queue {name}" + (f", key {key}" if key else ""), show_header=False)
    table.add_column("limit", style="bold")
    table.add_column("value")
    table.add_row("rate", "-" if rate is None else f"{rate.rate:g}/s, burst {rate.burst:g}")
    table.add_row("concurrency", "-" if concurrency is None else str(concurrency))
    Console().print(table)
