"""The backend registry: schemes, ``scheme+driver`` URLs, and in-process registration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import kanal
from kanal import registry
from kanal.memory import MemoryBackend
from kanal.spi import Backend


@dataclass
class RecordingFactory:
    """A backend factory that remembers every URL and option set it was called with."""

    name: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, url: str, **options: Any) -> Backend:
        self.calls.append((url, options))
        return MemoryBackend()


Register = Callable[[str], RecordingFactory]


@pytest.fixture
def register() -> Iterator[Register]:
    """Register recording factories for the test, and unregister them afterwards."""
    schemes: list[str] = []

    def add(scheme: str) -> RecordingFactory:
        factory = RecordingFactory(scheme)
        kanal.register_backend(scheme, factory)
        schemes.append(scheme)
        return factory

    yield add
    for scheme in schemes:
        kanal.unregister_backend(scheme)


def test_memory_is_installed_through_its_entry_point() -> None:
    assert "memory" in kanal.installed_schemes()
    factory = registry.resolve("memory://")
    assert isinstance(factory("memory://"), MemoryBackend)


def test_scheme_plus_driver_resolves_to_the_base_scheme_with_the_whole_url(register: Register) -> None:
    factory = register("kanaltest")
    assert registry.resolve("kanaltest+driver://h/db") is factory
    with kanal.connect("kanaltest+driver://user@h:1/db?opt=1") as queue:
        assert isinstance(queue.backend, MemoryBackend)
    assert factory.calls == [("kanaltest+driver://user@h:1/db?opt=1", {})]


def test_an_exact_scheme_plus_driver_registration_wins(register: Register) -> None:
    base, special = register("kanaltest"), register("kanaltest+special")
    assert registry.resolve("kanaltest+special://h") is special
    assert registry.resolve("kanaltest+other://h") is base
    assert registry.resolve("kanaltest://h") is base


@pytest.mark.parametrize("url", ["KanalTest://h", "KANALTEST+Driver://h", "kanaltest://h"])
def test_schemes_are_case_insensitive(register: Register, url: str) -> None:
    factory = register("KanalTest")
    assert registry.resolve(url) is factory
    assert "kanaltest" in kanal.installed_schemes()


def test_backend_options_reach_the_factory_and_connection_options_do_not(register: Register) -> None:
    factory = register("kanaltest")
    clock = kanal.FakeClock()
    with kanal.connect("kanaltest://h", max_payload_bytes=10, result_ttl=5, clock=clock, extra="x") as queue:
        assert (queue.settings.max_payload_bytes, queue.settings.result_ttl) == (10, 5)
    assert factory.calls == [("kanaltest://h", {"clock": clock, "extra": "x"})]


def test_register_and_unregister(register: Register) -> None:
    register("kanaltest-b")
    register("kanaltest-a")
    schemes = kanal.installed_schemes()
    assert schemes == sorted(schemes)
    assert {"kanaltest-a", "kanaltest-b", "memory"} <= set(schemes)
    kanal.unregister_backend("KANALTEST-A")
    assert "kanaltest-a" not in kanal.installed_schemes()
    with pytest.raises(kanal.UnknownScheme, match="'kanaltest-a'"):
        registry.resolve("kanaltest-a://h")
    assert registry.resolve("kanaltest-b://h").name == "kanaltest-b"  # type: ignore[attr-defined]


def test_unregistering_an_unknown_scheme_is_a_no_op() -> None:
    before = kanal.installed_schemes()
    kanal.unregister_backend("kanaltest-never-registered")
    assert kanal.installed_schemes() == before


def test_a_registration_overrides_an_entry_point_until_removed(register: Register) -> None:
    fake = register("memory")
    with kanal.connect("memory://") as queue:
        assert fake.calls == [("memory://", {})]
        queue.enqueue("q", 1)
    kanal.unregister_backend("memory")
    with kanal.connect("memory://") as queue:
        assert queue.stats("q").total == 0
    assert len(fake.calls) == 1
    assert "memory" in kanal.installed_schemes()


def test_registering_again_replaces_the_factory(register: Register) -> None:
    register("kanaltest")
    second = register("kanaltest")
    assert registry.resolve("kanaltest://h") is second


@pytest.mark.parametrize("url", ["localhost:6379", "", "memory:/", "/var/jobs.db"])
def test_a_string_without_scheme_separator_is_not_a_url(url: str) -> None:
    with pytest.raises(kanal.InvalidArgument, match="not a backend URL"):
        kanal.connect(url)


@pytest.mark.parametrize("url", [None, 5, b"memory://"])
def test_a_url_must_be_a_string(url: Any) -> None:
    with pytest.raises(kanal.InvalidArgument, match="not a backend URL"):
        kanal.connect(url)
