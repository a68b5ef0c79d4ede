"""FakeClock moves only forward and only when told; SystemClock follows the wall clock."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

import kanal
from kanal import FakeClock, SystemClock

NOT_FINITE: list[Any] = [math.nan, math.inf, -math.inf, True, "1", None]


def test_a_fake_clock_stands_still() -> None:
    clock = FakeClock()
    assert clock.now() == 1_700_000_000.0
    time.sleep(0.01)
    assert clock.now() == 1_700_000_000.0
    assert clock.follows_real_time is False
    assert FakeClock(start=5).now() == 5.0


def test_advance_and_set_move_forward_and_return_the_new_time() -> None:
    clock = FakeClock(start=100.0)
    assert clock.advance(2.5) == 102.5
    assert clock.advance(0) == 102.5
    assert clock.set(200) == 200.0
    assert clock.set(200.0) == 200.0
    assert clock.now() == 200.0
    assert isinstance(clock.now(), float)


@pytest.mark.parametrize(
    ("move", "fragment"),
    [
        (lambda clock: clock.advance(-0.001), "only moves forward"),
        (lambda clock: clock.set(99.999), "only moves forward"),
        *[
            pytest.param(lambda clock, v=v: clock.advance(v), "finite", id=f"advance-{v!r}")
            for v in NOT_FINITE
        ],
        *[pytest.param(lambda clock, v=v: clock.set(v), "finite", id=f"set-{v!r}") for v in NOT_FINITE],
    ],
)
def test_a_clock_never_goes_back_or_to_a_non_finite_time(move: Any, fragment: str) -> None:
    clock = FakeClock(start=100.0)
    calls: list[float] = []
    clock.subscribe(lambda: calls.append(clock.now()))
    with pytest.raises(kanal.InvalidArgument, match=fragment):
        move(clock)
    assert clock.now() == 100.0
    assert calls == []


@pytest.mark.parametrize("start", NOT_FINITE)
def test_a_clock_cannot_start_at_a_non_finite_time(start: Any) -> None:
    with pytest.raises(kanal.InvalidArgument, match="start"):
        FakeClock(start=start)


def test_subscribers_are_called_after_every_move_and_see_the_new_time() -> None:
    clock = FakeClock(start=0.0)
    first: list[float] = []
    second: list[float] = []
    clock.subscribe(lambda: first.append(clock.now()))
    clock.advance(1)
    clock.subscribe(lambda: second.append(clock.now()))
    clock.advance(0)
    clock.set(10)
    assert first == [1.0, 1.0, 10.0]
    assert second == [1.0, 10.0]


def test_moving_the_clock_wakes_a_blocked_dequeue() -> None:
    clock = FakeClock()
    with kanal.connect("memory://", clock=clock) as queue:
        queue.enqueue("q", "later", delay=60)
        assert queue.dequeue("q") == []
        clock.advance(60)
        assert [lease.payload for lease in queue.dequeue("q")] == ["later"]


def test_the_system_clock_follows_time_time() -> None:
    clock = SystemClock()
    before = time.time()
    now = clock.now()
    assert before <= now <= time.time()
    assert clock.follows_real_time is True
    clock.subscribe(lambda: None)
