"""The Redis backend: each operation is one Lua script run by a flow (see ``kanal.flows``).

The flows here hold all of the backend's Python logic, once for sync and async: argument
packing, the NOSCRIPT fallback, error mapping, grouping bulk calls by queue, and the
blocking waits (``BLPOP`` on wake-up lists that the scripts push to).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from redis.exceptions import NoScriptError, RedisClusterException, ResponseError

from kanal.errors import StaleLease
from kanal.flows import Flow
from kanal.models import Batch, Job, JobState, Lease, QueueStats, RateLimit, Recovery, StateCounts
from kanal.spi import Capabilities, NewJob
from kanal_redis import replies
from kanal_redis.calls import Block, Command, Eval, Pipe
from kanal_redis.config import RedisConfig
from kanal_redis.keys import Layout
from kanal_redis.scripts import LIBRARY, script
from kanal_redis.transport import RedisAsyncTransport, RedisSyncTransport

log = logging.getLogger("kanal.redis")
T = TypeVar("T")

#: Longest single BLPOP: a blocked client looks again at least this often, so a wake-up
#: lost in a failover costs at most this much delay.
BLOCK_MAX = 5.0
#: On Redis Cluster, a consumer of several queues (in several slots) blocks on one queue
#: at a time for this long, then looks at them all again.
CLUSTER_SLICE = 0.05
#: Jobs a purge deletes per script call, so no call blocks the server for long.
PURGE_CHUNK = 1000
_STATES = ("scheduled", "ready", "leased", "completed", "dead", "cancelled")


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def _token_prefix() -> str:
    """A random prefix for the lease tokens of one dequeue (the script appends 0, 1, 2 …)."""
    return os.urandom(8).hex() + "-"


class RedisBackend:
    """Jobs in Redis (standalone, Sentinel-fronted or Cluster), one atomic script per change.

    Build it with :meth:`from_url`; ``kanal.connect("redis://…")`` does.
    """

    capabilities = Capabilities(push_wakeups=True, blocking_dequeue=True)

    def __init__(self, config: RedisConfig) -> None:
        self.config = config
        self.layout = Layout(config.prefix)
        self._registered: set[str] = set()
        self._checked = False
        #: Whether to call functions (Redis 7+), else scripts by SHA. Not on Cluster: there
        #: redis-py asks a node for an FCALL's keys (COMMAND GETKEYS) before every call, one
        #: more round trip, while it reads EVALSHA's keys itself.
        self._fcall = not config.cluster
        self._turn = itertools.count()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisBackend:
        """``redis://[user:password@]host[:port][/db][?prefix=P]``, ``rediss://`` (TLS),
        ``unix:///path.sock[?db=N]``, ``redis+cluster://host:port`` (or ``?cluster=true``).

        Options: ``prefix`` (default ``kanal``): isolates apps or tenants on one server.
        """
        return cls(RedisConfig.parse(url, options))

    def __repr__(self) -> str:
        return f"<RedisBackend {self.config.shown} prefix={self.config.prefix!r}>"

    def sync_transport(self) -> RedisSyncTransport:
        return RedisSyncTransport(self.config.sync_client(), self.config.shown)

    def async_transport(self) -> RedisAsyncTransport:
        return RedisAsyncTransport(self.config.async_client(), self.config.shown)

    # ------------------------------------------------------------------ plumbing

    def _script(
        self, name: str, queue: str, args: Sequence[Any], job_id: str = "", after: Block | None = None
    ) -> Flow[Any]:
        """Run operation ``name`` on ``queue``'s keys, loading it when the server lacks it;
        with ``after``, once that ``BLPOP`` returns, in the same round trip."""
        if not self._checked:  # a plain test: this runs before every script
            yield from self._check_server()
        call = Eval(script(name), self.layout.keys(queue), tuple(args), "FCALL" if self._fcall else "EVALSHA")
        try:
            return (yield from self._call(call, after))
        except ResponseError as exc:
            mapped = replies.error(str(exc), queue, job_id)
            if mapped is None:
                raise
            raise mapped from None

    def _call(self, call: Eval, after: Block | None = None) -> Flow[Any]:
        """``call`` (after ``after``, sent with it); on a missing library or script, load it and
        run the call again, on its own.

        A server without functions (Redis < 7) switches this backend to scripts for good.
        """
        try:
            if after is None:
                return (yield call)
            _, reply = yield Pipe(after, call)
            if isinstance(reply, Exception):
                raise reply
            return reply
        except NoScriptError:
            return (yield replace(call, how="EVAL"))
        except ResponseError as exc:
            text = str(exc)
            if text.startswith("Function not found"):
                yield Command(("FUNCTION LOAD", "REPLACE", LIBRARY.code))
                return (yield call)
            if call.how == "FCALL" and text.lower().startswith("unknown command"):
                self._fcall = False
                return (yield from self._call(replace(call, how="EVALSHA")))
            raise

    def _check_server(self) -> Flow[None]:
        """Once per backend: warn when the server may evict kanal's keys."""
        self._checked = True
        try:
            reply = yield Command(("CONFIG", "GET", "maxmemory-policy"))
        except (ResponseError, RedisClusterException):  # CONFIG may be disabled, or not routable
            return
        policies = {_text(v) for v in _config_values(reply)}
        if policies - {"noeviction"}:
            log.warning(
                "Redis at %s has maxmemory-policy %s: under memory pressure it may evict queued "
                "jobs; set maxmemory-policy noeviction (see docs/backends/redis.md)",
                self.config.shown,
                ", ".join(sorted(policies)),
            )

    def _register(self, queue: str) -> Flow[None]:
        """Record the queue's name for ``stats()``/``queues()`` (once per backend)."""
        if queue not in self._registered:
            yield Command(("SADD", self.layout.registry, queue))
            self._registered.add(queue)

    def _queues(self, queue: str | None) -> Flow[list[str]]:
        if queue is not None:
            return [queue]
        names = yield Command(("SMEMBERS", self.layout.registry))
        return sorted(_text(name) for name in names)

    def _settle(
        self, name: str, leases: Sequence[Lease], head: Sequence[Any], each: Callable[[Lease], list[Any]]
    ) -> Flow[list[Any]]:
        """Run a bulk lease script once per queue; a reply per lease, in the leases' order."""
        out: list[Any] = [None] * len(leases)
        by_queue: dict[str, list[int]] = {}
        for i, lease in enumerate(leases):
            by_queue.setdefault(lease.queue, []).append(i)
        for queue, indexes in by_queue.items():
            args = [*head, len(indexes)]
            for i in indexes:
                args += each(leases[i])
            rows = yield from self._script(name, queue, args)
            for i, row in zip(indexes, rows, strict=True):
                out[i] = row
        return out

    # ------------------------------------------------------------------ protocol

    def enqueue(self, queue: str, jobs: Sequence[NewJob]) -> Flow[list[Job]]:
        yield from self._register(queue)
        args: list[Any] = [len(jobs)]
        for new in jobs:
            args += (
                new.id,
                new.payload,
                new.priority,
                new.key or "",
                _us(new.delay),
                "" if new.run_at is None else _us(new.run_at),
                "" if new.max_attempts is None else new.max_attempts,
                _us(new.lease_timeout),
            )
        rows = yield from self._script("enqueue", queue, args)
        return [replies.stored(queue, new, row) for new, row in zip(jobs, rows, strict=True)]

    def dequeue(self, queue: str, limit: int, lease_timeout: float | None) -> Flow[list[Lease]]:
        args = (limit, _us(lease_timeout or 0), _token_prefix())
        rows = yield from self._script("dequeue", queue, args)
        times = replies.Times()
        return [replies.lease(queue, row, times) for row in rows]

    def dequeue_wait(
        self, queues: Sequence[str], limit: int, lease_timeout: float | None, wait: float
    ) -> Flow[list[Lease]]:
        """Lease up to ``limit`` jobs from ``queues`` in order, blocking up to ``wait`` seconds
        for the first.

        A dequeue that finds nothing also registers this client as about to block (so changes
        push it a wake-up token) and says when time alone may bring a job. The ``BLPOP`` on the
        wake-up lists then goes out with the next dequeue of the first queue, in one round trip:
        a wake-up hands over the job without another call.
        """
        deadline = time.monotonic() + wait
        after: Block | None = None
        while True:
            soonest = min(max(deadline - time.monotonic(), 0.0), BLOCK_MAX)
            block = _us(soonest)  # how long this client blocks if it finds nothing
            leases: list[Lease] = []
            for queue in queues:
                if len(leases) == limit:
                    break
                args = (limit - len(leases), _us(lease_timeout or 0), _token_prefix(), block)
                reply = yield from self._script("dequeue", queue, args, after=after)
                after = None
                if isinstance(reply, int):
                    if reply >= 0:
                        soonest = min(soonest, reply / 1e6)
                else:
                    times = replies.Times()
                    leases += [replies.lease(queue, row, times) for row in reply]
            if leases or deadline - time.monotonic() <= 0:
                return leases
            if soonest > 0:
                after = self._block(queues, soonest)

    def ack_and_dequeue(
        self, lease: Lease, result: bytes | None, result_ttl: float, limit: int, lease_timeout: float | None
    ) -> Flow[tuple[Job, list[Lease]]]:
        """Complete ``lease`` and lease up to ``limit`` more jobs of its queue, in one call."""
        args = (
            _us(result_ttl),
            lease.id,
            lease.token,
            *_result(result),
            limit,
            _us(lease_timeout or 0),
            _token_prefix(),
        )
        done, rows = yield from self._script("ack_dequeue", lease.queue, args, lease.id)
        times = replies.Times()
        job = replies.completed(lease, _held(lease, done), result, times)
        return job, [replies.lease(lease.queue, row, times) for row in rows]

    def wait_ready(self, queues: Sequence[str], timeout: float) -> Flow[None]:
        """Block until a dequeue may succeed (kanal's core uses :meth:`dequeue_wait` instead)."""
        soonest = min(timeout, BLOCK_MAX)
        for queue in queues:
            due = yield from self._script("dequeue", queue, (0, 0, "", _us(soonest)))
            if due == 0:
                return
            if due > 0:
                soonest = min(soonest, due / 1e6)
        yield self._block(queues, soonest)

    def _block(self, queues: Sequence[str], wait: float) -> Block:
        """``BLPOP`` on the queues' wake-up lists for up to ``wait`` seconds."""
        keys = tuple(self.layout.key(q, "WAKE") for q in queues)
        if self.config.cluster and len(keys) > 1:  # keys in several slots: one at a time
            keys, wait = (keys[next(self._turn) % len(keys)],), min(wait, CLUSTER_SLICE)
        return Block(keys, wait)

    def ack(self, lease: Lease, result: bytes | None, result_ttl: float) -> Flow[Job]:
        args = (_us(result_ttl), 1, lease.id, lease.token, *_result(result))
        [done] = yield from self._script("ack", lease.queue, args, lease.id)
        return replies.completed(lease, _held(lease, done), result, replies.Times())

    def ack_many(self, leases: Sequence[Lease], result_ttl: float) -> Flow[Batch[Job]]:
        rows = yield from self._settle(
            "ack", leases, (_us(result_ttl),), lambda lease: [lease.id, lease.token, "0", ""]
        )
        times = replies.Times()
        return _batch(leases, rows, lambda lease, row: replies.completed(lease, row, None, times))

    def requeue(self, lease: Lease, delay: float, error: str | None) -> Flow[Job]:
        args = (lease.id, lease.token, _us(delay), error or "")
        row = yield from self._script("requeue", lease.queue, args, lease.id)
        return replies.job(lease.queue, row)

    def fail(self, lease: Lease, error: str) -> Flow[Job]:
        row = yield from self._script("fail", lease.queue, (lease.id, lease.token, error), lease.id)
        return replies.job(lease.queue, row)

    def extend(self, lease: Lease, timeout: float | None) -> Flow[Lease]:
        args = (_us(timeout or 0), 1, lease.id, lease.token)
        [done] = yield from self._script("extend", lease.queue, args, lease.id)
        return replies.renewed(lease, _held(lease, done))

    def extend_many(self, leases: Sequence[Lease], timeout: float | None) -> Flow[Batch[Lease]]:
        rows = yield from self._settle(
            "extend", leases, (_us(timeout or 0),), lambda lease: [lease.id, lease.token]
        )
        return _batch(leases, rows, replies.renewed)

    def reschedule(self, queue: str, job_id: str, delay: float, run_at: float | None) -> Flow[Job]:
        args = (job_id, _us(delay), "" if run_at is None else _us(run_at))
        row = yield from self._script("reschedule", queue, args, job_id)
        return replies.job(queue, row)

    def cancel(self, queue: str, job_id: str, ttl: float, force: bool) -> Flow[Job]:
        row = yield from self._script("cancel", queue, (job_id, _us(ttl), "1" if force else "0"), job_id)
        return replies.job(queue, row)

    def get(self, queue: str, job_id: str) -> Flow[Job | None]:
        row = yield from self._script("get", queue, (job_id,), job_id)
        return None if row is None else replies.job(queue, row)

    def wait_job(self, queue: str, job_id: str, until: Sequence[JobState], timeout: float) -> Flow[None]:
        due = yield from self._script("watch", queue, (job_id, *until), job_id)
        if due == 0:
            return
        wait = timeout if due < 0 else min(timeout, due / 1e6)
        yield Block((self.layout.waiters(queue, job_id),), min(wait, BLOCK_MAX))

    def list_jobs(
        self, queue: str, states: Sequence[JobState], key: str | None, limit: int, offset: int
    ) -> Flow[list[Job]]:
        rows = yield from self._script("list_jobs", queue, (key or "", limit, offset, *states))
        return [replies.job(queue, row) for row in rows]

    def redrive(self, queue: str, job_ids: Sequence[str] | None, limit: int) -> Flow[int]:
        if job_ids is not None and not job_ids:
            return 0
        moved = yield from self._script("redrive", queue, (limit, *(job_ids or ())))
        return int(moved)

    def purge(self, queue: str, states: Sequence[JobState], key: str | None) -> Flow[int]:
        total, more = 0, True
        while more:
            deleted, more = yield from self._script("purge", queue, (key or "", PURGE_CHUNK, *states))
            total += int(deleted)
        return total

    def set_rate_limit(self, queue: str, key: str | None, limit: RateLimit | None) -> Flow[None]:
        yield from self._register(queue)
        value = "" if limit is None else f"{limit.rate!r} {limit.burst!r}"
        yield from self._script("set_limit", queue, ("rl", key or "", value))

    def get_rate_limit(self, queue: str, key: str | None) -> Flow[RateLimit | None]:
        value = yield Command(("HGET", self.layout.key(queue, "META"), f"rl:{key or ''}"))
        if value is None:
            return None
        rate, burst = value.split()
        return RateLimit(rate=float(rate), burst=float(burst))

    def set_concurrency_limit(self, queue: str, key: str | None, limit: int | None) -> Flow[None]:
        yield from self._register(queue)
        yield from self._script("set_limit", queue, ("cc", key or "", "" if limit is None else limit))

    def get_concurrency_limit(self, queue: str, key: str | None) -> Flow[int | None]:
        value = yield Command(("HGET", self.layout.key(queue, "META"), f"cc:{key or ''}"))
        return None if value is None else int(value)

    def pause(self, queue: str) -> Flow[None]:
        yield from self._register(queue)
        yield from self._script("pause", queue, (1,))

    def resume(self, queue: str) -> Flow[None]:
        yield from self._register(queue)
        yield from self._script("pause", queue, (0,))

    def stats(self, queue: str | None) -> Flow[list[QueueStats]]:
        out = []
        for name in (yield from self._queues(queue)):
            *counts, paused, per_key = yield from self._script("stats", name, ())
            keys: dict[str, dict[str, int]] = {}
            triples = iter(per_key)
            for key, state, count in zip(triples, triples, triples, strict=True):
                keys.setdefault(_text(key), {})[_text(state)] = int(count)
            out.append(
                QueueStats(
                    **dict(zip(_STATES, map(int, counts), strict=True)),
                    queue=name,
                    paused=bool(paused),
                    keys={k: StateCounts.from_mapping(c) for k, c in sorted(keys.items())},
                )
            )
        return out

    def recover(self, queue: str | None) -> Flow[Recovery]:
        totals = [0, 0, 0]
        for name in (yield from self._queues(queue)):
            done = yield from self._script("recover", name, ())
            totals = [a + int(b) for a, b in zip(totals, done, strict=True)]
        return Recovery(*totals)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _config_values(reply: Any) -> Iterable[Any]:
    """The values of a CONFIG GET reply: a list, a dict, or (on Cluster) one per node."""
    if isinstance(reply, dict):
        values = list(reply.values())
        if values and isinstance(values[0], dict | list):
            return itertools.chain.from_iterable(_config_values(v) for v in values)
        return values
    return list(reply)[1::2]


def _result(result: bytes | None) -> tuple[str, bytes]:
    return ("0", b"") if result is None else ("1", result)


def _held(lease: Lease, done: Sequence[Any]) -> Sequence[Any]:
    """A ``{1, …}`` reply for a lease that was held, or StaleLease for ``{0, why}``."""
    if not done[0]:
        raise _stale(lease, done[1])
    return done


def _stale(lease: Lease, text: bytes) -> StaleLease:
    error = replies.error(_text(text), lease.queue, lease.id)
    return error if isinstance(error, StaleLease) else StaleLease(_text(text))


def _batch(
    leases: Sequence[Lease], rows: Sequence[Any], parse: Callable[[Lease, Sequence[Any]], T]
) -> Batch[T]:
    """Per lease, a ``{1, …}`` reply parsed, or the lease in ``stale`` for ``{0, why}``."""
    succeeded: list[T] = []
    stale: list[Lease] = []
    for lease, row in zip(leases, rows, strict=True):
        if row[0]:
            succeeded.append(parse(lease, row))
        else:
            stale.append(lease)
    return Batch(succeeded, stale)
