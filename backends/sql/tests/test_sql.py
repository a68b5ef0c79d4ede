"""What the SQL backend promises beyond the conformance suite, on every dialect."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import drop_tables, with_prefix
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Session

import kanal
from kanal import BackendUnavailable, ConfigError, InvalidArgument, JobState, WaitTimeout
from kanal_conformance.harness import unique_name
from kanal_sql import SQLBackend, ddl, schema
from kanal_sql.config import SQLConfig

DIALECTS = ["postgresql", "mysql", "sqlite"]


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(dialect: str, request: pytest.FixtureRequest) -> str:
    """The session's database of ``dialect``, with kanal's tables under the session prefix."""
    fixture = {"postgresql": "postgres_url", "mysql": "mysql_url", "sqlite": "sqlite_url"}[dialect]
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def fresh_url(url: str) -> Iterator[str]:
    """``url`` with a table prefix of this test's own (no tables yet); dropped afterwards."""
    prefix = unique_name("kf_")[:20]
    base = url.split("?prefix=")[0].split("&prefix=")[0]
    yield with_prefix(base, prefix)
    drop_tables(base, prefix)


def _engine_url(url: str) -> Any:
    return SQLConfig.parse(url, {}).sync_url


def _job_rows(url: str, queue: str) -> int:
    config = SQLConfig.parse(url, {})
    jobs = schema.tables(config.prefix, config.schema).jobs
    engine = create_engine(config.sync_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(jobs.c.queue == queue)).scalar_one())
    finally:
        engine.dispose()


# ---------------------------------------------------------------------- transactional enqueue


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
def test_enqueue_joins_the_callers_connection_transaction(url: str, commit: bool) -> None:
    q, qname = kanal.connect(url), unique_name()
    engine = create_engine(_engine_url(url))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            job = q.enqueue(qname, {"order": 1}, connection=conn)
            if commit:
                conn.commit()
            else:
                conn.rollback()
        stored = q.get(qname, job.id)
        assert (stored is not None) is commit
        assert [lease.id for lease in q.dequeue(qname, limit=5)] == ([job.id] if commit else [])
    finally:
        engine.dispose()
        q.close()


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
def test_enqueue_many_joins_the_callers_session(url: str, commit: bool) -> None:
    q, qname = kanal.connect(url), unique_name()
    engine = create_engine(_engine_url(url))
    try:
        with Session(engine) as session:
            session.execute(text("SELECT 1"))
            jobs = q.enqueue_many(qname, ["a", "b"], connection=session)
            if commit:
                session.commit()
            else:
                session.rollback()
        assert [q.get(qname, job.id) is not None for job in jobs] == [commit, commit]
        assert q.stats(qname).ready == (2 if commit else 0)
    finally:
        engine.dispose()
        q.close()


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
def test_async_enqueue_joins_the_callers_async_connection(url: str, commit: bool) -> None:
    qname = unique_name()

    async def scenario() -> tuple[kanal.Job, kanal.Job | None]:
        engine = create_async_engine(SQLConfig.parse(url, {}).async_url)
        async with kanal.connect_async(url) as q:
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                    job = await q.enqueue(qname, "x", connection=conn)
                    await (conn.commit() if commit else conn.rollback())
            finally:
                await engine.dispose()
            return job, await q.get(qname, job.id)

    job, stored = asyncio.run(scenario())
    assert (stored is not None) is commit
    if stored is not None:
        assert (stored.id, stored.payload, stored.state) == (job.id, "x", JobState.READY)


def test_a_failed_joined_enqueue_leaves_the_callers_transaction_usable(url: str) -> None:
    q, qname = kanal.connect(url, max_payload_bytes=100), unique_name()
    engine = create_engine(_engine_url(url))
    try:
        with engine.connect() as conn:
            kept = q.enqueue(qname, "kept", id="same", connection=conn)
            again = q.enqueue(qname, "other", id="same", connection=conn)  # exists: returned as is
            assert again == kept
            conn.commit()
        assert q.get(qname, "same") == kept
    finally:
        engine.dispose()
        q.close()


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
def test_a_joined_enqueue_on_a_new_database_sets_the_schema_up_first(fresh_url: str, commit: bool) -> None:
    engine = create_engine(_engine_url(fresh_url))
    try:
        with kanal.connect(fresh_url) as q:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                job = q.enqueue("first", "hello", connection=conn)
                if commit:
                    conn.commit()
                else:
                    conn.rollback()
            assert (q.get("first", job.id) is not None) is commit
            later = q.enqueue("first", "later")
            assert q.get("first", later.id) == later
    finally:
        engine.dispose()


def test_joining_a_transaction_needs_a_sql_backend() -> None:
    with kanal.connect("memory://") as q, pytest.raises(InvalidArgument, match="SQL backend"):
        q.enqueue("q", 1, connection=object())


def test_joining_needs_a_connection_or_session(url: str) -> None:
    with kanal.connect(url) as q, pytest.raises(InvalidArgument, match="Connection or Session"):
        q.enqueue(unique_name(), 1, connection="not a connection")


# ---------------------------------------------------------------------- schema


def test_ddl_is_printed_per_dialect_with_the_prefix() -> None:
    pg = ddl("postgresql://db.example/app?prefix=jobs&schema=work")
    assert "CREATE TABLE work.jobs_jobs" in pg
    assert "WHERE state = 'ready'" in pg
    assert "autovacuum_vacuum_scale_factor" in pg
    my = ddl("mysql://db.example/app")
    assert "CREATE TABLE kanal_jobs" in my
    assert "COLLATE ascii_bin" in my
    assert "CREATE TABLE kanal_jobs" in ddl("sqlite:///x.db")


def test_many_clients_starting_at_once_migrate_once(fresh_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        try:
            barrier.wait()
            with kanal.connect(fresh_url) as q:
                q.enqueue(unique_name(), "hello")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    config = SQLConfig.parse(fresh_url, {})
    engine = create_engine(config.sync_url)
    try:
        with engine.connect() as conn:
            versions = schema.tables(config.prefix, config.schema).versions
            assert conn.execute(select(versions.c.version)).scalars().all() == [schema.LATEST]
    finally:
        engine.dispose()


def test_a_migration_lock_held_too_long_is_a_config_error(
    mysql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = unique_name("kl_")[:20]
    url = with_prefix(mysql_url.split("?")[0], prefix)
    monkeypatch.setattr(schema, "LOCK_TIMEOUT", 1)
    holder = create_engine(_engine_url(url))
    try:
        with holder.connect() as conn:  # another process, in the middle of migrating
            assert conn.execute(select(func.get_lock(f"kanal-migrate:{prefix}", 0))).scalar() == 1
            with kanal.connect(url) as q, pytest.raises(ConfigError, match="migrating"):
                q.enqueue("q", 1)
            conn.execute(select(func.release_lock(f"kanal-migrate:{prefix}")))
        with kanal.connect(url) as q:  # once it is done
            assert q.get("q", q.enqueue("q", 2).id) is not None
    finally:
        holder.dispose()
        drop_tables(mysql_url.split("?")[0], prefix)


def test_migrate_false_explains_missing_tables(fresh_url: str) -> None:
    with kanal.connect(fresh_url, migrate=False) as q, pytest.raises(ConfigError, match="DDL") as info:
        q.enqueue("q", 1)
    assert "version 0" in str(info.value)


def test_applied_ddl_lets_migrate_false_work(fresh_url: str) -> None:
    config = SQLConfig.parse(fresh_url, {})
    engine = create_engine(config.sync_url)
    try:
        with engine.begin() as conn:
            for statement in ddl(fresh_url).split(";\n"):
                if statement.strip():
                    conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    with kanal.connect(fresh_url, migrate=False) as q:
        job = q.enqueue("q", "works")
        assert q.get("q", job.id) == job


def test_a_user_without_ddl_rights_is_told_how_to_apply_the_schema(postgres_url: str) -> None:
    role, prefix = unique_name("kanal_ro_")[:30].lower(), unique_name("kr_")[:20]
    base = postgres_url.split("?")[0]
    admin = create_engine(_engine_url(base), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
            conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA public FROM {role}")
            conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        url = base.replace("postgres@", f"{role}@") + f"?prefix={prefix}"
        with kanal.connect(url) as q, pytest.raises(ConfigError, match="apply the DDL"):
            q.enqueue("q", 1)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql("GRANT CREATE ON SCHEMA public TO PUBLIC")
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("bad_url", "why"),
    [
        ("postgresql://h/db?prefix=Bad-Name", "bad prefix"),
        ("postgresql://h/db?prefix=x;drop", "bad prefix"),
        ("postgresql://h/db?schema=public.x", "bad schema"),
        ("mysql://h/db?schema=x", "schema= is for PostgreSQL"),
        ("postgresql+asyncpg://h/db", "psycopg"),
        ("sqlite://", "in a file"),
        ("sqlite:///:memory:", "in a file"),
        ("postgresql://h/db?migrate=perhaps", "migrate"),
        ("postgresql:///db", "no database host"),
    ],
)
def test_bad_urls_are_refused_before_any_sql(bad_url: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        SQLBackend.from_url(bad_url)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown SQL backend option"):
        SQLBackend.from_url("sqlite:///x.db", colour="red")
    with pytest.raises(ConfigError, match="bad prefix"):
        SQLBackend.from_url("sqlite:///x.db", prefix="1abc")


def test_passwords_never_show(caplog: pytest.LogCaptureFixture) -> None:
    url = "postgresql://kanal:s3cret-pw@127.0.0.1:1/test"
    caplog.set_level(logging.DEBUG)
    q = kanal.connect(url)
    assert "s3cret" not in repr(q) + repr(q.backend)
    with pytest.raises(BackendUnavailable) as info:
        q.enqueue("q", 1)
    q.close()
    shown = f"{info.value} {info.value.__cause__!r} {caplog.text}"
    assert "s3cret" not in str(info.value)
    assert "127.0.0.1:1" in str(info.value)
    assert "s3cret" not in caplog.text, shown


# ---------------------------------------------------------------------- size and plans


def test_finished_jobs_leave_no_rows_behind(url: str) -> None:
    qname = unique_name()
    with kanal.connect(url, result_ttl=0) as q:
        for _ in range(5):
            q.enqueue_many(qname, range(40))
            leases = q.dequeue(qname, limit=40)
            assert len(leases) == 40
            assert q.ack_many(leases).stale == []
        assert _job_rows(url, qname) == 0


def test_tombstones_expire_and_are_removed(url: str) -> None:
    qname = unique_name()
    with kanal.connect(url, result_ttl=0.2) as q:
        q.enqueue_many(qname, range(20))
        q.ack_many(q.dequeue(qname, limit=20))
        assert _job_rows(url, qname) == 20
        time.sleep(0.3)
        assert q.stats(qname).completed == 0
        q.dequeue(qname)  # applies what time changed
        assert _job_rows(url, qname) == 0


def test_dequeue_on_postgres_uses_the_ready_index(postgres_url: str) -> None:
    qname = unique_name()
    config = SQLConfig.parse(postgres_url, {})
    jobs = schema.tables(config.prefix).jobs
    with kanal.connect(postgres_url) as q:
        q.enqueue_many(qname, range(200))
    engine = create_engine(config.sync_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            conn.exec_driver_sql(f"ANALYZE {jobs.name}")
            plan = "\n".join(
                conn.exec_driver_sql(
                    f"EXPLAIN SELECT seq FROM {jobs.name} WHERE queue = %(q)s AND state = 'ready' "
                    "ORDER BY priority, run_at, seq LIMIT 10 FOR UPDATE SKIP LOCKED",
                    {"q": qname},
                ).scalars()
            )
    finally:
        engine.dispose()
    assert f"{jobs.name}_ready" in plan, plan
    assert "Seq Scan" not in plan, plan


#: Statements each hot operation sends, transaction control included (PostgreSQL: each
#: also one round trip). SQLite's ack_and_dequeue is the ack's statement and the claim's.
STATEMENTS = {
    "postgresql": dict.fromkeys(
        ["enqueue", "enqueue_many", "dequeue", "dequeue_empty", "ack", "ack_many", "extend", "extend_many"], 1
    )
    | {"ack_and_dequeue": 1, "fail": 1},
    "sqlite": {"enqueue": 1, "dequeue": 1, "ack": 1, "ack_many": 1, "extend": 1, "extend_many": 1}
    | {"ack_and_dequeue": 2, "fail": 1, "dequeue_empty": 2},
    "mysql": {"enqueue": 1},
}


def test_hot_operations_send_one_statement(url: str, dialect: str) -> None:
    qname, seen = unique_name(), [0]

    def count(*_: Any) -> None:
        seen[0] += 1

    def sent(op: Any) -> int:
        seen[0] = 0
        op()
        return seen[0]

    with kanal.connect(url) as q:
        q.enqueue_many(qname, range(20))  # the schema checked, the queue registered
        leases = q.dequeue(qname, limit=4)
        event.listen(Engine, "before_cursor_execute", count)
        try:
            counts = {
                "enqueue": sent(lambda: q.enqueue(qname, "one")),
                "enqueue_many": sent(lambda: q.enqueue_many(qname, range(10))),
                "dequeue": sent(lambda: leases.extend(q.dequeue(qname, limit=5))),
                "ack": sent(lambda: q.ack(leases.pop())),
                "fail": sent(lambda: q.fail(leases.pop(), "no")),
                "extend": sent(lambda: q.extend(leases[0])),
                "extend_many": sent(lambda: q.extend_many(leases)),
                "ack_many": sent(lambda: q.ack_many(leases[1:])),
                "ack_and_dequeue": sent(lambda: q.ack_and_dequeue(leases[0])),
            }
            q.purge(qname)
            counts["dequeue_empty"] = sent(lambda: q.dequeue(qname))
        finally:
            event.remove(Engine, "before_cursor_execute", count)
    expected = STATEMENTS[dialect]
    assert {op: counts[op] for op in expected} == expected


def test_a_wait_leaves_no_watch_behind(postgres_url: str) -> None:
    qname = unique_name()
    config = SQLConfig.parse(postgres_url, {})
    jobs = schema.tables(config.prefix).jobs
    engine = create_engine(config.sync_url)

    def watched(job_id: str) -> bool:
        with engine.connect() as conn:
            return bool(conn.execute(select(jobs.c.watched).where(jobs.c.id == job_id)).scalar_one())

    try:
        with kanal.connect(postgres_url) as q:
            job = q.enqueue(qname, "x")
            with pytest.raises(WaitTimeout):
                q.wait(qname, job.id, timeout=0.05)
            assert watched(job.id)  # its next change notifies the waiters ...
            [lease] = q.dequeue(qname)
            assert not watched(job.id)  # ... and only that one
            q.requeue(lease)
            assert not watched(job.id)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------- concurrency


@pytest.mark.parametrize("server", ["postgres_url", "mysql_url"])
def test_eight_consumers_lose_nothing_and_never_share_a_live_lease(
    server: str, request: pytest.FixtureRequest
) -> None:
    url, qname, total = str(request.getfixturevalue(server)), unique_name(), 10_000
    with kanal.connect(url) as q:
        for start in range(0, total, 1000):
            q.enqueue_many(qname, range(start, start + 1000))
    seen: list[tuple[int, float, float]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            with kanal.connect(url) as q:
                while True:
                    leases = q.dequeue(qname, limit=25, lease_timeout=60)
                    if not leases:
                        return
                    taken = time.monotonic()
                    done = q.ack_many(leases)
                    assert done.stale == []
                    with lock:
                        seen.extend((lease.payload, taken, time.monotonic()) for lease in leases)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    counts = Counter(payload for payload, _, _ in seen)
    assert sorted(counts) == list(range(total))
    assert max(counts.values()) == 1


def test_a_claim_never_takes_more_than_asked_under_load(postgres_url: str) -> None:
    qname = unique_name()
    with kanal.connect(postgres_url) as q:
        q.enqueue_many(qname, range(600))
    sizes: list[int] = []
    lock = threading.Lock()

    def consume() -> None:
        with kanal.connect(postgres_url) as q:
            while leases := q.dequeue(qname, limit=7):
                with lock:
                    sizes.append(len(leases))

    threads = [threading.Thread(target=consume) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(sizes) == 600
    assert max(sizes) <= 7


def test_a_dropped_connection_is_replaced_and_nothing_is_half_applied(postgres_url: str) -> None:
    qname, name = unique_name(), unique_name("kanal-kill-")
    admin = create_engine(_engine_url(postgres_url.split("?")[0]), isolation_level="AUTOCOMMIT")
    try:
        with kanal.connect(f"{postgres_url}&application_name={name}") as q:
            q.enqueue(qname, "before")
            with admin.connect() as conn:
                killed = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = :n"
                    ),
                    {"n": name},
                ).scalar_one()
            assert killed >= 1
            job = q.enqueue(qname, "after")  # the pool finds the connection dead and opens another
            assert q.get(qname, job.id) == job
            assert q.stats(qname).ready == 2
    finally:
        admin.dispose()
