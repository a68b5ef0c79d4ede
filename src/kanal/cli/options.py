"""What the ``kanal`` commands share: the ``--url``, ``--json`` and ``--yes`` options, number
types, JSON arguments, and a connection whose errors become one-line messages."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

import kanal
from kanal.models import JobState
from kanal.validation import MAX_BATCH

F = TypeVar("F", bound=Callable[..., Any])

#: The embedded default backend: a SQLite file in the working directory, so jobs survive
#: a restart (``pip install "kanal[sqlite]"``; ``$KANAL_URL`` or ``--url`` pick another).
DEFAULT_URL = "sqlite:///kanal.db"

url_option = click.option(
    "--url",
    default=DEFAULT_URL,
    show_default=True,
    envvar="KANAL_URL",
    show_envvar=True,
    help="Backend URL, e.g. redis://localhost:6379/0 or postgresql://user@host/db.",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON (times in ISO 8601, UTC)."
)
yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
key_option = click.option("--key", help="Only the jobs of this key (sub-queue or tenant).")
states_option = click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([state.value for state in JobState], case_sensitive=False),
    help="Only jobs in this state (repeatable; default: every state).",
)


def page_options(command: F) -> F:
    """``--limit`` and ``--offset`` for commands that list jobs."""
    limit = click.option(
        "--limit",
        type=click.IntRange(1, MAX_BATCH),
        default=100,
        show_default=True,
        help="Jobs to list.",
    )
    offset = click.option(
        "--offset", type=click.IntRange(min=0), default=0, show_default=True, help="Matching jobs to skip."
    )
    return limit(offset(command))


class FiniteFloat(click.FloatRange):
    """A float range that also refuses ``nan`` and ``inf``."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def parse_json(text: str, hint: str) -> Any:
    """``text`` as JSON, or a usage error (``NaN`` and ``Infinity`` are not JSON)."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise click.BadParameter(
            f"not valid JSON ({exc}); a string needs quotes, e.g. '\"text\"'", param_hint=hint
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn a :class:`kanal.KanalError` into a one-line ``Error: ...`` and exit status 1
    (kanal's messages never hold a password)."""
    try:
        yield
    except kanal.KanalError as exc:
        raise click.ClickException(one_line(exc)) from exc


@contextmanager
def connected(url: str) -> Iterator[kanal.Queue]:
    """A queue on ``url``, closed afterwards, with :func:`one_line_errors`."""
    with one_line_errors(), kanal.connect(url) as queue:
        yield queue


def one_line(exc: Exception) -> str:
    """The exception's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__
