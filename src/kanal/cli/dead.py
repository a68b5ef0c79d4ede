"""``kanal dead``: list, redrive and purge a queue's dead letters."""

from __future__ import annotations

import click

import kanal
from kanal import validation
from kanal.cli.options import connected, json_option, page_options, url_option, yes_option
from kanal.cli.output import echo_json, jobs_count, print_jobs
from kanal.cli.queues import purge_jobs
from kanal.models import JobState
from kanal.validation import MAX_BATCH


@click.group()
def dead() -> None:
    """Dead letters: jobs that failed for good, kept with their last error.

    \b
    Examples:
      kanal dead list email
      kanal dead redrive email --all
      kanal dead purge email --yes
    """


@dead.command("list")
@click.argument("queue")
@page_options
@url_option
@json_option
def list_dead(queue: str, limit: int, offset: int, url: str, as_json: bool) -> None:
    """List the dead jobs of QUEUE, oldest first, with their last error.

    \b
    Example:
      kanal dead list email --limit 20 --json
    """
    with connected(url) as q:
        found = q.dead_letters(queue, limit=limit, offset=offset)
    print_jobs(found, as_json, f"dead jobs in {queue}", ("id", "key", "tries", "finished", "last error"))


@dead.command()
@click.argument("queue")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Redrive every dead job of the queue.")
@click.option("--limit", type=click.IntRange(min=1), help="Redrive up to N dead jobs, oldest first.")
@url_option
@json_option
def redrive(
    queue: str, job_ids: tuple[str, ...], every: bool, limit: int | None, url: str, as_json: bool
) -> None:
    """Move dead jobs back to ready, with their attempts reset: the JOB_IDs given, or --all,
    or up to --limit of them. Ids that are not dead are skipped.

    \b
    Examples:
      kanal dead redrive email 01J9Z5Q3K8M2N4P6R8T0V2X4Y6 01J9Z5Q3K8M2N4P6R8T0V2X4Y7
      kanal dead redrive email --limit 100
      kanal dead redrive email --all
    """
    if (bool(job_ids) + every + (limit is not None)) != 1:
        raise click.UsageError("give the JOB_IDs to redrive, or --all, or --limit N (one of them)")
    with connected(url) as q:
        moved = _redrive_ids(q, queue, job_ids) if job_ids else _redrive_oldest(q, queue, limit)
    if as_json:
        echo_json({"queue": queue, "redriven": moved})
    else:
        click.echo(f"redrove {jobs_count(moved, 'dead')} of queue {queue} back to ready")


def _redrive_ids(queue: kanal.Queue, name: str, job_ids: tuple[str, ...]) -> int:
    """Redrive these ids, in batches; every id is checked before the first batch."""
    for job_id in job_ids:
        validation.job_id(job_id)
    return sum(
        queue.redrive(name, job_ids[start : start + MAX_BATCH]) for start in range(0, len(job_ids), MAX_BATCH)
    )


def _redrive_oldest(queue: kanal.Queue, name: str, limit: int | None) -> int:
    """Redrive up to ``limit`` dead jobs (None: all), in batches, until none is left."""
    moved = 0
    while limit is None or moved < limit:
        want = MAX_BATCH if limit is None else min(MAX_BATCH, limit - moved)
        done = queue.redrive(name, limit=want)
        moved += done
        if done < want:
            break
    return moved


@dead.command("purge")
@click.argument("queue")
@yes_option
@url_option
@json_option
def purge_dead(queue: str, yes: bool, url: str, as_json: bool) -> None:
    """Delete the dead jobs of QUEUE for good (asks first unless --yes).

    \b
    Example:
      kanal dead purge email --yes
    """
    purge_jobs(queue, [JobState.DEAD.value], None, url, yes, as_json)
