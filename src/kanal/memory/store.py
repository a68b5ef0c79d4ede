"""The memory backend's "server": every queue's jobs, leases and limits, in process.

Every public method runs with :attr:`MemoryStore.lock` held (the transports take it) and
is one atomic transition. Each operation first applies what time alone has changed (due
jobs become ready, expired leases are reclaimed, finished jobs past their TTL vanish), so
no background sweeper is needed. Time is the injected clock's, never the caller's.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from kanal.clock import Clock
from kanal.errors import InvalidTransition, JobNotFound, StaleLease
from kanal.models import (
    EACH_KEY,
    Job,
    JobState,
    Lease,
    QueueStats,
    RateLimit,
    Recovery,
    StateCounts,
    timestamp,
)
from kanal.spi import NewJob, cancel_refused

Channel = tuple[str, ...]
Wake = Callable[[], None]


@dataclass(eq=False, slots=True)
class _Record:
    """One job's mutable state. ``version`` changes on every transition, which retires
    the heap entries made for the previous state."""

    id: str
    queue: str
    payload: bytes
    priority: int
    key: str | None
    max_attempts: int | None
    lease_timeout: float
    run_at: float
    enqueued_at: float
    state: JobState = JobState.SCHEDULED
    attempts: int = 0
    first_dequeued_at: float | None = None
    last_dequeued_at: float | None = None
    finished_at: float | None = None
    last_error: str | None = None
    result: bytes | None = None
    token: str | None = None
    lease_expires: float = 0.0
    settled_by: str | None = None
    version: int = 0

    def snapshot(self) -> Job:
        return Job(
            id=self.id,
            queue=self.queue,
            payload=self.payload,
            state=self.state,
            priority=self.priority,
            key=self.key,
            attempts=self.attempts,
            max_attempts=self.max_attempts,
            lease_timeout=self.lease_timeout,
            run_at=timestamp(self.run_at),  # type: ignore[arg-type]
            enqueued_at=timestamp(self.enqueued_at),  # type: ignore[arg-type]
            first_dequeued_at=timestamp(self.first_dequeued_at),
            last_dequeued_at=timestamp(self.last_dequeued_at),
            finished_at=timestamp(self.finished_at),
            last_error=self.last_error,
            result=self.result,
        )

    def lease(self) -> Lease:
        assert self.token is not None
        return Lease(self.snapshot(), self.token, timestamp(self.lease_expires))  # type: ignore[arg-type]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


# Heap entries end with (order, record, version): order is unique, so records are never compared.
_ReadyEntry = tuple[int, float, int, _Record, int]
_TimedEntry = tuple[float, int, _Record, int]


@dataclass(slots=True)
class _Queue:
    name: str
    jobs: dict[str, _Record] = field(default_factory=dict)
    ready: list[_ReadyEntry] = field(default_factory=list)
    scheduled: list[_TimedEntry] = field(default_factory=list)
    leased: list[_TimedEntry] = field(default_factory=list)
    expiring: list[_TimedEntry] = field(default_factory=list)
    paused: bool = False
    rate_limits: dict[str | None, RateLimit] = field(default_factory=dict)
    buckets: dict[str | None, _Bucket] = field(default_factory=dict)
    concurrency: dict[str | None, int] = field(default_factory=dict)
    #: Leased jobs per key; the ``None`` entry counts every leased job of the queue.
    in_flight: Counter[str | None] = field(default_factory=Counter)


def _live(record: _Record, version: int, queue: _Queue) -> bool:
    return record.version == version and queue.jobs.get(record.id) is record


class MemoryStore:
    """All state of one memory backend. Share one store to share queues between clients."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self._queues: dict[str, _Queue] = {}
        self._order = itertools.count()
        self._waiters: defaultdict[Channel, set[Wake]] = defaultdict(set)
        clock.subscribe(self._clock_moved)

    # ----------------------------------------------------------------- operations

    def enqueue(self, queue: str, jobs: Sequence[NewJob]) -> list[Job]:
        now, q = self.clock.now(), self._queue(queue)
        self._tick(q, now)
        out = []
        for new in jobs:
            record = q.jobs.get(new.id)
            if record is None:
                record = _Record(
                    id=new.id,
                    queue=queue,
                    payload=new.payload,
                    priority=new.priority,
                    key=new.key,
                    max_attempts=new.max_attempts,
                    lease_timeout=new.lease_timeout,
                    run_at=now,
                    enqueued_at=now,
                )
                q.jobs[new.id] = record
                self._schedule(q, record, now + new.delay if new.run_at is None else new.run_at, now)
            out.append(record.snapshot())
        self._notify(("queue", queue))
        return out

    def dequeue(self, queue: str, limit: int, lease_timeout: float | None) -> list[Lease]:
        now, q = self.clock.now(), self._queues.get(queue)
        if q is None:
            return []
        self._tick(q, now)
        leases = []
        for record in self._select(q, now, limit, take=True):
            record.state = JobState.LEASED
            record.attempts += 1
            record.token = os.urandom(12).hex()
            record.settled_by = None
            record.lease_expires = now + (lease_timeout or record.lease_timeout)
            record.first_dequeued_at = record.first_dequeued_at or now
            record.last_dequeued_at = now
            self._push_timed(q.leased, record.lease_expires, record)
            self._notify(("job", queue, record.id))
            q.in_flight[None] += 1
            self._take_token(q, None, now)
            if record.key is not None:
                q.in_flight[record.key] += 1
                self._take_token(q, record.key, now)
            leases.append(record.lease())
        return leases

    def ack(self, lease: Lease, result: bytes | None, result_ttl: float) -> Job:
        now, q, record = self._leased(lease, replay=JobState.COMPLETED)
        if record.state is JobState.LEASED:
            record.result = result
            self._finish(q, record, JobState.COMPLETED, now, result_ttl, settled_by=lease.token)
        return record.snapshot()

    def fail(self, lease: Lease, error: str) -> Job:
        now, q, record = self._leased(lease, replay=JobState.DEAD)
        if record.state is JobState.LEASED:
            record.last_error = error
            self._finish(q, record, JobState.DEAD, now, None, settled_by=lease.token)
        return record.snapshot()

    def requeue(self, lease: Lease, delay: float, error: str | None) -> Job:
        now, q, record = self._leased(lease, replay=None)
        if record.max_attempts is not None and record.attempts >= record.max_attempts:
            record.last_error = error or (
                f"requeued after the last attempt ({record.attempts} of {record.max_attempts})"
            )
            self._finish(q, record, JobState.DEAD, now, None)
        else:
            record.last_error = error or record.last_error
            self._release(q, record)
            self._schedule(q, record, now + delay, now)
        self._notify(("queue", q.name))
        return record.snapshot()

    def extend(self, lease: Lease, timeout: float | None) -> Lease:
        now, q, record = self._leased(lease, replay=None)
        record.lease_expires = now + (timeout or record.lease_timeout)
        self._push_timed(q.leased, record.lease_expires, record)
        return record.lease()

    def reschedule(self, queue: str, job_id: str, delay: float, run_at: float | None) -> Job:
        now, q, record = self._existing(queue, job_id)
        if record.state not in (JobState.SCHEDULED, JobState.READY):
            raise InvalidTransition(
                f"job {job_id!r} is {record.state.value}; only scheduled or ready jobs can be rescheduled"
            )
        self._schedule(q, record, now + delay if run_at is None else run_at, now)
        self._notify(("queue", queue))
        return record.snapshot()

    def cancel(self, queue: str, job_id: str, ttl: float, force: bool) -> Job:
        now, q, record = self._existing(queue, job_id)
        running = force and record.state is JobState.LEASED
        if running or record.state in (JobState.SCHEDULED, JobState.READY):
            self._finish(q, record, JobState.CANCELLED, now, ttl)
        elif record.state is not JobState.CANCELLED:
            raise cancel_refused(job_id, record.state)
        return record.snapshot()

    def get(self, queue: str, job_id: str) -> Job | None:
        _, _, record = self._lookup(queue, job_id)
        return None if record is None else record.snapshot()

    def list_jobs(
        self, queue: str, states: Sequence[JobState], key: str | None, limit: int, offset: int
    ) -> list[Job]:
        q = self._queues.get(queue)
        if q is None:
            return []
        self._tick(q, self.clock.now())
        matching = self._matching(q, states, key)
        return [r.snapshot() for r in itertools.islice(matching, offset, offset + limit)]

    def redrive(self, queue: str, job_ids: Sequence[str] | None, limit: int) -> int:
        q = self._queues.get(queue)
        if q is None:
            return 0
        now = self.clock.now()
        self._tick(q, now)
        if job_ids is None:
            candidates: Iterable[_Record | None] = (r for r in q.jobs.values() if r.state is JobState.DEAD)
            candidates = itertools.islice(candidates, limit)
        else:
            candidates = [q.jobs.get(job_id) for job_id in dict.fromkeys(job_ids)]
        dead = [r for r in candidates if r is not None and r.state is JobState.DEAD]
        for record in dead:
            record.attempts = 0
            record.finished_at = None
            record.settled_by = None
            self._schedule(q, record, now, now)
        self._notify(("queue", queue))
        return len(dead)

    def purge(self, queue: str, states: Sequence[JobState], key: str | None) -> int:
        q = self._queues.get(queue)
        if q is None:
            return 0
        self._tick(q, self.clock.now())
        doomed = list(self._matching(q, states, key))
        for record in doomed:
            if record.state is JobState.LEASED:
                self._release(q, record)
            del q.jobs[record.id]
            self._notify(("job", queue, record.id))
        self._notify(("queue", queue))
        return len(doomed)

    def set_rate_limit(self, queue: str, key: str | None, limit: RateLimit | None) -> None:
        now, q = self.clock.now(), self._queue(queue)
        for scope in list(q.buckets):  # settle every bucket at the old rates first
            self._tokens(q, scope, now)
        if limit is None:
            q.rate_limits.pop(key, None)
        else:
            q.rate_limits[key] = limit
        self._notify(("queue", queue))

    def get_rate_limit(self, queue: str, key: str | None) -> RateLimit | None:
        q = self._queues.get(queue)
        return None if q is None else q.rate_limits.get(key)

    def set_concurrency_limit(self, queue: str, key: str | None, limit: int | None) -> None:
        q = self._queue(queue)
        if limit is None:
            q.concurrency.pop(key, None)
        else:
            q.concurrency[key] = limit
        self._notify(("queue", queue))

    def get_concurrency_limit(self, queue: str, key: str | None) -> int | None:
        q = self._queues.get(queue)
        return None if q is None else q.concurrency.get(key)

    def pause(self, queue: str) -> None:
        self._queue(queue).paused = True

    def resume(self, queue: str) -> None:
        self._queue(queue).paused = False
        self._notify(("queue", queue))

    def stats(self, queue: str | None) -> list[QueueStats]:
        names = sorted(self._queues) if queue is None else [queue]
        return [self._stats(name) for name in names]

    def recover(self, queue: str | None) -> Recovery:
        now = self.clock.now()
        names = list(self._queues) if queue is None else [queue]
        done = [self._tick(self._queues[n], now) for n in names if n in self._queues]
        return Recovery(
            promoted=sum(r.promoted for r in done),
            reclaimed=sum(r.reclaimed for r in done),
            dead=sum(r.dead for r in done),
        )

    # ------------------------------------------------------------- blocking waits

    def begin_wait(
        self, channels: Sequence[Channel], due_in: float | None, timeout: float, wake: Wake
    ) -> float | None:
        """Subscribe ``wake`` to ``channels``; the seconds to wait, or None not to wait.

        ``due_in`` is 0 when the awaited condition already holds, else the time until
        time alone may make it hold (None: only a change by another client can).
        """
        if due_in == 0:
            return None
        for channel in channels:
            self._waiters[channel].add(wake)
        if due_in is not None and self.clock.follows_real_time:
            return min(timeout, due_in)
        return timeout

    def end_wait(self, channels: Sequence[Channel], wake: Wake) -> None:
        """Unsubscribe what :meth:`begin_wait` subscribed."""
        for channel in channels:
            waiters = self._waiters.get(channel)
            if waiters is not None:
                waiters.discard(wake)
                if not waiters:
                    del self._waiters[channel]

    def ready_in(self, queues: Sequence[str]) -> float | None:
        """0 if a dequeue on ``queues`` would take a job now; else when time may change that."""
        now, soonest = self.clock.now(), math.inf
        for name in queues:
            q = self._queues.get(name)
            if q is None:
                continue
            self._tick(q, now)
            if self._select(q, now, 1, take=False):
                return 0.0
            for heap in (q.scheduled, q.leased):
                if heap:
                    soonest = min(soonest, heap[0][0] - now)
            for scope in list(q.buckets):
                limit, tokens = self._rate_limit(q, scope), self._tokens(q, scope, now)
                if limit is not None and tokens < 1:
                    soonest = min(soonest, (1 - tokens) / limit.rate)
        return None if soonest == math.inf else max(soonest, 0.001)

    def job_changes_in(self, queue: str, job_id: str, until: Sequence[JobState]) -> float | None:
        """0 if the job is gone, final or in ``until``; else when time alone may change it."""
        job = self.get(queue, job_id)
        if job is None or job.state.is_final or job.state in until:
            return 0.0
        record = self._queues[queue].jobs[job_id]
        if record.state is JobState.LEASED:
            return max(record.lease_expires - self.clock.now(), 0.001)
        if record.state is JobState.SCHEDULED:
            return max(record.run_at - self.clock.now(), 0.001)
        return None

    # ------------------------------------------------------------------- internals

    def _queue(self, name: str) -> _Queue:
        q = self._queues.get(name)
        if q is None:
            q = self._queues[name] = _Queue(name)
        return q

    def _lookup(self, queue: str, job_id: str) -> tuple[float, _Queue | None, _Record | None]:
        """Now, the queue (brought up to date with time) and the job's record, if they exist."""
        now, q = self.clock.now(), self._queues.get(queue)
        if q is None:
            return now, None, None
        self._tick(q, now)
        return now, q, q.jobs.get(job_id)

    def _existing(self, queue: str, job_id: str) -> tuple[float, _Queue, _Record]:
        now, q, record = self._lookup(queue, job_id)
        if q is None or record is None:
            raise JobNotFound(f"no job {job_id!r} in queue {queue!r}")
        return now, q, record

    def _leased(self, lease: Lease, replay: JobState | None) -> tuple[float, _Queue, _Record]:
        """The record ``lease`` currently holds, or the one it already settled as ``replay``."""
        now, q, record = self._lookup(lease.queue, lease.id)
        if q is None or record is None:
            raise StaleLease(f"job {lease.id!r} in queue {lease.queue!r} no longer exists")
        if record.token != lease.token:
            raise StaleLease(f"stale lease on job {lease.id!r}: it has been delivered again since")
        if record.state is JobState.LEASED:
            return now, q, record
        if replay is not None and record.state is replay and record.settled_by == lease.token:
            return now, q, record
        raise StaleLease(
            f"the lease on job {lease.id!r} is no longer held (it expired or was already settled); "
            f"the job is {record.state.value}"
        )

    @staticmethod
    def _matching(q: _Queue, states: Sequence[JobState], key: str | None) -> Iterable[_Record]:
        wanted = set(states)
        return (r for r in q.jobs.values() if r.state in wanted and (key is None or r.key == key))

    def _tick(self, q: _Queue, now: float) -> Recovery:
        """Apply what time has changed: promote, reclaim, expire."""
        promoted = reclaimed = dead = 0
        while q.scheduled and q.scheduled[0][0] <= now:
            _, _, record, version = heapq.heappop(q.scheduled)
            if _live(record, version, q) and record.state is JobState.SCHEDULED:
                record.state = JobState.READY
                self._push_ready(q, record)
                self._notify(("job", q.name, record.id))
                promoted += 1
        while q.leased and q.leased[0][0] <= now:
            expired_at, _, record, version = heapq.heappop(q.leased)
            if not _live(record, version, q) or record.state is not JobState.LEASED:
                continue
            if record.max_attempts is not None and record.attempts >= record.max_attempts:
                record.last_error = f"lease expired (attempt {record.attempts} of {record.max_attempts})"
                self._finish(q, record, JobState.DEAD, expired_at, None)
                dead += 1
            else:
                record.last_error = "lease expired"
                self._release(q, record)
                self._schedule(q, record, expired_at, now)
                reclaimed += 1
        while q.expiring and q.expiring[0][0] <= now:
            _, _, record, version = heapq.heappop(q.expiring)
            if _live(record, version, q):
                del q.jobs[record.id]
        return Recovery(promoted, reclaimed, dead)

    def _select(self, q: _Queue, now: float, limit: int, *, take: bool) -> list[_Record]:
        """The next jobs a dequeue may lease, by priority then FIFO, within every limit.

        A key that is at its limit is skipped, never blocking the keys behind it.
        With ``take=False`` the ready heap is left as it was.
        """
        if q.paused:
            return []
        budget = min(limit, self._room(q, None, now))
        picked: list[_Record] = []
        kept: list[_ReadyEntry] = []
        key_room: dict[str, float] = {}
        while q.ready and len(picked) < budget:
            entry = heapq.heappop(q.ready)
            record = entry[3]
            if not _live(record, entry[4], q):
                continue
            if record.key is not None:
                room = key_room.get(record.key)
                if room is None:
                    room = self._room(q, record.key, now)
                if room < 1:
                    key_room[record.key] = 0
                    kept.append(entry)
                    continue
                key_room[record.key] = room - 1
            picked.append(record)
            if not take:
                kept.append(entry)
        for entry in kept:
            heapq.heappush(q.ready, entry)
        return picked

    def _room(self, q: _Queue, scope: str | None, now: float) -> float:
        """How many more jobs the scope's concurrency and rate limits allow right now."""
        room = math.inf
        cap = q.concurrency.get(scope, q.concurrency.get(EACH_KEY) if scope is not None else None)
        if cap is not None:
            room = cap - q.in_flight[scope]
        if self._rate_limit(q, scope) is not None:
            room = min(room, math.floor(self._tokens(q, scope, now)))
        return room

    def _rate_limit(self, q: _Queue, scope: str | None) -> RateLimit | None:
        limit = q.rate_limits.get(scope)
        if limit is None and scope is not None:
            limit = q.rate_limits.get(EACH_KEY)
        return limit

    def _tokens(self, q: _Queue, scope: str | None, now: float) -> float:
        """The scope's tokens at ``now``. Only buckets below capacity are stored: a full
        bucket is the same as none (a new one starts full), so idle keys cost nothing."""
        limit = self._rate_limit(q, scope)
        bucket = q.buckets.get(scope)
        if limit is None or bucket is None:
            if bucket is not None:
                del q.buckets[scope]
            return math.inf if limit is None else limit.burst
        tokens = min(limit.burst, bucket.tokens + max(now - bucket.updated, 0.0) * limit.rate)
        if tokens >= limit.burst:
            del q.buckets[scope]
        else:
            bucket.tokens, bucket.updated = tokens, now
        return tokens

    def _take_token(self, q: _Queue, scope: str | None, now: float) -> None:
        if self._rate_limit(q, scope) is not None:
            q.buckets[scope] = _Bucket(self._tokens(q, scope, now) - 1, now)

    def _schedule(self, q: _Queue, record: _Record, run_at: float, now: float) -> None:
        record.run_at = run_at
        if run_at <= now:
            record.state = JobState.READY
            self._push_ready(q, record)
        else:
            record.state = JobState.SCHEDULED
            self._push_timed(q.scheduled, run_at, record)
        self._notify(("job", q.name, record.id))

    def _push_ready(self, q: _Queue, record: _Record) -> None:
        record.version += 1
        heapq.heappush(q.ready, (record.priority, record.run_at, next(self._order), record, record.version))

    def _push_timed(self, heap: list[_TimedEntry], when: float, record: _Record) -> None:
        record.version += 1
        heapq.heappush(heap, (when, next(self._order), record, record.version))

    def _release(self, q: _Queue, record: _Record) -> None:
        """Free the concurrency slots a leased record holds."""
        q.in_flight[None] -= 1
        if record.key is not None:
            q.in_flight[record.key] -= 1

    def _finish(
        self,
        q: _Queue,
        record: _Record,
        state: JobState,
        now: float,
        ttl: float | None,
        settled_by: str | None = None,
    ) -> None:
        """Move a record to a final state; keep it ``ttl`` seconds (None: until purged)."""
        if record.state is JobState.LEASED:
            self._release(q, record)
        record.state = state
        record.finished_at = now
        record.settled_by = settled_by
        record.version += 1
        if ttl is not None:
            if ttl == 0:
                del q.jobs[record.id]
            else:
                self._push_timed(q.expiring, now + ttl, record)
        self._notify(("job", q.name, record.id))
        self._notify(("queue", q.name))

    def _stats(self, name: str) -> QueueStats:
        q = self._queues.get(name)
        if q is None:
            return QueueStats(queue=name)
        self._tick(q, self.clock.now())
        total: Counter[str] = Counter()
        per_key: defaultdict[str, Counter[str]] = defaultdict(Counter)
        key_limited = EACH_KEY in q.rate_limits or EACH_KEY in q.concurrency
        limited = {k for k in (*q.rate_limits, *q.concurrency) if k not in (None, EACH_KEY)}
        for record in q.jobs.values():
            total[record.state.value] += 1
            if record.key is not None and (key_limited or record.key in limited):
                per_key[record.key][record.state.value] += 1
        counts = StateCounts.from_mapping(total)
        return QueueStats(
            **{s.value: counts[s] for s in JobState},
            queue=name,
            paused=q.paused,
            keys={k: StateCounts.from_mapping(c) for k, c in sorted(per_key.items())},
        )

    def _notify(self, channel: Channel) -> None:
        for wake in list(self._waiters.get(channel, ())):
            wake()

    def _clock_moved(self) -> None:
        with self.lock:
            for waiters in list(self._waiters.values()):
                for wake in list(waiters):
                    wake()
