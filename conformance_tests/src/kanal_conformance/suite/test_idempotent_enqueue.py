"""Idempotent enqueue: a known job id returns the stored job and writes nothing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from kanal import Job, JobSpec, JobState, Queue
from kanal_conformance.suite.base import LONG, MARGIN, SHORT, Advance, MakeQueue, SuiteBase
from kanal_conformance.suite.test_cancel_get import job_in_state

#: Options of a second enqueue that differ from the first in every way.
OTHER_OPTIONS: dict[str, Any] = {"priority": -9, "key": "other-key", "max_attempts": 9, "lease_timeout": 7.0}


def assert_duplicate_is_a_no_op(queue: Queue, qname: str, stored: Job, **options: Any) -> None:
    """Enqueueing ``stored.id`` again, with another payload and ``options``, returns
    ``stored`` unchanged and writes nothing."""
    stats = queue.stats(qname)
    again = queue.enqueue(qname, "changed", id=stored.id, **options)
    assert again == stored
    assert queue.get(qname, stored.id) == stored
    assert queue.stats(qname) == stats


class IdempotentEnqueueTests(SuiteBase):
    """Idempotent enqueue: a known job id returns the stored job and writes nothing."""

    @pytest.mark.parametrize(
        ("state", "delay"),
        [(JobState.SCHEDULED, None), (JobState.READY, LONG), (JobState.LEASED, None)],
        ids=["scheduled", "ready", "leased"],
    )
    def test_same_id_while_pending_returns_the_original_job(
        self, queue: Queue, qname: str, state: JobState, delay: float | None
    ) -> None:
        stored, lease = job_in_state(
            queue, qname, state, "original", id="order-1", priority=3, key="k-1", max_attempts=2
        )
        assert_duplicate_is_a_no_op(queue, qname, stored, delay=delay, **OTHER_OPTIONS)
        assert (stored.payload, stored.priority, stored.key, stored.max_attempts) == ("original", 3, "k-1", 2)
        delivered = [(d.id, d.payload) for d in queue.dequeue(qname, limit=10)]
        assert delivered == ([("order-1", "original")] if state is JobState.READY else [])
        if lease is not None:
            assert queue.ack(lease).state is JobState.COMPLETED

    @pytest.mark.parametrize("state", [JobState.COMPLETED, JobState.CANCELLED, JobState.DEAD], ids=str)
    def test_same_id_of_a_finished_job_returns_it_and_delivers_nothing(
        self, queue: Queue, qname: str, state: JobState
    ) -> None:
        stored, _ = job_in_state(queue, qname, state, "original", id="order-1")
        assert_duplicate_is_a_no_op(queue, qname, stored)
        assert stored.payload == "original"
        if state is JobState.COMPLETED:
            assert stored.result == "done"
        assert queue.dequeue(qname, limit=10) == []
        assert queue.stats(qname).total == 1

    @pytest.mark.parametrize(
        "finish", ["ack-result_ttl", "connect-result_ttl-ack", "connect-result_ttl-cancel"]
    )
    def test_id_is_free_again_once_the_finished_job_expires(
        self, queue: Queue, make_queue: MakeQueue, api: str, qname: str, advance: Advance, finish: str
    ) -> None:
        client = make_queue(api, result_ttl=SHORT) if finish.startswith("connect") else queue
        first = client.enqueue(qname, "first", id="order-1")
        if finish.endswith("cancel"):
            client.cancel(qname, first.id)
        else:
            [lease] = client.dequeue(qname)
            client.ack(lease, result="r", result_ttl=SHORT if finish == "ack-result_ttl" else None)
        finished = queue.get(qname, first.id)
        assert finished is not None
        assert queue.enqueue(qname, "too-soon", id="order-1") == finished

        advance(SHORT + MARGIN)
        assert queue.get(qname, first.id) is None
        second = queue.enqueue(qname, "second", id="order-1")
        assert (second.id, second.payload, second.state, second.attempts) == (
            "order-1",
            "second",
            JobState.READY,
            0,
        )
        assert (second.finished_at, second.result) == (None, None)
        assert second.enqueued_at > first.enqueued_at
        assert queue.get(qname, "order-1") == second
        assert [(d.id, d.payload) for d in queue.dequeue(qname, limit=10)] == [("order-1", "second")]
        assert queue.stats(qname).total == 1

    def test_dead_job_keeps_its_id_past_the_result_ttl(
        self, queue: Queue, make_queue: MakeQueue, api: str, qname: str, advance: Advance
    ) -> None:
        client = make_queue(api, result_ttl=SHORT)
        dead, _ = job_in_state(client, qname, JobState.DEAD, "original", id="order-1")
        advance(SHORT + MARGIN)
        assert queue.get(qname, dead.id) == dead
        assert_duplicate_is_a_no_op(client, qname, dead)
        assert queue.dequeue(qname, limit=10) == []

    def test_enqueue_many_returns_the_stored_job_for_a_known_id(self, queue: Queue, qname: str) -> None:
        stored = queue.enqueue(qname, "original", id="known", priority=4)
        jobs = queue.enqueue_many(
            qname, [JobSpec("changed", id="known", priority=-4), JobSpec("fresh", id="fresh"), "plain"]
        )
        assert jobs[0] == stored
        assert [(job.payload, job.state) for job in jobs[1:]] == [
            ("fresh", JobState.READY),
            ("plain", JobState.READY),
        ]
        assert jobs[1].id == "fresh"
        assert queue.stats(qname).ready == 3
        assert [d.payload for d in queue.dequeue(qname, limit=10)] == ["fresh", "plain", "original"]

    def test_enqueue_many_stores_a_repeated_id_once(self, queue: Queue, qname: str) -> None:
        jobs = queue.enqueue_many(
            qname, [JobSpec("first", id="twice"), "between", JobSpec("second", id="twice", priority=-1)]
        )
        assert jobs[0] == jobs[2]
        assert (jobs[0].id, jobs[0].payload, jobs[0].priority) == ("twice", "first", 0)
        assert queue.get(qname, "twice") == jobs[0]
        assert queue.stats(qname).total == 2
        assert [d.payload for d in queue.dequeue(qname, limit=10)] == ["first", "between"]

    def test_concurrent_enqueues_of_one_id_store_one_job(
        self, queue: Queue, make_queue: MakeQueue, qname: str
    ) -> None:
        clients = [make_queue("sync") for _ in range(20)]
        start = threading.Barrier(len(clients), timeout=30)

        def enqueue(n: int) -> Job:
            start.wait()
            return clients[n].enqueue(qname, {"from": n}, id="contended")

        with ThreadPoolExecutor(len(clients)) as pool:
            jobs = list(pool.map(enqueue, range(len(clients))))
        assert all(job == jobs[0] for job in jobs)
        assert jobs[0].payload in [{"from": n} for n in range(len(clients))]
        assert queue.get(qname, "contended") == jobs[0]
        assert (queue.stats(qname).total, queue.stats(qname).ready) == (1, 1)
        assert [(d.id, d.payload) for d in queue.dequeue(qname, limit=10)] == [("contended", jobs[0].payload)]
