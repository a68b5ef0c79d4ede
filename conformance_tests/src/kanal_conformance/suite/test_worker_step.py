"""``ack_and_dequeue``: a worker's step, completing one job and leasing the next ones."""

from __future__ import annotations

from typing import Any

import pytest

import kanal
from kanal import JobSpec, JobState, Queue, QueueStats
from kanal_conformance.suite.base import LONG, SuiteBase
from kanal_conformance.suite.test_bad_input import (
    BAD_LIMITS,
    BAD_POSITIVE_SECONDS,
    BAD_SECONDS,
    FORGED_LEASES,
    NOT_LEASES,
    cases,
    rejected,
)
from kanal_conformance.suite.test_fencing import stored

#: Bad options of ``ack_and_dequeue``: (call, what the message names).
BAD_OPTIONS = [
    *cases("limit", lambda v: lambda q, lease: q.ack_and_dequeue(lease, limit=v), "limit", BAD_LIMITS),
    *cases(
        "result_ttl",
        lambda v: lambda q, lease: q.ack_and_dequeue(lease, result_ttl=v),
        "result_ttl",
        BAD_SECONDS,
    ),
    *cases(
        "lease_timeout",
        lambda v: lambda q, lease: q.ack_and_dequeue(lease, lease_timeout=v),
        "lease_timeout",
        BAD_POSITIVE_SECONDS,
    ),
]


class WorkerStepTests(SuiteBase):
    """Complete and fetch in one step: the same rules as ``ack`` then ``dequeue``."""

    def test_it_completes_the_job_and_leases_the_next_ones_by_priority(
        self, queue: Queue, qname: str
    ) -> None:
        first = queue.enqueue(qname, "first", priority=0, lease_timeout=LONG)
        queue.enqueue_many(qname, [JobSpec(f"p{p}", priority=p, lease_timeout=LONG) for p in (3, 1, 2)])
        [lease] = queue.dequeue(qname)
        assert lease.id == first.id
        done, leases = queue.ack_and_dequeue(lease, {"ok": True}, limit=2)
        assert (done.id, done.state, done.result) == (first.id, JobState.COMPLETED, {"ok": True})
        assert [new.payload for new in leases] == ["p1", "p2"]
        assert all(new.job.state is JobState.LEASED and new.job.attempts == 1 for new in leases)
        assert queue.get(qname, first.id) == done
        assert queue.stats(qname) == QueueStats(queue=qname, ready=1, leased=2, completed=1)
        for new in leases:
            assert queue.ack(new).state is JobState.COMPLETED

    def test_an_empty_queue_gives_the_completed_job_and_no_lease(self, queue: Queue, qname: str) -> None:
        queue.enqueue(qname, "only", lease_timeout=LONG)
        [lease] = queue.dequeue(qname)
        done, leases = queue.ack_and_dequeue(lease, limit=10, result_ttl=0)
        assert (done.state, leases) == (JobState.COMPLETED, [])
        assert queue.get(qname, lease.id) is None

    def test_the_lease_timeout_applies_to_the_new_leases(self, queue: Queue, qname: str) -> None:
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(2)])
        [lease] = queue.dequeue(qname)
        _, [new] = queue.ack_and_dequeue(lease, lease_timeout=LONG / 2)
        remaining = (new.expires_at - new.job.last_dequeued_at).total_seconds()  # type: ignore[operator]
        assert remaining == pytest.approx(LONG / 2, abs=1)

    def test_a_stale_lease_raises_and_leases_nothing(self, queue: Queue, qname: str) -> None:
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(3)])
        [lease] = queue.dequeue(qname)
        queue.requeue(lease)
        before = queue.stats(qname)
        with pytest.raises(kanal.StaleLease, match=lease.id):
            queue.ack_and_dequeue(lease, limit=3)
        assert queue.stats(qname) == before == QueueStats(queue=qname, ready=3)

    def test_a_replayed_step_returns_the_completed_job(self, queue: Queue, qname: str) -> None:
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(3)])
        [lease] = queue.dequeue(qname)
        done, [second] = queue.ack_and_dequeue(lease)
        again, [third] = queue.ack_and_dequeue(lease)
        assert again == done
        assert [second.payload, third.payload] == [1, 2]

    def test_a_paused_queue_completes_but_leases_nothing(self, queue: Queue, qname: str) -> None:
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(2)])
        [lease] = queue.dequeue(qname)
        queue.pause(qname)
        done, leases = queue.ack_and_dequeue(lease)
        assert (done.state, leases) == (JobState.COMPLETED, [])
        assert stored(queue, lease).state is JobState.COMPLETED

    @pytest.mark.parametrize(("call", "fragment"), BAD_OPTIONS)
    def test_bad_options_are_rejected_before_anything_changes(
        self, queue: Queue, qname: str, call: Any, fragment: str
    ) -> None:
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(2)])
        [lease] = queue.dequeue(qname)
        before = queue.stats(qname)
        rejected(lambda: call(queue, lease), fragment)
        assert queue.stats(qname) == before
        assert stored(queue, lease).state is JobState.LEASED

    @pytest.mark.parametrize("make", [*NOT_LEASES.values(), *(f for f, _ in FORGED_LEASES.values())])
    def test_what_is_not_a_real_lease_is_rejected(self, queue: Queue, qname: str, make: Any) -> None:
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(2)])
        [lease] = queue.dequeue(qname)
        before = queue.stats(qname)
        with pytest.raises((kanal.InvalidArgument, kanal.StaleLease)):
            queue.ack_and_dequeue(make(lease))
        assert queue.stats(qname) == before

    def test_an_unencodable_result_is_rejected_before_anything_changes(
        self, queue: Queue, qname: str
    ) -> None:
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(2)])
        [lease] = queue.dequeue(qname)
        with pytest.raises(kanal.SerializationError):
            queue.ack_and_dequeue(lease, {1, 2})
        assert queue.stats(qname) == QueueStats(queue=qname, ready=1, leased=1)
