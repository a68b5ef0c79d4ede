"""``kanal schema``: the SQL backend's tables, printed as DDL or created and upgraded."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from kanal.cli.options import json_option, one_line_errors, url_option
from kanal.cli.output import echo_json

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from kanal_sql import SQLBackend

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def schema() -> None:
    """The tables of the SQL backend (PostgreSQL, MariaDB/MySQL, SQLite).

    kanal creates and upgrades them on first use; these commands are for managing the
    schema yourself.

    \b
    Examples:
      kanal schema show postgresql://app@db.example/app > kanal.sql
      kanal schema migrate --url postgresql://app@db.example/app
    """


def sql_url(command: F) -> F:
    """An optional URL argument, falling back to ``--url`` (and ``$KANAL_URL``)."""
    return click.argument("target", metavar="[URL]", required=False)(url_option(command))


def _backend(target: str | None, url: str) -> SQLBackend:
    """The SQL backend for the URL given, or a one-line error for any other URL."""
    try:
        from kanal_sql import SQLBackend
    except ImportError:
        raise click.ClickException(
            'kanal schema needs the SQL backend: pip install "kanal[postgres]" (or mysql, or sqlite)'
        ) from None
    if (
        target is not None
        and click.get_current_context().get_parameter_source("url") is ParameterSource.COMMANDLINE
    ):
        raise click.UsageError("give the URL once: as an argument or with --url")
    with one_line_errors():
        return SQLBackend.from_url(target or url)


@schema.command()
@sql_url
@json_option
def show(target: str | None, url: str, as_json: bool) -> None:
    """Print the SQL that creates kanal's tables on URL's database (nothing is connected to).

    Apply it yourself, then connect with ?migrate=false.

    \b
    Examples:
      kanal schema show postgresql://db.example/app?schema=jobs
      kanal schema show --url mysql://db.example/app?prefix=shop
    """
    backend = _backend(target, url)
    if as_json:
        echo_json({"url": backend.config.shown, "dialect": backend.config.dialect, "ddl": backend.ddl()})
    else:
        click.echo(backend.ddl(), nl=False)


@schema.command()
@sql_url
@json_option
def migrate(target: str | None, url: str, as_json: bool) -> None:
    """Create kanal's tables on URL's database, or bring them to the latest version.

    Safe to run while workers start: migrations run under a database lock.

    \b
    Examples:
      kanal schema migrate postgresql://app@db.example/app
      KANAL_URL=sqlite:///jobs.db kanal schema migrate
    """
    backend = _backend(target, url)
    from kanal_sql import schema as tables
    from kanal_sql.transport import Transaction

    def upgrade(conn: Connection) -> tuple[int, int]:
        return tables.version(conn, backend.tables), tables.migrate(conn, backend.tables)

    transport = backend.sync_transport()
    try:
        with one_line_errors():
            before, after = transport.run(Transaction(upgrade))
    finally:
        transport.close()
    applied = [(number, what) for number, what, _ in tables.MIGRATIONS if before < number <= after]
    if as_json:
        steps = [{"version": number, "description": what} for number, what in applied]
        echo_json({"url": backend.config.shown, "from_version": before, "version": after, "applied": steps})
        return
    where = f"kanal's tables at {backend.config.shown} (prefix {backend.config.prefix})"
    if not applied:
        click.echo(f"{where} are at version {after}, the latest; nothing to do")
    for number, what in applied:
        click.echo(f"{where}: applied migration {number} ({what})")
