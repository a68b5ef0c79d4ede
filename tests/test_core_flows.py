"""run_sync and run_async drive a flow the same way, and throw transport errors into it.

A tiny scripted transport stands in for a backend: it answers each call from a table,
or raises, so these tests check the drivers and nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from kanal.flows import Flow, run_async, run_sync


class NoScript(Exception):
    """What a Redis transport raises for an unknown script SHA."""


@dataclass
class ScriptedCalls:
    """Answers each call from ``replies``; a reply that is an exception is raised instead."""

    replies: dict[Any, list[Any]]
    seen: list[Any] = field(default_factory=list)
    closed: bool = False

    def answer(self, call: Any) -> Any:
        self.seen.append(call)
        reply = self.replies[call].pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply


class SyncScripted:
    def __init__(self, calls: ScriptedCalls) -> None:
        self.calls = calls

    def run(self, call: Any) -> Any:
        return self.calls.answer(call)

    def close(self) -> None:
        self.calls.closed = True


class AsyncScripted:
    def __init__(self, calls: ScriptedCalls) -> None:
        self.calls = calls

    async def run(self, call: Any) -> Any:
        await asyncio.sleep(0)
        return self.calls.answer(call)

    async def close(self) -> None:
        self.calls.closed = True


def drive_sync(flow: Flow[Any], calls: ScriptedCalls) -> Any:
    return run_sync(flow, SyncScripted(calls))


def drive_async(flow: Flow[Any], calls: ScriptedCalls) -> Any:
    return asyncio.run(run_async(flow, AsyncScripted(calls)))


Drive = Callable[[Flow[Any], ScriptedCalls], Any]


@pytest.fixture(params=[drive_sync, drive_async], ids=["sync", "async"])
def drive(request: pytest.FixtureRequest) -> Drive:
    return request.param  # type: ignore[no-any-return]


def add_two() -> Flow[int]:
    first = yield "get a"
    second = yield ("get", "b")
    return int(first) + int(second)


def test_the_flow_gets_each_reply_and_its_return_value_comes_back(drive: Drive) -> None:
    calls = ScriptedCalls({"get a": ["40"], ("get", "b"): [2]})
    assert drive(add_two(), calls) == 42
    assert calls.seen == ["get a", ("get", "b")]


def test_a_flow_that_yields_nothing_returns_at_once(drive: Drive) -> None:
    def immediate() -> Flow[str]:
        yield from ()  # a generator that makes no call
        return "done"

    calls = ScriptedCalls({})
    assert drive(immediate(), calls) == "done"
    assert calls.seen == []


def test_flows_compose_with_yield_from(drive: Drive) -> None:
    def outer() -> Flow[list[int]]:
        a = yield from add_two()
        b = yield from add_two()
        return [a, b]

    calls = ScriptedCalls({"get a": [1, 10], ("get", "b"): [2, 20]})
    assert drive(outer(), calls) == [3, 30]
    assert calls.seen == ["get a", ("get", "b")] * 2


def reload_on_noscript() -> Flow[str]:
    """Call a script by SHA; after NOSCRIPT load it and call again (as a Redis flow would)."""
    try:
        return str((yield "evalsha"))
    except NoScript:
        yield "script load"
        return "reloaded: " + str((yield "evalsha"))


def test_a_transport_error_is_thrown_into_the_flow_which_may_recover(drive: Drive) -> None:
    calls = ScriptedCalls({"evalsha": [NoScript("NOSCRIPT"), "ok"], "script load": ["sha"]})
    assert drive(reload_on_noscript(), calls) == "reloaded: ok"
    assert calls.seen == ["evalsha", "script load", "evalsha"]


def test_the_same_flow_without_an_error_takes_the_short_path(drive: Drive) -> None:
    calls = ScriptedCalls({"evalsha": ["ok"]})
    assert drive(reload_on_noscript(), calls) == "ok"
    assert calls.seen == ["evalsha"]


def test_an_error_the_flow_does_not_handle_reaches_the_caller_unchanged(drive: Drive) -> None:
    error = ConnectionError("server went away")
    calls = ScriptedCalls({"get a": [error]})
    with pytest.raises(ConnectionError) as caught:
        drive(add_two(), calls)
    assert caught.value is error
    assert calls.seen == ["get a"]


def test_the_flow_sees_the_error_and_can_replace_it(drive: Drive) -> None:
    seen: list[BaseException] = []

    def translating() -> Flow[None]:
        try:
            yield "write"
        except OSError as exc:
            seen.append(exc)
            raise RuntimeError("backend unavailable") from exc

    calls = ScriptedCalls({"write": [OSError("reset")]})
    with pytest.raises(RuntimeError, match="backend unavailable") as caught:
        drive(translating(), calls)
    assert isinstance(caught.value.__cause__, OSError)
    assert [str(exc) for exc in seen] == ["reset"]


def test_an_error_raised_before_the_first_call_reaches_the_caller(drive: Drive) -> None:
    def invalid() -> Flow[None]:
        yield from ()
        raise ValueError("bad argument")

    calls = ScriptedCalls({})
    with pytest.raises(ValueError, match="bad argument"):
        drive(invalid(), calls)
    assert calls.seen == []


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), asyncio.CancelledError()])
def test_an_interrupt_is_not_handed_to_the_flow(drive: Drive, interrupt: BaseException) -> None:
    recovered: list[str] = []

    def swallowing() -> Flow[str]:
        try:
            yield "slow"
        except Exception:
            recovered.append("caught")
            return "recovered"
        return "finished"

    calls = ScriptedCalls({"slow": [interrupt]})
    with pytest.raises(type(interrupt)):
        drive(swallowing(), calls)
    assert recovered == []
