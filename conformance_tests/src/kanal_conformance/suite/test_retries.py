"""Requeue, fail, max_attempts, the dead-letter set and redrive."""

from __future__ import annotations

import pickle
from datetime import timedelta
from typing import Any

import pytest

from kanal import Job, JobState, Queue
from kanal_conformance.suite.base import LONG, MARGIN, SHORT, Advance, MakeQueue, SuiteBase
from kanal_conformance.suite.test_fencing import TOLERANCE, stored


def kill(queue: Queue, qname: str, payloads: list[str]) -> list[Job]:
    """Enqueue ``payloads``, lease them and fail each in order: dead jobs, oldest first."""
    queue.enqueue_many(qname, payloads)
    leases = queue.dequeue(qname, limit=len(payloads), lease_timeout=LONG)
    assert [lease.payload for lease in leases] == payloads
    return [queue.fail(lease, f"failed {lease.payload}") for lease in leases]


def snapshot(queue: Queue, qname: str, ids: list[str]) -> list[Job | None]:
    return [queue.get(qname, job_id) for job_id in ids]


#: Set if unpickling ever runs the payload's code (it must not).
UNPICKLED: list[str] = []


def _mark_unpickled(note: str) -> None:
    UNPICKLED.append(note)


class _Booby:
    """Unpickling this calls _mark_unpickled: proof that somebody ran pickle.loads."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _mark_unpickled, ("code ran",)


class _PickleWriter:
    """A serializer that writes pickles: how a pickle blob gets into a JSON queue's store."""

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value)

    def loads(self, data: bytes) -> Any:
        raise ValueError("this writer does not read (unpickling would run the payload's code)")


class RetryAndDeadLetterTests(SuiteBase):
    def test_a_pickle_blob_under_json_is_dead_lettered_and_never_run(
        self, queue: Queue, make_queue: MakeQueue, qname: str
    ) -> None:
        writer = make_queue("sync", serializer=_PickleWriter())
        poison = writer.enqueue(qname, _Booby())
        good = queue.enqueue(qname, {"ok": True})
        assert [lease.id for lease in queue.dequeue(qname, limit=10)] == [good.id]
        dead = queue.get(qname, poison.id)
        assert dead is not None
        assert (dead.state, dead.attempts) == (JobState.DEAD, 1)
        assert "cannot be decoded by JSONSerializer" in (dead.last_error or "")
        assert isinstance(dead.payload, bytes)  # shown raw, never unpickled
        assert UNPICKLED == []

    """Requeue, fail, max_attempts, the dead-letter set and redrive."""

    def test_requeue_with_delay_hides_the_job_until_the_delay_passes(
        self, queue: Queue, advance: Advance, qname: str
    ) -> None:
        queue.enqueue(qname, "retry later", lease_timeout=LONG)
        [lease] = queue.dequeue(qname)
        job = queue.requeue(lease, delay=SHORT)
        assert (job.state, job.attempts) == (JobState.SCHEDULED, 1)
        assert lease.job.last_dequeued_at is not None
        assert job.run_at - lease.job.last_dequeued_at >= timedelta(seconds=SHORT - TOLERANCE)
        assert queue.dequeue(qname) == []
        assert queue.stats(qname).scheduled == 1
        advance(SHORT + MARGIN)
        [again] = queue.dequeue(qname)
        assert (again.id, again.payload, again.job.attempts) == (job.id, "retry later", 2)
        assert again.token != lease.token

    def test_requeue_without_delay_goes_behind_the_ready_jobs(self, queue: Queue, qname: str) -> None:
        queue.enqueue_many(qname, ["retried", "waiting-1", "waiting-2"])
        [lease] = queue.dequeue(qname, lease_timeout=LONG)
        assert lease.payload == "retried"
        assert queue.requeue(lease).state is JobState.READY
        got = [(lease.payload, lease.job.attempts) for lease in queue.dequeue(qname, limit=10)]
        assert got == [("waiting-1", 1), ("waiting-2", 1), ("retried", 2)]

    def test_requeue_records_the_error(self, queue: Queue, qname: str) -> None:
        queue.enqueue(qname, "flaky", lease_timeout=LONG)
        [lease] = queue.dequeue(qname)
        job = queue.requeue(lease, error="ConnectionError: smtp down")
        assert (job.state, job.last_error) == (JobState.READY, "ConnectionError: smtp down")
        assert stored(queue, lease).last_error == "ConnectionError: smtp down"
        [again] = queue.dequeue(qname)
        assert (again.job.attempts, again.job.last_error) == (2, "ConnectionError: smtp down")

    @pytest.mark.parametrize("max_attempts", [1, 3])
    def test_requeue_on_the_last_attempt_dead_letters_the_job(
        self, queue: Queue, qname: str, max_attempts: int
    ) -> None:
        job = queue.enqueue(qname, "hopeless", max_attempts=max_attempts, lease_timeout=LONG)
        for attempt in range(1, max_attempts):
            [lease] = queue.dequeue(qname)
            assert lease.job.attempts == attempt
            assert queue.requeue(lease, error=f"try {attempt}").state is JobState.READY
        [last] = queue.dequeue(qname)
        assert last.job.attempts == max_attempts
        dead = queue.requeue(last, error="final try")
        assert (dead.state, dead.attempts, dead.last_error) == (JobState.DEAD, max_attempts, "final try")
        assert dead.finished_at is not None
        assert queue.dequeue(qname) == []
        assert [j.id for j in queue.dead_letters(qname)] == [job.id]
        stats = queue.stats(qname)
        assert (stats.dead, stats.ready, stats.leased, stats.total) == (1, 0, 0, 1)

    def test_requeue_on_the_last_attempt_without_an_error_still_says_why(
        self, queue: Queue, qname: str
    ) -> None:
        queue.enqueue(qname, "once", max_attempts=1, lease_timeout=LONG)
        [lease] = queue.dequeue(qname)
        dead = queue.requeue(lease, delay=LONG)
        assert dead.state is JobState.DEAD
        assert dead.last_error

    def test_unlimited_attempts_never_dead_letter(self, queue: Queue, qname: str) -> None:
        queue.enqueue(qname, "forever", max_attempts=None, lease_timeout=LONG)
        for attempt in range(1, 8):
            [lease] = queue.dequeue(qname)
            assert (lease.job.attempts, lease.job.max_attempts) == (attempt, None)
            assert queue.requeue(lease, error="again").state is JobState.READY
        assert queue.dead_letters(qname) == []
        assert queue.stats(qname).ready == 1

    def test_fail_dead_letters_at_once(self, queue: Queue, qname: str) -> None:
        job = queue.enqueue(qname, "bad input", max_attempts=5, lease_timeout=LONG)
        [lease] = queue.dequeue(qname)
        dead = queue.fail(lease, "boom")
        assert (dead.id, dead.state, dead.attempts, dead.last_error) == (job.id, JobState.DEAD, 1, "boom")
        assert dead.finished_at is not None
        assert dead.finished_at >= lease.job.last_dequeued_at  # type: ignore[operator]
        assert stored(queue, lease) == dead
        assert queue.dequeue(qname) == []
        assert queue.dead_letters(qname) == [dead]
        stats = queue.stats(qname)
        assert (stats.dead, stats.leased, stats.ready, stats.total) == (1, 0, 0, 1)

    def test_dead_letters_lists_dead_jobs_oldest_first_in_pages(self, queue: Queue, qname: str) -> None:
        queue.enqueue(qname, "still ready", priority=10)
        dead = kill(queue, qname, ["d0", "d1", "d2", "d3", "d4"])
        queue.enqueue(qname, "also ready")
        assert queue.dead_letters(qname) == dead
        assert queue.dead_letters(qname, limit=2) == dead[:2]
        assert queue.dead_letters(qname, limit=2, offset=2) == dead[2:4]
        assert queue.dead_letters(qname, limit=2, offset=4) == dead[4:]
        assert queue.dead_letters(qname, offset=5) == []
        assert [job.last_error for job in dead] == [f"failed d{i}" for i in range(5)]

    def test_redrive_moves_every_dead_job_back_with_fresh_attempts(self, queue: Queue, qname: str) -> None:
        dead = kill(queue, qname, ["a", "b", "c"])
        assert queue.redrive(qname) == 3
        assert queue.dead_letters(qname) == []
        for job in snapshot(queue, qname, [job.id for job in dead]):
            assert job is not None
            assert (job.state, job.attempts, job.finished_at) == (JobState.READY, 0, None)
        leases = queue.dequeue(qname, limit=10, lease_timeout=LONG)
        assert [(lease.payload, lease.job.attempts) for lease in leases] == [("a", 1), ("b", 1), ("c", 1)]
        assert queue.ack(leases[0]).state is JobState.COMPLETED

    def test_redrive_takes_at_most_limit_oldest_first(self, queue: Queue, qname: str) -> None:
        dead = kill(queue, qname, ["a", "b", "c"])
        assert queue.redrive(qname, limit=2) == 2
        assert queue.dead_letters(qname) == dead[2:]
        assert [lease.payload for lease in queue.dequeue(qname, limit=10)] == ["a", "b"]

    def test_redrive_by_id_moves_only_those(self, queue: Queue, qname: str) -> None:
        dead = kill(queue, qname, ["a", "b", "c", "d"])
        assert queue.redrive(qname, [dead[1].id, dead[3].id]) == 2
        assert [job.id for job in queue.dead_letters(qname)] == [dead[0].id, dead[2].id]
        leases = queue.dequeue(qname, limit=10)
        assert [(lease.payload, lease.job.attempts) for lease in leases] == [("b", 1), ("d", 1)]

    def test_redriving_twice_is_a_no_op_the_second_time(self, queue: Queue, qname: str) -> None:
        [dead] = kill(queue, qname, ["twice"])
        assert queue.redrive(qname, [dead.id]) == 1
        after_first = queue.get(qname, dead.id)
        assert queue.redrive(qname, [dead.id]) == 0
        assert queue.redrive(qname) == 0
        assert queue.get(qname, dead.id) == after_first
        assert queue.stats(qname).ready == 1
        assert [lease.payload for lease in queue.dequeue(qname, limit=10)] == ["twice"]

    def test_redrive_of_unknown_or_live_jobs_changes_nothing(self, queue: Queue, qname: str) -> None:
        leased = queue.enqueue(qname, "leased", lease_timeout=LONG)
        completed = queue.enqueue(qname, "completed", lease_timeout=LONG)
        queue.ack(queue.dequeue(qname, limit=2)[1])
        ready = queue.enqueue(qname, "ready")
        scheduled = queue.enqueue(qname, "scheduled", delay=LONG)
        ids = [ready.id, leased.id, completed.id, scheduled.id]
        before = snapshot(queue, qname, ids)
        assert [job.state if job else None for job in before] == [
            JobState.READY,
            JobState.LEASED,
            JobState.COMPLETED,
            JobState.SCHEDULED,
        ]
        assert queue.redrive(qname, [*ids, "no-such-job"]) == 0
        assert queue.redrive(qname) == 0
        assert snapshot(queue, qname, ids) == before
        assert queue.get(qname, "no-such-job") is None

    def test_a_job_whose_consumer_keeps_crashing_is_dead_after_max_attempts(
        self, queue: Queue, advance: Advance, qname: str
    ) -> None:
        job = queue.enqueue(qname, "poison", max_attempts=2, lease_timeout=SHORT)
        for attempt in (1, 2):
            [lease] = queue.dequeue(qname)
            assert lease.job.attempts == attempt
            advance(SHORT + MARGIN)
        assert queue.dequeue(qname) == []
        [dead] = queue.dead_letters(qname)
        assert (dead.id, dead.state, dead.attempts) == (job.id, JobState.DEAD, 2)
        assert "lease expired" in (dead.last_error or "")
        assert dead.finished_at is not None
