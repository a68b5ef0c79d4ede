"""Passwords never leave kanal.url: redaction, queue reprs and UnknownScheme messages."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import pytest

import kanal
from kanal import registry
from kanal.memory import MemoryBackend
from kanal.url import REDACTED, redact

SECRET = "S3cr3tValue"
FAKE_SCHEME = "kanaltest-mem"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://user:secret@localhost:6379/0", "redis://user:***@localhost:6379/0"),
        ("redis://:secret@localhost:6379/0", "redis://:***@localhost:6379/0"),
        (
            "rediss://default:secret@cache.example.com:6380/1?ssl_cert_reqs=required",
            "rediss://default:***@cache.example.com:6380/1?ssl_cert_reqs=required",
        ),
        ("redis://u:secret@[::1]:6379/0", "redis://u:***@[::1]:6379/0"),
        (
            "postgresql+psycopg://app:secret@db:5432/jobs?sslmode=verify-full",
            "postgresql+psycopg://app:***@db:5432/jobs?sslmode=verify-full",
        ),
        ("postgresql://:secret@db/jobs", "postgresql://:***@db/jobs"),
        ("postgresql://app:p%40ss%3Aw%2Frd@db/jobs", "postgresql://app:***@db/jobs"),
        ("mysql+pymysql://root:secret@127.0.0.1:3306/test", "mysql+pymysql://root:***@127.0.0.1:3306/test"),
        ("mysql://root:p@ss:w0rd@127.0.0.1/test", "mysql://root:***@127.0.0.1/test"),
        ("mysql://:secret@127.0.0.1/test", "mysql://:***@127.0.0.1/test"),
        ("redis://user:@localhost/0", "redis://user:***@localhost/0"),
    ],
)
def test_redact_replaces_the_password(url: str, expected: str) -> None:
    assert redact(url) == expected
    assert REDACTED == "***"


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost:6379/0",
        "redis://user@localhost/0",
        "postgresql:///jobs",
        "postgresql+psycopg://app@db/jobs?sslmode=require",
        "mysql://root@127.0.0.1/test",
        "sqlite:///jobs.db",
        "memory://",
        "memory://shared",
    ],
)
def test_redact_leaves_urls_without_a_password_alone(url: str) -> None:
    assert redact(url) == url


def special_password_urls(*schemes: str) -> list[Any]:
    """URLs whose password holds characters a URL gives meaning to, with and without a user."""
    return [
        pytest.param(
            f"{scheme}://{user}:{SECRET[:4]}{char}{SECRET[4:]}@db.example.com:1234/x",
            id=f"{scheme}-{user or 'no-user'}-{char!r}",
        )
        for scheme in schemes
        for user in ("app", "")
        for char in "@:#?/ %"
    ]


def assert_no_secret(text: str) -> None:
    """Neither half of the password appears (a half-redacted password still leaks)."""
    assert SECRET[:4] not in text, text
    assert SECRET[4:] not in text, text


@pytest.mark.parametrize(
    "url",
    [
        *special_password_urls("redis", "postgresql+psycopg", "mysql+pymysql"),
        pytest.param(f"app:{SECRET}@localhost:6379/0", id="scheme-forgotten"),
        pytest.param(f"redis://app:{SECRET}@[::1/0", id="unparseable"),
    ],
)
def test_redact_never_leaks_a_password_with_special_characters(url: str) -> None:
    assert_no_secret(redact(url))


def test_redact_accepts_anything_printable() -> None:
    assert redact(None) == "None"
    assert redact(42) == "42"


@pytest.fixture
def fake_memory_scheme() -> Iterator[str]:
    """A scheme that builds a MemoryBackend, so a URL can carry a password."""
    kanal.register_backend(FAKE_SCHEME, lambda url, **options: MemoryBackend(**options))
    yield FAKE_SCHEME
    kanal.unregister_backend(FAKE_SCHEME)


@pytest.mark.parametrize("url", ["memory://", "memory://shared-name"])
def test_memory_queue_shows_its_url(url: str) -> None:
    with kanal.connect(url) as queue:
        assert queue.url == url
        assert repr(queue) == f"<Queue {url}>"


def test_queue_url_and_repr_hide_the_password(fake_memory_scheme: str) -> None:
    url = f"{fake_memory_scheme}://worker:{SECRET}@jobs.example.com:7000/0"
    expected = f"{fake_memory_scheme}://worker:***@jobs.example.com:7000/0"
    with kanal.connect(url) as queue:
        assert queue.url == expected
        assert repr(queue) == f"<Queue {expected}>"
        assert_no_secret(str(queue) + repr(vars(queue)))
        queue.enqueue("q", "works")
        assert [lease.payload for lease in queue.dequeue("q")] == ["works"]
    async_queue = kanal.connect_async(url)
    assert async_queue.url == expected
    assert repr(async_queue) == f"<AsyncQueue {expected}>"
    asyncio.run(async_queue.close())


@pytest.mark.parametrize("url", special_password_urls(FAKE_SCHEME))
def test_queue_url_never_leaks_a_password_with_special_characters(fake_memory_scheme: str, url: str) -> None:
    with kanal.connect(url) as queue:
        assert_no_secret(f"{queue.url} {queue!r}")


@pytest.fixture
def only_memory_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide every backend entry point but ``memory``, whatever else is installed here."""

    def memory_only(**selection: Any) -> list[metadata.EntryPoint]:
        found = metadata.entry_points(group=registry.GROUP)
        return [ep for ep in found if ep.name == "memory" and selection.get("name", ep.name) == ep.name]

    monkeypatch.setattr(registry, "entry_points", memory_only)


def exception_texts(exc: BaseException) -> Iterator[str]:
    """Every text an exception shows: str, repr, args, the traceback, and its whole chain."""
    yield "".join(traceback.format_exception(exc))
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield repr(current.args)
        current = current.__cause__ or current.__context__


@pytest.mark.usefixtures("only_memory_installed")
@pytest.mark.parametrize("connect", [kanal.connect, kanal.connect_async])
@pytest.mark.parametrize(
    ("url", "hint"),
    [
        (f"redis://user:{SECRET}@h/0", 'pip install "kanal[redis]"'),
        (f"rediss://:{SECRET}@h:6380/0", 'pip install "kanal[redis]"'),
        (f"postgresql+psycopg://app:{SECRET}@db/jobs", 'pip install "kanal[postgres]"'),
        (f"mysql+pymysql://root:{SECRET}@db/test", 'pip install "kanal[mysql]"'),
        (f"mariadb://root:{SECRET}@db/test", 'pip install "kanal[mysql]"'),
        ("sqlite:///jobs.db", 'pip install "kanal[sqlite]"'),
        (f"redis://user:{SECRET[:4]}#{SECRET[4:]}@h/0", 'pip install "kanal[redis]"'),
    ],
)
def test_unknown_scheme_names_the_fix_and_hides_the_password(connect: Any, url: str, hint: str) -> None:
    with pytest.raises(kanal.UnknownScheme) as caught:
        connect(url)
    message = str(caught.value)
    assert f"'{url.split('://')[0]}'" in message
    assert "installed schemes: memory" in message
    assert hint in message
    assert isinstance(caught.value, ValueError)
    for text in exception_texts(caught.value):
        assert_no_secret(text)


@pytest.mark.usefixtures("only_memory_installed")
def test_unknown_scheme_without_a_hint_lists_what_is_installed(fake_memory_scheme: str) -> None:
    with pytest.raises(kanal.UnknownScheme) as caught:
        kanal.connect(f"nosuch://u:{SECRET}@h/0")
    message = str(caught.value)
    assert f"installed schemes: {fake_memory_scheme}, memory" in message
    assert "pip install" not in message
    for text in exception_texts(caught.value):
        assert_no_secret(text)


def test_a_url_without_a_scheme_is_rejected_without_leaking() -> None:
    with pytest.raises(kanal.InvalidArgument, match="not a backend URL") as caught:
        kanal.connect(f"app:{SECRET}@localhost:6379/0")
    for text in exception_texts(caught.value):
        assert_no_secret(text)
