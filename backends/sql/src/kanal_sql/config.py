"""SQL URLs: ``postgresql://``, ``mysql://``, ``mariadb://`` and ``sqlite:///path``.

kanal picks the driver for each dialect (psycopg 3; PyMySQL and aiomysql; sqlite3 and
aiosqlite) and takes its own query parameters (``prefix``, ``schema``, ``migrate``) out;
everything else in the URL goes to the driver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

from kanal.errors import ConfigError
from kanal.url import redact

Dialect = Literal["postgresql", "mysql", "sqlite"]

#: URL scheme (before any ``+driver``) to dialect, sync driver and async driver.
_SCHEMES: dict[str, tuple[Dialect, str, str]] = {
    "postgresql": ("postgresql", "postgresql+psycopg", "postgresql+psycopg"),
    "postgres": ("postgresql", "postgresql+psycopg", "postgresql+psycopg"),
    "mysql": ("mysql", "mysql+pymysql", "mysql+asyncmy"),
    "mariadb": ("mysql", "mariadb+pymysql", "mariadb+asyncmy"),
    "sqlite": ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"),
}
#: Drivers a URL may name; kanal still picks the sync and async one itself.
_DRIVERS = {
    "postgresql": {"psycopg"},
    "mysql": {"pymysql", "asyncmy"},
    "sqlite": {"pysqlite", "aiosqlite"},
}
_OPTIONS = ("prefix", "schema", "migrate")
#: Table prefixes and schema names: plain lower-case identifiers, never quoted.
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,39}")
DEFAULT_PREFIX = "kanal"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class SQLConfig:
    """Which database, through which drivers, and where kanal's tables are."""

    dialect: Dialect
    sync_url: URL
    async_url: URL
    #: The URL with any password redacted, for messages.
    shown: str
    prefix: str
    schema: str | None
    #: Create or upgrade the tables on first use (``migrate=false`` to manage them yourself).
    migrate: bool

    @classmethod
    def parse(cls, url: str, options: dict[str, Any]) -> SQLConfig:
        """Read ``url`` and the backend options; bad input is a ConfigError naming the URL."""
        shown = redact(url)
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ConfigError(
                f"unknown SQL backend option(s): {', '.join(unknown)}; allowed: {', '.join(_OPTIONS)}"
            )
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as exc:
            raise ConfigError(
                f"not a valid SQL URL: {shown!r} ({type(exc).__name__}); percent-encode special "
                "characters in the user name and password"
            ) from None
        base, _, driver = parsed.drivername.partition("+")
        if base not in _SCHEMES:
            raise ConfigError(
                f"not a SQL URL: {shown!r}; use postgresql://, mysql://, mariadb:// or sqlite:///path"
            )
        dialect, sync_driver, async_driver = _SCHEMES[base]
        if driver and driver not in _DRIVERS[dialect]:
            raise ConfigError(
                f"kanal talks to {dialect} through {' or '.join(sorted(_DRIVERS[dialect]))}, "
                f"not {driver!r}: {shown!r}"
            )
        query = dict(parsed.query)
        ours = {name: query.pop(name) for name in _OPTIONS if name in query}
        for name, value in ours.items():
            if not isinstance(value, str):
                raise ConfigError(f"{name}= is given twice in {shown!r}")
            if name in options and options[name] != _typed(name, value, shown):
                raise ConfigError(f"two different {name} values given, in the URL {shown!r} and as an option")
        settings = {name: _typed(name, str(value), shown) for name, value in ours.items()} | options
        prefix = _identifier("prefix", settings.get("prefix", DEFAULT_PREFIX), shown)
        schema = settings.get("schema")
        if schema is not None:
            schema = _identifier("schema", schema, shown)
            if dialect != "postgresql":
                raise ConfigError(f"schema= is for PostgreSQL; on {dialect} use prefix=: {shown!r}")
        migrate = settings.get("migrate", True)
        if not isinstance(migrate, bool):
            raise ConfigError(f"migrate must be true or false, got {migrate!r}")
        stripped = parsed.set(query=query)
        if dialect == "sqlite":
            _check_sqlite(stripped, shown)
        elif not stripped.host and not query.get("host") and not query.get("unix_socket"):
            raise ConfigError(f"no database host in {shown!r}")
        return cls(
            dialect=dialect,
            sync_url=stripped.set(drivername=sync_driver),
            async_url=stripped.set(drivername=async_driver),
            shown=shown,
            prefix=prefix,
            schema=schema,
            migrate=migrate,
        )


def _typed(name: str, value: str, shown: str) -> Any:
    if name != "migrate":
        return value
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"migrate= must be true or false in {shown!r}, got {value!r}")


def _identifier(name: str, value: object, shown: str) -> str:
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise ConfigError(
            f"bad {name} {value!r} for {shown!r}: use 1-40 of a-z, 0-9 and _, not starting with a digit"
        )
    return value


def _check_sqlite(url: URL, shown: str) -> None:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:") or "mode=memory" in database:
        raise ConfigError(
            f"kanal keeps SQLite jobs in a file, so that they survive a restart and every connection "
            f"sees them: use sqlite:///path/to/jobs.db (or memory:// for tests), not {shown!r}"
        )
