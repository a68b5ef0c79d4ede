"""Count what one kanal operation costs on a SQL database: statements and round trips.

    uv run python benchmarks/sql_round_trips.py postgresql://postgres@127.0.0.1:5432/test \\
        mysql://root@127.0.0.1:3306/test sqlite:////tmp/kanal-rt.db

For each operation it runs a few warm-up calls (psycopg prepares a statement on its fifth
run), then averages over ``--calls`` calls:

- ``statements``: cursor executions SQLAlchemy reports (``before_cursor_execute``),
  transaction control included where kanal sends it as SQL;
- ``round trips``: what the driver sent and waited for. PostgreSQL: libpq's protocol trace,
  one per ``Query`` or ``Sync`` message (BEGIN, COMMIT, pings and prepares included);
  MariaDB/MySQL: PyMySQL commands (``COM_QUERY``, ``COM_PING`` ...); SQLite has none.

Tables are under ``?prefix=krt`` (dropped at the end).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import Pool

import kanal
from kanal_sql import schema
from kanal_sql.config import SQLConfig

PREFIX = "krt"


class Counter:
    """Statements (SQLAlchemy) and round trips (the driver) seen since the last reset."""

    def __init__(self) -> None:
        self.statements = 0
        self.commands = 0
        self._traces: list[tuple[Any, str]] = []
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Pool, "connect", self._connected)
        import pymysql.connections  # type: ignore[import-untyped, unused-ignore]

        connection: Any = pymysql.connections.Connection
        original = connection._execute_command

        def counted(conn: Any, command: int, sql: Any) -> Any:
            self.commands += 1
            return original(conn, command, sql)

        connection._execute_command = counted

    def _statement(self, *_: Any) -> None:
        self.statements += 1

    def _connected(self, dbapi_connection: Any, _record: Any) -> None:
        pgconn = getattr(dbapi_connection, "pgconn", None)
        if pgconn is None:
            return
        fd, path = tempfile.mkstemp(prefix="kanal-libpq-trace-")
        pgconn.trace(fd)
        pgconn.set_trace_flags(1)  # PQTRACE_SUPPRESS_TIMESTAMPS
        self._traces.append((pgconn, path))

    def _pg_round_trips(self) -> int:
        total = 0
        for _, path in self._traces:
            with open(path) as f:
                for line in f:
                    parts = line.split("\t")
                    if len(parts) > 2 and parts[0] == "F" and parts[2].strip() in ("Query", "Sync"):
                        total += 1
        return total

    def snapshot(self) -> tuple[int, int]:
        return self.statements, self.commands + self._pg_round_trips()

    def close(self) -> None:
        for pgconn, path in self._traces:
            if not pgconn.status:  # still open
                pgconn.untrace()
            os.unlink(path)


def measure(counter: Counter, calls: int, op: Callable[[], Any]) -> tuple[float, float]:
    for _ in range(6):
        op()
    before = counter.snapshot()
    for _ in range(calls):
        op()
    after = counter.snapshot()
    return (after[0] - before[0]) / calls, (after[1] - before[1]) / calls


def run(url: str, calls: int, counter: Counter) -> list[tuple[str, float, float]]:
    sep = "&" if "?" in url else "?"
    q = kanal.connect(f"{url}{sep}prefix={PREFIX}")
    rows: list[tuple[str, float, float]] = []
    n = [0]

    def name() -> str:
        n[0] += 1
        return f"rt{n[0]}"

    try:
        queue = name()
        q.enqueue(queue, "warm")
        rows.append(("enqueue", *measure(counter, calls, lambda: q.enqueue(queue, {"n": 1}))))
        rows.append(
            ("enqueue_many (100)", *measure(counter, calls, lambda: q.enqueue_many(queue, range(100))))
        )
        q.purge(queue)
        for _ in range(calls + 10):
            q.enqueue_many(queue, range(100))
        held: list[Any] = []
        rows.append(("dequeue (1)", *measure(counter, calls, lambda: held.extend(q.dequeue(queue)))))
        rows.append(("ack", *measure(counter, calls, lambda: q.ack(held.pop()))))
        batch: list[Any] = []
        rows.append(
            ("dequeue (100)", *measure(counter, calls, lambda: batch.append(q.dequeue(queue, limit=100))))
        )
        rows.append(("extend", *measure(counter, calls, lambda: q.extend(batch[-1][0]))))
        rows.append(("extend_many (100)", *measure(counter, calls, lambda: q.extend_many(batch[-1]))))
        rows.append(("ack_many (100)", *measure(counter, calls, lambda: q.ack_many(batch.pop()))))
        step = [q.dequeue(queue)[0]]

        def worker_step() -> None:
            _, step[:] = q.ack_and_dequeue(step[0])

        rows.append(("ack_and_dequeue", *measure(counter, calls, worker_step)))
        q.purge(queue)
        rows.append(("dequeue, empty queue", *measure(counter, calls, lambda: q.dequeue(queue))))
    finally:
        q.close()
        config = SQLConfig.parse(url, {})
        engine = create_engine(config.sync_url)
        with engine.begin() as conn:
            schema.tables(PREFIX, config.schema).metadata.drop_all(conn)
        engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    counter = Counter()
    try:
        for url in args.urls:
            print(f"\n{kanal.url.redact(url)}")
            print(f"{'operation':24} {'statements':>10} {'round trips':>12}")
            for op, statements, trips in run(url, args.calls, counter):
                print(f"{op:24} {statements:10.2f} {trips:12.2f}")
    finally:
        counter.close()


if __name__ == "__main__":
    main()
