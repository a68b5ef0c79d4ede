"""Raw redis-py baselines, with no queue semantics at all (no ids, leases, acks or states).

``redis-raw:URL`` is one Redis list per queue: LPUSH of the JSON payload to enqueue, RPOP to
dequeue (``RPOP key count`` for a batch), BRPOP to wait. ``redis-raw-eval:URL`` does the same
through one EVALSHA per call (a trivial Lua script around LPUSH or RPOP), the floor for a backend
that runs every operation as a script. Neither acks: what they take is gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from benchmarks.systems import register
from benchmarks.systems.base import Payload, Starved, System, ages, chunks
from benchmarks.systems.redis_support import decode, encode, latency_threads, sync_client

if TYPE_CHECKING:
    import redis
    import redis.client

#: KEYS[1] the list, ARGV[1] the payload.
PUSH_SCRIPT = "return redis.call('LPUSH', KEYS[1], ARGV[1])"
#: KEYS[1] the list, ARGV[1] how many to take; an array (or false when the list is empty).
POP_SCRIPT = "return redis.call('RPOP', KEYS[1], ARGV[1])"


@register("redis-raw")
def _raw(url: str) -> System:
    return RedisRawSystem(sync_client(url))


@register("redis-raw-eval")
def _raw_eval(url: str) -> System:
    return RedisRawEvalSystem(sync_client(url))


class RedisRawSystem:
    """The workloads on plain list commands; the list's key is the queue name."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def _push(self, target: redis.Redis | redis.client.Pipeline, key: str, data: str) -> None:
        target.lpush(key, data)

    def _pop(self, key: str, count: int) -> list[bytes | str]:
        """Up to ``count`` items from the list: RPOP for one, ``RPOP key count`` for more."""
        popped = self._r.rpop(key, None if count == 1 else count)
        if popped is None:
            return []
        return popped if isinstance(popped, list) else [popped]

    def enqueue_each(self, queue: str, payloads: Sequence[Payload]) -> None:
        for payload in payloads:
            self._push(self._r, queue, encode(payload))

    def enqueue_bulk(self, queue: str, payloads: Sequence[Payload], chunk: int) -> None:
        for part in chunks(payloads, chunk):
            pipe = self._r.pipeline(transaction=False)
            for payload in part:
                self._push(pipe, queue, encode(payload))
            pipe.execute()

    def dequeue_ack(self, queue: str, n: int, batch: int) -> int:
        done = 0
        while done < n:
            items = self._pop(queue, min(batch, n - done))
            if not items:
                raise Starved(queue, done, n)
            for item in items:
                decode(item)
            done += len(items)
        return done

    def worker_step(self, queue: str, n: int) -> int:
        """The one-round-trip worker step here is the plain one-RPOP drain (there is no ack)."""
        return self.dequeue_ack(queue, n, 1)

    def memory(self) -> int:
        """The server's used memory (``INFO memory``), for the backlog workloads."""
        return int(self._r.info("memory")["used_memory"])

    def latency(self, queue: str, n: int, rate: float, wait: float) -> list[float]:
        def consume() -> list[float]:
            seen: list[float] = []
            while len(seen) < n:
                popped = self._r.brpop([queue], timeout=wait)
                if popped is None:
                    raise Starved(queue, len(seen), n)
                seen += ages([decode(popped[1])])
            return seen

        return latency_threads(n, rate, lambda payload: self._push(self._r, queue, encode(payload)), consume)

    def purge(self, queue: str) -> None:
        self._r.delete(queue)

    def close(self) -> None:
        self._r.close()


class RedisRawEvalSystem(RedisRawSystem):
    """:class:`RedisRawSystem` with every LPUSH and RPOP run as EVALSHA of a one-line script.

    Blocking cannot happen inside a script, so the latency consumer still uses BRPOP.
    """

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self._push_sha = self._pop_sha = ""
        self._load()

    def _load(self) -> None:
        self._push_sha = str(self._r.script_load(PUSH_SCRIPT))
        self._pop_sha = str(self._r.script_load(POP_SCRIPT))

    def _push(self, target: redis.Redis | redis.client.Pipeline, key: str, data: str) -> None:
        target.evalsha(self._push_sha, 1, key, data)

    def _pop(self, key: str, count: int) -> list[bytes | str]:
        items: list[bytes | str] | None = self._r.evalsha(self._pop_sha, 1, key, count)
        return items or []

    def purge(self, queue: str) -> None:
        super().purge(queue)
        self._load()  # in case someone flushed the script cache: SCRIPT LOAD is idempotent
