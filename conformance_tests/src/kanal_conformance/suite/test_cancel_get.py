"""Cancel and get: the full state of a job through its life."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from kanal import (
    EACH_KEY,
    InvalidTransition,
    Job,
    JobNotFound,
    JobSpec,
    JobState,
    Lease,
    Queue,
    QueueStats,
    StaleLease,
)
from kanal_conformance.suite.base import LONG, MARGIN, SHORT, Advance, SuiteBase
from kanal_conformance.suite.test_bad_input import BAD_IDENTIFIERS, rejected
from kanal_conformance.suite.test_fencing import OP_NAMES, assert_rejected

#: How far two server timestamps of the same instant may differ (storage precision).
PRECISION = timedelta(milliseconds=2)

#: The states a job can no longer leave by cancel or reschedule.
SETTLED_STATES = [JobState.LEASED, JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED]


def same_instant(a: datetime | None, b: datetime | None) -> bool:
    """Whether two server timestamps name the same instant, up to storage precision."""
    return a is not None and b is not None and abs(a - b) <= PRECISION


def job_in_state(
    queue: Queue, qname: str, state: JobState, payload: Any = "payload", **options: Any
) -> tuple[Job, Lease | None]:
    """Enqueue a job into the empty queue ``qname`` and bring it to ``state``.

    Returns the job as stored, and the lease it was given (None if never dequeued).
    Leases and delays are LONG unless ``options`` say otherwise.
    """
    if state is JobState.SCHEDULED:
        options.setdefault("delay", LONG)
    options.setdefault("lease_timeout", LONG)
    job = queue.enqueue(qname, payload, **options)
    lease = None
    if state in (JobState.LEASED, JobState.COMPLETED, JobState.DEAD):
        [lease] = queue.dequeue(qname)
        assert lease.id == job.id
        if state is JobState.COMPLETED:
            queue.ack(lease, result="done")
        elif state is JobState.DEAD:
            queue.fail(lease, "boom")
    elif state is JobState.CANCELLED:
        queue.cancel(qname, job.id)
    stored = queue.get(qname, job.id)
    assert stored is not None
    assert stored.state is state
    return stored, lease


def check_refused_in_state(
    queue: Queue, qname: str, state: JobState, *attempts: Callable[[Job], object]
) -> None:
    """Each attempt on a job in ``state`` raises InvalidTransition naming the state and changes nothing."""
    job, lease = job_in_state(queue, qname, state)
    stats = queue.stats(qname)
    for attempt in attempts:
        with pytest.raises(InvalidTransition, match=state.value):
            attempt(job)
    assert queue.get(qname, job.id) == job
    assert queue.stats(qname) == stats
    assert queue.dequeue(qname) == []
    if state is JobState.LEASED:
        assert lease is not None
        assert queue.ack(lease).state is JobState.COMPLETED


def check_not_found(
    queue: Queue, qname: str, qname2: str, known_queue: bool, operation: Callable[[str, str], object]
) -> None:
    """``operation(queue, id)`` on a job that does not exist raises JobNotFound and creates nothing."""
    queue.enqueue(qname, "other")
    target = qname if known_queue else qname2
    with pytest.raises(JobNotFound, match="no-such-job") as raised:
        operation(target, "no-such-job")
    assert isinstance(raised.value, LookupError)
    assert queue.get(target, "no-such-job") is None
    assert queue.stats(qname).total == 1
    assert queue.stats(qname2).total == 0


#: Parametrize over a job id in a queue that exists, and in one that does not.
KNOWN_QUEUE = pytest.mark.parametrize("known_queue", [True, False], ids=["known-queue", "unknown-queue"])


#: Jobs of keys ``k1``, ``k2`` and none, interleaved: (payload ``<key>-<state>``, key, priority).
#: The priorities make the order they run in differ from the order they were enqueued in.
KEYED_JOBS: list[tuple[str, str | None, int]] = [
    ("k1-leased", "k1", 3),
    ("k2-ready", "k2", 0),
    ("free-completed", None, 1),
    ("k1-ready", "k1", -2),
    ("k1-dead", "k1", 0),
    ("k2-scheduled", "k2", 0),
    ("free-ready", None, 0),
    ("k1-cancelled", "k1", 0),
    ("k2-leased", "k2", -1),
    ("k1-completed", "k1", 2),
]
#: Not a job's key: a bad identifier, or the each-key scope of limits.
BAD_KEYS: dict[str, Any] = {**BAD_IDENTIFIERS, "each-key": EACH_KEY}


def keyed_jobs_in_states(queue: Queue, qname: str) -> list[Job]:
    """Store :data:`KEYED_JOBS` in the empty ``qname``, each in the state its payload names.

    Returns the jobs as stored, in the order they were enqueued.
    """
    held_back = ("scheduled", "cancelled")
    specs = [
        JobSpec(
            payload,
            key=key,
            priority=priority,
            lease_timeout=LONG,
            delay=LONG if payload.endswith(held_back) else None,
        )
        for payload, key, priority in KEYED_JOBS
    ]
    jobs = queue.enqueue_many(qname, specs)
    for lease in queue.dequeue(qname, limit=len(specs)):
        state = lease.payload.split("-")[1]
        if state == "ready":
            queue.requeue(lease)
        elif state == "completed":
            queue.ack(lease)
        elif state == "dead":
            queue.fail(lease, "boom")
    for job in jobs:
        if job.payload.endswith("cancelled"):
            queue.cancel(qname, job.id)
    stored = [queue.get(qname, job.id) for job in jobs]
    assert [job.state.value if job else None for job in stored] == [p.split("-")[1] for p, _, _ in KEYED_JOBS]
    return [job for job in stored if job is not None]


def json_text(value: Any) -> str:
    """A type-exact canonical form: ``True`` and ``1`` (or ``1`` and ``1.0``) differ."""
    return json.dumps(value, sort_keys=True)


class CancelAndGetTests(SuiteBase):
    """Cancel and get: the full state of a job through its life."""

    @pytest.mark.parametrize("force", [False, True], ids=["plain", "forced"])
    @pytest.mark.parametrize("delay", [None, SHORT], ids=["ready", "scheduled"])
    def test_cancelled_job_is_never_delivered(
        self, queue: Queue, qname: str, advance: Advance, delay: float | None, force: bool
    ) -> None:
        job = queue.enqueue(qname, "doomed", delay=delay)
        queue.enqueue(qname, "kept")
        cancelled = queue.cancel(qname, job.id, force=force)
        assert (cancelled.id, cancelled.payload, cancelled.state) == (job.id, "doomed", JobState.CANCELLED)
        assert cancelled.attempts == 0
        assert cancelled.finished_at is not None
        assert cancelled.finished_at >= job.enqueued_at
        assert queue.get(qname, job.id) == cancelled
        advance(SHORT + MARGIN)
        assert [lease.payload for lease in queue.dequeue(qname, limit=10)] == ["kept"]
        stats = queue.stats(qname)
        assert (stats.cancelled, stats.leased, stats.ready, stats.scheduled) == (1, 1, 0, 0)

    def test_cancelling_twice_returns_the_cancelled_job(self, queue: Queue, qname: str) -> None:
        job = queue.enqueue(qname, "x")
        first = queue.cancel(qname, job.id)
        assert queue.cancel(qname, job.id) == first
        assert queue.get(qname, job.id) == first
        assert queue.stats(qname).cancelled == 1
        assert queue.stats(qname).total == 1

    @pytest.mark.parametrize("state", [JobState.LEASED, JobState.COMPLETED, JobState.DEAD], ids=str)
    def test_cancel_of_a_leased_or_finished_job_changes_nothing(
        self, queue: Queue, qname: str, state: JobState
    ) -> None:
        check_refused_in_state(queue, qname, state, lambda job: queue.cancel(qname, job.id))

    def test_cancel_without_force_of_a_leased_job_names_force(self, queue: Queue, qname: str) -> None:
        job, lease = job_in_state(queue, qname, JobState.LEASED)
        with pytest.raises(InvalidTransition, match="force=True"):
            queue.cancel(qname, job.id)
        assert lease is not None
        assert queue.get(qname, job.id) == job
        assert queue.ack(lease).state is JobState.COMPLETED

    @pytest.mark.parametrize("state", [JobState.COMPLETED, JobState.DEAD], ids=str)
    def test_forced_cancel_of_a_finished_job_changes_nothing(
        self, queue: Queue, qname: str, state: JobState
    ) -> None:
        check_refused_in_state(queue, qname, state, lambda job: queue.cancel(qname, job.id, force=True))
        [job] = queue.list_jobs(qname)
        with pytest.raises(InvalidTransition, match="finished"):
            queue.cancel(qname, job.id, force=True)

    # ------------------------------------------------------------------ forced cancel

    def test_forced_cancel_stops_a_leased_job_and_leaves_a_tombstone(
        self, queue: Queue, qname: str, advance: Advance
    ) -> None:
        queue.enqueue(qname, "running", id="run-1", lease_timeout=SHORT, max_attempts=3)
        [lease] = queue.dequeue(qname)
        cancelled = queue.cancel(qname, lease.id, force=True)
        assert (cancelled.id, cancelled.payload, cancelled.state) == ("run-1", "running", JobState.CANCELLED)
        assert (cancelled.attempts, cancelled.result, cancelled.last_error) == (1, None, None)
        assert cancelled.finished_at is not None
        assert lease.job.last_dequeued_at is not None
        assert cancelled.finished_at >= lease.job.last_dequeued_at
        assert cancelled.last_dequeued_at == lease.job.last_dequeued_at
        assert queue.get(qname, lease.id) == cancelled
        assert queue.cancel(qname, lease.id, force=True) == cancelled  # a no-op the second time
        assert queue.cancel(qname, lease.id) == cancelled
        advance(SHORT + MARGIN)  # past the old lease's expiry: the job is not reclaimed
        assert queue.get(qname, lease.id) == cancelled
        assert queue.enqueue(qname, "again", id="run-1") == cancelled  # the tombstone holds the id
        assert queue.dequeue(qname, limit=10) == []
        assert queue.stats(qname) == QueueStats(queue=qname, cancelled=1)

    @pytest.mark.parametrize("op", OP_NAMES)
    def test_a_force_cancelled_lease_is_stale_for_its_holder(self, queue: Queue, qname: str, op: str) -> None:
        _, lease = job_in_state(queue, qname, JobState.LEASED)
        assert lease is not None
        queue.cancel(qname, lease.id, force=True)
        assert_rejected(queue, op, lease)
        job = queue.get(qname, lease.id)
        assert job is not None
        assert job.state is JobState.CANCELLED
        assert queue.stats(qname) == QueueStats(queue=qname, cancelled=1)

    def test_ack_and_dequeue_with_a_force_cancelled_lease_leases_nothing(
        self, queue: Queue, qname: str
    ) -> None:
        queue.enqueue(qname, "running", lease_timeout=LONG)
        waiting = queue.enqueue(qname, "waiting", lease_timeout=LONG)
        [lease] = queue.dequeue(qname)
        queue.cancel(qname, lease.id, force=True)
        with pytest.raises(StaleLease, match=lease.id):
            queue.ack_and_dequeue(lease, result="late", limit=10)
        assert queue.get(qname, waiting.id) == waiting
        assert queue.stats(qname) == QueueStats(queue=qname, ready=1, cancelled=1)

    @pytest.mark.parametrize("scope", [None, "k1", EACH_KEY], ids=["queue", "key", "each-key"])
    def test_forced_cancel_frees_the_concurrency_slot_at_once(
        self, queue: Queue, qname: str, scope: str | None
    ) -> None:
        queue.set_concurrency_limit(qname, 1, key=scope)
        queue.enqueue_many(qname, [JobSpec(p, key="k1", lease_timeout=LONG) for p in ("a", "b", "c")])
        [first] = queue.dequeue(qname, limit=10)
        assert first.payload == "a"
        assert queue.dequeue(qname, limit=10) == []
        queue.cancel(qname, first.id, force=True)
        assert [lease.payload for lease in queue.dequeue(qname, limit=10)] == ["b"]
        assert queue.dequeue(qname, limit=10) == []  # "b" holds the only slot
        assert queue.stats(qname).leased == 1

    @pytest.mark.parametrize("bad", [1, 0, "yes", None], ids=["one", "zero", "str", "none"])
    def test_a_bad_force_is_rejected_before_the_job_is_looked_at(
        self, queue: Queue, qname: str, qname2: str, bad: Any
    ) -> None:
        job, lease = job_in_state(queue, qname, JobState.LEASED)
        rejected(lambda: queue.cancel(qname, job.id, force=bad), "force")
        rejected(lambda: queue.cancel(qname2, "no-such-job", force=bad), "force")
        assert queue.get(qname, job.id) == job
        assert lease is not None
        assert queue.ack(lease).state is JobState.COMPLETED

    @KNOWN_QUEUE
    def test_cancel_of_an_unknown_job_raises_not_found(
        self, queue: Queue, qname: str, qname2: str, known_queue: bool
    ) -> None:
        check_not_found(queue, qname, qname2, known_queue, queue.cancel)

    @KNOWN_QUEUE
    def test_get_of_an_unknown_job_returns_none(
        self, queue: Queue, qname: str, qname2: str, known_queue: bool
    ) -> None:
        queue.enqueue(qname, "other")
        assert queue.get(qname if known_queue else qname2, "no-such-job") is None
        assert queue.stats(qname2).total == 0

    def test_get_follows_every_field_through_a_jobs_life(
        self, queue: Queue, qname: str, advance: Advance
    ) -> None:
        job = queue.enqueue(qname, {"n": 1}, priority=2, key="k-1", max_attempts=3, lease_timeout=SHORT)
        assert queue.get(qname, job.id) == job
        assert (job.queue, job.payload, job.state, job.priority, job.key) == (
            qname,
            {"n": 1},
            JobState.READY,
            2,
            "k-1",
        )
        assert (job.attempts, job.max_attempts, job.lease_timeout) == (0, 3, SHORT)
        assert job.run_at == job.enqueued_at
        assert (job.first_dequeued_at, job.last_dequeued_at, job.finished_at) == (None, None, None)
        assert (job.last_error, job.result) == (None, None)

        [first] = queue.dequeue(qname)
        leased = queue.get(qname, job.id)
        assert leased is not None
        assert (leased.state, leased.attempts, leased.finished_at) == (JobState.LEASED, 1, None)
        assert leased.first_dequeued_at is not None
        assert leased.first_dequeued_at >= job.enqueued_at
        assert leased.last_dequeued_at == leased.first_dequeued_at
        assert same_instant(first.expires_at, leased.first_dequeued_at + timedelta(seconds=SHORT))
        assert leased.enqueued_at == job.enqueued_at

        advance(SHORT + MARGIN)
        expired = queue.get(qname, job.id)
        assert expired is not None
        assert (expired.state, expired.attempts) == (JobState.READY, 1)
        assert expired.last_error is not None
        assert "lease expired" in expired.last_error
        assert same_instant(expired.run_at, first.expires_at)
        assert expired.first_dequeued_at == leased.first_dequeued_at

        [second] = queue.dequeue(qname)
        assert second.job.attempts == 2
        assert second.job.first_dequeued_at == leased.first_dequeued_at
        assert second.job.last_dequeued_at is not None
        assert second.job.last_dequeued_at > leased.first_dequeued_at
        done = queue.ack(second, result={"sent": True})
        assert queue.get(qname, job.id) == done
        assert (done.state, done.attempts, done.result) == (JobState.COMPLETED, 2, {"sent": True})
        assert done.finished_at is not None
        assert done.finished_at >= second.job.last_dequeued_at
        assert (done.first_dequeued_at, done.last_dequeued_at) == (
            leased.first_dequeued_at,
            second.job.last_dequeued_at,
        )
        assert (done.enqueued_at, done.payload, done.priority, done.key) == (
            job.enqueued_at,
            {"n": 1},
            2,
            "k-1",
        )
        assert (done.max_attempts, done.lease_timeout) == (3, SHORT)
        assert done.last_error == expired.last_error

    @pytest.mark.parametrize(
        ("options", "max_attempts", "lease_timeout"),
        [
            ({}, 5, 30.0),
            ({"max_attempts": None, "lease_timeout": 2.5}, None, 2.5),
            ({"max_attempts": 1, "lease_timeout": timedelta(minutes=2)}, 1, 120.0),
        ],
        ids=["defaults", "unlimited", "timedelta"],
    )
    def test_get_returns_max_attempts_and_lease_timeout_as_given(
        self,
        queue: Queue,
        qname: str,
        options: dict[str, Any],
        max_attempts: int | None,
        lease_timeout: float,
    ) -> None:
        job = queue.enqueue(qname, "x", **options)
        stored = queue.get(qname, job.id)
        assert stored is not None
        assert (stored.max_attempts, stored.lease_timeout) == (max_attempts, lease_timeout)
        [lease] = queue.dequeue(qname)
        assert lease.job.last_dequeued_at is not None
        assert same_instant(lease.expires_at, lease.job.last_dequeued_at + timedelta(seconds=lease_timeout))

    @pytest.mark.parametrize(
        "result",
        [
            None,
            True,
            False,
            0,
            1,
            -7,
            2**53,
            1.5,
            1.0,
            "",
            "ünïcødé ✓",
            [],
            {},
            [1, "a", None, [True]],
            {"nested": {"list": [1, {"a": None}], "f": 0.25}},
        ],
    )
    def test_results_of_any_json_type_round_trip(self, queue: Queue, qname: str, result: Any) -> None:
        queue.enqueue(qname, "x")
        [lease] = queue.dequeue(qname)
        done = queue.ack(lease, result=result)
        stored = queue.get(qname, lease.id)
        assert stored is not None
        assert json_text(done.result) == json_text(result)
        assert json_text(stored.result) == json_text(result)

    def test_results_expire_after_their_result_ttl(self, queue: Queue, qname: str, advance: Advance) -> None:
        queue.enqueue(qname, "short")
        queue.enqueue(qname, "long")
        [short, long] = queue.dequeue(qname, limit=2)
        queue.ack(short, result="gone soon", result_ttl=SHORT)
        kept = queue.ack(long, result="kept")
        stored = queue.get(qname, short.id)
        assert stored is not None
        assert stored.result == "gone soon"
        advance(SHORT + MARGIN)
        assert queue.get(qname, short.id) is None
        assert queue.get(qname, long.id) == kept
        assert (queue.stats(qname).completed, queue.stats(qname).total) == (1, 1)

    # ------------------------------------------------------------------ list_jobs

    @pytest.mark.parametrize(
        ("key", "states", "expected"),
        [
            pytest.param(None, None, [p for p, _, _ in KEYED_JOBS], id="every-job"),
            pytest.param(
                "k1",
                None,
                ["k1-leased", "k1-ready", "k1-dead", "k1-cancelled", "k1-completed"],
                id="one-key",
            ),
            pytest.param("k2", None, ["k2-ready", "k2-scheduled", "k2-leased"], id="other-key"),
            pytest.param("k1", ["ready", JobState.DEAD], ["k1-ready", "k1-dead"], id="key-and-states"),
            pytest.param("k2", JobState.LEASED, ["k2-leased"], id="key-and-state"),
            pytest.param(None, "leased", ["k1-leased", "k2-leased"], id="state-of-every-key"),
            pytest.param(
                None,
                ["completed", "ready"],
                ["k2-ready", "free-completed", "k1-ready", "free-ready", "k1-completed"],
                id="states-of-every-key",
            ),
            pytest.param("k2", "completed", [], id="key-without-that-state"),
            pytest.param("nobody", None, [], id="key-without-jobs"),
        ],
    )
    def test_list_jobs_filters_by_key_and_state_in_enqueue_order(
        self, queue: Queue, qname: str, key: str | None, states: Any, expected: list[str]
    ) -> None:
        jobs = keyed_jobs_in_states(queue, qname)
        listed = queue.list_jobs(qname, key=key, states=states)
        assert [job.payload for job in listed] == expected
        assert listed == [job for job in jobs if job.payload in expected]

    def test_list_jobs_pages_through_the_jobs_of_one_key(self, queue: Queue, qname: str, qname2: str) -> None:
        queue.enqueue_many(qname, [JobSpec(f"{key}-{i}", key=key) for i in range(5) for key in ("k1", "k2")])
        k1 = queue.list_jobs(qname, key="k1")
        assert [job.payload for job in k1] == [f"k1-{i}" for i in range(5)]
        assert queue.list_jobs(qname, key="k1", limit=2) == k1[:2]
        assert queue.list_jobs(qname, key="k1", limit=2, offset=2) == k1[2:4]
        assert queue.list_jobs(qname, key="k1", limit=2, offset=4) == k1[4:]
        assert queue.list_jobs(qname, key="k1", offset=5) == []
        assert queue.list_jobs(qname, key="k1", states="ready", limit=3, offset=1) == k1[1:4]
        assert [job.payload for job in queue.list_jobs(qname, limit=3, offset=3)] == ["k2-1", "k1-2", "k2-2"]
        assert queue.stats(qname) == QueueStats(queue=qname, ready=10)  # listing leases nothing
        assert queue.list_jobs(qname2, key="k1") == []
        assert qname2 not in [stats.queue for stats in queue.queues()]

    @pytest.mark.parametrize("bad", BAD_KEYS.values(), ids=BAD_KEYS.keys())
    def test_list_jobs_rejects_an_invalid_key(self, queue: Queue, qname: str, bad: Any) -> None:
        job = queue.enqueue(qname, "x", key="k1")
        message = rejected(lambda: queue.list_jobs(qname, key=bad), "key")
        if isinstance(bad, str):
            assert repr(bad[:40]) in message
        assert queue.list_jobs(qname) == [job]
