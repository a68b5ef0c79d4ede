"""The hot operations as one statement each, where the dialect can: SQL written per dialect,
built once per set of tables, sent with bound parameters only.

Each form does the common case alone and says when it could not, writing nothing then;
:mod:`kanal_sql.store` decides what a reply means and falls back to its transactions.

- **PostgreSQL**: lists travel as arrays (``unnest``), so one statement text serves every
  batch size and psycopg prepares it once; the claim reads the queue's row ``FOR KEY
  SHARE`` in the same statement, and the worker step (``ack_and_dequeue``) is one
  statement of data-modifying CTEs.
- **SQLite**: lists travel as JSON (``json_each``); single writer, so no row locks.
- **MariaDB/MySQL**: no ``UPDATE … RETURNING``: only a single job's enqueue has a form of
  its own (MariaDB 10.5+, ``INSERT … RETURNING``); the rest are transactions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Connection, Double, Executable, String, column, text
from sqlalchemy.exc import IntegrityError

from kanal.models import Lease
from kanal.spi import NewJob
from kanal_sql.dialects import CLOCK
from kanal_sql.schema import Tables

#: The label of the database's time in a statement's reply.
NOW = "kanal_now"
#: Columns a new job's INSERT sets (the rest start NULL).
_NEW = (
    "queue, id, state, priority, job_key, payload, run_at, due_at, attempts, max_attempts, "
    "lease_timeout, enqueued_at, settled, watched"
)
#: What an INSERT returns about each new job (the rest the caller knows).
_INSERTED = "id, state, run_at, enqueued_at"
#: The queue's flags and the time, in a claim's reply.
_STATUS = ("q_paused", "q_limited", "q_due", NOW)
#: What a finished lease's row replies (the rest the lease has).
_FINISHED = ("queue", "id", "token", "watched")
_FINISHED_SQL = ", ".join(_FINISHED)
#: What a renewed lease's row replies.
_EXTENDED = ("queue", "id", "token", "due_at")
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Status:
    """Why a claim took nothing: the queue's flags, whether timers are due, and the time."""

    #: Whether the queue has its row yet (if not, it has no pause and no limits).
    exists: bool
    paused: bool
    limited: bool
    due: bool
    now: float

    @classmethod
    def of(cls, row: Any) -> Status:
        return cls(
            row.q_paused is not None,
            bool(row.q_paused),
            bool(row.q_limited),
            bool(row.q_due),
            float(row.kanal_now),
        )


class Statements:
    """The one-statement forms for one dialect; None where it has none."""

    def __init__(self, t: Tables, dialect: str, channel: str) -> None:
        self.t, self.now, self.channel = t, CLOCK[dialect], channel
        jobs, queues = t.jobs.fullname, t.queues.fullname
        self._columns = [c.name for c in t.jobs.columns]
        self._types = {c.name: c.type for c in t.jobs.columns} | {
            NOW: Double(),
            "kind": String(),
            "woke": String(),
        }
        #: The queue's earliest timer: min() reads it off the (queue, due_at) index, where an
        #: EXISTS of the due rows may be planned as a scan that reads the queue to the end.
        self._due = f"(SELECT min(due_at) FROM {jobs} WHERE queue = :queue)"
        self._status = self._typed(
            f"SELECT (SELECT paused FROM {queues} WHERE name = :queue) AS q_paused, "
            f"(SELECT limited FROM {queues} WHERE name = :queue) AS q_limited, "
            f"coalesce({self._due} <= {self.now}, false) AS q_due, "
            f"{self.now} AS {NOW}",
            *_STATUS,
        )

    def _typed(self, sql: str, *names: str) -> Executable:
        """``sql`` replying with columns ``names`` (jobs' columns, or :data:`NOW`, or a flag):
        SQLAlchemy then converts the values by type, and sets the reply's shape up once."""
        return text(sql).columns(*(column(name, self._types.get(name, Boolean())) for name in names))

    def status(self, conn: Connection, queue: str) -> Status:
        """The queue's flags and the database's time (a missing queue row: neither flag)."""
        return Status.of(conn.execute(self._status, {"queue": queue}).one())

    def insert_new(self, conn: Connection, queue: str, jobs: Sequence[NewJob], wake: str) -> list[Row] | None:
        """Store ``jobs`` (unique ids) unless one of their ids exists, waking consumers with
        ``wake``: the new rows (fewer if a concurrent enqueue of an id won), [] if an id
        exists; None if there is no such form."""
        return None

    def claim(
        self, conn: Connection, queue: str, limit: int, lease_timeout: float | None, token: str
    ) -> tuple[list[Row], Status | None] | None:
        """Lease up to ``limit`` ready jobs unless the queue is paused or limited or has due
        timers: the leased rows, and when there are none the queue's status."""
        return None

    def finish(
        self,
        conn: Connection,
        leases: Sequence[Lease],
        state: str,
        ttl: float | None,
        result: bytes | None,
        error: str | None,
    ) -> list[Row] | None:
        """Move the jobs ``leases`` still hold to ``state`` (kept ``ttl`` seconds, None: until
        purged; 0: deleted): for each, its lease's queue, id and token, whether it was
        watched, and the time."""
        return None

    def extend(self, conn: Connection, leases: Sequence[Lease], timeout: float | None) -> list[Row] | None:
        """Renew the leases still held: queue, id, token and new expiry of each."""
        return None

    def finish_and_claim(
        self,
        conn: Connection,
        lease: Lease,
        ttl: float,
        result: bytes | None,
        limit: int,
        lease_timeout: float | None,
        token: str,
    ) -> tuple[Row | None, list[Row], Status | None] | None:
        """Complete ``lease`` if held and then claim as :meth:`claim` does, in one statement:
        the completed row (None: not held, and nothing claimed), the leased rows, the status."""
        return None


class PostgresStatements(Statements):
    def __init__(self, t: Tables, dialect: str, channel: str) -> None:
        super().__init__(t, dialect, channel)
        jobs, queues, now = t.jobs.fullname, t.queues.fullname, self.now
        self._insert = self._typed(
            f"INSERT INTO {jobs} ({_NEW}) "
            "SELECT CAST(:queue AS varchar), v.id, CASE WHEN v.r > n.now THEN 'scheduled' ELSE 'ready' END, "
            "v.priority, v.job_key, v.payload, v.r, CASE WHEN v.r > n.now THEN v.r END, 0, v.max_attempts, "
            "v.lease_timeout, n.now, false, false "
            f"FROM (SELECT {now} AS now) AS n, LATERAL (SELECT u.*, coalesce(u.run_at, n.now + u.delay) AS r "
            "FROM unnest(CAST(:ids AS varchar[]), CAST(:priorities AS int[]), CAST(:keys AS varchar[]), "
            "CAST(:payloads AS bytea[]), CAST(:run_ats AS float8[]), CAST(:delays AS float8[]), "
            "CAST(:max_attempts AS int[]), CAST(:lease_timeouts AS float8[])) WITH ORDINALITY "
            "AS u(id, priority, job_key, payload, run_at, delay, max_attempts, lease_timeout, ord)) AS v "
            f"WHERE NOT EXISTS (SELECT 1 FROM {jobs} WHERE queue = :queue "
            "AND id = ANY(CAST(:ids AS varchar[]))) "
            "ORDER BY v.ord ON CONFLICT (queue, id) DO NOTHING "
            f"RETURNING {_INSERTED}, (SELECT pg_notify(:channel, :wake)) AS woke",
            *_INSERTED.split(", "),
            "woke",
        )
        self._insert_one = self._typed(
            f"INSERT INTO {jobs} ({_NEW}) "
            "SELECT CAST(:queue AS varchar), CAST(:id AS varchar), "
            "CASE WHEN v.r > n.now THEN 'scheduled' ELSE 'ready' END, CAST(:priority AS int), "
            "CAST(:job_key AS varchar), CAST(:payload AS bytea), v.r, CASE WHEN v.r > n.now THEN v.r END, 0, "
            "CAST(:max_attempts AS int), CAST(:lease_timeout AS float8), n.now, false, false "
            f"FROM (SELECT {now} AS now) AS n, LATERAL (SELECT coalesce(CAST(:run_at AS float8), "
            "n.now + CAST(:delay AS float8)) AS r) AS v ON CONFLICT (queue, id) DO NOTHING "
            f"RETURNING {_INSERTED}, (SELECT pg_notify(:channel, :wake)) AS woke",
            *_INSERTED.split(", "),
            "woke",
        )
        # A lease's row by primary key (its token ends with the job's seq), so that the plan
        # never depends on how many rows have timers or are leased; then the whole lease. One
        # lease: scalars, whose generic plan PostgreSQL keeps (no planning per call); many:
        # arrays, each lease compared as one string (queue, id and token hold no space).
        held = {
            "one": "j.seq = :seq AND j.queue = :lease_queue AND j.id = :lease_id AND j.token = :lease_token",
            "many": "j.seq = ANY(CAST(:seqs AS bigint[])) "
            "AND (j.queue || ' ' || j.id || ' ' || j.token) = ANY(CAST(:leases AS text[]))",
        }
        held = {kind: f"{where} AND j.state = 'leased' AND j.due_at > n.now" for kind, where in held.items()}
        finished = (
            "SET state = :state, finished_at = n.now, due_at = n.now + CAST(:ttl AS float8), settled = true, "
            "result = :result, last_error = coalesce(CAST(:error AS text), j.last_error)"
        )
        clock = f"(SELECT {now} AS now) AS n"
        self._finish = {
            kind: self._typed(
                f"UPDATE {jobs} AS j {finished} FROM {clock} WHERE {where} "
                f"RETURNING {_FINISHED_SQL}, n.now AS {NOW}",
                *_FINISHED,
                NOW,
            )
            for kind, where in held.items()
        }
        self._remove = {
            kind: self._typed(
                f"DELETE FROM {jobs} AS j USING {clock} WHERE {where} "
                f"RETURNING {_FINISHED_SQL}, n.now AS {NOW}",
                *_FINISHED,
                NOW,
            )
            for kind, where in held.items()
        }
        self._extend = {
            kind: self._typed(
                f"UPDATE {jobs} AS j SET due_at = n.now + coalesce(CAST(:timeout AS float8), "
                f"j.lease_timeout) FROM {clock} WHERE {where} RETURNING j.queue, j.id, j.token, j.due_at",
                *_EXTENDED,
            )
            for kind, where in held.items()
        }
        cols = ", ".join(self._columns)
        nulls = ", ".join("NULL" for _ in self._columns)

        def claim(after: str = "", only_if: str = "") -> str:
            """The claim's CTEs (after those in ``after``) and its reply: the leased rows
            (``l``), the status (``s``) and ``after``'s rows (``a``, if any)."""
            return (
                f"WITH n AS (SELECT {now} AS now), {after}"
                f"q AS (SELECT paused, limited FROM {queues} WHERE name = :queue FOR KEY SHARE), "
                f"d AS (SELECT coalesce({self._due} <= n.now, false) AS due FROM n), "
                f"picked AS (SELECT seq, watched FROM {jobs} WHERE queue = :queue AND state = 'ready' "
                "AND NOT (SELECT due FROM d) "
                f"AND NOT EXISTS (SELECT 1 FROM q WHERE paused OR limited) {only_if}"
                "ORDER BY priority, run_at, seq LIMIT :limit FOR UPDATE SKIP LOCKED), "
                f"claimed AS (UPDATE {jobs} AS j SET state = 'leased', attempts = j.attempts + 1, "
                "token = :token || j.seq, settled = false, watched = false, "
                "due_at = n.now + coalesce(CAST(:lease_timeout AS float8), j.lease_timeout), "
                "first_dequeued_at = coalesce(j.first_dequeued_at, n.now), last_dequeued_at = n.now "
                "FROM picked, n WHERE j.seq = picked.seq RETURNING j.*, picked.watched AS was_watched) "
                f"SELECT 'l' AS kind, NULL AS q_paused, NULL AS q_limited, NULL AS q_due, NULL AS {NOW}, "
                f"was_watched, {cols} FROM claimed "
                "UNION ALL SELECT 's', (SELECT paused FROM q), (SELECT limited FROM q), (SELECT due FROM d), "
                f"(SELECT now FROM n), NULL, {nulls} "
                + (
                    f"UNION ALL SELECT 'a', NULL, NULL, NULL, (SELECT now FROM n), watched, {cols} FROM acked"
                    if after
                    else ""
                )
            )

        reply = ("kind", *_STATUS[:3], NOW, "was_watched", *self._columns)
        self._claim = self._typed(claim(), *reply)
        acked = "AND EXISTS (SELECT 1 FROM acked) "
        self._finish_and_claim = self._typed(
            claim(
                f"acked AS (UPDATE {jobs} AS j {finished} FROM n WHERE {held['one']} RETURNING j.*), ", acked
            ),
            *reply,
        )
        self._remove_and_claim = self._typed(
            claim(f"acked AS (DELETE FROM {jobs} AS j USING n WHERE {held['one']} RETURNING j.*), ", acked),
            *reply,
        )

    def insert_new(self, conn: Connection, queue: str, jobs: Sequence[NewJob], wake: str) -> list[Row] | None:
        if len(jobs) == 1:  # scalars: its generic plan is as good as a custom one, so it is planned once
            params = _job_params(queue, jobs[0]) | {"channel": self.channel, "wake": wake}
            return [dict(r) for r in conn.execute(self._insert_one, params).mappings()]
        params = {
            "queue": queue,
            "ids": [j.id for j in jobs],
            "priorities": [j.priority for j in jobs],
            "keys": [j.key for j in jobs],
            "payloads": [j.payload for j in jobs],
            "run_ats": [j.run_at for j in jobs],
            "delays": [j.delay for j in jobs],
            "max_attempts": [j.max_attempts for j in jobs],
            "lease_timeouts": [j.lease_timeout for j in jobs],
            "channel": self.channel,
            "wake": wake,
        }
        return [dict(r) for r in conn.execute(self._insert, params).mappings()]

    def claim(
        self, conn: Connection, queue: str, limit: int, lease_timeout: float | None, token: str
    ) -> tuple[list[Row], Status | None]:
        params = {"queue": queue, "limit": limit, "lease_timeout": lease_timeout, "token": token}
        _, claimed, status = _split(conn.execute(self._claim, params))
        return claimed, status

    def finish(
        self,
        conn: Connection,
        leases: Sequence[Lease],
        state: str,
        ttl: float | None,
        result: bytes | None,
        error: str | None,
    ) -> list[Row]:
        kind, params = _leases(leases)
        params |= {"state": state, "ttl": ttl, "result": result, "error": error}
        statement = (self._remove if ttl == 0 else self._finish)[kind]
        return [dict(r) for r in conn.execute(statement, params).mappings()]

    def extend(self, conn: Connection, leases: Sequence[Lease], timeout: float | None) -> list[Row]:
        kind, params = _leases(leases)
        params["timeout"] = timeout
        return [dict(r) for r in conn.execute(self._extend[kind], params).mappings()]

    def finish_and_claim(
        self,
        conn: Connection,
        lease: Lease,
        ttl: float,
        result: bytes | None,
        limit: int,
        lease_timeout: float | None,
        token: str,
    ) -> tuple[Row | None, list[Row], Status | None]:
        params = _leases([lease])[1] | {
            "state": "completed",
            "ttl": ttl,
            "result": result,
            "error": None,
            "queue": lease.queue,
            "limit": limit,
            "lease_timeout": lease_timeout,
            "token": token,
        }
        statement = self._remove_and_claim if ttl == 0 else self._finish_and_claim
        acked, claimed, status = _split(conn.execute(statement, params))
        return (acked[0] if acked else None), claimed, status


def _split(result: Any) -> tuple[list[Row], list[Row], Status | None]:
    """A claim's reply, by kind: the acked rows, the leased rows, and the status."""
    acked: list[Row] = []
    claimed: list[Row] = []
    status = None
    for row in result:
        if row.kind == "s":
            status = Status.of(row)
            continue
        values = dict(row._mapping)
        for name in ("kind", "q_paused", "q_limited", "q_due"):
            del values[name]
        (acked if row.kind == "a" else claimed).append(values)
    return acked, claimed, status


def token_seq(token: str) -> int:
    """The seq of the job a lease token was issued for (0, which no job has, if none)."""
    seq = token.rpartition("-")[2]
    return int(seq) if seq.isdigit() and len(seq) < 19 else 0


def _leases(leases: Sequence[Lease]) -> tuple[str, dict[str, Any]]:
    """Which form of a statement on leases to use, and its parameters."""
    if len(leases) == 1:
        [lease] = leases
        seq = token_seq(lease.token)
        return "one", {
            "seq": seq,
            "lease_queue": lease.queue,
            "lease_id": lease.id,
            "lease_token": lease.token,
        }
    return "many", {
        "seqs": [token_seq(lease.token) for lease in leases],
        "leases": [f"{lease.queue} {lease.id} {lease.token}" for lease in leases],
    }


class SQLiteStatements(Statements):
    def __init__(self, t: Tables, dialect: str, channel: str) -> None:
        super().__init__(t, dialect, channel)
        jobs, queues, now = t.jobs.fullname, t.queues.fullname, self.now
        self._insert = _insert_one(self, jobs, now)
        self._claim_sql = self._typed(
            f"UPDATE {jobs} SET state = 'leased', attempts = attempts + 1, token = :token || seq, "
            f"settled = false, due_at = {now} + coalesce(:lease_timeout, lease_timeout), "
            f"first_dequeued_at = coalesce(first_dequeued_at, {now}), last_dequeued_at = {now} "
            f"WHERE seq IN (SELECT seq FROM {jobs} WHERE queue = :queue AND state = 'ready' "
            f"AND coalesce({self._due} > {now}, true) "
            f"AND NOT EXISTS (SELECT 1 FROM {queues} WHERE name = :queue AND (paused OR limited)) "
            f"ORDER BY priority, run_at, seq LIMIT :limit) RETURNING *",
            *self._columns,
        )
        held = (
            "(queue, id, token) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
            f"json_extract(value, '$[2]') FROM json_each(:leases)) AND state = 'leased' AND due_at > {now}"
        )
        self._finish = self._typed(
            f"UPDATE {jobs} SET state = :state, finished_at = {now}, due_at = {now} + :ttl, settled = true, "
            f"result = :result, last_error = coalesce(:error, last_error) "
            f"WHERE {held} RETURNING {_FINISHED_SQL}, {now} AS {NOW}",
            *_FINISHED,
            NOW,
        )
        self._remove = self._typed(
            f"DELETE FROM {jobs} WHERE {held} RETURNING {_FINISHED_SQL}, {now} AS {NOW}", *_FINISHED, NOW
        )
        self._extend = self._typed(
            f"UPDATE {jobs} SET due_at = {now} + coalesce(:timeout, lease_timeout) WHERE {held} "
            "RETURNING queue, id, token, due_at",
            *_EXTENDED,
        )

    def insert_new(self, conn: Connection, queue: str, jobs: Sequence[NewJob], wake: str) -> list[Row] | None:
        return _insert_single(conn, self._insert, queue, jobs)

    def claim(
        self, conn: Connection, queue: str, limit: int, lease_timeout: float | None, token: str
    ) -> tuple[list[Row], Status | None]:
        params = {"queue": queue, "limit": limit, "lease_timeout": lease_timeout, "token": token}
        rows = [dict(r) for r in conn.execute(self._claim_sql, params).mappings()]
        return rows, (None if rows else self.status(conn, queue))

    def finish(
        self,
        conn: Connection,
        leases: Sequence[Lease],
        state: str,
        ttl: float | None,
        result: bytes | None,
        error: str | None,
    ) -> list[Row]:
        params = {"leases": _json(leases), "state": state, "ttl": ttl, "result": result, "error": error}
        return [dict(r) for r in conn.execute(self._remove if ttl == 0 else self._finish, params).mappings()]

    def extend(self, conn: Connection, leases: Sequence[Lease], timeout: float | None) -> list[Row]:
        params = {"leases": _json(leases), "timeout": timeout}
        return [dict(r) for r in conn.execute(self._extend, params).mappings()]


def _json(leases: Sequence[Lease]) -> str:
    return json.dumps([[lease.queue, lease.id, lease.token] for lease in leases])


class MySQLStatements(Statements):
    def __init__(self, t: Tables, dialect: str, channel: str) -> None:
        super().__init__(t, dialect, channel)
        self._insert = _insert_one(self, t.jobs.fullname, self.now)

    def insert_new(self, conn: Connection, queue: str, jobs: Sequence[NewJob], wake: str) -> list[Row] | None:
        if not conn.dialect.insert_returning:  # MySQL, MariaDB before 10.5
            return None
        return _insert_single(conn, self._insert, queue, jobs)


def _insert_one(statements: Statements, jobs: str, now: str) -> Executable:
    """One new job, unless its id exists (SQLite, MariaDB)."""
    return statements._typed(
        f"INSERT INTO {jobs} ({_NEW}) SELECT :queue, :id, CASE WHEN v.r > {now} THEN 'scheduled' "
        f"ELSE 'ready' END, :priority, :job_key, :payload, v.r, CASE WHEN v.r > {now} THEN v.r END, 0, "
        f":max_attempts, :lease_timeout, {now}, false, false "
        f"FROM (SELECT coalesce(:run_at, {now} + :delay) AS r) AS v "
        f"WHERE NOT EXISTS (SELECT 1 FROM {jobs} WHERE queue = :queue AND id = :id) RETURNING {_INSERTED}",
        *_INSERTED.split(", "),
    )


def _job_params(queue: str, job: NewJob) -> dict[str, Any]:
    return {
        "queue": queue,
        "id": job.id,
        "priority": job.priority,
        "job_key": job.key,
        "payload": job.payload,
        "run_at": job.run_at,
        "delay": job.delay,
        "max_attempts": job.max_attempts,
        "lease_timeout": job.lease_timeout,
    }


def _insert_single(
    conn: Connection, statement: Executable, queue: str, jobs: Sequence[NewJob]
) -> list[Row] | None:
    if len(jobs) != 1:
        return None
    try:
        return [dict(r) for r in conn.execute(statement, _job_params(queue, jobs[0])).mappings()]
    except IntegrityError:  # a concurrent enqueue of the same id won (MariaDB)
        return []


def statements(t: Tables, dialect: str, channel: str) -> Statements:
    """The one-statement forms for ``dialect`` (a SQLAlchemy dialect name); PostgreSQL
    notifies on ``channel``."""
    kinds: dict[str, type[Statements]] = {
        "postgresql": PostgresStatements,
        "sqlite": SQLiteStatements,
        "mysql": MySQLStatements,
        "mariadb": MySQLStatements,
    }
    return kinds[dialect](t, dialect, channel)
