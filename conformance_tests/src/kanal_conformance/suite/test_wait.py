"""Waiting: blocking dequeue and waiting for a job to finish."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from kanal import JobNotFound, JobState, Queue, WaitTimeout
from kanal_conformance.suite.base import LONG, MARGIN, SHORT, Advance, MakeQueue, SuiteBase
from kanal_conformance.suite.test_cancel_get import KNOWN_QUEUE, job_in_state

#: Real seconds a background thread sleeps before it acts.
PAUSE = 0.2
#: A wait budget that must not run out: the waiter is woken long before.
BLOCK = 10.0
#: A wait budget that does run out, in real seconds.
BRIEF = 0.4
#: Generous extra real time a wake-up or a timeout may take (polling backends, slow CI).
SLACK = 2.5
#: Timers may fire this much early.
EARLY = 0.02

FINAL_STATES = [JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED]


class Stopwatch:
    """Real seconds since it was made."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@contextmanager
def in_background(action: Callable[[], object], after: float = PAUSE) -> Iterator[None]:
    """Run ``action`` in a thread ``after`` real seconds; join it on exit, re-raising its error."""
    errors: list[BaseException] = []

    def run() -> None:
        time.sleep(after)
        try:
            action()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=30)
    assert not thread.is_alive(), "the background action did not finish"
    if errors:
        raise errors[0]


class WaitTests(SuiteBase):
    """Waiting: blocking dequeue and waiting for a job to finish."""

    @pytest.mark.parametrize("state", FINAL_STATES, ids=str)
    def test_wait_returns_once_another_client_finishes_the_job(
        self, queue: Queue, make_queue: MakeQueue, qname: str, state: JobState
    ) -> None:
        other = make_queue("sync")
        pending = JobState.READY if state is JobState.CANCELLED else JobState.LEASED
        job, lease = job_in_state(queue, qname, pending, "work")

        def finish() -> None:
            if lease is None:
                other.cancel(qname, job.id)
            elif state is JobState.COMPLETED:
                other.ack(lease, result={"sent": True})
            else:
                other.fail(lease, "boom")

        clock = Stopwatch()
        with in_background(finish):
            done = queue.wait(qname, job.id, timeout=BLOCK)
        assert clock.elapsed < PAUSE + SLACK
        assert (done.id, done.state, done.payload) == (job.id, state, "work")
        assert done.result == ({"sent": True} if state is JobState.COMPLETED else None)
        assert done.last_error == ("boom" if state is JobState.DEAD else None)
        assert queue.get(qname, job.id) == done

    def test_wait_returns_a_job_dead_by_lease_expiry(
        self, queue: Queue, qname: str, advance: Advance
    ) -> None:
        job = queue.enqueue(qname, "crashes", max_attempts=1, lease_timeout=SHORT)
        queue.dequeue(qname)
        clock = Stopwatch()
        with in_background(lambda: advance(SHORT + MARGIN)):
            done = queue.wait(qname, job.id, timeout=BLOCK)
        assert clock.elapsed < PAUSE + SHORT + MARGIN + SLACK
        assert (done.state, done.attempts) == (JobState.DEAD, 1)
        assert done.last_error is not None
        assert "lease expired" in done.last_error

    @pytest.mark.parametrize("state", FINAL_STATES, ids=str)
    def test_wait_returns_a_finished_job_at_once(self, queue: Queue, qname: str, state: JobState) -> None:
        stored, _ = job_in_state(queue, qname, state)
        assert queue.wait(qname, stored.id, timeout=0) == stored
        assert queue.wait(qname, stored.id) == stored

    @pytest.mark.parametrize("state", [JobState.SCHEDULED, JobState.READY, JobState.LEASED], ids=str)
    def test_wait_times_out_when_nobody_finishes_the_job(
        self, queue: Queue, qname: str, state: JobState
    ) -> None:
        stored, _ = job_in_state(queue, qname, state)
        clock = Stopwatch()
        with pytest.raises(WaitTimeout, match=stored.id) as raised:
            queue.wait(qname, stored.id, timeout=BRIEF)
        assert BRIEF - EARLY <= clock.elapsed < BRIEF + SLACK
        assert isinstance(raised.value, TimeoutError)
        assert queue.get(qname, stored.id) == stored

    @KNOWN_QUEUE
    def test_wait_for_an_unknown_job_raises_not_found_at_once(
        self, queue: Queue, qname: str, qname2: str, known_queue: bool
    ) -> None:
        queue.enqueue(qname, "other")
        clock = Stopwatch()
        with pytest.raises(JobNotFound, match="no-such-job"):
            queue.wait(qname if known_queue else qname2, "no-such-job", timeout=BLOCK)
        assert clock.elapsed < SLACK

    def test_blocking_dequeue_returns_as_soon_as_a_job_arrives(
        self, queue: Queue, make_queue: MakeQueue, qname: str
    ) -> None:
        other = make_queue("sync")
        clock = Stopwatch()
        with in_background(lambda: other.enqueue(qname, "late")):
            leases = queue.dequeue(qname, wait=BLOCK)
        assert clock.elapsed < PAUSE + SLACK
        assert [lease.payload for lease in leases] == ["late"]

    def test_blocking_dequeue_returns_nothing_after_the_wait(self, queue: Queue, qname: str) -> None:
        queue.enqueue(qname, "not yet", delay=LONG)
        clock = Stopwatch()
        assert queue.dequeue(qname, wait=BRIEF) == []
        assert BRIEF - EARLY <= clock.elapsed < BRIEF + SLACK

    @pytest.mark.parametrize("wait", [0, None], ids=["wait=0", "default"])
    def test_dequeue_without_wait_never_blocks(
        self, queue: Queue, make_queue: MakeQueue, qname: str, wait: float | None
    ) -> None:
        other = make_queue("sync")
        clock = Stopwatch()
        with in_background(lambda: other.enqueue(qname, "late")):
            leases = queue.dequeue(qname) if wait is None else queue.dequeue(qname, wait=wait)
            assert leases == []
            assert clock.elapsed < PAUSE
        assert [lease.payload for lease in queue.dequeue(qname)] == ["late"]

    @pytest.mark.parametrize("target", ["first", "second"])
    def test_blocking_dequeue_on_several_queues_wakes_for_any(
        self, queue: Queue, make_queue: MakeQueue, qname: str, qname2: str, target: str
    ) -> None:
        other = make_queue("sync")
        name = qname if target == "first" else qname2
        clock = Stopwatch()
        with in_background(lambda: other.enqueue(name, "late")):
            leases = queue.dequeue([qname, qname2], wait=BLOCK)
        assert clock.elapsed < PAUSE + SLACK
        assert [(lease.queue, lease.payload) for lease in leases] == [(name, "late")]

    def test_blocking_dequeue_is_not_woken_by_a_paused_queue(
        self, queue: Queue, make_queue: MakeQueue, qname: str
    ) -> None:
        other = make_queue("sync")
        queue.pause(qname)
        clock = Stopwatch()
        with in_background(lambda: other.enqueue(qname, "held")):
            assert queue.dequeue(qname, wait=BRIEF) == []
        assert BRIEF - EARLY <= clock.elapsed < BRIEF + SLACK
        assert queue.stats(qname).ready == 1
        queue.resume(qname)
        assert [lease.payload for lease in queue.dequeue(qname)] == ["held"]

    def test_blocking_dequeue_takes_a_delayed_job_when_it_comes_due(
        self, queue: Queue, qname: str, advance: Advance
    ) -> None:
        job = queue.enqueue(qname, "delayed", delay=SHORT)
        clock = Stopwatch()
        with in_background(lambda: advance(SHORT + MARGIN)):
            leases = queue.dequeue(qname, wait=BLOCK)
        assert clock.elapsed < PAUSE + SHORT + MARGIN + SLACK
        assert [lease.id for lease in leases] == [job.id]
