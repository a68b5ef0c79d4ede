"""Connection-wide settings: defaults, and a ConfigError for every bad option."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

import kanal
from kanal import ConfigError, JSONSerializer
from kanal.settings import (
    DEFAULT_LEASE_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_RESULT_TTL,
    Settings,
)

BAD_OPTIONS = [
    *[
        pytest.param({"max_payload_bytes": v}, "max_payload_bytes", id=f"max_payload_bytes={v!r}")
        for v in (0, -1, True, 1.5, "100", None, 2**31 + 1)
    ],
    *[
        pytest.param({"result_ttl": v}, "result_ttl", id=f"result_ttl={v!r}")
        for v in (-1, -0.5, math.nan, math.inf, True, "60", None)
    ],
    *[
        pytest.param({"serializer": v}, "serializer", id=f"serializer={type(v).__name__}")
        for v in (object(), "json", type("DumpsOnly", (), {"dumps": lambda self, v: b""})())
    ],
]


def test_defaults() -> None:
    settings = Settings()
    assert isinstance(settings.serializer, JSONSerializer)
    assert (settings.max_payload_bytes, settings.result_ttl) == (1024 * 1024, 3600.0)
    assert (DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_RESULT_TTL) == (1024 * 1024, 3600.0)
    assert (DEFAULT_LEASE_TIMEOUT, DEFAULT_MAX_ATTEMPTS) == (30.0, 5)


def test_connect_applies_the_defaults_and_the_options_given() -> None:
    with kanal.connect("memory://") as queue:
        assert queue.settings == Settings(queue.settings.serializer)
    with kanal.connect("memory://", max_payload_bytes=10, result_ttl=0) as queue:
        assert (queue.settings.max_payload_bytes, queue.settings.result_ttl) == (10, 0)


@pytest.mark.parametrize(("options", "fragment"), BAD_OPTIONS)
def test_settings_reject_bad_options(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as caught:
        Settings(**options)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, kanal.KanalError)
    assert not isinstance(caught.value, kanal.InvalidArgument)


@pytest.mark.parametrize("connect", [kanal.connect, kanal.connect_async])
@pytest.mark.parametrize(("options", "fragment"), BAD_OPTIONS)
def test_connect_rejects_bad_options(connect: Any, options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        connect("memory://", **options)


@pytest.mark.parametrize("connect", [kanal.connect, kanal.connect_async])
def test_unknown_memory_backend_options_are_a_config_error(connect: Any) -> None:
    with pytest.raises(ConfigError, match=r"unknown memory backend option.*colour"):
        connect("memory://", colour="blue")


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.result_ttl = 1  # type: ignore[misc]
