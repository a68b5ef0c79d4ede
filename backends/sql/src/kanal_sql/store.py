"""The protocol in SQL: one function per operation, each run as one transaction.

Each function takes a blocking SQLAlchemy ``Connection`` inside an open transaction; the
async API runs the very same functions through ``AsyncConnection.run_sync``, so the
logic exists once. Every time is the database's (:func:`~kanal_sql.dialects.now`).

The hot operations also have a ``*_fast`` form: one statement (see
:mod:`kanal_sql.statements`) that settles the common case on its own, outside any
transaction, and returns None, having written nothing, when the full transaction must run
(a known job id, a stale or replayed lease, a queue with limits or due timers).

What time alone changes (a scheduled job comes due, a lease expires, a tombstone runs
out) is applied by :func:`tick` inside the operations that look at a queue, in bounded
steps, and by :func:`_settle_due` on the rows an operation on jobs has locked: no
background sweeper is needed.
"""

from __future__ import annotations

import math
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from kanal.errors import InvalidTransition, JobNotFound, StaleLease
from kanal.models import (
    EACH_KEY,
    FINAL_STATES,
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
from kanal_sql import dialects
from kanal_sql.schema import Tables
from kanal_sql.statements import NOW, Statements, statements

#: Timers one ``tick`` applies at most, so no call does unbounded work.
TICK_BATCH = 500
#: Ready rows a limited dequeue reads per step while it looks for keys with room.
SCAN_BATCH = 100
_FINAL = [s.value for s in FINAL_STATES]
#: A lease's key in replies about many leases.
Key = tuple[str, str, str]


class Retry(Exception):
    """The transaction met a concurrent change it cannot settle; run it again."""


class Store:
    """The SQL for one set of tables; the operations below are its methods."""

    def __init__(self, t: Tables, channel: str) -> None:
        self.t = t
        #: The PostgreSQL NOTIFY channel for these tables.
        self.channel = channel
        self._statements: dict[str, Statements] = {}

    def sql(self, conn: Connection) -> Statements:
        """The one-statement forms for ``conn``'s dialect (built on first use)."""
        name = conn.dialect.name
        found = self._statements.get(name)
        if found is None:
            found = self._statements[name] = statements(self.t, name, self.channel)
        return found

    # ------------------------------------------------------------------ helpers

    def _visible(self, now: float | ColumnElement[float]) -> ColumnElement[bool]:
        """Rows that exist for the protocol: not a tombstone past its expiry."""
        j = self.t.jobs.c
        return or_(j.due_at.is_(None), j.due_at > now, j.state.not_in(_FINAL))

    def _job_row(
        self, conn: Connection, queue: str, job_id: str, lock: bool = True
    ) -> tuple[dict[str, Any] | None, float]:
        """The job's row (locked unless ``lock`` is False) and the database's time, read
        together in one statement."""
        j = self.t.jobs
        stmt = select(j, dialects.server_now(conn.dialect.name).label(NOW)).where(
            j.c.queue == queue, j.c.id == job_id
        )
        found = conn.execute(stmt.with_for_update() if lock else stmt).first()
        if found is None:
            return None, dialects.now(conn)
        row = dict(found._mapping)
        return row, float(row.pop(NOW))

    def _locked(self, conn: Connection, queue: str, job_id: str) -> tuple[dict[str, Any] | None, float]:
        """The job's row, locked and brought up to date with time (None: it is gone), and now."""
        row, now = self._job_row(conn, queue, job_id)
        return self._current(row, conn, now), now

    def _read(self, conn: Connection, queue: str, job_id: str) -> tuple[dict[str, Any] | None, float]:
        """The job's row as it is now, locked only if a due timer must be applied first."""
        row, now = self._job_row(conn, queue, job_id, lock=False)
        if row is not None and row["due_at"] is not None and row["due_at"] <= now:
            return self._locked(conn, queue, job_id)
        return row, now

    def _current(self, row: dict[str, Any] | None, conn: Connection, now: float) -> dict[str, Any] | None:
        if row is not None and row["due_at"] is not None and row["due_at"] <= now:
            changed = self._settle_due(conn, [row], now)
            row = changed[0] if changed else None
        return row

    def _write(self, conn: Connection, row: dict[str, Any], **values: Any) -> dict[str, Any]:
        """Store ``values`` on ``row`` and return the row as it now is; a watched job's
        waiters are notified (and watch again if they still wait)."""
        j = self.t.jobs
        if row["watched"]:
            values["watched"] = False
            dialects.notify(conn, self.channel, [_job_channel(row["queue"], row["id"])])
        conn.execute(update(j).where(j.c.seq == row["seq"]).values(**values))
        return {**row, **values}

    def _notify_watched(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        watched = [_job_channel(row["queue"], row["id"]) for row in rows if row["watched"]]
        dialects.notify(conn, self.channel, watched)

    def _finish(
        self,
        conn: Connection,
        rows: Sequence[dict[str, Any]],
        state: JobState,
        now: float,
        ttl: float | None,
        **values: Any,
    ) -> list[dict[str, Any]]:
        """Move jobs to a final state in one statement; keep them ``ttl`` seconds (None: until
        purged, 0: deleted at once). Returns the rows as they now are."""
        if not rows:
            return []
        j = self.t.jobs
        values |= {"state": state.value, "finished_at": now, "due_at": None if ttl is None else now + ttl}
        where = j.c.seq.in_([row["seq"] for row in rows])
        conn.execute(delete(j).where(where) if ttl == 0 else update(j).where(where).values(**values))
        self._notify_watched(conn, rows)
        return [{**row, **values} for row in rows]

    def _settle_due(
        self, conn: Connection, rows: Sequence[dict[str, Any]], now: float
    ) -> list[dict[str, Any]]:
        """Apply the due timers of ``rows`` (locked): promote, reclaim or dead-letter, expire.

        Returns the rows that still exist, as they now are.
        """
        j = self.t.jobs
        out: list[dict[str, Any]] = []
        promote, reclaim, dead, expired, watched = [], [], [], [], []
        for row in rows:
            if row["watched"]:
                watched.append(_job_channel(row["queue"], row["id"]))
            state, due = row["state"], row["due_at"]
            row = {**row, "watched": False}
            if state == JobState.SCHEDULED:
                promote.append(row["seq"])
                out.append({**row, "state": JobState.READY.value, "due_at": None})
            elif state == JobState.LEASED and (
                row["max_attempts"] is None or row["attempts"] < row["max_attempts"]
            ):
                reclaim.append(row["seq"])
                out.append(
                    {**row, "state": "ready", "run_at": due, "due_at": None, "last_error": "lease expired"}
                )
            elif state == JobState.LEASED:
                error = f"lease expired (attempt {row['attempts']} of {row['max_attempts']})"
                dead.append({"b_seq": row["seq"], "b_error": error, "b_at": due})
                out.append({**row, "state": "dead", "finished_at": due, "due_at": None, "last_error": error})
            else:
                expired.append(row["seq"])
        if promote:
            conn.execute(
                update(j).where(j.c.seq.in_(promote)).values(state="ready", due_at=None, watched=False)
            )
        if reclaim:
            conn.execute(
                update(j)
                .where(j.c.seq.in_(reclaim))
                .ordered_values(
                    (j.c.state, "ready"),
                    (j.c.run_at, j.c.due_at),
                    (j.c.due_at, None),
                    (j.c.last_error, "lease expired"),
                    (j.c.watched, False),
                )
            )
        if dead:
            conn.execute(
                update(j)
                .where(j.c.seq == bindparam("b_seq"))
                .values(
                    state="dead",
                    finished_at=bindparam("b_at"),
                    due_at=None,
                    last_error=bindparam("b_error"),
                    watched=False,
                ),
                dead,
            )
        if expired:
            conn.execute(delete(j).where(j.c.seq.in_(expired)))
        dialects.notify(conn, self.channel, watched)
        return out

    def tick(self, conn: Connection, queue: str, now: float) -> Recovery:
        """Apply up to :data:`TICK_BATCH` of the queue's due timers."""
        j = self.t.jobs
        rows = conn.execute(
            select(j)
            .where(j.c.queue == queue, j.c.due_at <= now)
            .order_by(j.c.due_at)
            .limit(TICK_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return Recovery()
        found = [dict(r._mapping) for r in rows]
        done = Counter(r["state"] for r in self._settle_due(conn, found, now) if r["state"] != "ready")
        before = Counter(r["state"] for r in found)
        return Recovery(
            promoted=before["scheduled"],
            reclaimed=before["leased"] - done["dead"],
            dead=done["dead"],
        )

    def _queue_row(self, conn: Connection, queue: str, lock: str | None = None) -> Any:
        q = self.t.queues
        stmt = select(q.c.paused, q.c.limited).where(q.c.name == queue)
        if lock == "share":
            stmt = stmt.with_for_update(read=True, key_share=True)
        elif lock == "update":
            stmt = stmt.with_for_update()
        return conn.execute(stmt).first()

    def ensure_queue(self, conn: Connection, queue: str) -> None:
        """Create the queue's row if it does not exist."""
        stmt = dialects.insert_ignoring_duplicates(conn, self.t.queues)
        conn.execute(stmt.values(name=queue, paused=False, limited=False))

    def _wake(self, conn: Connection, queue: str) -> None:
        dialects.notify(conn, self.channel, [_queue_channel(queue)])

    # ------------------------------------------------------------------ protocol

    def enqueue_fast(self, conn: Connection, queue: str, jobs: Sequence[NewJob]) -> list[Job] | None:
        """New ids only, the common case: one INSERT that also wakes consumers."""
        unique: dict[str, NewJob] = {}
        for new in jobs:
            unique.setdefault(new.id, new)
        rows = self.sql(conn).insert_new(conn, queue, list(unique.values()), _queue_channel(queue))
        if rows is None or len(rows) < len(unique):
            return None
        stored = {row["id"]: row for row in rows}
        return [
            _job(_new_row(queue, unique[new.id], stored[new.id]["run_at"], stored[new.id]["enqueued_at"]))
            for new in jobs
        ]

    def enqueue(self, conn: Connection, queue: str, jobs: Sequence[NewJob], register: bool) -> list[Job]:
        """Store new jobs; ``register``: also make sure the queue's row exists."""
        if register:
            self.ensure_queue(conn, queue)
        now = dialects.now(conn)
        j = self.t.jobs
        ids = list(dict.fromkeys(new.id for new in jobs))
        existing = {
            r.id: dict(r._mapping)
            for r in conn.execute(select(j).where(j.c.queue == queue, j.c.id.in_(ids)).with_for_update())
        }
        stale = [
            row
            for row in existing.values()
            if row["state"] in _FINAL and row["due_at"] is not None and row["due_at"] <= now
        ]
        if stale:
            conn.execute(delete(j).where(j.c.seq.in_([row["seq"] for row in stale])))
            for row in stale:
                del existing[row["id"]]
        rows: dict[str, dict[str, Any]] = {}
        for new in jobs:
            if new.id not in existing and new.id not in rows:
                rows[new.id] = _new_row(
                    queue, new, now + new.delay if new.run_at is None else new.run_at, now
                )
        if rows:
            conn.execute(insert(j), list(rows.values()))
            self._wake(conn, queue)
        return [_job(existing.get(new.id) or rows[new.id]) for new in jobs]

    def dequeue_fast(
        self, conn: Connection, queue: str, limit: int, lease_timeout: float | None
    ) -> list[Lease] | None:
        """An unlimited queue without due timers, the common case: one claiming statement."""
        found = self.sql(conn).claim(conn, queue, limit, lease_timeout, _token())
        if found is None:
            return None
        rows, status = found
        if rows:
            return self._leases(conn, rows)
        return None if status is not None and (status.due or status.limited) else []

    def dequeue(self, conn: Connection, queue: str, limit: int, lease_timeout: float | None) -> list[Lease]:
        status = self.sql(conn).status(conn, queue)
        now = status.now
        if status.due:
            self.tick(conn, queue, now)
        if status.paused:
            return []
        if status.exists:  # a queue without a row yet has no pause and no limits
            locked = self._queue_row(conn, queue, "update" if status.limited else "share")
            if locked is None or locked.paused:
                return []
            if bool(locked.limited) != status.limited:
                raise Retry
            if locked.limited:
                found = self._select_limited(conn, queue, limit, Limits(self, conn, queue, now))
                return self._claim(conn, found, now, lease_timeout)
        return self._claim_next(conn, queue, limit, now, lease_timeout)

    def _ready(self, queue: str, *columns: Any) -> Any:
        """The queue's ready rows in the order they are handed out (their ``seq`` unless
        other ``columns`` are named)."""
        j = self.t.jobs
        return (
            select(*(columns or [j.c.seq]))
            .where(j.c.queue == queue, j.c.state == "ready")
            .order_by(j.c.priority, j.c.run_at, j.c.seq)
        )

    def _claim_values(self, now: float, lease_timeout: float | None, token: str) -> dict[str, Any]:
        """A claim's changes to a ready row (:func:`_claimed` makes the same in Python)."""
        j = self.t.jobs
        timeout: Any = j.c.lease_timeout if lease_timeout is None else literal(lease_timeout)
        return {
            "state": "leased",
            "attempts": j.c.attempts + 1,
            "token": literal(token, String) + cast(j.c.seq, String),
            "settled": False,
            "due_at": now + timeout,
            "first_dequeued_at": func.coalesce(j.c.first_dequeued_at, now),
            "last_dequeued_at": now,
        }

    def _claim_next(
        self, conn: Connection, queue: str, limit: int, now: float, lease_timeout: float | None
    ) -> list[Lease]:
        """Lease the next ``limit`` ready jobs: one ``UPDATE … FROM (… SKIP LOCKED)`` where
        the database can, else a locking SELECT then the UPDATE."""
        j = self.t.jobs
        if not dialects.update_returning(conn):
            found = conn.execute(self._ready(queue, j).limit(limit).with_for_update(skip_locked=True))
            return self._claim(conn, [dict(r._mapping) for r in found], now, lease_timeout)
        picked = self._ready(queue).limit(limit).with_for_update(skip_locked=True).cte("picked")
        rows = conn.execute(
            update(j)
            .where(j.c.seq == picked.c.seq)
            .values(**self._claim_values(now, lease_timeout, _token()))
            .returning(j)
        ).all()
        return self._leases(conn, [dict(r._mapping) for r in rows])

    def _claim(
        self, conn: Connection, found: Sequence[dict[str, Any]], now: float, lease_timeout: float | None
    ) -> list[Lease]:
        """Lease the (locked) ready rows ``found``."""
        if not found:
            return []
        j, token = self.t.jobs, _token()
        stmt = (
            update(j)
            .where(j.c.seq.in_([row["seq"] for row in found]))
            .values(**self._claim_values(now, lease_timeout, token))
        )
        if dialects.update_returning(conn):
            rows = [dict(r._mapping) for r in conn.execute(stmt.returning(j))]
        else:
            conn.execute(stmt)
            rows = [_claimed(row, now, lease_timeout, token) for row in found]
        return self._leases(conn, rows)

    def _leases(self, conn: Connection, rows: list[dict[str, Any]]) -> list[Lease]:
        rows.sort(key=lambda r: (r["priority"], r["run_at"], r["seq"]))
        watched = [_job_channel(r["queue"], r["id"]) for r in rows if r.get("was_watched", r["watched"])]
        dialects.notify(conn, self.channel, watched)
        return [_lease(r) for r in rows]

    # ------------------------------------------------------------------ limits

    def _limits(self, conn: Connection, queue: str) -> dict[str, Any]:
        lim = self.t.limits
        return {r.scope: r for r in conn.execute(select(lim).where(lim.c.queue == queue))}

    def _select_limited(
        self, conn: Connection, queue: str, limit: int, limits: Limits, dry: bool = False
    ) -> list[dict[str, Any]]:
        """The ready rows a dequeue may take within every limit, by priority then FIFO; a
        key without room is skipped and never holds back the keys behind it. ``dry``: only
        look (no row locks, no tokens spent)."""
        budget = min(limit, limits.room(None))
        picked: list[dict[str, Any]] = []
        taken: Counter[str | None] = Counter()
        blocked: set[str] = set()
        j = self.t.jobs
        while len(picked) < budget:
            stmt = self._ready(queue, j)
            if picked:
                stmt = stmt.where(j.c.seq.not_in([row["seq"] for row in picked]))
            if blocked:
                stmt = stmt.where(or_(j.c.job_key.is_(None), j.c.job_key.not_in(blocked)))
            stmt = stmt.limit(SCAN_BATCH)
            rows = conn.execute(stmt if dry else stmt.with_for_update(skip_locked=True)).all()
            limits.load({r.job_key for r in rows if r.job_key is not None})
            for row in rows:
                if row.job_key is not None:
                    if limits.room(row.job_key) - taken[row.job_key] < 1:
                        blocked.add(row.job_key)
                        continue
                    taken[row.job_key] += 1
                picked.append(dict(row._mapping))
                if len(picked) == budget:
                    break
            if len(rows) < SCAN_BATCH:
                break
        if not dry:
            taken[None] = len(picked)
            limits.take(taken)
        return picked

    def set_limit(
        self,
        conn: Connection,
        queue: str,
        key: str | None,
        rate: RateLimit | None,
        concurrency: int | None,
        which: str,
    ) -> None:
        """Set or clear (None) the ``which`` (``rate`` or ``concurrency``) limit of a scope."""
        self.ensure_queue(conn, queue)
        self._queue_row(conn, queue, "update")
        now = dialects.now(conn)
        if which == "rate":
            Limits(self, conn, queue, now).settle_all()
        lim, scope = self.t.limits, key or ""
        where = and_(lim.c.queue == queue, lim.c.scope == scope)
        current = conn.execute(select(lim).where(where)).first()
        values: dict[str, Any] = (
            {"rate": rate and rate.rate, "burst": rate and rate.burst}
            if which == "rate"
            else {"concurrency": concurrency}
        )
        merged = (
            {"rate": None, "burst": None, "concurrency": None}
            | (dict(current._mapping) if current else {})
            | values
        )
        if current is not None:
            conn.execute(delete(lim).where(where))
        if merged["rate"] is not None or merged["concurrency"] is not None:
            conn.execute(
                insert(lim).values(
                    queue=queue,
                    scope=scope,
                    rate=merged["rate"],
                    burst=merged["burst"],
                    concurrency=merged["concurrency"],
                )
            )
        any_limit = conn.execute(
            select(func.count()).select_from(lim).where(lim.c.queue == queue)
        ).scalar_one()
        q = self.t.queues
        conn.execute(update(q).where(q.c.name == queue).values(limited=any_limit > 0))
        self._wake(conn, queue)

    def get_limit(self, conn: Connection, queue: str, key: str | None) -> Any:
        lim = self.t.limits
        return conn.execute(select(lim).where(lim.c.queue == queue, lim.c.scope == (key or ""))).first()

    # ------------------------------------------------------------------ settling leases

    def _lease_rows(
        self, conn: Connection, leases: Sequence[Lease]
    ) -> tuple[dict[tuple[str, str], dict[str, Any]], float]:
        """The rows of the leases' jobs by (queue, id), locked and brought up to date with
        time (a missing one is gone), and now: one statement, whatever the number."""
        j = self.t.jobs
        pairs = list(dict.fromkeys((lease.queue, lease.id) for lease in leases))
        found = conn.execute(
            select(j, dialects.server_now(conn.dialect.name).label(NOW))
            .where(tuple_(j.c.queue, j.c.id).in_(pairs))
            .order_by(j.c.seq)
            .with_for_update()
        ).all()
        now = float(found[0]._mapping[NOW]) if found else dialects.now(conn)
        rows = {}
        due = []
        for r in found:
            row = dict(r._mapping)
            del row[NOW]
            if row["due_at"] is not None and row["due_at"] <= now:
                due.append(row)
            else:
                rows[row["queue"], row["id"]] = row
        for row in self._settle_due(conn, due, now) if due else ():
            rows[row["queue"], row["id"]] = row
        return rows, now

    def _check(self, lease: Lease, row: dict[str, Any] | None, replay: JobState | None) -> dict[str, Any]:
        """``row`` if ``lease`` holds it (or already settled it as ``replay``); else StaleLease."""
        if row is None:
            raise StaleLease(f"job {lease.id!r} in queue {lease.queue!r} no longer exists")
        if row["token"] != lease.token:
            raise StaleLease(f"stale lease on job {lease.id!r}: it has been delivered again since")
        if row["state"] == JobState.LEASED:
            return row
        if replay is not None and row["state"] == replay and row["settled"]:
            return row
        raise StaleLease(
            f"the lease on job {lease.id!r} is no longer held (it expired or was already settled); "
            f"the job is {row['state']}"
        )

    def _held(self, conn: Connection, lease: Lease, replay: JobState | None) -> tuple[dict[str, Any], float]:
        """The row ``lease`` holds (or the one it already settled as ``replay``), and now."""
        rows, now = self._lease_rows(conn, [lease])
        return self._check(lease, rows.get((lease.queue, lease.id)), replay), now

    def _finished(
        self,
        conn: Connection,
        leases: Sequence[Lease],
        rows: Sequence[Mapping[str, Any]],
        state: JobState,
        result: bytes | None,
        error: str | None,
    ) -> dict[Key, Job]:
        """The jobs of ``leases`` a one-statement finish moved to ``state`` (its ``rows``:
        each lease's key, whether it was watched, and the time), by lease; made from the
        leases' own jobs, which carry their decoded payload back to the core
        (:mod:`kanal.spi`); the jobs' waiters are notified."""
        done = {(r["queue"], r["id"], r["token"]): float(r[NOW]) for r in rows}
        out: dict[Key, Job] = {}
        for lease in leases:
            key = _key(lease)
            if key in done and key not in out:
                out[key] = _settled(lease.job, state, done[key], result, error)
        self._notify_watched(conn, rows)
        return out

    def _finish_fast(
        self,
        conn: Connection,
        leases: Sequence[Lease],
        state: JobState,
        ttl: float | None,
        result: bytes | None,
        error: str | None,
    ) -> dict[Key, Job] | None:
        """Finish the jobs ``leases`` still hold in one statement (None: no such form)."""
        rows = self.sql(conn).finish(conn, leases, state.value, ttl, result, error)
        return None if rows is None else self._finished(conn, leases, rows, state, result, error)

    def _replays(self, conn: Connection, leases: Sequence[Lease], state: JobState) -> dict[Key, Job]:
        """The jobs ``leases`` already settled as ``state`` (retries of an applied call)."""
        j = self.t.jobs
        keys = list(dict.fromkeys(_key(lease) for lease in leases))
        rows = conn.execute(
            select(j).where(
                tuple_(j.c.queue, j.c.id, j.c.token).in_(keys),
                j.c.state == state.value,
                j.c.settled.is_(True),
                self._visible(dialects.server_now(conn.dialect.name)),
            )
        ).all()
        return {(r.queue, r.id, r.token): _job(dict(r._mapping)) for r in rows}

    def ack_fast(self, conn: Connection, lease: Lease, result: bytes | None, ttl: float) -> Job | None:
        done = self._finish_fast(conn, [lease], JobState.COMPLETED, ttl, result, None)
        return None if done is None else done.get(_key(lease))

    def ack(self, conn: Connection, lease: Lease, result: bytes | None, ttl: float) -> Job:
        row, now = self._held(conn, lease, JobState.COMPLETED)
        if row["state"] == JobState.LEASED:
            row = self._finish(conn, [row], JobState.COMPLETED, now, ttl, result=result, settled=True)[0]
        return _job(row)

    def ack_many_fast(self, conn: Connection, leases: Sequence[Lease], ttl: float) -> list[Job | None] | None:
        """One statement for the held leases; then one read for the others (replays or stale)."""
        done = self._finish_fast(conn, leases, JobState.COMPLETED, ttl, None, None)
        if done is None:
            return None
        missing = [lease for lease in leases if _key(lease) not in done]
        if missing:
            done |= self._replays(conn, missing, JobState.COMPLETED)
        return [done.get(_key(lease)) for lease in leases]

    def ack_many(self, conn: Connection, leases: Sequence[Lease], ttl: float) -> list[Job | None]:
        """Each lease's completed job, or None where the lease was stale."""
        rows, now = self._lease_rows(conn, leases)
        held: dict[int, dict[str, Any]] = {}
        found: list[dict[str, Any] | None] = []
        for lease in leases:
            try:
                row = self._check(lease, rows.get((lease.queue, lease.id)), JobState.COMPLETED)
            except StaleLease:
                found.append(None)
                continue
            if row["state"] == JobState.LEASED:
                held[row["seq"]] = row
            found.append(row)
        done = self._finish(
            conn, list(held.values()), JobState.COMPLETED, now, ttl, result=None, settled=True
        )
        by_seq = {row["seq"]: row for row in done}
        return [None if row is None else _job(by_seq.get(row["seq"], row)) for row in found]

    def ack_and_dequeue_fast(
        self,
        conn: Connection,
        lease: Lease,
        result: bytes | None,
        ttl: float,
        limit: int,
        lease_timeout: float | None,
    ) -> tuple[Job, list[Lease] | None] | None:
        """The worker step in one statement where the dialect can, else the ack's and the
        dequeue's fast forms; the leases are None when the dequeue must run in full."""
        found = self.sql(conn).finish_and_claim(conn, lease, ttl, result, limit, lease_timeout, _token())
        if found is None:
            job = self.ack_fast(conn, lease, result, ttl)
            return None if job is None else (job, self.dequeue_fast(conn, lease.queue, limit, lease_timeout))
        acked, rows, status = found
        if acked is None:
            return None
        [job] = self._finished(conn, [lease], [acked], JobState.COMPLETED, result, None).values()
        if rows:
            return job, self._leases(conn, rows)
        return job, (None if status is not None and (status.due or status.limited) else [])

    def ack_and_dequeue(
        self,
        conn: Connection,
        lease: Lease,
        result: bytes | None,
        ttl: float,
        limit: int,
        lease_timeout: float | None,
    ) -> tuple[Job, list[Lease]]:
        job = self.ack(conn, lease, result, ttl)
        return job, self.dequeue(conn, lease.queue, limit, lease_timeout)

    def fail_fast(self, conn: Connection, lease: Lease, error: str) -> Job | None:
        done = self._finish_fast(conn, [lease], JobState.DEAD, None, None, error)
        return None if done is None else done.get(_key(lease))

    def fail(self, conn: Connection, lease: Lease, error: str) -> Job:
        row, now = self._held(conn, lease, JobState.DEAD)
        if row["state"] == JobState.LEASED:
            row = self._finish(conn, [row], JobState.DEAD, now, None, last_error=error, settled=True)[0]
        return _job(row)

    def requeue(self, conn: Connection, lease: Lease, delay: float, error: str | None) -> Job:
        row, now = self._held(conn, lease, None)
        if row["max_attempts"] is not None and row["attempts"] >= row["max_attempts"]:
            why = error or f"requeued after the last attempt ({row['attempts']} of {row['max_attempts']})"
            row = self._finish(conn, [row], JobState.DEAD, now, None, last_error=why)[0]
        else:
            row = self._write(conn, row, **_schedule(now + delay, now), last_error=error or row["last_error"])
        self._wake(conn, lease.queue)
        return _job(row)

    def extend_many_fast(
        self, conn: Connection, leases: Sequence[Lease], timeout: float | None
    ) -> list[Lease | None] | None:
        """One statement: the renewed leases (their job as given), None where stale."""
        rows = self.sql(conn).extend(conn, leases, timeout)
        if rows is None:
            return None
        due = {(r["queue"], r["id"], r["token"]): r["due_at"] for r in rows}
        return [
            None if _key(lease) not in due else Lease(lease.job, lease.token, _time(due[_key(lease)]))
            for lease in leases
        ]

    def extend_fast(self, conn: Connection, lease: Lease, timeout: float | None) -> Lease | None:
        """None also when stale: the full form then says why."""
        renewed = self.extend_many_fast(conn, [lease], timeout)
        return None if renewed is None else renewed[0]

    def extend(self, conn: Connection, lease: Lease, timeout: float | None) -> Lease:
        renewed = self.extend_many(conn, [lease], timeout)[0]
        if renewed is None:
            self._held(conn, lease, None)  # raises, saying why
        assert renewed is not None
        return renewed

    def extend_many(
        self, conn: Connection, leases: Sequence[Lease], timeout: float | None
    ) -> list[Lease | None]:
        rows, now = self._lease_rows(conn, leases)
        out: list[Lease | None] = []
        held: dict[int, float] = {}
        for lease in leases:
            try:
                row = self._check(lease, rows.get((lease.queue, lease.id)), None)
            except StaleLease:
                out.append(None)
                continue
            held[row["seq"]] = due = now + (timeout or row["lease_timeout"])
            out.append(Lease(lease.job, lease.token, _time(due)))
        if held:
            j = self.t.jobs
            expiry = literal(now) + (j.c.lease_timeout if timeout is None else literal(timeout))
            conn.execute(update(j).where(j.c.seq.in_(list(held))).values(due_at=expiry))
        return out

    # ------------------------------------------------------------------ jobs by id

    def _existing(self, conn: Connection, queue: str, job_id: str) -> tuple[dict[str, Any], float]:
        row, now = self._locked(conn, queue, job_id)
        if row is None:
            raise JobNotFound(f"no job {job_id!r} in queue {queue!r}")
        return row, now

    def reschedule(
        self, conn: Connection, queue: str, job_id: str, delay: float, run_at: float | None
    ) -> Job:
        row, now = self._existing(conn, queue, job_id)
        if row["state"] not in (JobState.SCHEDULED, JobState.READY):
            raise InvalidTransition(
                f"job {job_id!r} is {row['state']}; only scheduled or ready jobs can be rescheduled"
            )
        row = self._write(conn, row, **_schedule(now + delay if run_at is None else run_at, now))
        self._wake(conn, queue)
        return _job(row)

    def cancel(self, conn: Connection, queue: str, job_id: str, ttl: float, force: bool) -> Job:
        """Cancel a scheduled or ready job, or with ``force`` a leased one: its token then
        names no leased job (so every holder's call is stale) and, as in-flight jobs are
        counted by state, its concurrency slots are free; consumers blocked on them wake."""
        row, now = self._existing(conn, queue, job_id)
        state = row["state"]
        if state in (JobState.SCHEDULED, JobState.READY) or (force and state == JobState.LEASED):
            row = self._finish(conn, [row], JobState.CANCELLED, now, ttl)[0]
            if state == JobState.LEASED:
                self._wake(conn, queue)
        elif state != JobState.CANCELLED:
            raise cancel_refused(job_id, state)
        return _job(row)

    def get(self, conn: Connection, queue: str, job_id: str) -> Job | None:
        row, _ = self._read(conn, queue, job_id)
        return None if row is None else _job(row)

    def watch(self, conn: Connection, queue: str, job_id: str, until: Sequence[JobState]) -> float | None:
        """0 if the job is gone, final or in ``until``; else the seconds until time alone may
        change it (None: only another client can). Marks the job watched, so that its next
        change NOTIFYs (PostgreSQL)."""
        row, now = self._read(conn, queue, job_id)
        if row is None or row["state"] in _FINAL or row["state"] in until:
            return 0.0
        if not row["watched"] and dialects.notifies(conn):
            j = self.t.jobs
            conn.execute(update(j).where(j.c.seq == row["seq"]).values(watched=True))
        return None if row["due_at"] is None else max(row["due_at"] - now, 0.001)

    def ready_in(self, conn: Connection, queues: Sequence[str]) -> float | None:
        """0 if a dequeue on ``queues`` would take a job now; else when time may change that."""
        soonest = math.inf
        j = self.t.jobs
        for queue in queues:
            status = self.sql(conn).status(conn, queue)
            now = status.now
            if status.due:
                self.tick(conn, queue, now)
            if not status.exists or status.paused:
                continue
            if status.limited:
                limits = Limits(self, conn, queue, now)
                if self._select_limited(conn, queue, 1, limits, dry=True):
                    return 0.0
                soonest = min(soonest, limits.refill_in())
            elif conn.execute(self._ready(queue).limit(1)).first() is not None:
                return 0.0
            due = conn.execute(
                select(func.min(j.c.due_at)).where(j.c.queue == queue, j.c.state.in_(["scheduled", "leased"]))
            ).scalar()
            if due is not None:
                soonest = min(soonest, due - now)
        return None if soonest == math.inf else max(soonest, 0.001)

    # ------------------------------------------------------------------ queues

    def list_jobs(
        self,
        conn: Connection,
        queue: str,
        states: Sequence[JobState],
        key: str | None,
        limit: int,
        offset: int,
    ) -> list[Job]:
        now = dialects.now(conn)
        self.tick(conn, queue, now)
        j = self.t.jobs
        stmt = select(j).where(
            j.c.queue == queue, j.c.state.in_([s.value for s in states]), self._visible(now)
        )
        if key is not None:
            stmt = stmt.where(j.c.job_key == key)
        rows = conn.execute(stmt.order_by(j.c.seq).limit(limit).offset(offset)).all()
        return [_job(dict(r._mapping)) for r in rows]

    def redrive(self, conn: Connection, queue: str, job_ids: Sequence[str] | None, limit: int) -> int:
        now = dialects.now(conn)
        self.tick(conn, queue, now)
        j = self.t.jobs
        stmt = select(j.c.seq).where(j.c.queue == queue, j.c.state == "dead")
        if job_ids is not None:
            stmt = stmt.where(j.c.id.in_(list(job_ids)))
        seqs = (
            conn.execute(stmt.order_by(j.c.seq).limit(limit if job_ids is None else None).with_for_update())
            .scalars()
            .all()
        )
        if seqs:
            conn.execute(
                update(j)
                .where(j.c.seq.in_(list(seqs)))
                .values(attempts=0, finished_at=None, settled=False, state="ready", run_at=now, due_at=None)
            )
            self._wake(conn, queue)
        return len(seqs)

    def purge(
        self, conn: Connection, queue: str, states: Sequence[JobState], key: str | None, chunk: int
    ) -> tuple[int, bool]:
        """Delete up to ``chunk`` matching jobs; how many, and whether more may remain."""
        now = dialects.now(conn)
        self.tick(conn, queue, now)
        j = self.t.jobs
        stmt = select(j.c.seq, j.c.id, j.c.watched).where(
            j.c.queue == queue, j.c.state.in_([s.value for s in states]), self._visible(now)
        )
        if key is not None:
            stmt = stmt.where(j.c.job_key == key)
        rows = conn.execute(stmt.limit(chunk).with_for_update()).all()
        if rows:
            conn.execute(delete(j).where(j.c.seq.in_([r.seq for r in rows])))
            dialects.notify(conn, self.channel, [_job_channel(queue, r.id) for r in rows if r.watched])
        return len(rows), len(rows) == chunk

    def pause(self, conn: Connection, queue: str, paused: bool) -> None:
        self.ensure_queue(conn, queue)
        q = self.t.queues
        conn.execute(update(q).where(q.c.name == queue).values(paused=paused))
        if not paused:
            self._wake(conn, queue)

    def queues(self, conn: Connection) -> list[str]:
        q = self.t.queues
        return list(conn.execute(select(q.c.name).order_by(q.c.name)).scalars())

    def _state_now(self, now: float) -> ColumnElement[str]:
        """A job's state at ``now``, with the timers that are due applied (read-only)."""
        j = self.t.jobs.c
        due = and_(j.due_at.is_not(None), j.due_at <= now)
        exhausted = and_(j.max_attempts.is_not(None), j.attempts >= j.max_attempts)
        return case(
            (and_(due, j.state == "scheduled"), "ready"),
            (and_(due, j.state == "leased", exhausted), "dead"),
            (and_(due, j.state == "leased"), "ready"),
            else_=j.state,
        )

    def stats(self, conn: Connection, queue: str | None) -> list[QueueStats]:
        """Counts for ``queue`` (None: every queue), in three statements whatever the number."""
        now = dialects.now(conn)
        q, j, lim = self.t.queues, self.t.jobs, self.t.limits
        names = select(q.c.name, q.c.paused).order_by(q.c.name)
        if queue is not None:
            names = names.where(q.c.name == queue)
        paused = {r.name: bool(r.paused) for r in conn.execute(names)}
        if not paused:
            return [] if queue is None else [QueueStats(queue=queue)]
        state = self._state_now(now).label("st")
        visible = self._visible(now)
        if queue is not None:
            visible = and_(visible, j.c.queue == queue)
        totals: dict[str, dict[str, int]] = {}
        for r in conn.execute(
            select(j.c.queue, state, func.count().label("n")).where(visible).group_by(j.c.queue, state)
        ):
            totals.setdefault(r.queue, {})[r.st] = r.n
        scopes: dict[str, set[str]] = {}
        limited = select(lim.c.queue, lim.c.scope).where(lim.c.scope != "")
        if queue is not None:
            limited = limited.where(lim.c.queue == queue)
        for r in conn.execute(limited):
            scopes.setdefault(r.queue, set()).add(r.scope)
        per_key: dict[str, dict[str, dict[str, int]]] = {}
        if scopes:
            stmt = select(j.c.queue, j.c.job_key, state, func.count().label("n")).where(
                visible, j.c.job_key.is_not(None), j.c.queue.in_(list(scopes))
            )
            for r in conn.execute(stmt.group_by(j.c.queue, j.c.job_key, state)):
                wanted = scopes[r.queue]
                if EACH_KEY in wanted or r.job_key in wanted:
                    per_key.setdefault(r.queue, {}).setdefault(r.job_key, {})[r.st] = r.n
        out = []
        for name, is_paused in paused.items():
            counts = StateCounts.from_mapping(totals.get(name, {}))
            keys = per_key.get(name, {})
            out.append(
                QueueStats(
                    **{s.value: counts[s] for s in JobState},
                    queue=name,
                    paused=is_paused,
                    keys={k: StateCounts.from_mapping(c) for k, c in sorted(keys.items())},
                )
            )
        return out

    def recover(self, conn: Connection, queue: str) -> Recovery:
        now = dialects.now(conn)
        total = Recovery()
        while True:
            done = self.tick(conn, queue, now)
            total = Recovery(*(a + b for a, b in zip(_fields(total), _fields(done), strict=True)))
            if sum(_fields(done)) < TICK_BATCH:
                return total


class Limits:
    """The rate and concurrency limits of one queue inside a dequeue, and its token buckets.

    Only buckets below capacity matter: a full bucket is the same as none (a new one starts
    full), so idle keys cost nothing; the buckets that have filled up since are deleted by
    the statement that stores the ones a dequeue spent tokens from.
    """

    def __init__(self, store: Store, conn: Connection, queue: str, now: float) -> None:
        self._store, self._conn, self._queue, self._now = store, conn, queue, now
        self._limits = store._limits(conn, queue)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._in_flight: dict[str, int] = {}
        self._loaded: set[str] = set()
        self.load({""})

    def load(self, keys: Iterable[str]) -> None:
        """Read the buckets and in-flight counts of ``keys`` (``""``: the queue itself)."""
        scopes = set(keys) - self._loaded
        if not scopes:
            return
        self._loaded |= scopes
        b, j = self._store.t.buckets, self._store.t.jobs
        for r in self._conn.execute(select(b).where(b.c.queue == self._queue, b.c.scope.in_(scopes))):
            self._buckets[r.scope] = (r.tokens, r.updated)
        leased = and_(j.c.queue == self._queue, j.c.state == "leased")
        if "" in scopes:
            self._in_flight[""] = self._conn.execute(select(func.count()).where(leased)).scalar_one()
        named = scopes - {""}
        if named:
            stmt = select(j.c.job_key, func.count().label("n")).where(leased, j.c.job_key.in_(named))
            counts = {r.job_key: r.n for r in self._conn.execute(stmt.group_by(j.c.job_key))}
            self._in_flight |= {key: counts.get(key, 0) for key in named}

    def _rate(self, scope: str) -> tuple[float, float] | None:
        row = self._limits.get(scope)
        if (row is None or row.rate is None) and scope != "":
            row = self._limits.get(EACH_KEY)
        return None if row is None or row.rate is None else (row.rate, row.burst)

    def _cap(self, scope: str) -> int | None:
        row = self._limits.get(scope)
        if (row is None or row.concurrency is None) and scope != "":
            row = self._limits.get(EACH_KEY)
        return None if row is None else row.concurrency

    def tokens(self, scope: str) -> float:
        rate = self._rate(scope)
        if rate is None:
            return math.inf
        bucket = self._buckets.get(scope)
        if bucket is None:
            return rate[1]
        return min(rate[1], bucket[0] + max(self._now - bucket[1], 0.0) * rate[0])

    def room(self, key: str | None) -> float:
        """How many more jobs the scope's concurrency and rate limits allow right now."""
        scope = key or ""
        room: float = math.inf
        cap = self._cap(scope)
        if cap is not None:
            room = cap - self._in_flight[scope]
        tokens = self.tokens(scope)
        return room if tokens == math.inf else min(room, math.floor(tokens))

    def refill_in(self) -> float:
        """Seconds until a scope short of tokens has one again (inf: none is short)."""
        soonest = math.inf
        for scope in self._buckets:
            rate, tokens = self._rate(scope), self.tokens(scope)
            if rate is not None and tokens < 1:
                soonest = min(soonest, (1 - tokens) / rate[0])
        return soonest

    def take(self, taken: Mapping[str | None, int]) -> None:
        """Spend one token per job taken in each rate-limited scope."""
        b = self._store.t.buckets
        rows = []
        for key, n in taken.items():
            scope, rate = key or "", self._rate(key or "")
            if rate is None or n == 0:
                continue
            tokens = self.tokens(scope) - n
            rows.append(
                {
                    "queue": self._queue,
                    "scope": scope,
                    "tokens": tokens,
                    "updated": self._now,
                    "full_at": self._now + (rate[1] - tokens) / rate[0],
                }
            )
        if rows:
            spent = b.c.scope.in_([r["scope"] for r in rows])
            self._conn.execute(
                delete(b).where(b.c.queue == self._queue, or_(spent, b.c.full_at <= self._now))
            )
            self._conn.execute(insert(b), rows)

    def settle_all(self) -> None:
        """Bring every stored bucket of the queue to now at the current rates (before a change)."""
        b = self._store.t.buckets
        rows = self._conn.execute(select(b.c.scope).where(b.c.queue == self._queue)).scalars().all()
        self.load(rows)
        keep = []
        for scope in rows:
            rate, tokens = self._rate(scope), self.tokens(scope)
            if rate is not None and tokens < rate[1]:
                keep.append(
                    {
                        "queue": self._queue,
                        "scope": scope,
                        "tokens": tokens,
                        "updated": self._now,
                        "full_at": self._now + (rate[1] - tokens) / rate[0],
                    }
                )
        self._conn.execute(delete(b).where(b.c.queue == self._queue))
        if keep:
            self._conn.execute(insert(b), keep)


# ---------------------------------------------------------------------- rows to jobs


def _new_row(queue: str, new: NewJob, run_at: float, now: float) -> dict[str, Any]:
    """The row of a job enqueued at ``now`` to run at ``run_at``."""
    return {
        "queue": queue,
        "id": new.id,
        **_schedule(run_at, now),
        "priority": new.priority,
        "job_key": new.key,
        "payload": new.payload,
        "attempts": 0,
        "max_attempts": new.max_attempts,
        "lease_timeout": new.lease_timeout,
        "enqueued_at": now,
        "first_dequeued_at": None,
        "last_dequeued_at": None,
        "finished_at": None,
        "token": None,
        "settled": False,
        "watched": False,
        "last_error": None,
        "result": None,
    }


def _claimed(row: Mapping[str, Any], now: float, lease_timeout: float | None, token: str) -> dict[str, Any]:
    """``row`` as :meth:`Store._claim_values` leaves it (where the UPDATE cannot return it)."""
    return {
        **row,
        "state": "leased",
        "attempts": row["attempts"] + 1,
        "token": f"{token}{row['seq']}",
        "settled": False,
        "due_at": now + (row["lease_timeout"] if lease_timeout is None else lease_timeout),
        "first_dequeued_at": now if row["first_dequeued_at"] is None else row["first_dequeued_at"],
        "last_dequeued_at": now,
    }


def _schedule(run_at: float, now: float) -> dict[str, Any]:
    if run_at <= now:
        return {"state": "ready", "run_at": run_at, "due_at": None}
    return {"state": "scheduled", "run_at": run_at, "due_at": run_at}


def _job(row: Mapping[str, Any]) -> Job:
    return Job(
        id=row["id"],
        queue=row["queue"],
        payload=bytes(row["payload"]),
        state=JobState(row["state"]),
        priority=row["priority"],
        key=row["job_key"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        lease_timeout=float(row["lease_timeout"]),
        run_at=timestamp(row["run_at"]),  # type: ignore[arg-type]
        enqueued_at=timestamp(row["enqueued_at"]),  # type: ignore[arg-type]
        first_dequeued_at=timestamp(row["first_dequeued_at"]),
        last_dequeued_at=timestamp(row["last_dequeued_at"]),
        finished_at=timestamp(row["finished_at"]),
        last_error=row["last_error"],
        result=None if row["result"] is None else bytes(row["result"]),
    )


def _settled(job: Job, state: JobState, now: float, result: bytes | None, error: str | None) -> Job:
    """A leased ``job`` (as its lease has it, unchanged while held) moved to ``state`` at ``now``."""
    return Job(
        id=job.id,
        queue=job.queue,
        payload=job.payload,
        state=state,
        priority=job.priority,
        key=job.key,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        lease_timeout=job.lease_timeout,
        run_at=job.run_at,
        enqueued_at=job.enqueued_at,
        first_dequeued_at=job.first_dequeued_at,
        last_dequeued_at=job.last_dequeued_at,
        finished_at=_time(now),
        last_error=error or job.last_error,
        result=result,
    )


def _lease(row: Mapping[str, Any]) -> Lease:
    return Lease(_job(row), row["token"], timestamp(row["due_at"]))  # type: ignore[arg-type]


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _token() -> str:
    """A new lease's token, before the job's ``seq``: random, so tokens never repeat."""
    return secrets.token_hex(8) + "-"


def _key(lease: Lease) -> Key:
    return lease.queue, lease.id, lease.token


def _job_channel(queue: str, job_id: str) -> str:
    return f"j:{queue}:{job_id}"


def _queue_channel(queue: str) -> str:
    return f"q:{queue}"


def _fields(recovery: Recovery) -> tuple[int, int, int]:
    return recovery.promoted, recovery.reclaimed, recovery.dead
