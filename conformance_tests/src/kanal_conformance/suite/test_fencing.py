"""Fenced leases: a stale or expired token changes nothing and raises StaleLease."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import timedelta

import pytest

import kanal
from kanal import Job, JobState, Lease, Queue
from kanal_conformance.suite.base import LONG, MARGIN, SHORT, Advance, MakeQueue, SuiteBase

LeaseOp = Callable[[Queue, Lease], object]

#: The four operations a lease token guards, each called the way a consumer would.
LEASE_OPS: dict[str, LeaseOp] = {
    "ack": lambda queue, lease: queue.ack(lease, result="from a stale holder"),
    "requeue": lambda queue, lease: queue.requeue(lease, error="from a stale holder"),
    "fail": lambda queue, lease: queue.fail(lease, "from a stale holder"),
    "extend": lambda queue, lease: queue.extend(lease, LONG),
}
OP_NAMES = sorted(LEASE_OPS)
#: Slack for comparing server timestamps that backends may round.
TOLERANCE = 0.01


def assert_rejected(queue: Queue, op: str, lease: Lease) -> None:
    """``op`` with ``lease`` raises StaleLease naming the job, and the stored job is untouched."""
    before = queue.get(lease.queue, lease.id)
    with pytest.raises(kanal.StaleLease, match=re.escape(lease.id)):
        LEASE_OPS[op](queue, lease)
    assert queue.get(lease.queue, lease.id) == before


def stored(queue: Queue, lease: Lease) -> Job:
    """The job ``lease`` refers to, as the backend has it now."""
    job = queue.get(lease.queue, lease.id)
    assert job is not None
    return job


class FencingTests(SuiteBase):
    """Fenced leases: a stale or expired token changes nothing and raises StaleLease."""

    @pytest.mark.parametrize("op", OP_NAMES)
    def test_stale_holder_cannot_touch_a_redelivered_job(
        self, queue: Queue, make_queue: MakeQueue, advance: Advance, qname: str, op: str
    ) -> None:
        queue.enqueue(qname, "contested", lease_timeout=SHORT)
        [stale] = queue.dequeue(qname)
        advance(SHORT + MARGIN)
        other = make_queue("sync")
        [current] = other.dequeue(qname, lease_timeout=LONG)
        assert current.id == stale.id
        assert current.token != stale.token
        assert_rejected(queue, op, stale)
        job = stored(queue, current)
        assert (job.state, job.attempts) == (JobState.LEASED, 2)
        assert queue.dequeue(qname) == []
        done = other.ack(current, result="from the current holder")
        assert (done.state, done.result, done.attempts) == (JobState.COMPLETED, "from the current holder", 2)
        assert_rejected(queue, op, stale)
        assert stored(queue, current) == done

    @pytest.mark.parametrize("op", OP_NAMES)
    def test_expired_lease_is_stale_before_anyone_takes_the_job(
        self, queue: Queue, advance: Advance, qname: str, op: str
    ) -> None:
        job = queue.enqueue(qname, "abandoned", lease_timeout=SHORT)
        [lease] = queue.dequeue(qname)
        advance(SHORT + MARGIN)
        with pytest.raises(kanal.StaleLease, match=re.escape(lease.id)):  # no read first to help
            LEASE_OPS[op](queue, lease)
        after = stored(queue, lease)
        assert (after.state, after.attempts, after.result, after.finished_at) == (
            JobState.READY,
            1,
            None,
            None,
        )
        assert "lease expired" in (after.last_error or "")
        assert "stale holder" not in (after.last_error or "")
        [again] = queue.dequeue(qname, lease_timeout=LONG)
        assert (again.id, again.job.attempts) == (job.id, 2)
        assert again.token != lease.token

    @pytest.mark.parametrize("op", OP_NAMES)
    @pytest.mark.parametrize("forgery", ["zeros", "other-job"])
    def test_fabricated_token_is_rejected(self, queue: Queue, qname: str, op: str, forgery: str) -> None:
        queue.enqueue_many(qname, ["target", "bystander"])
        lease, bystander = queue.dequeue(qname, limit=2, lease_timeout=LONG)
        token = "0" * len(lease.token) if forgery == "zeros" else bystander.token
        assert token != lease.token
        assert_rejected(queue, op, dataclasses.replace(lease, token=token))
        assert stored(queue, lease).state is JobState.LEASED
        assert queue.ack(lease).state is JobState.COMPLETED
        assert stored(queue, bystander).state is JobState.LEASED

    @pytest.mark.parametrize("late", [False, True], ids=["at-once", "after-lease-expiry"])
    def test_ack_replay_with_the_same_token_returns_the_completed_job(
        self, queue: Queue, advance: Advance, qname: str, late: bool
    ) -> None:
        queue.enqueue(qname, "once", lease_timeout=SHORT)
        [lease] = queue.dequeue(qname)
        first = queue.ack(lease, result={"sent": True})
        assert (first.state, first.result, first.attempts) == (JobState.COMPLETED, {"sent": True}, 1)
        if late:
            advance(SHORT + MARGIN)
        assert queue.ack(lease, result={"sent": "twice"}) == first
        assert stored(queue, lease) == first
        assert queue.dequeue(qname) == []

    def test_fail_replay_with_the_same_token_returns_the_dead_job(self, queue: Queue, qname: str) -> None:
        queue.enqueue(qname, "doomed", lease_timeout=LONG)
        [lease] = queue.dequeue(qname)
        first = queue.fail(lease, "boom")
        assert (first.state, first.last_error) == (JobState.DEAD, "boom")
        assert queue.fail(lease, "boom") == first
        assert queue.fail(lease, "a different reason") == first
        assert stored(queue, lease) == first
        assert queue.dead_letters(qname) == [first]

    @pytest.mark.parametrize(
        ("settle", "then"),
        [(settle, then) for settle in ("ack", "fail", "requeue") for then in OP_NAMES if settle != then],
    )
    def test_a_settled_lease_is_spent_for_every_other_operation(
        self, queue: Queue, qname: str, settle: str, then: str
    ) -> None:
        queue.enqueue(qname, "settled", lease_timeout=LONG)
        [lease] = queue.dequeue(qname)
        LEASE_OPS[settle](queue, lease)
        assert_rejected(queue, then, lease)

    def test_requeue_replay_does_not_count_twice(self, queue: Queue, qname: str) -> None:
        queue.enqueue(qname, "back", lease_timeout=LONG, max_attempts=5)
        [lease] = queue.dequeue(qname)
        queue.requeue(lease)
        assert_rejected(queue, "requeue", lease)
        job = stored(queue, lease)
        assert (job.state, job.attempts) == (JobState.READY, 1)
        [again] = queue.dequeue(qname)
        assert again.job.attempts == 2

    def test_extend_keeps_the_token_and_moves_the_expiry(self, queue: Queue, qname: str) -> None:
        queue.enqueue(qname, "long job", lease_timeout=SHORT)
        [lease] = queue.dequeue(qname)
        renewed = queue.extend(lease, LONG)
        assert isinstance(renewed, Lease)
        assert (renewed.id, renewed.queue, renewed.token) == (lease.id, lease.queue, lease.token)
        assert renewed.payload == "long job"
        assert renewed.expires_at - lease.expires_at >= timedelta(seconds=LONG - SHORT - TOLERANCE)
        assert stored(queue, lease).state is JobState.LEASED

    def test_extend_defaults_to_the_jobs_lease_timeout(self, queue: Queue, qname: str) -> None:
        queue.enqueue(qname, "heartbeat", lease_timeout=LONG)
        [lease] = queue.dequeue(qname, lease_timeout=SHORT)
        renewed = queue.extend(lease)
        assert renewed.token == lease.token
        assert renewed.expires_at - lease.expires_at >= timedelta(seconds=LONG - SHORT - TOLERANCE)

    @pytest.mark.parametrize("use_renewed", [False, True], ids=["old-lease", "renewed-lease"])
    def test_ack_after_extend_completes_the_job(self, queue: Queue, qname: str, use_renewed: bool) -> None:
        queue.enqueue(qname, "extended", lease_timeout=LONG)
        [lease] = queue.dequeue(qname)
        renewed = queue.extend(lease, LONG)
        done = queue.ack(renewed if use_renewed else lease, result=7)
        assert (done.state, done.result, done.attempts) == (JobState.COMPLETED, 7, 1)
        assert queue.stats(qname).completed == 1

    @pytest.mark.parametrize("op", OP_NAMES)
    def test_lease_on_a_purged_job_is_stale(self, queue: Queue, qname: str, op: str) -> None:
        queue.enqueue(qname, "purged", lease_timeout=LONG)
        [lease] = queue.dequeue(qname)
        assert queue.purge(qname) == 1
        with pytest.raises(kanal.StaleLease, match=re.escape(lease.id)):
            LEASE_OPS[op](queue, lease)
        assert queue.get(qname, lease.id) is None
        assert queue.stats(qname).total == 0
