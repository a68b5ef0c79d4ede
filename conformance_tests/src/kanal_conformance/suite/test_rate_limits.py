"""Rate limits per queue, per key and for each key: token buckets that change live."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest

from kanal import EACH_KEY, JobSpec, Lease, Queue, RateLimit
from kanal_conformance.suite.base import LONG, MARGIN, SHORT, Advance, MakeQueue, SuiteBase

#: Jobs whose first three (key ``k1``, the first two with a higher priority) lead the line,
#: so a key limit on ``k1`` that held back the others would show.
FAIRNESS_JOBS = [
    JobSpec("k1-0", key="k1", priority=-1, lease_timeout=LONG),
    JobSpec("k1-1", key="k1", priority=-1, lease_timeout=LONG),
    JobSpec("k1-2", key="k1", lease_timeout=LONG),
    JobSpec("k2-0", key="k2", lease_timeout=LONG),
    JobSpec("free-0", lease_timeout=LONG),
    JobSpec("k2-1", key="k2", lease_timeout=LONG),
]


def payloads(leases: Sequence[Lease]) -> list[Any]:
    """The payloads of ``leases``, in the order they were handed out."""
    return [lease.payload for lease in leases]


def drain(queue: Queue, queues: str | Sequence[str], limit: int) -> list[Lease]:
    """Dequeue ``limit`` at a time until a dequeue returns nothing; every lease taken."""
    taken: list[Lease] = []
    for _ in range(1000):
        leases = queue.dequeue(queues, limit=limit)
        if not leases:
            return taken
        taken += leases
    pytest.fail("the queue never ran dry")


def keyed(*keys: str, each: int, then_unkeyed: int = 0) -> list[JobSpec]:
    """``each`` jobs per key, interleaved (``a-0, b-0, a-1, ...``), then unkeyed ``free-i``."""
    jobs = [JobSpec(f"{k}-{i}", key=k, lease_timeout=LONG) for i in range(each) for k in keys]
    return jobs + [JobSpec(f"free-{i}", lease_timeout=LONG) for i in range(then_unkeyed)]


def burst_of(n: int) -> RateLimit:
    """A full bucket of ``n`` tokens that refills far too slowly to matter during a test."""
    return RateLimit.every(LONG, burst=n)


#: Exact token arithmetic on a controllable clock: the limit, then (advance, jobs handed out).
REFILLS = {
    "token-bucket": (
        RateLimit(rate=4, burst=2),
        [(0.0, 2), (0.0, 0), (0.25, 1), (0.125, 0), (0.125, 1), (0.5, 2), (10.0, 2)],
    ),
    "leaky-bucket": (
        RateLimit.every(2.0),
        [(0.0, 1), (1.0, 0), (1.0, 1), (6.0, 1), (1.5, 0), (0.5, 1)],
    ),
    "every-with-burst": (
        RateLimit.every(2.0, burst=3),
        [(0.0, 3), (1.0, 0), (1.0, 1), (6.0, 3), (100.0, 3)],
    ),
}


class RateLimitTests(SuiteBase):
    """Rate limits per queue, per key and for each key: token buckets that change live."""

    # ------------------------------------------------------------------ set and get

    def test_get_rate_limit_returns_what_was_set_for_exactly_that_scope(
        self, queue: Queue, make_queue: MakeQueue, qname: str, qname2: str
    ) -> None:
        queue.set_rate_limit(qname, RateLimit(rate=2.5, burst=4))
        queue.set_rate_limit(qname, RateLimit(rate=0.125), key="k1")
        queue.set_rate_limit(qname, RateLimit(rate=8, burst=2), key=EACH_KEY)
        for client in (queue, make_queue("sync")):
            assert client.get_rate_limit(qname) == RateLimit(rate=2.5, burst=4)
            assert client.get_rate_limit(qname, key="k1") == RateLimit(rate=0.125, burst=1)
            assert client.get_rate_limit(qname, key=EACH_KEY) == RateLimit(rate=8, burst=2)
            assert client.get_rate_limit(qname, key="k2") is None
            assert client.get_rate_limit(qname2) is None
            assert client.get_rate_limit(qname2, key="k1") is None

    def test_setting_a_limit_again_replaces_it(self, queue: Queue, qname: str) -> None:
        queue.set_rate_limit(qname, RateLimit(rate=1, burst=1), key="k1")
        queue.set_rate_limit(qname, RateLimit(rate=0.5, burst=3), key="k1")
        assert queue.get_rate_limit(qname, key="k1") == RateLimit(rate=0.5, burst=3)

    def test_none_clears_only_that_rate_limit_scope(self, queue: Queue, qname: str) -> None:
        queue.set_rate_limit(qname, RateLimit(rate=1, burst=2))
        queue.set_rate_limit(qname, RateLimit(rate=2, burst=1), key="k1")
        queue.set_rate_limit(qname, RateLimit(rate=4, burst=1), key=EACH_KEY)
        queue.set_rate_limit(qname, None, key="k1")
        assert queue.get_rate_limit(qname, key="k1") is None
        assert queue.get_rate_limit(qname) == RateLimit(rate=1, burst=2)
        assert queue.get_rate_limit(qname, key=EACH_KEY) == RateLimit(rate=4, burst=1)
        queue.set_rate_limit(qname, None)
        queue.set_rate_limit(qname, None, key="never-set")
        assert queue.get_rate_limit(qname) is None
        assert queue.get_rate_limit(qname, key=EACH_KEY) == RateLimit(rate=4, burst=1)

    # ------------------------------------------------------------------ the bucket

    @pytest.mark.parametrize("burst", [1, 3, 7])
    def test_a_burst_hands_out_exactly_burst_jobs_then_nothing(
        self, queue: Queue, make_queue: MakeQueue, qname: str, burst: int
    ) -> None:
        queue.set_rate_limit(qname, burst_of(burst))
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(10)])
        assert payloads(queue.dequeue(qname, limit=10)) == list(range(burst))
        assert queue.dequeue(qname, limit=10) == []
        assert make_queue("sync").dequeue(qname, limit=10) == []
        stats = queue.stats(qname)
        assert (stats.ready, stats.leased) == (10 - burst, burst)

    def test_tokens_are_taken_only_for_jobs_handed_out(self, queue: Queue, qname: str) -> None:
        queue.set_rate_limit(qname, burst_of(4))
        assert queue.dequeue(qname, limit=10) == []
        queue.enqueue(qname, "only", lease_timeout=LONG)
        assert payloads(queue.dequeue(qname, limit=10)) == ["only"]
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(5)])
        assert payloads(queue.dequeue(qname, limit=10)) == [0, 1, 2]
        assert queue.dequeue(qname) == []

    def test_the_bucket_is_shared_by_every_consumer(
        self, queue: Queue, make_queue: MakeQueue, qname: str
    ) -> None:
        queue.set_rate_limit(qname, burst_of(3))
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(10)])
        clients = [queue, make_queue("sync"), make_queue("async")]
        got = [payloads(client.dequeue(qname, limit=2)) for client in clients]
        assert got == [[0, 1], [2], []]
        assert all(client.dequeue(qname, limit=10) == [] for client in clients)

    def test_every_hands_out_one_job_per_interval(self, queue: Queue, qname: str, advance: Advance) -> None:
        interval = SHORT + MARGIN
        queue.set_rate_limit(qname, RateLimit.every(interval))
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(5)])
        assert payloads(queue.dequeue(qname, limit=5)) == [0]
        assert queue.dequeue(qname, limit=5) == []
        advance(interval + MARGIN)  # more than one interval, but burst 1 saves up only one job
        assert payloads(queue.dequeue(qname, limit=5)) == [1]
        assert queue.dequeue(qname, limit=5) == []

    @pytest.mark.kanal_requires("controllable_clock")
    @pytest.mark.parametrize("name", sorted(REFILLS))
    def test_tokens_refill_at_the_rate_up_to_the_burst(
        self, queue: Queue, qname: str, advance: Advance, name: str
    ) -> None:
        limit, steps = REFILLS[name]
        queue.set_rate_limit(qname, limit)
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(30)])
        handed_out = []
        for seconds, _ in steps:
            advance(seconds)
            handed_out.append(len(queue.dequeue(qname, limit=10)))
        assert handed_out == [expected for _, expected in steps]

    @pytest.mark.kanal_requires("controllable_clock")
    def test_dequeues_in_any_window_stay_within_rate_times_window_plus_burst(
        self, queue: Queue, qname: str, advance: Advance
    ) -> None:
        rate, burst = 2.0, 3.0
        queue.set_rate_limit(qname, RateLimit(rate=rate, burst=burst))
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(40)])
        times, counts, now = [], [], 0.0
        for seconds in [0.0, 0.25, 0.75, 0.5, 2.0, 0.125, 0.375, 1.0, 3.0, 0.25]:
            advance(seconds)
            now += seconds
            times.append(now)
            counts.append(len(queue.dequeue(qname, limit=10)))
        assert counts == [3, 0, 2, 1, 3, 0, 1, 2, 3, 0]
        for i in range(len(times)):
            for j in range(i, len(times)):
                assert sum(counts[i : j + 1]) <= rate * (times[j] - times[i]) + burst, (i, j)

    def test_dequeues_over_a_run_of_advances_stay_within_the_bound(
        self, queue: Queue, qname: str, advance: Advance
    ) -> None:
        """Real time: the window is at least the time advanced and at most the time measured."""
        rate, burst, step, steps = 2.0, 2.0, 0.25, 4
        queue.set_rate_limit(qname, RateLimit(rate=rate, burst=burst))
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(20)])
        started = time.monotonic()
        assert len(queue.dequeue(qname, limit=20)) == burst
        total = int(burst)
        for _ in range(steps):
            advance(step)
            total += len(queue.dequeue(qname, limit=20))
        window = max(time.monotonic() - started, step * steps)
        assert total <= rate * window + burst
        assert total >= int(burst + rate * step * steps)  # the tokens that refilled for sure

    # ------------------------------------------------------------------ keys

    @pytest.mark.parametrize("limit", [1, 10])
    def test_a_limited_key_never_holds_back_other_keys(self, queue: Queue, qname: str, limit: int) -> None:
        queue.set_rate_limit(qname, burst_of(1), key="k1")
        queue.enqueue_many(qname, FAIRNESS_JOBS)
        assert payloads(drain(queue, qname, limit)) == ["k1-0", "k2-0", "free-0", "k2-1"]
        stats = queue.stats(qname)
        assert (stats.ready, stats.leased) == (2, 4)

    def test_each_key_limit_gives_every_key_its_own_bucket(self, queue: Queue, qname: str) -> None:
        queue.set_rate_limit(qname, burst_of(2), key=EACH_KEY)
        queue.enqueue_many(qname, keyed("a", "b", "c", each=3, then_unkeyed=3))
        got = payloads(queue.dequeue(qname, limit=20))
        assert got == ["a-0", "b-0", "c-0", "a-1", "b-1", "c-1", "free-0", "free-1", "free-2"]
        assert queue.dequeue(qname, limit=20) == []
        queue.enqueue(qname, "d-0", key="d", lease_timeout=LONG)
        assert payloads(queue.dequeue(qname, limit=20)) == ["d-0"]  # a new key starts full

    def test_a_key_rate_limit_overrides_the_each_key_default(self, queue: Queue, qname: str) -> None:
        queue.set_rate_limit(qname, burst_of(2), key=EACH_KEY)
        queue.set_rate_limit(qname, burst_of(3), key="vip")
        queue.set_rate_limit(qname, burst_of(1), key="low")
        queue.enqueue_many(qname, keyed("vip", "low", "other", each=4))
        got = payloads(queue.dequeue(qname, limit=20))
        assert got == ["vip-0", "low-0", "other-0", "vip-1", "other-1", "vip-2"]
        assert queue.dequeue(qname, limit=20) == []

    def test_queue_and_key_rate_limits_both_apply(self, queue: Queue, qname: str) -> None:
        queue.set_rate_limit(qname, burst_of(3))
        queue.set_rate_limit(qname, burst_of(1), key="k1")
        queue.enqueue_many(qname, keyed("k1", each=3) + keyed("k2", each=3, then_unkeyed=1))
        assert payloads(queue.dequeue(qname, limit=10)) == ["k1-0", "k2-0", "k2-1"]
        assert queue.dequeue(qname, limit=10) == []
        assert queue.stats(qname).ready == 4

    @pytest.mark.kanal_requires("controllable_clock")
    def test_each_key_refills_on_its_own(self, queue: Queue, qname: str, advance: Advance) -> None:
        queue.set_rate_limit(qname, RateLimit(rate=1, burst=1), key=EACH_KEY)
        queue.set_rate_limit(qname, RateLimit(rate=2, burst=1), key="fast")
        queue.enqueue_many(qname, keyed("a", "b", "fast", each=3))
        assert payloads(queue.dequeue(qname, limit=10)) == ["a-0", "b-0", "fast-0"]
        advance(0.5)
        assert payloads(queue.dequeue(qname, limit=10)) == ["fast-1"]
        advance(0.5)
        assert payloads(queue.dequeue(qname, limit=10)) == ["a-1", "b-1", "fast-2"]
        advance(0.5)
        assert queue.dequeue(qname, limit=10) == []
        advance(0.5)
        assert payloads(queue.dequeue(qname, limit=10)) == ["a-2", "b-2"]

    # ------------------------------------------------------------------ live changes

    @pytest.mark.parametrize("scope", [None, "k1", EACH_KEY])
    def test_clearing_a_limit_applies_to_the_next_dequeue(
        self, queue: Queue, qname: str, scope: str | None
    ) -> None:
        queue.set_rate_limit(qname, burst_of(1), key=scope)
        queue.enqueue_many(qname, keyed("k1", each=5))
        assert payloads(queue.dequeue(qname, limit=10)) == ["k1-0"]
        assert queue.dequeue(qname, limit=10) == []
        queue.set_rate_limit(qname, None, key=scope)
        assert payloads(queue.dequeue(qname, limit=10)) == ["k1-1", "k1-2", "k1-3", "k1-4"]

    @pytest.mark.parametrize("scope", [None, "k1", EACH_KEY])
    def test_lowering_the_burst_applies_to_the_next_dequeue(
        self, queue: Queue, qname: str, scope: str | None
    ) -> None:
        queue.set_rate_limit(qname, burst_of(5), key=scope)
        queue.enqueue_many(qname, keyed("k1", each=6))
        assert payloads(queue.dequeue(qname, limit=2)) == ["k1-0", "k1-1"]
        queue.set_rate_limit(qname, burst_of(1), key=scope)  # three tokens saved, but burst is now 1
        assert payloads(queue.dequeue(qname, limit=10)) == ["k1-2"]
        assert queue.dequeue(qname, limit=10) == []

    def test_a_shorter_interval_applies_to_the_next_dequeue(
        self, queue: Queue, qname: str, advance: Advance
    ) -> None:
        """Tailback's live interval update."""
        queue.set_rate_limit(qname, RateLimit.every(LONG))
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(5)])
        assert payloads(queue.dequeue(qname, limit=5)) == [0]
        queue.set_rate_limit(qname, RateLimit.every(SHORT))
        advance(SHORT + MARGIN)
        assert payloads(queue.dequeue(qname, limit=5)) == [1]
        assert queue.dequeue(qname, limit=5) == []

    @pytest.mark.kanal_requires("controllable_clock")
    def test_changing_the_rate_does_not_refill_the_bucket(
        self, queue: Queue, qname: str, advance: Advance
    ) -> None:
        queue.set_rate_limit(qname, RateLimit.every(LONG))
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(5)])
        assert payloads(queue.dequeue(qname, limit=5)) == [0]
        queue.set_rate_limit(qname, RateLimit.every(1.0))
        assert queue.dequeue(qname, limit=5) == []
        advance(0.5)
        assert queue.dequeue(qname, limit=5) == []
        advance(0.5)
        assert payloads(queue.dequeue(qname, limit=5)) == [1]

    # ------------------------------------------------------------------ isolation

    def test_rate_limits_on_one_queue_do_not_affect_another(
        self, queue: Queue, qname: str, qname2: str
    ) -> None:
        queue.set_rate_limit(qname, burst_of(1))
        queue.set_rate_limit(qname, burst_of(1), key="k1")
        queue.enqueue_many(qname, [JobSpec(f"a-{i}", key="k1", lease_timeout=LONG) for i in range(3)])
        queue.enqueue_many(qname2, [JobSpec(f"b-{i}", key="k1", lease_timeout=LONG) for i in range(3)])
        got = [(lease.queue, lease.payload) for lease in queue.dequeue([qname, qname2], limit=10)]
        assert got == [(qname, "a-0"), (qname2, "b-0"), (qname2, "b-1"), (qname2, "b-2")]
        assert queue.get_rate_limit(qname2) is None
        assert queue.get_rate_limit(qname2, key="k1") is None
        assert queue.stats(qname).ready == 2
