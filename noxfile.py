"""Developer and CI sessions. Run inside the locked environment: ``uv run nox``.

Sessions use the project's own uv-managed environment (``venv_backend="none"``), so
what runs is exactly what ``uv.lock`` pins.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "types", "tests", "docs"]
nox.options.error_on_missing_interpreters = True


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and the unasync drift check."""
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "scripts/unasync.py", "--check")


@nox.session(venv_backend="none")
def types(session: nox.Session) -> None:
    """mypy --strict on the packages, the benchmarks, the scripts and the tests."""
    session.run("mypy")
    # Each test folder has its own conftest module, so each is checked in a run of its own.
    session.run("mypy", "--strict", "benchmarks", "scripts", "tests")
    session.run("mypy", "--strict", "backends/redis/tests")
    session.run("mypy", "--strict", "backends/sql/tests")


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The whole test suite: core unit tests and the conformance suite on every backend.

    Redis is the server at $KANAL_REDIS_URL (default: the local one); the Redis Cluster
    tests start their own nodes unless $KANAL_REDIS_CLUSTER_URL names one. PostgreSQL and
    MariaDB are $KANAL_POSTGRES_URL and $KANAL_MYSQL_URL (default: the local ones); SQLite
    is a temporary file.
    """
    defaults = {
        "KANAL_REDIS_URL": "redis://127.0.0.1:6379/0",
        "KANAL_POSTGRES_URL": "postgresql://postgres@127.0.0.1:5432/test",
        "KANAL_MYSQL_URL": "mysql://root@127.0.0.1:3306/test",
    }
    env = {name: os.environ.get(name, default) for name, default in defaults.items()}
    session.run("pytest", *session.posargs, env=env)


@nox.session(venv_backend="none")
def memory(session: nox.Session) -> None:
    """The conformance suite on the memory backend only."""
    session.run("pytest", "conformance_tests/tests/test_memory.py", *session.posargs)


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """Build the documentation; any warning fails."""
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Benchmarks (not part of the default run): ``uv run nox -s bench -- --system ...``."""
    args = session.posargs or ["--system", "kanal:memory://", "--system", "kanal-async:memory://"]
    session.run("python", "benchmarks/run.py", *args, env={"PYTHONPATH": os.getcwd()})
