"""``kanal demo``: a few thousand jobs worked off by threads, with a progress bar and a summary."""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait

import click
from rich.console import Console
from rich.table import Table

import kanal
from kanal.cli.options import url_option
from kanal.cli.output import progress

DEMO_KEYS = ("tenant-a", "tenant-b", "tenant-c")
DEMO_MAX_ATTEMPTS = 3
ENQUEUE_CHUNK = 500
BATCH = 20
WAIT = 0.2
RETRY_DELAY = 0.05


@click.command()
@click.option("--jobs", type=click.IntRange(1, 100_000), default=5000, show_default=True, help="Jobs to run.")
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True, help="Worker threads.")
@url_option
def demo(jobs: int, workers: int, url: str) -> None:
    """Enqueue a mix of jobs and work them off with threads, then summarize.

    The jobs have mixed priorities and keys; a few are delayed (under a second), some fail
    once and are retried after a delay, and a few keep failing until they are dead letters.
    Workers dequeue in batches with blocking waits and stop when nothing is left that can
    still run (burst mode). The demo queue is purged at the end.

    \b
    Example:
      kanal demo --jobs 1000 --workers 8 --url redis://localhost:6379/0
    """
    try:
        queue = kanal.connect(url)
    except kanal.KanalError as exc:
        raise click.BadParameter(str(exc), param_hint="--url") from exc
    name = f"kanal-demo-{uuid.uuid4().hex[:8]}"
    console = Console()
    try:
        with queue:
            console.print(f"kanal demo on {queue.url}: {jobs} jobs in queue {name}, {workers} workers")
            started = time.perf_counter()
            for start in range(0, jobs, ENQUEUE_CHUNK):
                queue.enqueue_many(name, _demo_jobs(range(start, min(start + ENQUEUE_CHUNK, jobs))))
            retries = _run_workers(queue, name, jobs, workers, console)
            wall = time.perf_counter() - started
            stats = queue.stats(name)
            console.print(_summary(stats, retries, wall))
            for dead in queue.dead_letters(name, limit=1):
                console.print(f"dead letters keep their last error, e.g. job {dead.id}: {dead.last_error!r}")
            queue.purge(name)
    except kanal.KanalError as exc:
        raise click.ClickException(f"demo failed: {exc}") from exc


def _demo_jobs(numbers: range) -> list[kanal.JobSpec]:
    """Job specs for ``numbers``; the same number always gives the same job."""
    specs = []
    for n in numbers:
        rng = random.Random(n)
        roll = rng.random()
        fail = DEMO_MAX_ATTEMPTS if roll < 0.03 else 1 if roll < 0.10 else 0
        specs.append(
            kanal.JobSpec(
                {"n": n, "fail": fail, "work_ms": rng.uniform(0, 1)},
                priority=rng.choice((0, 1, 1, 2, 2, 2)),
                key=rng.choice(DEMO_KEYS),
                delay=rng.uniform(0.1, 0.8) if rng.random() < 0.05 else None,
                max_attempts=DEMO_MAX_ATTEMPTS,
            )
        )
    return specs


def _run_workers(queue: kanal.Queue, name: str, jobs: int, workers: int, console: Console) -> int:
    """Run ``workers`` threads until the queue is drained, with a progress bar; return the retries."""
    stop = threading.Event()
    with progress(console) as bar, ThreadPoolExecutor(workers) as pool:
        task = bar.add_task("working", total=jobs)
        futures = [pool.submit(_work, queue, name, stop) for _ in range(workers)]
        try:
            finished = False
            while not finished:
                finished = _all_done(futures)
                stats = queue.stats(name)
                bar.update(
                    task, completed=stats.completed + stats.dead, description=f"working, {stats.dead} dead"
                )
            return sum(future.result() for future in futures)
        finally:
            stop.set()


def _all_done(futures: list[Future[int]]) -> bool:
    """Wait briefly; True once every worker has returned, raising the first worker error."""
    done, pending = wait(futures, timeout=0.1)
    for future in done:
        future.result()
    return not pending


def _work(queue: kanal.Queue, name: str, stop: threading.Event) -> int:
    """One worker in burst mode; returns how many jobs it sent back for another attempt."""
    retries = 0
    while not stop.is_set():
        leases = queue.dequeue(name, limit=BATCH, wait=WAIT)
        if not leases:
            stats = queue.stats(name)
            if stats.scheduled + stats.ready + stats.leased == 0:
                return retries
        for lease in leases:
            time.sleep(lease.payload["work_ms"] / 1000)
            attempt = lease.job.attempts
            if attempt <= lease.payload["fail"]:
                error = f"simulated failure on attempt {attempt}"
                job = queue.requeue(lease, delay=RETRY_DELAY * attempt, error=error)
                if job.state is not kanal.JobState.DEAD:
                    retries += 1
            else:
                queue.ack(lease, result={"n": lease.payload["n"]})
    return retries


def _summary(stats: kanal.QueueStats, retries: int, wall: float) -> Table:
    """The demo's outcome: counts from ``queue.stats()``, the retries seen, and the speed."""
    table = Table(title="summary")
    table.add_column("")
    table.add_column("value", justify="right")
    rows = (
        ("jobs", f"{stats.total}"),
        ("completed", f"{stats.completed}"),
        ("dead", f"{stats.dead}"),
        ("retries", f"{retries}"),
        ("wall time", f"{wall:.2f} s"),
        ("jobs/s", f"{stats.total / wall:.0f}"),
    )
    for row in rows:
        table.add_row(*row)
    return table
