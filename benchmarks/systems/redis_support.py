"""Helpers shared by the Redis systems: the raw redis-py baselines and the peer libraries.

Nothing here imports redis at import time, so the harness still loads without it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from benchmarks.systems.base import Payload, apace, pace, stamp

if TYPE_CHECKING:
    import redis
    import redis.asyncio

#: Seconds a throughput dequeue may block, for libraries whose dequeue only has a blocking form
#: (or blocks forever by default): the jobs are ready, so it returns at once; a dry queue fails
#: after this instead of hanging.
READY_TIMEOUT = 1


def sync_client(url: str) -> redis.Redis:
    """A blocking redis-py client for ``url`` (bytes replies)."""
    import redis

    return redis.Redis.from_url(url)


def async_client(url: str) -> redis.asyncio.Redis:
    """An asyncio redis-py client for ``url`` (bytes replies)."""
    import redis.asyncio

    return redis.asyncio.Redis.from_url(url)


def redis_memory(url: str) -> Callable[[], int]:
    """A probe of the used memory (``INFO memory``) of the Redis server at ``url``."""
    client = sync_client(url)
    return lambda: int(client.info("memory")["used_memory"])


def encode(payload: Payload) -> str:
    """A payload as the JSON text the raw baselines store."""
    return json.dumps(payload)


def decode(data: bytes | str) -> Payload:
    """The payload back from its JSON text."""
    payload: Payload = json.loads(data)
    return payload


def delete_matching(client: redis.Redis, *patterns: str) -> int:
    """Delete every key matching one of ``patterns`` (SCAN, outside any timing); return how many."""
    keys = [key for pattern in patterns for key in client.scan_iter(match=pattern, count=1000)]
    return int(client.delete(*keys)) if keys else 0


async def adelete_matching(client: redis.asyncio.Redis, *patterns: str) -> int:
    """:func:`delete_matching` for an asyncio client."""
    keys = [key for pattern in patterns async for key in client.scan_iter(match=pattern, count=1000)]
    return int(await client.delete(*keys)) if keys else 0


def latency_threads(
    n: int, rate: float, produce: Callable[[Payload], object], consume: Callable[[], list[float]]
) -> list[float]:
    """Run the latency workload with threads: ``consume()`` on the calling thread, while a producer
    thread calls ``produce(stamp(i))`` for ``i`` in ``0..n-1`` at ``rate`` per second.

    The consumer stays on the calling (main) thread because some libraries need it there (RQ
    arms its job timeout with SIGALRM). A producer error is raised in preference to the
    consumer's, which it usually causes.
    """

    def produce_all() -> None:
        for i in pace(n, rate):
            produce(stamp(i))

    with ThreadPoolExecutor(1) as pool:
        producer = pool.submit(produce_all)
        try:
            seen = consume()
        finally:
            error = producer.exception()  # waits for the producer to finish
            if error is not None:
                raise error
    return seen


async def latency_tasks(
    n: int,
    rate: float,
    produce: Callable[[Payload], Awaitable[object]],
    consume: Callable[[], Coroutine[Any, Any, list[float]]],
) -> list[float]:
    """:func:`latency_threads` for asyncio: producer and consumer are tasks on one event loop."""

    async def produce_all() -> None:
        async for i in apace(n, rate):
            await produce(stamp(i))

    async with asyncio.TaskGroup() as group:
        group.create_task(produce_all())
        consumer = group.create_task(consume())
    return consumer.result()
