"""At-least-once delivery: a job is delivered until acked, cancelled or dead-lettered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kanal import JobState, Queue
from kanal_conformance.suite.base import LONG, MARGIN, SHORT, Advance, MakeQueue, SuiteBase
from kanal_conformance.suite.test_fencing import TOLERANCE, LeaseOp, stored

#: How each consumer gives a lease back, as in a worker's success, retry and error paths.
SETTLE: dict[str, LeaseOp] = {
    "ack": lambda queue, lease: queue.ack(lease),
    "requeue": lambda queue, lease: queue.requeue(lease),
    "fail": lambda queue, lease: queue.fail(lease, "gave up"),
}


class AtLeastOnceTests(SuiteBase):
    """At-least-once delivery: a job is delivered until acked, cancelled or dead-lettered."""

    def test_unacked_job_is_delivered_again_after_its_lease_expires(
        self, queue: Queue, advance: Advance, qname: str
    ) -> None:
        job = queue.enqueue(qname, {"n": 1}, lease_timeout=SHORT)
        [first] = queue.dequeue(qname)
        assert queue.dequeue(qname) == []
        advance(SHORT + MARGIN)
        [second] = queue.dequeue(qname, lease_timeout=LONG)
        assert (second.id, second.payload) == (job.id, {"n": 1})
        assert (first.job.attempts, second.job.attempts) == (1, 2)
        assert second.token != first.token
        assert second.expires_at > first.expires_at
        assert second.job.first_dequeued_at == first.job.first_dequeued_at
        assert second.job.last_dequeued_at > first.job.last_dequeued_at  # type: ignore[operator]
        assert "lease expired" in (second.job.last_error or "")
        current = stored(queue, second)
        assert (current.state, current.attempts) == (JobState.LEASED, 2)

    def test_a_consumer_that_dies_holding_leases_loses_nothing(
        self, queue: Queue, make_queue: MakeQueue, advance: Advance, qname: str
    ) -> None:
        jobs = queue.enqueue_many(qname, [{"i": i} for i in range(10)])
        doomed = make_queue("sync")
        taken = doomed.dequeue(qname, limit=10, lease_timeout=SHORT)
        assert sorted(lease.id for lease in taken) == sorted(job.id for job in jobs)
        assert queue.stats(qname).leased == 10
        advance(SHORT + MARGIN)
        again = queue.dequeue(qname, limit=20, lease_timeout=LONG)
        assert sorted(lease.id for lease in again) == sorted(job.id for job in jobs)
        assert {lease.job.attempts for lease in again} == {2}
        assert {lease.token for lease in again}.isdisjoint(lease.token for lease in taken)
        for lease in again:
            queue.ack(lease)
        stats = queue.stats(qname)
        assert (stats.completed, stats.total) == (10, 10)
        assert queue.dequeue(qname, limit=20) == []

    @pytest.mark.parametrize(
        ("at_enqueue", "at_dequeue", "expires"),
        [(SHORT, None, True), (LONG, SHORT, True), (SHORT, LONG, False), (LONG, None, False)],
        ids=["enqueue-short", "dequeue-overrides-long", "dequeue-overrides-short", "enqueue-long"],
    )
    def test_lease_timeout_comes_from_the_job_unless_dequeue_overrides_it(
        self,
        queue: Queue,
        advance: Advance,
        qname: str,
        at_enqueue: float,
        at_dequeue: float | None,
        expires: bool,
    ) -> None:
        job = queue.enqueue(qname, "timed", lease_timeout=at_enqueue)
        assert job.lease_timeout == at_enqueue
        [lease] = queue.dequeue(qname, lease_timeout=at_dequeue)
        effective = at_enqueue if at_dequeue is None else at_dequeue
        assert lease.job.last_dequeued_at is not None
        held = lease.expires_at - lease.job.last_dequeued_at
        assert abs(held - timedelta(seconds=effective)) <= timedelta(seconds=TOLERANCE)
        assert lease.job.lease_timeout == at_enqueue
        advance(SHORT + MARGIN)
        redelivered = queue.dequeue(qname, lease_timeout=LONG)
        assert [lease.job.attempts for lease in redelivered] == ([2] if expires else [])
        assert stored(queue, lease).state is JobState.LEASED

    def test_extend_keeps_a_lease_alive_past_its_first_expiry(
        self, queue: Queue, advance: Advance, qname: str
    ) -> None:
        queue.enqueue(qname, "slow work", lease_timeout=SHORT)
        [lease] = queue.dequeue(qname)
        renewed = queue.extend(lease, LONG)
        advance(SHORT + MARGIN)
        assert queue.dequeue(qname) == []
        job = stored(queue, lease)
        assert (job.state, job.attempts, job.last_error) == (JobState.LEASED, 1, None)
        done = queue.ack(renewed, result="finished late")
        assert (done.state, done.result, done.attempts) == (JobState.COMPLETED, "finished late", 1)

    def test_only_the_unacked_job_comes_back(self, queue: Queue, advance: Advance, qname: str) -> None:
        queue.enqueue_many(qname, ["a", "b", "c"])
        leases = queue.dequeue(qname, limit=3, lease_timeout=SHORT)
        assert [lease.payload for lease in leases] == ["a", "b", "c"]
        queue.ack(leases[0])
        queue.ack(leases[2])
        advance(SHORT + MARGIN)
        assert [(lease.payload, lease.job.attempts) for lease in queue.dequeue(qname, limit=10)] == [("b", 2)]
        assert [stored(queue, lease).state for lease in leases] == [
            JobState.COMPLETED,
            JobState.LEASED,
            JobState.COMPLETED,
        ]
        stats = queue.stats(qname)
        assert (stats.completed, stats.leased, stats.ready, stats.total) == (2, 1, 0, 3)

    @pytest.mark.parametrize("how", sorted(SETTLE))
    def test_a_settled_lease_frees_its_in_flight_slot(self, queue: Queue, qname: str, how: str) -> None:
        queue.set_concurrency_limit(qname, 1)
        queue.enqueue_many(qname, ["first", "second"])
        [lease] = queue.dequeue(qname, limit=5, lease_timeout=LONG)
        assert lease.payload == "first"
        assert queue.dequeue(qname, limit=5) == []
        assert queue.stats(qname).leased == 1
        SETTLE[how](queue, lease)
        assert queue.stats(qname).leased == 0
        [after] = queue.dequeue(qname, limit=5, lease_timeout=LONG)
        assert after.payload == "second"
        assert queue.dequeue(qname, limit=5) == []
        assert queue.stats(qname).leased == 1

    def test_an_expired_lease_frees_its_in_flight_slot(
        self, queue: Queue, advance: Advance, qname: str
    ) -> None:
        queue.set_concurrency_limit(qname, 1)
        queue.enqueue_many(qname, ["first", "second"])
        queue.dequeue(qname, lease_timeout=SHORT)
        advance(SHORT + MARGIN)
        [lease] = queue.dequeue(qname, limit=5, lease_timeout=LONG)
        assert (lease.payload, lease.job.attempts) == ("second", 1)
        assert queue.dequeue(qname, limit=5) == []
        stats = queue.stats(qname)
        assert (stats.leased, stats.ready) == (1, 1)

    def test_in_flight_counts_follow_every_settlement(self, queue: Queue, qname: str) -> None:
        queue.enqueue_many(qname, ["ack", "requeue", "fail", "keep"])
        leases = {lease.payload: lease for lease in queue.dequeue(qname, limit=4, lease_timeout=LONG)}
        assert queue.stats(qname).leased == 4
        for how in sorted(SETTLE):
            SETTLE[how](queue, leases[how])
        stats = queue.stats(qname)
        counts = (stats.scheduled, stats.ready, stats.leased, stats.completed, stats.dead, stats.cancelled)
        assert counts == (0, 1, 1, 1, 1, 0)
        assert [lease.payload for lease in queue.dequeue(qname, limit=4)] == ["requeue"]
        assert queue.stats(qname).leased == 2
