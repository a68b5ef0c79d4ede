"""Bulk lease operations: ``ack_many`` and ``extend_many`` report stale leases instead of raising."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from kanal import Job, JobSpec, JobState, Lease, Queue, QueueStats
from kanal.models import Batch
from kanal_conformance.suite.base import LONG, MARGIN, SHORT, Advance, MakeQueue, SuiteBase
from kanal_conformance.suite.test_bad_input import (
    BAD_POSITIVE_SECONDS,
    BAD_SECONDS,
    FORGED_LEASES,
    NOT_LEASES,
    cases,
    rejected,
)
from kanal_conformance.suite.test_fencing import TOLERANCE, assert_rejected, stored

BulkOp = Callable[[Queue, Any], Batch[Any]]

#: The two bulk operations, called the way a consumer would.
BULK_OPS: dict[str, BulkOp] = {
    "ack_many": lambda queue, leases: queue.ack_many(leases),
    "extend_many": lambda queue, leases: queue.extend_many(leases, LONG),
}
OP_NAMES = sorted(BULK_OPS)
#: Where a batch of leases belongs, something that is not an iterable of them.
NOT_ITERABLES: dict[str, Callable[[Lease], object]] = {
    "none": lambda lease: None,
    "int": lambda lease: 5,
    "str": lambda lease: "abc",
    "bytes": lambda lease: b"abc",
    "one-lease": lambda lease: lease,
}
#: A bad item among good leases: (make it from a real lease, what the message names).
BAD_ITEMS = [
    *(pytest.param(make, "Lease", id=f"not-a-lease-{label}") for label, make in NOT_LEASES.items()),
    *(
        pytest.param(forge, fragment, id=f"forged-{label}")
        for label, (forge, fragment) in FORGED_LEASES.items()
    ),
]
#: Bad options of the bulk operations: (call, what the message names).
BAD_BULK_OPTIONS = [
    *cases(
        "ack_many-result_ttl",
        lambda v: lambda q, leases: q.ack_many(leases, result_ttl=v),
        "result_ttl",
        BAD_SECONDS,
    ),
    *cases(
        "extend_many-timeout",
        lambda v: lambda q, leases: q.extend_many(leases, v),
        "timeout",
        BAD_POSITIVE_SECONDS,
    ),
]
#: A value that is not a lease, typed loosely so that a test can slip it into a batch.
NO_LEASE: Any = None


def lease_many(queue: Queue, qname: str, count: int, *, lease_timeout: float = LONG) -> list[Lease]:
    """Enqueue ``count`` jobs with payloads ``{"n": i}`` into the empty ``qname`` and lease them all."""
    queue.enqueue_many(qname, [JobSpec({"n": i}, lease_timeout=lease_timeout) for i in range(count)])
    leases = queue.dequeue(qname, limit=count)
    assert [lease.payload for lease in leases] == [{"n": i} for i in range(count)]
    return leases


def ids(items: Sequence[Job | Lease]) -> list[tuple[str, str]]:
    """``(queue, id)`` of each job or lease, in order."""
    return [(item.queue, item.id) for item in items]


def assert_completed(queue: Queue, leases: Sequence[Lease], jobs: Sequence[Job]) -> None:
    """``jobs`` are the jobs of ``leases``, in order, completed by their first delivery and stored so."""
    assert ids(jobs) == ids(leases)
    for lease, job in zip(leases, jobs, strict=True):
        assert (job.state, job.payload, job.attempts, job.result) == (
            JobState.COMPLETED,
            lease.payload,
            1,
            None,
        )
        assert job.finished_at is not None
        assert job.finished_at >= lease.job.last_dequeued_at  # type: ignore[operator]
        assert stored(queue, lease) == job


def assert_still_held(queue: Queue, leases: Sequence[Lease], before: Sequence[Job | None]) -> None:
    """The jobs of ``leases`` are as ``before``, and each lease is still current: ack completes its job."""
    assert [queue.get(lease.queue, lease.id) for lease in leases] == list(before)
    for lease in leases:
        done = queue.ack(lease, "ok")
        assert (done.state, done.result, done.attempts) == (JobState.COMPLETED, "ok", lease.job.attempts)


@dataclass(frozen=True)
class StaleMix:
    """Leases still held, one stale lease per way of losing a lease, and the current leases
    of the jobs that stale leases point at (the stale ones must not disturb them)."""

    held: list[Lease]
    stale: dict[str, Lease]
    current: list[Lease]


def stale_mix(queue: Queue, other: Queue, qname: str, qname2: str, advance: Advance) -> StaleMix:
    """Fill ``qname`` with two held leases and a stale lease of every kind (advances SHORT + MARGIN)."""
    specs = [
        JobSpec("expired", lease_timeout=SHORT),
        JobSpec("redelivered", lease_timeout=SHORT, priority=-1),
        JobSpec("failed", lease_timeout=LONG),
        JobSpec("requeued", lease_timeout=LONG),
        JobSpec("purged", lease_timeout=LONG, key="doomed"),
        JobSpec("cancelled", lease_timeout=LONG),
        JobSpec("forged-token", lease_timeout=LONG),
        JobSpec("unknown-queue", lease_timeout=LONG),
        JobSpec("held-0", lease_timeout=LONG),
        JobSpec("held-1", lease_timeout=LONG),
    ]
    queue.enqueue_many(qname, specs)
    by_payload = {lease.payload: lease for lease in queue.dequeue(qname, limit=len(specs))}
    assert sorted(by_payload) == sorted(spec.payload for spec in specs)
    queue.fail(by_payload["failed"], "boom")
    queue.requeue(by_payload["requeued"], delay=LONG)
    assert queue.purge(qname, key="doomed") == 1
    queue.cancel(qname, by_payload["cancelled"].id, force=True)
    advance(SHORT + MARGIN)
    [redelivered] = other.dequeue(qname, lease_timeout=LONG)
    assert (redelivered.payload, redelivered.job.attempts) == ("redelivered", 2)
    forged, elsewhere = by_payload["forged-token"], by_payload["unknown-queue"]
    stale = {
        name: by_payload[name]
        for name in ("expired", "redelivered", "failed", "requeued", "purged", "cancelled")
    }
    stale["forged-token"] = dataclasses.replace(forged, token="0" * len(forged.token))
    stale["unknown-queue"] = dataclasses.replace(
        elsewhere, job=dataclasses.replace(elsewhere.job, queue=qname2)
    )
    return StaleMix(
        held=[by_payload["held-0"], by_payload["held-1"]],
        stale=stale,
        current=[redelivered, forged, elsewhere],
    )


class BulkTests(SuiteBase):
    """Bulk lease operations: ``ack_many`` and ``extend_many`` report stale leases instead of raising."""

    # ------------------------------------------------------------------ ack_many

    def test_ack_many_completes_every_job_for_good(self, queue: Queue, advance: Advance, qname: str) -> None:
        leases = lease_many(queue, qname, 5, lease_timeout=SHORT)
        batch = queue.ack_many(leases)
        assert isinstance(batch, Batch)
        assert batch.stale == []
        assert_completed(queue, leases, batch.succeeded)
        assert queue.stats(qname) == QueueStats(queue=qname, completed=5)
        advance(SHORT + MARGIN)  # past the leases' expiry: acked jobs never come back
        assert queue.dequeue(qname, limit=10) == []
        assert [stored(queue, lease) for lease in leases] == batch.succeeded
        assert queue.stats(qname) == QueueStats(queue=qname, completed=5)

    def test_ack_many_takes_leases_of_several_queues_in_one_call(
        self, queue: Queue, qname: str, qname2: str
    ) -> None:
        first, second = lease_many(queue, qname, 2), lease_many(queue, qname2, 2)
        queue.enqueue(qname, "not leased")
        given = [second[1], first[0], second[0], first[1]]
        batch = queue.ack_many(lease for lease in given)  # any iterable will do
        assert batch.stale == []
        assert_completed(queue, given, batch.succeeded)
        assert queue.stats(qname) == QueueStats(queue=qname, ready=1, completed=2)
        assert queue.stats(qname2) == QueueStats(queue=qname2, completed=2)
        assert [lease.payload for lease in queue.dequeue([qname, qname2], limit=10)] == ["not leased"]

    @pytest.mark.parametrize("late", [False, True], ids=["at-once", "after-lease-expiry"])
    @pytest.mark.parametrize("first", ["ack", "ack_many"])
    def test_ack_many_replays_an_applied_ack(
        self, queue: Queue, advance: Advance, qname: str, first: str, late: bool
    ) -> None:
        [lease] = lease_many(queue, qname, 1, lease_timeout=SHORT)
        if first == "ack":
            done = queue.ack(lease, result={"sent": True})
        else:
            [done] = queue.ack_many([lease]).succeeded
        assert done.result == ({"sent": True} if first == "ack" else None)
        if late:
            advance(SHORT + MARGIN)
        assert queue.ack_many([lease, lease]) == Batch([done, done], [])  # the stored result is kept
        assert queue.ack(lease) == done
        assert stored(queue, lease) == done
        assert queue.dequeue(qname) == []
        assert queue.stats(qname) == QueueStats(queue=qname, completed=1)

    def test_ack_many_with_a_lease_given_twice_completes_its_job_once(self, queue: Queue, qname: str) -> None:
        a, b = lease_many(queue, qname, 2)
        batch = queue.ack_many([a, b, a, b])
        assert batch.stale == []
        assert_completed(queue, [a, b, a, b], batch.succeeded)
        assert batch.succeeded[:2] == batch.succeeded[2:]
        assert queue.stats(qname) == QueueStats(queue=qname, completed=2)

    @pytest.mark.parametrize("via", ["argument", "connection"])
    def test_ack_many_keeps_the_jobs_for_their_result_ttl(
        self, make_queue: MakeQueue, api: str, advance: Advance, qname: str, via: str
    ) -> None:
        client = make_queue(api) if via == "argument" else make_queue(api, result_ttl=SHORT)
        leases = lease_many(client, qname, 3)
        short = (
            client.ack_many(leases[:2], result_ttl=SHORT)
            if via == "argument"
            else client.ack_many(leases[:2])
        )
        kept = client.ack_many(leases[2:], result_ttl=LONG)
        assert_completed(client, leases, short.succeeded + kept.succeeded)
        advance(SHORT + MARGIN)
        assert [client.get(qname, lease.id) for lease in leases] == [None, None, *kept.succeeded]
        assert client.stats(qname) == QueueStats(queue=qname, completed=1)

    def test_ack_many_frees_the_concurrency_slots_it_held(self, queue: Queue, qname: str) -> None:
        queue.set_concurrency_limit(qname, 2)
        queue.set_concurrency_limit(qname, 1, key="k1")
        queue.enqueue_many(
            qname,
            [
                JobSpec(p, key=k, lease_timeout=LONG)
                for p, k in [("a", "k1"), ("b", None), ("c", "k1"), ("d", None)]
            ],
        )
        held = queue.dequeue(qname, limit=10)
        assert [lease.payload for lease in held] == ["a", "b"]
        assert queue.dequeue(qname, limit=10) == []
        assert queue.ack_many(held).stale == []
        assert [lease.payload for lease in queue.dequeue(qname, limit=10)] == ["c", "d"]

    def test_a_lease_acked_by_ack_many_is_spent_for_every_other_operation(
        self, queue: Queue, qname: str
    ) -> None:
        [lease] = lease_many(queue, qname, 1)
        [done] = queue.ack_many([lease]).succeeded
        for op in ("requeue", "fail", "extend"):
            assert_rejected(queue, op, lease)
        assert queue.extend_many([lease], LONG) == Batch([], [lease])
        assert stored(queue, lease) == done

    # --------------------------------------------------------------- extend_many

    def test_extend_many_keeps_leases_past_their_original_expiry(
        self, queue: Queue, advance: Advance, qname: str, qname2: str
    ) -> None:
        first = lease_many(queue, qname, 2, lease_timeout=SHORT)
        second = lease_many(queue, qname2, 2, lease_timeout=SHORT)
        given = [first[0], second[0], first[1], second[1]]
        batch = queue.extend_many(given, LONG)
        assert batch.stale == []
        renewed = batch.succeeded
        assert all(isinstance(lease, Lease) for lease in renewed)
        assert [(r.queue, r.id, r.token, r.job) for r in renewed] == [
            (lease.queue, lease.id, lease.token, lease.job) for lease in given
        ]
        for old, new in zip(given, renewed, strict=True):
            assert new.expires_at - old.expires_at >= timedelta(seconds=LONG - SHORT - TOLERANCE)
        advance(SHORT + MARGIN)
        assert queue.dequeue([qname, qname2], limit=10) == []
        assert queue.stats(qname) == QueueStats(queue=qname, leased=2)
        assert queue.stats(qname2) == QueueStats(queue=qname2, leased=2)
        done = queue.ack_many(given)  # the leases as first handed out are still current
        assert done.stale == []
        assert_completed(queue, given, done.succeeded)

    def test_extend_many_defaults_to_each_jobs_own_lease_timeout(self, queue: Queue, qname: str) -> None:
        queue.enqueue_many(qname, [JobSpec("a", lease_timeout=LONG), JobSpec("b", lease_timeout=2 * LONG)])
        a, b = queue.dequeue(qname, limit=2, lease_timeout=SHORT)
        renewed_a, renewed_b = queue.extend_many([a, b]).succeeded
        assert (renewed_a.token, renewed_b.token) == (a.token, b.token)
        gained = renewed_a.expires_at - a.expires_at
        assert timedelta(seconds=LONG - SHORT - TOLERANCE) <= gained < timedelta(seconds=LONG - SHORT + 1)
        assert abs(renewed_b.expires_at - renewed_a.expires_at - timedelta(seconds=LONG)) < timedelta(
            seconds=1
        )

    def test_extend_many_renews_a_lease_given_twice(self, queue: Queue, qname: str) -> None:
        [lease] = lease_many(queue, qname, 1, lease_timeout=SHORT)
        batch = queue.extend_many([lease, lease], LONG)
        assert batch.stale == []
        assert [(r.id, r.token, r.job) for r in batch.succeeded] == [(lease.id, lease.token, lease.job)] * 2
        assert all(r.expires_at > lease.expires_at for r in batch.succeeded)
        assert queue.ack(lease).state is JobState.COMPLETED

    # ------------------------------------------------------------ both of them

    @pytest.mark.parametrize("op", OP_NAMES)
    def test_bulk_operations_report_stale_leases_and_leave_their_jobs_alone(
        self, queue: Queue, make_queue: MakeQueue, advance: Advance, qname: str, qname2: str, op: str
    ) -> None:
        mix = stale_mix(queue, make_queue("sync"), qname, qname2, advance)
        stale = list(mix.stale.values())
        before = [queue.get(lease.queue, lease.id) for lease in stale]
        assert [job.state if job else None for job in before] == [
            JobState.READY,  # expired, not taken again yet
            JobState.LEASED,  # redelivered: another consumer holds it
            JobState.DEAD,
            JobState.SCHEDULED,
            None,  # purged
            JobState.CANCELLED,  # cancelled with force while leased
            JobState.LEASED,  # forged token: the real holder still has it
            None,  # a queue that does not exist
        ]
        given = [mix.held[0], *stale[:3], mix.held[1], *stale[3:]]
        batch = BULK_OPS[op](queue, given)
        assert isinstance(batch, Batch)
        assert batch.stale == stale  # the leases as given, in the order given
        assert ids(batch.succeeded) == ids(mix.held)
        assert [queue.get(lease.queue, lease.id) for lease in stale] == before
        assert qname2 not in [stats.queue for stats in queue.queues()]
        if op == "ack_many":
            assert_completed(queue, mix.held, batch.succeeded)
        else:
            assert [lease.token for lease in batch.succeeded] == [lease.token for lease in mix.held]
            assert_still_held(queue, mix.held, [lease.job for lease in mix.held])
        assert_still_held(queue, mix.current, [stored(queue, lease) for lease in mix.current])

    @pytest.mark.parametrize("op", OP_NAMES)
    def test_bulk_operations_on_no_leases_do_nothing(self, queue: Queue, qname: str, op: str) -> None:
        held = lease_many(queue, qname, 1)
        before = (queue.stats(qname), stored(queue, held[0]))
        nothing: list[Iterable[Lease]] = [[], (), iter([])]
        for empty in nothing:
            assert BULK_OPS[op](queue, empty) == Batch([], [])
        assert (queue.stats(qname), stored(queue, held[0])) == before
        assert_still_held(queue, held, [before[1]])

    @pytest.mark.parametrize("op", OP_NAMES)
    @pytest.mark.parametrize("make", NOT_ITERABLES.values(), ids=NOT_ITERABLES.keys())
    def test_bulk_operations_reject_what_is_not_an_iterable_of_leases(
        self, queue: Queue, qname: str, op: str, make: Callable[[Lease], object]
    ) -> None:
        leases = lease_many(queue, qname, 2)
        before = [stored(queue, lease) for lease in leases]
        not_leases = make(leases[0])
        rejected(lambda: BULK_OPS[op](queue, not_leases), "leases", "iterable", type(not_leases).__name__)
        assert_still_held(queue, leases, before)

    @pytest.mark.parametrize("op", OP_NAMES)
    @pytest.mark.parametrize(("make", "fragment"), BAD_ITEMS)
    def test_bulk_operations_reject_a_bad_lease_among_good_ones_and_write_nothing(
        self, queue: Queue, qname: str, op: str, make: Callable[[Lease], object], fragment: str
    ) -> None:
        leases = lease_many(queue, qname, 3)
        before = [stored(queue, lease) for lease in leases]
        bad = make(leases[1])
        fragments = [fragment] if isinstance(bad, Lease) else [fragment, type(bad).__name__]
        rejected(lambda: BULK_OPS[op](queue, [leases[0], bad, leases[2]]), *fragments)
        assert queue.stats(qname) == QueueStats(queue=qname, leased=3)
        assert_still_held(queue, leases, before)

    @pytest.mark.parametrize(("call", "fragment"), BAD_BULK_OPTIONS)
    def test_bulk_operations_reject_bad_options_and_write_nothing(
        self, queue: Queue, qname: str, call: BulkOp, fragment: str
    ) -> None:
        leases = lease_many(queue, qname, 2)
        before = [stored(queue, lease) for lease in leases]
        rejected(lambda: call(queue, leases), fragment)
        rejected(lambda: call(queue, []), fragment)  # checked even when there is nothing to do
        assert queue.stats(qname) == QueueStats(queue=qname, leased=2)
        assert_still_held(queue, leases, before)

    def test_a_rejected_extend_many_renews_no_lease(self, queue: Queue, advance: Advance, qname: str) -> None:
        leases = lease_many(queue, qname, 2, lease_timeout=SHORT)
        rejected(lambda: queue.extend_many([leases[0], NO_LEASE, leases[1]], LONG), "Lease", "NoneType")
        advance(SHORT + MARGIN)
        again = queue.dequeue(qname, limit=10, lease_timeout=LONG)
        assert sorted((lease.id, lease.job.attempts) for lease in again) == [
            (lease.id, 2) for lease in leases
        ]

    @pytest.mark.parametrize("op", OP_NAMES)
    def test_bulk_operations_take_at_most_1000_leases(self, queue: Queue, qname: str, op: str) -> None:
        leases = lease_many(queue, qname, 1000)
        rejected(lambda: BULK_OPS[op](queue, [*leases, leases[0]]), "at most 1000", "1001")
        assert queue.stats(qname) == QueueStats(queue=qname, leased=1000)
        batch = BULK_OPS[op](queue, leases)
        assert (ids(batch.succeeded), batch.stale) == (ids(leases), [])
        done = (
            QueueStats(queue=qname, completed=1000)
            if op == "ack_many"
            else QueueStats(queue=qname, leased=1000)
        )
        assert queue.stats(qname) == done
