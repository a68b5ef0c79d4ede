"""Delays, run_at and reschedule, all on server time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kanal import Job, JobState, Queue
from kanal_conformance.suite.base import LONG, MARGIN, SHORT, Advance, SuiteBase
from kanal_conformance.suite.test_cancel_get import (
    KNOWN_QUEUE,
    SETTLED_STATES,
    check_not_found,
    check_refused_in_state,
    same_instant,
)

#: The three ways to say "run this later": seconds, a timedelta, or an absolute server time.
TIMINGS = ["delay", "timedelta", "run_at"]


def timing(kind: str, anchor: Job, seconds: float) -> dict[str, Any]:
    """Keyword arguments that hold a job back ``seconds``, as ``kind`` says.

    ``run_at`` is computed from ``anchor.enqueued_at`` (server time), never the client's clock.
    """
    if kind == "delay":
        return {"delay": seconds}
    if kind == "timedelta":
        return {"delay": timedelta(seconds=seconds)}
    return {"run_at": anchor.enqueued_at + timedelta(seconds=seconds)}


def payloads(queue: Queue, qname: str) -> list[Any]:
    """Payloads of every job a dequeue hands out now, in order."""
    return [lease.payload for lease in queue.dequeue(qname, limit=50)]


class DelayTests(SuiteBase):
    """Delays, run_at and reschedule, all on server time."""

    @pytest.mark.parametrize("kind", TIMINGS)
    def test_delayed_job_is_scheduled_until_due(
        self, queue: Queue, qname: str, qname2: str, advance: Advance, kind: str
    ) -> None:
        anchor = queue.enqueue(qname2, "anchor")
        options = timing(kind, anchor, SHORT)
        job = queue.enqueue(qname, "later", **options)
        assert job.state is JobState.SCHEDULED
        due = options.get("run_at", job.enqueued_at + timedelta(seconds=SHORT))
        assert same_instant(job.run_at, due)
        assert queue.dequeue(qname) == []
        assert queue.get(qname, job.id) == job
        assert (queue.stats(qname).scheduled, queue.stats(qname).ready) == (1, 0)
        advance(SHORT + MARGIN)
        [lease] = queue.dequeue(qname)
        assert (lease.id, lease.payload, lease.job.attempts) == (job.id, "later", 1)
        assert same_instant(lease.job.run_at, due)

    @pytest.mark.parametrize("kind", ["run_at", "zero-delay"])
    def test_job_due_now_or_in_the_past_is_ready_at_once(
        self, queue: Queue, qname: str, qname2: str, kind: str
    ) -> None:
        anchor = queue.enqueue(qname2, "anchor")
        if kind == "run_at":
            job = queue.enqueue(qname, "past", run_at=anchor.enqueued_at - timedelta(minutes=1))
            assert same_instant(job.run_at, anchor.enqueued_at - timedelta(minutes=1))
        else:
            job = queue.enqueue(qname, "past", delay=0)
            assert job.run_at == job.enqueued_at
        assert job.state is JobState.READY
        [lease] = queue.dequeue(qname)
        assert (lease.id, lease.payload) == (job.id, "past")

    def test_job_due_in_the_past_goes_ahead_of_ready_jobs(self, queue: Queue, qname: str) -> None:
        ready = queue.enqueue(qname, "ready")
        queue.enqueue(qname, "past", run_at=ready.enqueued_at - timedelta(minutes=1))
        assert payloads(queue, qname) == ["past", "ready"]

    def test_due_jobs_are_ordered_by_due_time_among_ready_jobs(
        self, queue: Queue, qname: str, advance: Advance
    ) -> None:
        first = queue.enqueue(qname, "ready-first")
        queue.enqueue(qname, "due-later", run_at=first.enqueued_at + timedelta(seconds=SHORT))
        queue.enqueue(qname, "due-sooner", run_at=first.enqueued_at + timedelta(seconds=SHORT / 2))
        advance(SHORT + MARGIN)
        queue.enqueue(qname, "ready-last")
        assert payloads(queue, qname) == ["ready-first", "due-sooner", "due-later", "ready-last"]

    def test_priority_wins_over_due_time(self, queue: Queue, qname: str, advance: Advance) -> None:
        queue.enqueue(qname, "due-low", priority=1, delay=SHORT)
        advance(SHORT + MARGIN)
        queue.enqueue(qname, "fresh-low", priority=1)
        queue.enqueue(qname, "fresh-high", priority=0)
        assert payloads(queue, qname) == ["fresh-high", "due-low", "fresh-low"]

    @pytest.mark.parametrize("kind", TIMINGS)
    def test_reschedule_moves_a_scheduled_job_earlier(
        self, queue: Queue, qname: str, advance: Advance, kind: str
    ) -> None:
        job = queue.enqueue(qname, "moved", delay=LONG)
        options = timing(kind, job, SHORT)
        moved = queue.reschedule(qname, job.id, **options)
        assert (moved.id, moved.state, moved.payload) == (job.id, JobState.SCHEDULED, "moved")
        assert moved.run_at < job.run_at
        if "run_at" in options:
            assert same_instant(moved.run_at, options["run_at"])
        assert queue.get(qname, job.id) == moved
        assert queue.dequeue(qname) == []
        advance(SHORT + MARGIN)
        assert payloads(queue, qname) == ["moved"]

    @pytest.mark.parametrize("kind", TIMINGS)
    def test_reschedule_moves_a_scheduled_job_later(
        self, queue: Queue, qname: str, advance: Advance, kind: str
    ) -> None:
        job = queue.enqueue(qname, "moved", delay=SHORT)
        options = timing(kind, job, LONG)
        moved = queue.reschedule(qname, job.id, **options)
        assert moved.state is JobState.SCHEDULED
        assert moved.run_at >= job.enqueued_at + timedelta(seconds=LONG) - timedelta(milliseconds=2)
        advance(SHORT + MARGIN)
        assert queue.dequeue(qname) == []
        assert queue.get(qname, job.id) == moved
        assert queue.stats(qname).scheduled == 1

    @pytest.mark.parametrize("kind", TIMINGS)
    def test_reschedule_pushes_a_ready_job_back_to_scheduled(
        self, queue: Queue, qname: str, advance: Advance, kind: str
    ) -> None:
        job = queue.enqueue(qname, "moved")
        queue.enqueue(qname, "stays")
        moved = queue.reschedule(qname, job.id, **timing(kind, job, SHORT))
        assert (moved.state, moved.attempts) == (JobState.SCHEDULED, 0)
        assert moved.run_at > job.run_at
        assert payloads(queue, qname) == ["stays"]
        advance(SHORT + MARGIN)
        [lease] = queue.dequeue(qname)
        assert (lease.id, lease.job.attempts) == (job.id, 1)

    @pytest.mark.parametrize("kind", ["run_at", "zero-delay"])
    def test_reschedule_to_now_or_the_past_makes_a_job_ready(
        self, queue: Queue, qname: str, kind: str
    ) -> None:
        job = queue.enqueue(qname, "moved", delay=LONG)
        if kind == "run_at":
            moved = queue.reschedule(qname, job.id, run_at=job.enqueued_at - timedelta(minutes=1))
        else:
            moved = queue.reschedule(qname, job.id, delay=0)
        assert moved.state is JobState.READY
        assert payloads(queue, qname) == ["moved"]

    @pytest.mark.parametrize("state", SETTLED_STATES, ids=str)
    def test_reschedule_of_a_leased_or_finished_job_changes_nothing(
        self, queue: Queue, qname: str, state: JobState
    ) -> None:
        check_refused_in_state(
            queue,
            qname,
            state,
            lambda job: queue.reschedule(qname, job.id, delay=SHORT),
            lambda job: queue.reschedule(qname, job.id, run_at=job.enqueued_at + timedelta(seconds=LONG)),
        )

    @KNOWN_QUEUE
    def test_reschedule_of_an_unknown_job_raises_not_found(
        self, queue: Queue, qname: str, qname2: str, known_queue: bool
    ) -> None:
        check_not_found(
            queue,
            qname,
            qname2,
            known_queue,
            lambda name, job_id: queue.reschedule(name, job_id, delay=SHORT),
        )
