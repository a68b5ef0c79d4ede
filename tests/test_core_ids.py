"""Job ids: 26 characters of Crockford base32, unique, and strictly increasing per process."""

from __future__ import annotations

import itertools
import threading
import time
from types import SimpleNamespace

import pytest

from kanal import ids
from kanal.ids import new_id

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def decode(value: str) -> int:
    number = 0
    for char in value:
        number = number * 32 + ALPHABET.index(char)
    return number


def assert_strictly_increasing(values: list[str]) -> None:
    assert all(a < b for a, b in itertools.pairwise(values))


def test_an_id_is_26_crockford_base32_characters() -> None:
    for value in (new_id() for _ in range(100)):
        assert len(value) == 26
        assert set(value) <= set(ALPHABET)


def test_ids_are_unique_and_strictly_increasing() -> None:
    values = [new_id() for _ in range(20_000)]
    assert len(set(values)) == len(values)
    assert_strictly_increasing(values)
    assert [decode(v) for v in values] == sorted(decode(v) for v in values)


def test_the_first_48_bits_are_the_creation_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= decode(value) >> 80 <= after


def test_ids_from_many_threads_are_unique_and_ordered_per_thread() -> None:
    per_thread: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(len(per_thread))

    def work(out: list[str]) -> None:
        start.wait()
        out.extend(new_id() for _ in range(2_000))

    threads = [threading.Thread(target=work, args=(out,)) for out in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [value for out in per_thread for value in out]
    assert len(set(everything)) == len(everything) == 16_000
    for out in per_thread:
        assert_strictly_increasing(out)
    assert new_id() > max(everything)


@pytest.fixture
def frozen_then_backwards(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wall clock that repeats one millisecond, then jumps an hour back."""
    now = time.time_ns()
    readings = iter([now] * 50 + [now - 3_600 * 10**9] * 50)
    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=lambda: next(readings)))


@pytest.mark.usefixtures("frozen_then_backwards")
def test_ids_keep_increasing_when_the_clock_stalls_or_goes_back() -> None:
    values = [new_id() for _ in range(100)]
    assert len(set(values)) == 100
    assert_strictly_increasing(values)
