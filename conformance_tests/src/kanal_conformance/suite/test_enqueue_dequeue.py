"""Enqueue, dequeue and order: priority first, then first in, first out."""

from __future__ import annotations

import pytest

from kanal import Job, JobSpec, JobState, Lease, Queue
from kanal_conformance.suite.base import LONG, MakeQueue, SuiteBase


class EnqueueDequeueTests(SuiteBase):
    def test_enqueue_returns_the_stored_job(self, queue: Queue, qname: str) -> None:
        job = queue.enqueue(qname, {"to": "a@b.c", "n": [1, 2.5, None, True]}, priority=3, key="user-1")
        assert isinstance(job, Job)
        assert job.queue == qname
        assert job.payload == {"to": "a@b.c", "n": [1, 2.5, None, True]}
        assert job.state is JobState.READY
        assert (job.priority, job.key, job.attempts) == (3, "user-1", 0)
        assert job.run_at >= job.enqueued_at
        assert queue.get(qname, job.id) == job

    def test_generated_ids_are_unique_and_sortable(self, queue: Queue, qname: str) -> None:
        ids = [queue.enqueue(qname, i).id for i in range(20)]
        assert len(set(ids)) == 20
        assert ids == sorted(ids)

    def test_dequeue_leases_the_job_with_a_token(self, queue: Queue, qname: str) -> None:
        job = queue.enqueue(qname, "hello", lease_timeout=LONG)
        [lease] = queue.dequeue(qname)
        assert isinstance(lease, Lease)
        assert (lease.id, lease.queue, lease.payload) == (job.id, qname, "hello")
        assert lease.token
        assert lease.job.state is JobState.LEASED
        assert lease.job.attempts == 1
        assert lease.expires_at > lease.job.last_dequeued_at  # type: ignore[operator]
        stored = queue.get(qname, job.id)
        assert stored is not None
        assert stored.state is JobState.LEASED

    def test_a_leased_job_is_not_handed_out_again(self, queue: Queue, qname: str) -> None:
        queue.enqueue(qname, 1, lease_timeout=LONG)
        assert len(queue.dequeue(qname)) == 1
        assert queue.dequeue(qname) == []

    def test_empty_queue_returns_nothing_without_waiting(self, queue: Queue, qname: str) -> None:
        assert queue.dequeue(qname) == []
        assert queue.dequeue(qname, limit=10) == []

    def test_fifo_within_a_priority(self, queue: Queue, qname: str) -> None:
        for i in range(10):
            queue.enqueue(qname, i)
        got = [lease.payload for lease in queue.dequeue(qname, limit=10)]
        assert got == list(range(10))

    def test_lower_priority_runs_first(self, queue: Queue, qname: str) -> None:
        for payload, priority in [("c", 5), ("a", -1), ("b", 0), ("d", 5), ("a2", -1)]:
            queue.enqueue(qname, payload, priority=priority)
        got = [lease.payload for lease in queue.dequeue(qname, limit=10)]
        assert got == ["a", "a2", "b", "c", "d"]

    def test_one_at_a_time_keeps_the_same_order(self, queue: Queue, qname: str) -> None:
        for payload, priority in [("x", 2), ("y", 1), ("z", 2), ("w", 1)]:
            queue.enqueue(qname, payload, priority=priority)
        got = [queue.dequeue(qname)[0].payload for _ in range(4)]
        assert got == ["y", "w", "x", "z"]

    def test_limit_caps_the_batch(self, queue: Queue, qname: str) -> None:
        for i in range(7):
            queue.enqueue(qname, i)
        assert [lease.payload for lease in queue.dequeue(qname, limit=3)] == [0, 1, 2]
        assert [lease.payload for lease in queue.dequeue(qname, limit=10)] == [3, 4, 5, 6]

    def test_each_lease_has_its_own_token(self, queue: Queue, qname: str) -> None:
        for i in range(5):
            queue.enqueue(qname, i)
        tokens = [lease.token for lease in queue.dequeue(qname, limit=5)]
        assert len(set(tokens)) == 5

    def test_queues_are_independent(self, queue: Queue, qname: str, qname2: str) -> None:
        queue.enqueue(qname, "first")
        queue.enqueue(qname2, "second")
        assert [lease.payload for lease in queue.dequeue(qname2, limit=5)] == ["second"]
        assert [lease.payload for lease in queue.dequeue(qname, limit=5)] == ["first"]

    def test_several_queues_are_tried_in_the_order_given(self, queue: Queue, qname: str, qname2: str) -> None:
        queue.enqueue(qname, "low-1")
        queue.enqueue(qname, "low-2")
        queue.enqueue(qname2, "high-1", priority=100)
        got = [(lease.queue, lease.payload) for lease in queue.dequeue([qname2, qname], limit=2)]
        assert got == [(qname2, "high-1"), (qname, "low-1")]

    def test_enqueue_many_stores_all_in_order(self, queue: Queue, qname: str) -> None:
        jobs = queue.enqueue_many(qname, [{"i": i} for i in range(50)])
        assert [job.payload for job in jobs] == [{"i": i} for i in range(50)]
        assert len({job.id for job in jobs}) == 50
        got = [lease.payload for lease in queue.dequeue(qname, limit=100)]
        assert got == [{"i": i} for i in range(50)]

    def test_enqueue_many_takes_per_job_options(self, queue: Queue, qname: str) -> None:
        jobs = queue.enqueue_many(
            qname,
            [
                JobSpec("later", delay=LONG),
                JobSpec("urgent", priority=-5, key="k1", id="job-urgent"),
                "plain",
            ],
        )
        assert [job.state for job in jobs] == [JobState.SCHEDULED, JobState.READY, JobState.READY]
        assert (jobs[1].id, jobs[1].key) == ("job-urgent", "k1")
        assert [lease.payload for lease in queue.dequeue(qname, limit=10)] == ["urgent", "plain"]

    def test_enqueue_many_of_nothing_is_a_no_op(self, queue: Queue, qname: str) -> None:
        assert queue.enqueue_many(qname, []) == []
        assert queue.stats(qname).total == 0

    def test_another_client_sees_the_same_jobs(self, queue: Queue, make_queue: MakeQueue, qname: str) -> None:
        other = make_queue("sync")
        job = queue.enqueue(qname, "shared")
        [lease] = other.dequeue(qname)
        assert lease.id == job.id
        assert queue.ack(lease).state is JobState.COMPLETED

    @pytest.mark.parametrize(
        "payload",
        [None, 0, -7, 2**53, 1.5, "", "ünïcødé ✓", [], {}, {"nested": {"list": [1, {"a": None}]}}],
    )
    def test_payloads_round_trip(self, queue: Queue, qname: str, payload: object) -> None:
        queue.enqueue(qname, payload)
        [lease] = queue.dequeue(qname)
        assert lease.payload == payload
