"""The fixtures every suite class uses, and the guard against weakened core tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any, ClassVar

import pytest

import kanal
from kanal import Queue
from kanal.spi import Capabilities
from kanal_conformance.harness import SyncOverAsync, unique_name

#: A duration the suite lets pass with ``advance``: lease timeouts and delays that must expire.
SHORT = 0.5
#: How far past SHORT ``advance`` goes, to absorb round trips on real servers.
MARGIN = 0.2
#: A duration that never passes during a test: leases and delays that must hold.
LONG = 600.0

Advance = Callable[[float], None]
MakeQueue = Callable[..., Queue]


class SuiteBase:
    """Base of every conformance test class. Provide the ``queue_url`` fixture, and
    optionally ``connect_options``; everything else is derived.

    Every test runs twice, through :class:`kanal.Queue` and through :class:`kanal.AsyncQueue`
    (``api`` is ``"sync"`` or ``"async"``), so both transports are held to every rule.
    """

    _core_tests: ClassVar[set[str]] = set()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own_tests = {name for name in vars(cls) if name.startswith("test_")}
        if cls.__module__.startswith("kanal_conformance.suite"):
            clashes = sorted(own_tests & SuiteBase._core_tests)
            if clashes:
                raise TypeError(
                    f"{cls.__qualname__} repeats suite test names {clashes}: one would hide the other"
                )
            SuiteBase._core_tests |= own_tests
            return
        overridden = sorted(own_tests & SuiteBase._core_tests)
        if overridden:
            raise TypeError(
                f"{cls.__qualname__} overrides core conformance tests {overridden}: "
                "core guarantees cannot be replaced, deleted or weakened by a backend"
            )

    @classmethod
    def core_test_names(cls) -> frozenset[str]:
        """Names of every test the suite itself defines."""
        return frozenset(SuiteBase._core_tests)

    @pytest.fixture
    def queue_url(self) -> str:
        pytest.fail("the conformance suite needs a queue_url fixture (or --kanal-url)")

    @pytest.fixture
    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for ``kanal.connect`` (e.g. ``{"clock": FakeClock()}``)."""
        return {}

    @pytest.fixture(params=["sync", "async"])
    def api(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def make_queue(self, queue_url: str, connect_options: dict[str, Any]) -> Generator[MakeQueue, None, None]:
        """Open another client on the same backend (``api="sync"`` or ``"async"``)."""
        opened: list[Any] = []

        def make(api: str = "sync", **overrides: Any) -> Queue:
            options = {**connect_options, **overrides}
            if api == "sync":
                client: Any = kanal.connect(queue_url, **options)
            else:
                client = SyncOverAsync(kanal.connect_async(queue_url, **options))
            opened.append(client)
            return client  # type: ignore[no-any-return]

        yield make
        for client in reversed(opened):
            client.close()

    @pytest.fixture
    def queue(self, make_queue: MakeQueue, api: str) -> Queue:
        """The client under test."""
        return make_queue(api)

    @pytest.fixture
    def capabilities(self, queue: Queue) -> Capabilities:
        return queue.backend.capabilities

    @pytest.fixture(autouse=True)
    def _capability_gate(self, request: pytest.FixtureRequest, capabilities: Capabilities) -> None:
        marker = request.node.get_closest_marker("kanal_requires")
        if marker is not None:
            missing = [c for c in marker.args if not getattr(capabilities, c)]
            if missing:
                pytest.skip(f"backend lacks capabilities: {', '.join(missing)}")

    @pytest.fixture
    def advance(self, queue: Queue, capabilities: Capabilities) -> Advance:
        """Let ``seconds`` of backend time pass: move a fake clock, or sleep on real servers."""
        if capabilities.controllable_clock:
            clock = queue.backend.clock  # type: ignore[attr-defined]
            return clock.advance  # type: ignore[no-any-return]
        return time.sleep

    @pytest.fixture
    def qname(self) -> str:
        """A queue name unique to this test."""
        return unique_name()

    @pytest.fixture
    def qname2(self) -> str:
        """A second unique queue name."""
        return unique_name()
