"""Concurrency limits per queue, per key and for each key, with fairness across keys."""

from __future__ import annotations

import threading
import time

import pytest

from kanal import EACH_KEY, JobSpec, JobState, Lease, Queue, QueueStats
from kanal_conformance.suite.base import LONG, MARGIN, SHORT, Advance, MakeQueue, SuiteBase
from kanal_conformance.suite.test_rate_limits import FAIRNESS_JOBS, drain, keyed, payloads

#: How a lease gives its slot back, and the state its job is in afterwards.
SETTLE = {
    "ack": JobState.COMPLETED,
    "fail": JobState.DEAD,
    "requeue": JobState.READY,
    "lease-expiry": JobState.READY,
}


def settle(queue: Queue, lease: Lease, how: str, advance: Advance) -> None:
    """End ``lease`` the way ``how`` names (a key of :data:`SETTLE`)."""
    if how == "ack":
        queue.ack(lease)
    elif how == "fail":
        queue.fail(lease, "boom")
    elif how == "requeue":
        queue.requeue(lease)
    else:
        # Shortened only now, so a slow round trip before this cannot expire it early.
        queue.extend(lease, SHORT)
        advance(SHORT + MARGIN)


class ConcurrencyLimitTests(SuiteBase):
    """Concurrency limits per queue, per key and for each key, with fairness across keys."""

    # ------------------------------------------------------------------ set and get

    def test_get_concurrency_limit_returns_what_was_set_for_exactly_that_scope(
        self, queue: Queue, make_queue: MakeQueue, qname: str, qname2: str
    ) -> None:
        queue.set_concurrency_limit(qname, 3)
        queue.set_concurrency_limit(qname, 2, key="k1")
        queue.set_concurrency_limit(qname, 1, key=EACH_KEY)
        for client in (queue, make_queue("sync")):
            assert client.get_concurrency_limit(qname) == 3
            assert client.get_concurrency_limit(qname, key="k1") == 2
            assert client.get_concurrency_limit(qname, key=EACH_KEY) == 1
            assert client.get_concurrency_limit(qname, key="k2") is None
            assert client.get_concurrency_limit(qname2) is None
        queue.set_concurrency_limit(qname, 5, key="k1")
        assert queue.get_concurrency_limit(qname, key="k1") == 5

    def test_none_clears_only_that_concurrency_scope(self, queue: Queue, qname: str) -> None:
        queue.set_concurrency_limit(qname, 3)
        queue.set_concurrency_limit(qname, 2, key="k1")
        queue.set_concurrency_limit(qname, 1, key=EACH_KEY)
        queue.set_concurrency_limit(qname, None, key="k1")
        assert queue.get_concurrency_limit(qname, key="k1") is None
        assert queue.get_concurrency_limit(qname) == 3
        assert queue.get_concurrency_limit(qname, key=EACH_KEY) == 1
        queue.set_concurrency_limit(qname, None)
        queue.set_concurrency_limit(qname, None, key="never-set")
        assert queue.get_concurrency_limit(qname) is None
        assert queue.get_concurrency_limit(qname, key=EACH_KEY) == 1

    # ------------------------------------------------------------------ the cap

    def test_leased_jobs_never_exceed_the_limit_across_consumers(
        self, queue: Queue, make_queue: MakeQueue, qname: str
    ) -> None:
        queue.set_concurrency_limit(qname, 2)
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(6)])
        clients = [queue, make_queue("sync"), make_queue("async")]
        assert payloads(clients[0].dequeue(qname)) == [0]
        assert payloads(clients[1].dequeue(qname, limit=10)) == [1]
        assert all(client.dequeue(qname, limit=10) == [] for client in clients)
        assert queue.stats(qname) == QueueStats(queue=qname, ready=4, leased=2)

    @pytest.mark.parametrize("how", list(SETTLE))
    def test_settling_a_lease_frees_its_slot(
        self, queue: Queue, qname: str, advance: Advance, how: str
    ) -> None:
        queue.set_concurrency_limit(qname, 1)
        first = queue.enqueue(qname, "a", lease_timeout=LONG)
        queue.enqueue(qname, "b", lease_timeout=LONG)
        [lease] = queue.dequeue(qname, limit=10)
        assert lease.payload == "a"
        assert queue.dequeue(qname, limit=10) == []
        settle(queue, lease, how, advance)
        assert payloads(queue.dequeue(qname, limit=10)) == ["b"]
        assert queue.dequeue(qname, limit=10) == []  # "b" holds the only slot
        job = queue.get(qname, first.id)
        assert job is not None
        assert job.state is SETTLE[how]

    # ------------------------------------------------------------------ keys

    @pytest.mark.parametrize("limit", [1, 10])
    def test_a_key_at_its_limit_never_holds_back_other_keys(
        self, queue: Queue, qname: str, limit: int
    ) -> None:
        queue.set_concurrency_limit(qname, 1, key="k1")
        queue.enqueue_many(qname, FAIRNESS_JOBS)
        leases = drain(queue, qname, limit)
        assert payloads(leases) == ["k1-0", "k2-0", "free-0", "k2-1"]
        queue.ack(leases[1])  # a slot of another key frees nothing for k1
        assert queue.dequeue(qname, limit=10) == []
        queue.ack(leases[0])
        assert payloads(queue.dequeue(qname, limit=10)) == ["k1-1"]

    def test_each_key_limit_caps_every_key_on_its_own(self, queue: Queue, qname: str) -> None:
        queue.set_concurrency_limit(qname, 1, key=EACH_KEY)
        queue.enqueue_many(qname, keyed("a", "b", "c", each=2, then_unkeyed=2))
        leases = queue.dequeue(qname, limit=20)
        assert payloads(leases) == ["a-0", "b-0", "c-0", "free-0", "free-1"]
        assert queue.dequeue(qname, limit=20) == []
        queue.ack(leases[1])
        assert payloads(queue.dequeue(qname, limit=20)) == ["b-1"]

    def test_a_key_concurrency_limit_overrides_the_each_key_default(self, queue: Queue, qname: str) -> None:
        queue.set_concurrency_limit(qname, 2, key=EACH_KEY)
        queue.set_concurrency_limit(qname, 3, key="vip")
        queue.set_concurrency_limit(qname, 1, key="low")
        queue.enqueue_many(qname, keyed("vip", "low", "other", each=4))
        got = payloads(queue.dequeue(qname, limit=20))
        assert got == ["vip-0", "low-0", "other-0", "vip-1", "other-1", "vip-2"]
        assert queue.dequeue(qname, limit=20) == []

    def test_queue_and_key_concurrency_limits_both_apply(self, queue: Queue, qname: str) -> None:
        queue.set_concurrency_limit(qname, 3)
        queue.set_concurrency_limit(qname, 2, key="k1")
        queue.enqueue_many(qname, keyed("k1", each=4) + keyed("k2", each=4))
        leases = queue.dequeue(qname, limit=10)
        assert payloads(leases) == ["k1-0", "k1-1", "k2-0"]
        assert queue.dequeue(qname, limit=10) == []
        queue.ack(leases[2])  # frees a queue slot; k1 is still at its own limit
        assert payloads(queue.dequeue(qname, limit=10)) == ["k2-1"]

    # ------------------------------------------------------------------ live changes

    @pytest.mark.parametrize("scope", [None, "k1", EACH_KEY])
    def test_a_changed_limit_applies_to_the_next_dequeue(
        self, queue: Queue, qname: str, scope: str | None
    ) -> None:
        queue.set_concurrency_limit(qname, 1, key=scope)
        queue.enqueue_many(qname, keyed("k1", each=7))
        held = queue.dequeue(qname, limit=10)
        assert payloads(held) == ["k1-0"]
        queue.set_concurrency_limit(qname, 3, key=scope)
        held += queue.dequeue(qname, limit=10)
        assert payloads(held) == ["k1-0", "k1-1", "k1-2"]
        queue.set_concurrency_limit(qname, 1, key=scope)
        for lease in held:  # nothing goes out until fewer than 1 are leased
            assert queue.dequeue(qname, limit=10) == []
            queue.ack(lease)
        assert payloads(queue.dequeue(qname, limit=10)) == ["k1-3"]
        queue.set_concurrency_limit(qname, None, key=scope)
        assert payloads(queue.dequeue(qname, limit=10)) == ["k1-4", "k1-5", "k1-6"]

    # ------------------------------------------------------------------ isolation

    def test_concurrency_limits_on_one_queue_do_not_affect_another(
        self, queue: Queue, qname: str, qname2: str
    ) -> None:
        queue.set_concurrency_limit(qname, 1)
        queue.set_concurrency_limit(qname, 1, key="k1")
        queue.enqueue_many(qname, [JobSpec(f"a-{i}", key="k1", lease_timeout=LONG) for i in range(3)])
        queue.enqueue_many(qname2, [JobSpec(f"b-{i}", key="k1", lease_timeout=LONG) for i in range(3)])
        got = [(lease.queue, lease.payload) for lease in queue.dequeue([qname, qname2], limit=10)]
        assert got == [(qname, "a-0"), (qname2, "b-0"), (qname2, "b-1"), (qname2, "b-2")]
        assert queue.get_concurrency_limit(qname2) is None
        assert queue.get_concurrency_limit(qname2, key="k1") is None

    # ------------------------------------------------------------------ under load

    def test_many_consumers_never_lease_more_than_the_limit_and_lose_nothing(
        self, queue: Queue, make_queue: MakeQueue, api: str, qname: str
    ) -> None:
        limit, total, workers = 3, 240, 6
        queue.set_concurrency_limit(qname, limit)
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(total)])
        clients = [make_queue(api) for _ in range(workers)]
        lock = threading.Lock()
        held, peak = 0, 0
        done: list[int] = []
        errors: list[BaseException] = []
        deadline = time.monotonic() + 60

        def consume(client: Queue) -> None:
            nonlocal held, peak
            try:
                while len(done) < total and time.monotonic() < deadline:
                    leases = client.dequeue(qname, limit=2, wait=0.05)
                    with lock:  # counted after the leases are granted: never more than leased
                        held += len(leases)
                        peak = max(peak, held)
                    time.sleep(0.001 if leases else 0)
                    for lease in leases:
                        with lock:  # uncounted before the ack frees the slot
                            held -= 1
                            done.append(lease.payload)
                        client.ack(lease)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=consume, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert peak <= limit
        assert sorted(done) == list(range(total))
        assert queue.stats(qname) == QueueStats(queue=qname, completed=total)
