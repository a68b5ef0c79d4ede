"""``kanal schema show`` and ``kanal schema migrate``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cli_support import Cli

pytest_plugins = ["cli_support"]


@pytest.mark.parametrize(
    ("url", "dialect", "fragment"),
    [
        ("sqlite:///jobs.db", "sqlite", "CREATE TABLE kanal_jobs ("),
        ("postgresql://db.example/app?schema=jobs", "postgresql", "CREATE TABLE jobs.kanal_jobs ("),
        ("mysql://db.example/app?prefix=shop", "mysql", "CREATE TABLE shop_jobs ("),
    ],
)
def test_schema_show_prints_the_ddl_without_connecting(
    cli: Cli, url: str, dialect: str, fragment: str
) -> None:
    shown = cli("schema", "show", url)
    assert shown.exit_code == 0, shown.output
    assert fragment in shown.stdout
    assert shown.stdout.endswith(";\n")
    as_json = cli.json("schema", "show", "--url", url)
    assert (as_json["url"], as_json["dialect"]) == (url, dialect)
    # The same statements (kanal_sql lists a table's indexes in no fixed order).
    assert sorted(as_json["ddl"].split("\n\n")) == sorted(shown.stdout.split("\n\n"))


def test_schema_show_takes_the_url_from_the_environment(cli: Cli) -> None:
    assert cli.json("schema", "show")["url"] == cli.url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://:pw@localhost:6379/0", "not a SQL URL: 'redis://:***@localhost:6379/0'"),
        ("memory://", "not a SQL URL: 'memory://'"),
        ("sqlite:///jobs.db?prefix=Bad-Prefix", "bad prefix 'Bad-Prefix'"),
    ],
)
def test_schema_refuses_other_urls_in_one_line(cli: Cli, url: str, message: str) -> None:
    for command in ("show", "migrate"):
        assert cli.error("schema", command, url).startswith(message)


def test_schema_wants_the_url_once(cli: Cli) -> None:
    assert "give the URL once" in cli.usage_error(
        "schema", "show", "sqlite:///a.db", "--url", "sqlite:///b.db"
    )


def test_schema_migrate_creates_the_tables_then_has_nothing_to_do(cli: Cli) -> None:
    created = cli("schema", "migrate")
    assert created.exit_code == 0, created.output
    assert (
        created.stdout
        == f"kanal's tables at {cli.url} (prefix kanal): applied migration 1 (create the tables)\n"
    )
    assert cli.json("schema", "migrate") == {"url": cli.url, "from_version": 1, "version": 1, "applied": []}
    assert cli("schema", "migrate").stdout.endswith("are at version 1, the latest; nothing to do\n")
    assert cli.json("stats", "--url", f"{cli.url}?migrate=false") == []  # the tables are there


def test_schema_migrate_on_postgres_in_a_process_of_its_own(fresh_secret_cli: Cli) -> None:
    done = fresh_secret_cli.process("schema", "migrate", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "url": fresh_secret_cli.url.replace(":s3cret@", ":***@"),
        "from_version": 0,
        "version": 1,
        "applied": [{"version": 1, "description": "create the tables"}],
    }
    again = fresh_secret_cli("schema", "migrate")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("kanal's tables at postgresql://postgres:***@")
    assert "s3cret" not in done.stdout + done.stderr + again.output
