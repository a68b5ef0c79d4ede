"""Waiting: blocking dequeue and waiting for a job to finish."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from kanal import Job, JobNotFound, JobState, Lease, Queue, WaitTimeout
from kanal_conformance.suite.base import LONG, MARGIN, SHORT, Advance, MakeQueue, SuiteBase
from kanal_conformance.suite.test_bad_input import rejected
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
#: What ``wait(until=...)`` takes: a state, its name, or several of them.
Until = JobState | str | Sequence[JobState | str] | None
#: Not a state, or not states.
BAD_UNTIL: dict[str, Any] = {
    "unknown": "running",
    "one-unknown": ["leased", "bogus"],
    "int": 5,
    "bytes": b"ready",
    "none-in-list": [JobState.READY, None],
}


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


def finisher(other: Queue, job: Job, lease: Lease | None, state: JobState) -> Callable[[], object]:
    """What ``other`` does to bring ``job`` to the final ``state``: cancel it (not leased), or
    ack or fail it through ``lease``."""
    if lease is None:
        assert state is JobState.CANCELLED
        return lambda: other.cancel(job.queue, job.id)
    if state is JobState.COMPLETED:
        return lambda: other.ack(lease, result={"sent": True})
    return lambda: other.fail(lease, "boom")


class WaitTests(SuiteBase):
    """Waiting: blocking dequeue and waiting for a job to finish."""

    @pytest.mark.parametrize("state", FINAL_STATES, ids=str)
    def test_wait_returns_once_another_client_finishes_the_job(
        self, queue: Queue, make_queue: MakeQueue, qname: str, state: JobState
    ) -> None:
        pending = JobState.READY if state is JobState.CANCELLED else JobState.LEASED
        job, lease = job_in_state(queue, qname, pending, "work")
        clock = Stopwatch()
        with in_background(finisher(make_queue("sync"), job, lease, state)):
            done = queue.wait(qname, job.id, timeout=BLOCK)
        assert clock.elapsed < PAUSE + SLACK
        assert (done.id, done.state, done.payload) == (job.id, state, "work")
        assert done.result == ({"sent": True} if state is JobState.COMPLETED else None)
        assert done.last_error == ("boom" if state is JobState.DEAD else None)
        assert queue.get(qname, job.id) == done

    def test_wait_returns_once_another_client_force_cancels_the_running_job(
        self, queue: Queue, make_queue: MakeQueue, qname: str
    ) -> None:
        job, _ = job_in_state(queue, qname, JobState.LEASED, "work")
        other = make_queue("sync")
        clock = Stopwatch()
        with in_background(lambda: other.cancel(qname, job.id, force=True)):
            done = queue.wait(qname, job.id, timeout=BLOCK)
        assert clock.elapsed < PAUSE + SLACK
        assert (done.id, done.state, done.payload, done.attempts) == (job.id, JobState.CANCELLED, "work", 1)
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

    @pytest.mark.parametrize("until", [None, "leased", ["scheduled", "ready"]], ids=str)
    @pytest.mark.parametrize("state", FINAL_STATES, ids=str)
    def test_wait_returns_a_finished_job_at_once(
        self, queue: Queue, qname: str, state: JobState, until: Until
    ) -> None:
        stored, _ = job_in_state(queue, qname, state)
        assert queue.wait(qname, stored.id, timeout=0, until=until) == stored
        assert queue.wait(qname, stored.id, until=until) == stored

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

    # ------------------------------------------------------------------ wait until

    @pytest.mark.parametrize("until", ["leased", JobState.LEASED, ["leased", "scheduled"]], ids=str)
    def test_wait_until_leased_returns_once_another_client_takes_the_job(
        self, queue: Queue, make_queue: MakeQueue, qname: str, until: Until
    ) -> None:
        other = make_queue("sync")
        job = queue.enqueue(qname, "work", lease_timeout=LONG)
        taken: list[Lease] = []
        clock = Stopwatch()
        with in_background(lambda: taken.extend(other.dequeue(qname))):
            started = queue.wait(qname, job.id, until=until, timeout=BLOCK)
        assert PAUSE - EARLY <= clock.elapsed < PAUSE + SLACK
        [lease] = taken
        assert (started.id, started.state, started.attempts, started.payload) == (
            job.id,
            JobState.LEASED,
            1,
            "work",
        )
        assert started == lease.job == queue.get(qname, job.id)

    @pytest.mark.parametrize("state", [JobState.SCHEDULED, JobState.LEASED], ids=str)
    def test_wait_until_ready_returns_when_time_makes_the_job_ready(
        self, queue: Queue, qname: str, advance: Advance, state: JobState
    ) -> None:
        short = {"delay": SHORT} if state is JobState.SCHEDULED else {"lease_timeout": SHORT}
        job, _ = job_in_state(queue, qname, state, "due soon", **short)
        clock = Stopwatch()
        with in_background(lambda: advance(SHORT + MARGIN)):
            ready = queue.wait(qname, job.id, until="ready", timeout=BLOCK)
        assert clock.elapsed < PAUSE + SHORT + MARGIN + SLACK
        assert (ready.id, ready.state, ready.attempts) == (job.id, JobState.READY, job.attempts)
        if state is JobState.LEASED:
            assert "lease expired" in (ready.last_error or "")
        assert queue.get(qname, job.id) == ready
        assert [lease.id for lease in queue.dequeue(qname)] == [job.id]

    @pytest.mark.parametrize("state", [JobState.SCHEDULED, JobState.READY, JobState.LEASED], ids=str)
    def test_wait_until_a_state_the_job_is_in_returns_it_at_once(
        self, queue: Queue, qname: str, state: JobState
    ) -> None:
        stored, _ = job_in_state(queue, qname, state)
        clock = Stopwatch()
        assert queue.wait(qname, stored.id, until=state.value, timeout=0) == stored
        assert queue.wait(qname, stored.id, until=[state, JobState.COMPLETED]) == stored
        assert clock.elapsed < SLACK

    @pytest.mark.parametrize(
        ("start", "until", "end"),
        [
            (JobState.READY, "leased", JobState.CANCELLED),
            (JobState.LEASED, "ready", JobState.COMPLETED),
            (JobState.LEASED, ["scheduled", "ready"], JobState.DEAD),
        ],
        ids=[
            "cancelled-while-awaiting-leased",
            "completed-while-awaiting-ready",
            "dead-while-awaiting-retry",
        ],
    )
    def test_a_final_state_ends_a_wait_until_other_states(
        self, queue: Queue, make_queue: MakeQueue, qname: str, start: JobState, until: Until, end: JobState
    ) -> None:
        job, lease = job_in_state(queue, qname, start, "work")
        clock = Stopwatch()
        with in_background(finisher(make_queue("sync"), job, lease, end)):
            done = queue.wait(qname, job.id, until=until, timeout=BLOCK)
        assert clock.elapsed < PAUSE + SLACK
        assert (done.id, done.state, done.payload) == (job.id, end, "work")
        assert queue.get(qname, job.id) == done

    def test_wait_until_leased_is_not_ended_by_a_move_to_another_state(
        self, queue: Queue, make_queue: MakeQueue, qname: str
    ) -> None:
        other = make_queue("sync")
        job = queue.enqueue(qname, "idle")
        other.get(qname, job.id)  # connected now, so the move lands well inside the wait
        budget = PAUSE + 1.0
        clock = Stopwatch()
        with (
            in_background(lambda: other.reschedule(qname, job.id, delay=LONG)),
            pytest.raises(WaitTimeout, match="still scheduled"),
        ):
            queue.wait(qname, job.id, until="leased", timeout=budget)
        assert budget - EARLY <= clock.elapsed < budget + SLACK
        stored = queue.get(qname, job.id)
        assert stored is not None
        assert (stored.state, stored.attempts) == (JobState.SCHEDULED, 0)

    @pytest.mark.parametrize(
        ("state", "until"),
        [
            (JobState.SCHEDULED, "ready"),
            (JobState.READY, "leased"),
            (JobState.LEASED, ["scheduled", "ready"]),
        ],
        ids=str,
    )
    def test_wait_until_times_out_when_the_job_never_gets_there(
        self, queue: Queue, qname: str, state: JobState, until: Until
    ) -> None:
        stored, _ = job_in_state(queue, qname, state)
        clock = Stopwatch()
        with pytest.raises(WaitTimeout, match=f"{stored.id}.*still {state.value}") as raised:
            queue.wait(qname, stored.id, until=until, timeout=BRIEF)
        assert BRIEF - EARLY <= clock.elapsed < BRIEF + SLACK
        assert isinstance(raised.value, TimeoutError)
        assert queue.get(qname, stored.id) == stored

    def test_wait_until_raises_not_found_when_the_job_is_purged_meanwhile(
        self, queue: Queue, make_queue: MakeQueue, qname: str
    ) -> None:
        other = make_queue("sync")
        job = queue.enqueue(qname, "doomed", key="k1")
        clock = Stopwatch()
        with in_background(lambda: other.purge(qname, key="k1")), pytest.raises(JobNotFound, match=job.id):
            queue.wait(qname, job.id, until="leased", timeout=BLOCK)
        assert clock.elapsed < PAUSE + SLACK
        assert queue.get(qname, job.id) is None

    @pytest.mark.parametrize("known", [True, False], ids=["known-job", "unknown-job"])
    @pytest.mark.parametrize("bad", BAD_UNTIL.values(), ids=BAD_UNTIL.keys())
    def test_wait_rejects_a_bad_until_before_looking_for_the_job(
        self, queue: Queue, qname: str, bad: Any, known: bool
    ) -> None:
        job = queue.enqueue(qname, "x")
        clock = Stopwatch()
        rejected(
            lambda: queue.wait(qname, job.id if known else "no-such-job", until=bad, timeout=BLOCK), "until"
        )
        assert clock.elapsed < SLACK
        assert queue.get(qname, job.id) == job
        assert queue.list_jobs(qname) == [job]

    # ---------------------------------------------------------------- blocking dequeue

    def test_blocking_dequeue_returns_as_soon_as_a_job_arrives(
        self, queue: Queue, make_queue: MakeQueue, qname: str
    ) -> None:
        other = make_queue("sync")
        clock = Stopwatch()
        with in_background(lambda: other.enqueue(qname, "late")):
            leases = queue.dequeue(qname, wait=BLOCK)
        assert clock.elapsed < PAUSE + SLACK
        assert [lease.payload for lease in leases] == ["late"]

    def test_blocking_dequeue_takes_the_slot_a_forced_cancel_frees(
        self, queue: Queue, make_queue: MakeQueue, qname: str
    ) -> None:
        queue.set_concurrency_limit(qname, 1)
        queue.enqueue(qname, "running", lease_timeout=LONG)
        queue.enqueue(qname, "next", lease_timeout=LONG)
        [running] = queue.dequeue(qname)
        other = make_queue("sync")
        clock = Stopwatch()
        with in_background(lambda: other.cancel(qname, running.id, force=True)):
            leases = queue.dequeue(qname, wait=BLOCK)
        assert clock.elapsed < PAUSE + SLACK
        assert [lease.payload for lease in leases] == ["next"]

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
