"""No required daemon: dequeue alone promotes due jobs and reclaims expired leases."""

from __future__ import annotations

import pytest

from kanal import Job, JobSpec, JobState, Queue, Recovery
from kanal_conformance.suite.base import LONG, MARGIN, SHORT, Advance, MakeQueue, SuiteBase


def leave_overdue_work(queue: Queue, qname: str) -> tuple[Job, Job, Job]:
    """A delayed job, a lease and a lease on its last attempt, all due once SHORT passes."""
    due = queue.enqueue(qname, "due", delay=SHORT)
    expiring = queue.enqueue(qname, "expiring", lease_timeout=SHORT)
    last_try = queue.enqueue(qname, "last try", lease_timeout=SHORT, max_attempts=1)
    assert [lease.payload for lease in queue.dequeue(qname, limit=5)] == ["expiring", "last try"]
    return due, expiring, last_try


def burst(queue: Queue, qname: str) -> list[str]:
    """A cron-started worker: dequeue and ack until the queue is empty; the payloads done."""
    done: list[str] = []
    while leases := queue.dequeue(qname, limit=2, lease_timeout=LONG):
        for lease in leases:
            queue.ack(lease)
            done.append(lease.payload)
    return done


class NoDaemonTests(SuiteBase):
    """No required daemon: dequeue alone promotes due jobs and reclaims expired leases."""

    def test_a_job_that_fell_due_while_nobody_ran_goes_to_the_next_dequeue(
        self, queue: Queue, make_queue: MakeQueue, advance: Advance, qname: str
    ) -> None:
        job = queue.enqueue(qname, "overnight", delay=SHORT)
        assert queue.dequeue(qname) == []
        advance(SHORT + MARGIN)
        late_worker = make_queue("sync")
        [lease] = late_worker.dequeue(qname)
        assert (lease.id, lease.payload, lease.job.attempts) == (job.id, "overnight", 1)

    def test_one_dequeue_promotes_reclaims_and_leases_together(
        self, queue: Queue, advance: Advance, qname: str
    ) -> None:
        queue.enqueue(qname, "due", delay=SHORT)
        queue.enqueue(qname, "expiring", lease_timeout=SHORT)
        assert [lease.payload for lease in queue.dequeue(qname)] == ["expiring"]
        advance(SHORT + MARGIN)
        queue.enqueue(qname, "fresh")
        got = [(lease.payload, lease.job.attempts) for lease in queue.dequeue(qname, limit=10)]
        assert got == [("due", 1), ("expiring", 2), ("fresh", 1)]
        assert queue.dequeue(qname, limit=10) == []

    @pytest.mark.parametrize("first", ["stats", "get"])
    def test_reads_show_due_and_expired_jobs_without_recover(
        self, queue: Queue, advance: Advance, qname: str, first: str
    ) -> None:
        due, expiring, last_try = leave_overdue_work(queue, qname)
        advance(SHORT + MARGIN)
        if first == "stats":
            stats = queue.stats(qname)
            jobs = [queue.get(qname, job.id) for job in (due, expiring, last_try)]
        else:
            jobs = [queue.get(qname, job.id) for job in (due, expiring, last_try)]
            stats = queue.stats(qname)
        counts = (stats.scheduled, stats.ready, stats.leased, stats.dead, stats.total)
        assert counts == (0, 2, 0, 1, 3)
        states = [(j.state, j.attempts) if j else None for j in jobs]
        assert states == [(JobState.READY, 0), (JobState.READY, 1), (JobState.DEAD, 1)]
        assert "lease expired" in (jobs[1].last_error or "")  # type: ignore[union-attr]
        assert "lease expired" in (jobs[2].last_error or "")  # type: ignore[union-attr]

    def test_recover_reports_what_it_did(self, queue: Queue, advance: Advance, qname: str) -> None:
        leave_overdue_work(queue, qname)
        queue.enqueue(qname, "also due", delay=SHORT)
        queue.enqueue(qname, "not yet", delay=LONG)
        advance(SHORT + MARGIN)
        assert queue.recover(qname) == Recovery(promoted=2, reclaimed=1, dead=1)
        assert queue.recover(qname) == Recovery()
        stats = queue.stats(qname)
        assert (stats.scheduled, stats.ready, stats.leased, stats.dead) == (1, 3, 0, 1)
        leases = queue.dequeue(qname, limit=10)
        assert sorted(lease.payload for lease in leases) == ["also due", "due", "expiring"]

    def test_recover_with_nothing_due_changes_nothing(self, queue: Queue, qname: str) -> None:
        queue.enqueue(qname, "later", delay=LONG)
        queue.enqueue(qname, "held", lease_timeout=LONG)
        [lease] = queue.dequeue(qname)
        assert queue.recover(qname) == Recovery()
        stats = queue.stats(qname)
        assert (stats.scheduled, stats.leased, stats.ready) == (1, 1, 0)
        assert queue.ack(lease).state is JobState.COMPLETED

    def test_recover_of_every_queue_covers_each_one(
        self, queue: Queue, advance: Advance, qname: str, qname2: str
    ) -> None:
        queue.enqueue(qname, "one", delay=SHORT)
        queue.enqueue(qname2, "two", delay=SHORT)
        advance(SHORT + MARGIN)
        assert queue.recover().promoted >= 2
        assert queue.recover(qname) == Recovery()
        assert queue.recover(qname2) == Recovery()
        assert (queue.stats(qname).ready, queue.stats(qname2).ready) == (1, 1)

    def test_burst_mode_drains_ready_now_and_delayed_once_due(
        self, queue: Queue, make_queue: MakeQueue, advance: Advance, qname: str
    ) -> None:
        queue.enqueue_many(
            qname,
            [
                JobSpec("later", delay=SHORT),
                "now-1",
                JobSpec("later-urgent", delay=SHORT, priority=-1),
                JobSpec("now-urgent", priority=-1),
                "now-2",
                JobSpec("much later", delay=LONG),
            ],
        )
        assert burst(queue, qname) == ["now-urgent", "now-1", "now-2"]
        advance(SHORT + MARGIN)
        assert burst(make_queue("sync"), qname) == ["later-urgent", "later"]
        stats = queue.stats(qname)
        counts = (stats.scheduled, stats.ready, stats.leased, stats.completed, stats.total)
        assert counts == (1, 0, 0, 5, 6)
