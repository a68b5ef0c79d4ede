"""kanal's tables, their indexes, and the versioned migrations that create them.

Every name starts with the configured prefix (``kanal_jobs`` …), optionally in a
PostgreSQL schema. Times are epoch seconds (double precision) from the database's clock.

``<prefix>_jobs``: one row per job. ``due_at`` is the one timer a job has at a time: its
run time while scheduled, its lease expiry while leased, its expiry while a finished job
is kept as a tombstone. One index on ``(queue, due_at)`` serves every timer, and a
partial index on the ready jobs (``state = 'ready'``) serves dequeue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    column,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.types import TypeEngine

from kanal.errors import ConfigError
from kanal_sql.dialects import is_denied, now

#: Names, ids and keys are ASCII (kanal validates them) and compared byte for byte.
NAME = String(128).with_variant(
    mysql.VARCHAR(128, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
)
BLOB = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
SEQ: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")

#: PostgreSQL storage settings for the jobs table, whose rows are updated and deleted
#: all the time: room on each page for updates that stay on the page, and vacuum after
#: 1% of the rows changed rather than 20% (see docs/backends/sql.md).
JOBS_STORAGE = {
    "fillfactor": "70",
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_insert_scale_factor": "0.01",
    "autovacuum_analyze_scale_factor": "0.02",
    "autovacuum_vacuum_cost_delay": "1",
}


@dataclass(frozen=True, slots=True)
class Tables:
    """kanal's tables under one prefix (and schema)."""

    metadata: MetaData
    jobs: Table
    queues: Table
    limits: Table
    buckets: Table
    versions: Table
    prefix: str

    @property
    def lock_name(self) -> str:
        """The name migrations lock on, so that only one process migrates at a time."""
        schema = self.metadata.schema
        return f"kanal-migrate:{schema + '.' if schema else ''}{self.prefix}"


def tables(prefix: str, schema: str | None = None) -> Tables:
    """Build the table definitions for ``prefix`` (validated by the caller)."""
    md = MetaData(schema=schema)
    ready = column("state") == "ready"
    jobs = Table(
        f"{prefix}_jobs",
        md,
        Column("seq", SEQ, primary_key=True, autoincrement=True),
        Column("queue", NAME, nullable=False),
        Column("id", NAME, nullable=False),
        Column("state", String(9), nullable=False),
        Column("priority", Integer, nullable=False),
        Column("job_key", NAME),
        Column("payload", BLOB, nullable=False),
        Column("run_at", Double, nullable=False),
        Column("due_at", Double),
        Column("attempts", Integer, nullable=False),
        Column("max_attempts", Integer),
        Column("lease_timeout", Double, nullable=False),
        Column("enqueued_at", Double, nullable=False),
        Column("first_dequeued_at", Double),
        Column("last_dequeued_at", Double),
        Column("finished_at", Double),
        Column("token", String(40)),
        Column("settled", Boolean, nullable=False),
        Column("watched", Boolean, nullable=False),
        Column("last_error", Text),
        Column("result", BLOB),
        Index(f"{prefix}_jobs_queue_id", "queue", "id", unique=True),
        Index(
            f"{prefix}_jobs_ready",
            "queue",
            "state",
            "priority",
            "run_at",
            "seq",
            postgresql_where=ready,
            sqlite_where=ready,
        ),
        Index(
            f"{prefix}_jobs_due",
            "queue",
            "due_at",
            postgresql_where=column("due_at").is_not(None),
            sqlite_where=column("due_at").is_not(None),
        ),
        Index(f"{prefix}_jobs_state", "queue", "state", "job_key"),
        postgresql_with=JOBS_STORAGE,
    )
    queues = Table(
        f"{prefix}_queues",
        md,
        Column("name", NAME, primary_key=True),
        Column("paused", Boolean, nullable=False),
        #: Whether any rate or concurrency limit is set (dequeue takes the fast path if not).
        Column("limited", Boolean, nullable=False),
    )
    limits = Table(
        f"{prefix}_limits",
        md,
        Column("queue", NAME, primary_key=True),
        #: ``""`` for the queue itself, ``"*"`` for each key, else the key.
        Column("scope", NAME, primary_key=True),
        Column("rate", Double),
        Column("burst", Double),
        Column("concurrency", Integer),
    )
    buckets = Table(
        f"{prefix}_buckets",
        md,
        Column("queue", NAME, primary_key=True),
        Column("scope", NAME, primary_key=True),
        Column("tokens", Double, nullable=False),
        Column("updated", Double, nullable=False),
        #: When the bucket is full again; a full bucket is the same as none and is deleted.
        Column("full_at", Double, nullable=False),
        Index(f"{prefix}_buckets_full", "queue", "full_at"),
    )
    versions = Table(
        f"{prefix}_schema",
        md,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("applied_at", Double, nullable=False),
    )
    return Tables(md, jobs, queues, limits, buckets, versions, prefix)


# ------------------------------------------------------------------------ migrations

#: Each migration brings the schema from the version before it to its own number.
Migration = Callable[[Connection, Tables], None]


def _v1_create(conn: Connection, t: Tables) -> None:
    t.metadata.create_all(conn, tables=[t.jobs, t.queues, t.limits, t.buckets])


MIGRATIONS: list[tuple[int, str, Migration]] = [(1, "create the tables", _v1_create)]
LATEST = MIGRATIONS[-1][0]
#: Seconds a process waits for another one's migration (MariaDB/MySQL's GET_LOCK).
LOCK_TIMEOUT = 60


def version(conn: Connection, t: Tables) -> int:
    """The schema version recorded in the database (0: none)."""
    if not inspect(conn).has_table(t.versions.name, schema=t.versions.schema):
        return 0
    return int(conn.execute(select(func.coalesce(func.max(t.versions.c.version), 0))).scalar_one())


def migrate(conn: Connection, t: Tables) -> int:
    """Apply the pending migrations under a database lock; the version reached.

    Many processes may start at once: one migrates, the others wait for the lock and then
    find nothing left to do.
    """
    if version(conn, t) == LATEST:
        return LATEST
    name = conn.dialect.name
    try:
        if name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(t.lock_name))))
        elif (
            name in ("mysql", "mariadb")
            and conn.execute(select(func.get_lock(t.lock_name, LOCK_TIMEOUT))).scalar() != 1
        ):
            raise ConfigError(
                f"another process has been migrating kanal's tables for over {LOCK_TIMEOUT} s "
                f"(it holds the lock {t.lock_name!r}); try again once it is done"
            )
        try:
            t.metadata.create_all(conn, tables=[t.versions])
            current = version(conn, t)
            for number, _, step in MIGRATIONS:
                if number > current:
                    step(conn, t)
                    conn.execute(insert(t.versions).values(version=number, applied_at=now(conn)))
            return LATEST
        finally:
            if name in ("mysql", "mariadb"):
                conn.execute(select(func.release_lock(t.lock_name)))
    except DBAPIError as exc:
        if is_denied(exc):
            raise ConfigError(
                f"kanal may not create its tables here ({_first_line(exc)}): have an owner of the "
                f"database apply the DDL that `kanal_sql.ddl(url)` prints, then connect with "
                f"migrate=false"
            ) from None
        raise


def ddl(dialect: str | Dialect, t: Tables) -> str:
    """The SQL that creates kanal's tables on ``dialect`` (``postgresql``, ``mysql``, ``sqlite``)."""
    if isinstance(dialect, str):
        dialects = {"postgresql": postgresql, "mysql": mysql, "mariadb": mysql, "sqlite": sqlite}
        if dialect not in dialects:
            raise ConfigError(f"no DDL for {dialect!r}: choose postgresql, mysql or sqlite")
        dialect = dialects[dialect].dialect()
    assert not isinstance(dialect, str)
    out = []
    for table in (t.versions, t.jobs, t.queues, t.limits, t.buckets):
        out.append(str(CreateTable(table).compile(dialect=dialect)).strip() + ";")
        out += [str(CreateIndex(index).compile(dialect=dialect)).strip() + ";" for index in table.indexes]
    out.append(f"INSERT INTO {t.versions.fullname} (version, applied_at) VALUES ({LATEST}, 0);")
    return "\n\n".join(out) + "\n"


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0]
