"""Pause and resume, stats and queue listing, purge."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from kanal import EACH_KEY, JobSpec, JobState, Queue, QueueStats, RateLimit, StaleLease, StateCounts
from kanal_conformance.suite.base import LONG, MakeQueue, SuiteBase
from kanal_conformance.suite.test_bad_input import rejected
from kanal_conformance.suite.test_cancel_get import BAD_KEYS
from kanal_conformance.suite.test_rate_limits import keyed, payloads

#: What :func:`one_job_per_state` leaves in the queue.
EVERY_STATE = QueueStats(scheduled=1, ready=2, leased=1, completed=1, dead=1, cancelled=1)

#: The states :func:`one_job_per_state` brings jobs to through a lease, in this order.
LEASED_FIRST = ("completed", "dead", "leased")

#: Ways to set a limit on one scope that never holds a job back in these tests.
LIMITS: dict[str, Callable[[Queue, str, str], None]] = {
    "rate": lambda queue, qname, key: queue.set_rate_limit(qname, RateLimit.every(LONG, burst=10), key=key),
    "concurrency": lambda queue, qname, key: queue.set_concurrency_limit(qname, 10, key=key),
}


def one_job_per_state(queue: Queue, qname: str, keys: Sequence[str | None] = (None,)) -> dict[str, str]:
    """Fill ``qname`` as :data:`EVERY_STATE` says, once for each of ``keys``; return the job ids by payload.

    Each payload names its job's state (``ready-0`` and ``ready-1`` for the two ready jobs),
    after ``<key>/`` for the jobs of a key.
    """

    def named(key: str | None, state: str) -> str:
        return state if key is None else f"{key}/{state}"

    first = [
        JobSpec(named(key, state), key=key, lease_timeout=LONG) for key in keys for state in LEASED_FIRST
    ]
    jobs = queue.enqueue_many(qname, first)
    leases = queue.dequeue(qname, limit=len(first))
    assert payloads(leases) == [spec.payload for spec in first]
    for done, dead, _held in zip(*[iter(leases)] * len(LEASED_FIRST), strict=True):
        queue.ack(done)
        queue.fail(dead, "boom")
    for key in keys:
        cancelled = queue.enqueue(qname, named(key, "cancelled"), key=key)
        queue.cancel(qname, cancelled.id)
        jobs += [cancelled, queue.enqueue(qname, named(key, "scheduled"), key=key, delay=LONG)]
        jobs += queue.enqueue_many(qname, [JobSpec(named(key, f"ready-{i}"), key=key) for i in range(2)])
    return {job.payload: job.id for job in jobs}


def state_of(payload: str) -> str:
    """The state a payload of :func:`one_job_per_state` names."""
    return payload.rpartition("/")[2].split("-")[0]


def without(stats: QueueStats, qname: str, *states: str) -> QueueStats:
    """``stats`` for ``qname`` with the counts of ``states`` set to zero."""
    counts = {state.value: 0 if state.value in states else stats[state] for state in JobState}
    return QueueStats(**counts, queue=qname, paused=stats.paused, keys=stats.keys)


class PauseStatsPurgeTests(SuiteBase):
    """Pause and resume, stats and queue listing, purge."""

    # ------------------------------------------------------------------ pause and resume

    def test_a_paused_queue_hands_out_nothing_until_resumed(
        self, queue: Queue, make_queue: MakeQueue, qname: str
    ) -> None:
        other = make_queue("sync")
        queue.enqueue_many(qname, [0, 1, 2])
        queue.pause(qname)
        queue.pause(qname)  # pausing twice is harmless
        assert queue.dequeue(qname) == []
        assert queue.dequeue(qname, limit=10) == []
        assert other.dequeue(qname, limit=10) == []
        job = queue.enqueue(qname, "while-paused")
        assert job.state is JobState.READY
        assert queue.get(qname, job.id) == job
        assert queue.stats(qname) == QueueStats(queue=qname, ready=4, paused=True)
        other.resume(qname)
        assert queue.stats(qname) == QueueStats(queue=qname, ready=4, paused=False)
        assert payloads(queue.dequeue(qname, limit=10)) == [0, 1, 2, "while-paused"]

    def test_a_paused_queue_is_skipped_while_other_queues_flow(
        self, queue: Queue, qname: str, qname2: str
    ) -> None:
        queue.enqueue_many(qname, ["a-0", "a-1"])
        queue.enqueue_many(qname2, ["b-0", "b-1"])
        queue.pause(qname)
        got = [(lease.queue, lease.payload) for lease in queue.dequeue([qname, qname2], limit=10)]
        assert got == [(qname2, "b-0"), (qname2, "b-1")]
        assert queue.stats(qname2).paused is False
        queue.resume(qname)
        got = [(lease.queue, lease.payload) for lease in queue.dequeue([qname, qname2], limit=10)]
        assert got == [(qname, "a-0"), (qname, "a-1")]

    def test_leases_taken_before_a_pause_can_still_be_settled(self, queue: Queue, qname: str) -> None:
        queue.enqueue_many(qname, [JobSpec(i, lease_timeout=LONG) for i in range(2)])
        first, second = queue.dequeue(qname, limit=2)
        queue.pause(qname)
        assert queue.ack(first, "ok").state is JobState.COMPLETED
        assert queue.requeue(second).state is JobState.READY
        assert queue.dequeue(qname, limit=10) == []
        queue.resume(qname)
        assert payloads(queue.dequeue(qname, limit=10)) == [1]

    # ------------------------------------------------------------------ stats

    def test_stats_count_each_state_exactly(self, queue: Queue, qname: str) -> None:
        one_job_per_state(queue, qname)
        stats = queue.stats(qname)
        assert stats == without(EVERY_STATE, qname)
        assert stats.total == 7
        assert [stats[state] for state in JobState] == [1, 2, 1, 1, 1, 1]
        assert (stats.paused, dict(stats.keys)) == (False, {})

    @pytest.mark.parametrize("kind", sorted(LIMITS))
    def test_stats_count_per_key_only_for_limited_keys(self, queue: Queue, qname: str, kind: str) -> None:
        queue.enqueue_many(qname, keyed("k1", "k2", each=2, then_unkeyed=1))
        assert payloads(queue.dequeue(qname)) == ["k1-0"]
        assert dict(queue.stats(qname).keys) == {}
        LIMITS[kind](queue, qname, "k1")
        stats = queue.stats(qname)
        assert dict(stats.keys) == {"k1": StateCounts(ready=1, leased=1)}
        assert (stats.ready, stats.leased) == (4, 1)
        LIMITS[kind](queue, qname, EACH_KEY)
        expected = {"k1": StateCounts(ready=1, leased=1), "k2": StateCounts(ready=2)}
        assert dict(queue.stats(qname).keys) == expected
        assert list(queue.stats(qname).keys) == ["k1", "k2"]

    def test_stats_of_an_unknown_queue_are_zero_and_do_not_create_it(self, queue: Queue, qname: str) -> None:
        assert queue.stats(qname) == QueueStats(queue=qname)
        assert queue.stats(qname).total == 0
        assert qname not in [stats.queue for stats in queue.queues()]

    def test_queues_lists_known_queues_sorted_by_name_with_their_stats(
        self, queue: Queue, qname: str, qname2: str
    ) -> None:
        queue.enqueue_many(qname2, ["b-0", "b-1"])
        queue.enqueue(qname, "a-0", lease_timeout=LONG)
        queue.dequeue(qname)
        queue.pause(qname2)
        listing = queue.queues()
        names = [stats.queue for stats in listing]
        assert names == sorted(set(names))
        found = {stats.queue: stats for stats in listing}
        assert found[qname] == queue.stats(qname) == QueueStats(queue=qname, leased=1)
        assert found[qname2] == queue.stats(qname2) == QueueStats(queue=qname2, ready=2, paused=True)

    # ------------------------------------------------------------------ purge

    def test_purge_deletes_every_job_and_returns_the_count(self, queue: Queue, qname: str) -> None:
        ids = one_job_per_state(queue, qname)
        assert queue.purge(qname) == 7
        assert queue.stats(qname) == QueueStats(queue=qname)
        assert all(queue.get(qname, job_id) is None for job_id in ids.values())
        assert queue.dequeue(qname, limit=10) == []
        assert queue.purge(qname) == 0
        queue.enqueue(qname, "after")
        assert payloads(queue.dequeue(qname, limit=10)) == ["after"]

    @pytest.mark.parametrize(
        ("states", "purged"),
        [
            (["completed", "dead"], ["completed", "dead"]),
            ([JobState.CANCELLED, "leased"], ["cancelled", "leased"]),
            (JobState.SCHEDULED, ["scheduled"]),
            ("ready", ["ready"]),
        ],
    )
    def test_purge_by_state_deletes_only_those_states(
        self, queue: Queue, qname: str, states: JobState | str | list[JobState | str], purged: list[str]
    ) -> None:
        ids = one_job_per_state(queue, qname)
        assert queue.purge(qname, states=states) == sum(EVERY_STATE[state] for state in purged)
        assert queue.stats(qname) == without(EVERY_STATE, qname, *purged)
        for payload, job_id in ids.items():
            job = queue.get(qname, job_id)
            if state_of(payload) in purged:
                assert job is None
            else:
                assert job is not None
                assert (job.payload, job.state.value) == (payload, state_of(payload))

    def test_a_purged_finished_job_id_can_be_enqueued_again(self, queue: Queue, qname: str) -> None:
        queue.enqueue(qname, "first", id="job-1")
        queue.ack(queue.dequeue(qname)[0])
        assert queue.enqueue(qname, "ignored", id="job-1").state is JobState.COMPLETED
        assert queue.purge(qname, states=["completed"]) == 1
        again = queue.enqueue(qname, "second", id="job-1")
        assert (again.state, again.payload, again.attempts) == (JobState.READY, "second", 0)

    def test_purging_a_leased_job_makes_its_lease_stale_and_frees_its_slot(
        self, queue: Queue, qname: str
    ) -> None:
        queue.set_concurrency_limit(qname, 1)
        queue.set_concurrency_limit(qname, 1, key="k1")
        first = queue.enqueue(qname, "a", key="k1", lease_timeout=LONG)
        queue.enqueue(qname, "b", key="k1", lease_timeout=LONG)
        [lease] = queue.dequeue(qname, limit=10)
        assert lease.payload == "a"
        assert queue.purge(qname, states=["leased"]) == 1
        for settle in (queue.ack, queue.requeue, queue.extend, lambda held: queue.fail(held, "boom")):
            with pytest.raises(StaleLease):
                settle(lease)
        assert queue.get(qname, first.id) is None
        assert payloads(queue.dequeue(qname, limit=10)) == ["b"]
        assert queue.stats(qname) == QueueStats(queue=qname, leased=1, keys={"k1": StateCounts(leased=1)})

    def test_purge_keeps_the_queue_paused_and_its_limits(self, queue: Queue, qname: str) -> None:
        queue.enqueue_many(qname, [0, 1])
        queue.pause(qname)
        queue.set_rate_limit(qname, RateLimit(rate=2, burst=3))
        queue.set_concurrency_limit(qname, 4, key=EACH_KEY)
        assert queue.purge(qname) == 2
        assert queue.stats(qname) == QueueStats(queue=qname, paused=True)
        assert queue.get_rate_limit(qname) == RateLimit(rate=2, burst=3)
        assert queue.get_concurrency_limit(qname, key=EACH_KEY) == 4
        queue.enqueue(qname, "after")
        assert queue.dequeue(qname) == []

    def test_purge_of_an_unknown_queue_returns_zero(self, queue: Queue, qname: str) -> None:
        assert queue.purge(qname) == 0
        assert queue.purge(qname, states=["completed", "dead"]) == 0
        assert queue.purge(qname, key="k1") == 0
        assert queue.stats(qname) == QueueStats(queue=qname)

    # ------------------------------------------------------------------ purge by key

    @pytest.mark.parametrize(
        ("states", "purged"),
        [
            (None, [state.value for state in JobState]),
            (["ready", JobState.DEAD], ["ready", "dead"]),
            ("leased", ["leased"]),
        ],
        ids=["every-state", "some-states", "one-state"],
    )
    def test_purge_by_key_deletes_only_that_keys_jobs(
        self, queue: Queue, qname: str, states: Any, purged: list[str]
    ) -> None:
        ids = one_job_per_state(queue, qname, keys=(None, "k1", "k2"))
        assert queue.purge(qname, key="k1", states=states) == sum(EVERY_STATE[state] for state in purged)
        left = {s.value: EVERY_STATE[s] * (2 if s.value in purged else 3) for s in JobState}
        assert queue.stats(qname) == QueueStats(**left, queue=qname, paused=False, keys={})
        for payload, job_id in ids.items():
            job = queue.get(qname, job_id)
            if payload.startswith("k1/") and state_of(payload) in purged:
                assert job is None
            else:
                assert job is not None
                assert (job.payload, job.state.value) == (payload, state_of(payload))

    def test_purge_by_key_keeps_limits_and_pause_and_frees_the_keys_slots(
        self, queue: Queue, qname: str
    ) -> None:
        queue.set_concurrency_limit(qname, 1, key="k1")
        queue.set_rate_limit(qname, RateLimit(rate=2, burst=3), key="k1")
        queue.set_concurrency_limit(qname, 4, key=EACH_KEY)
        queue.enqueue_many(qname, keyed("k1", "k2", each=2))
        held = queue.dequeue(qname, limit=10)
        assert payloads(held) == ["k1-0", "k2-0", "k2-1"]
        queue.pause(qname)
        assert queue.purge(qname, key="k1") == 2
        with pytest.raises(StaleLease):
            queue.ack(held[0])
        assert queue.stats(qname) == QueueStats(
            queue=qname, leased=2, paused=True, keys={"k2": StateCounts(leased=2)}
        )
        assert queue.get_concurrency_limit(qname, key="k1") == 1
        assert queue.get_rate_limit(qname, key="k1") == RateLimit(rate=2, burst=3)
        assert queue.get_concurrency_limit(qname, key=EACH_KEY) == 4
        queue.enqueue_many(qname, keyed("k1", each=2))
        assert queue.dequeue(qname, limit=10) == []
        queue.resume(qname)
        assert payloads(queue.dequeue(qname, limit=10)) == ["k1-0"]  # k1's slot is free; its limit holds

    def test_purge_by_a_key_without_jobs_deletes_nothing(self, queue: Queue, qname: str) -> None:
        one_job_per_state(queue, qname, keys=(None, "k1"))
        before = (queue.stats(qname), queue.list_jobs(qname, limit=1000))
        assert queue.purge(qname, key="k2") == 0
        assert queue.purge(qname, key="k2", states="ready") == 0
        assert (queue.stats(qname), queue.list_jobs(qname, limit=1000)) == before

    @pytest.mark.parametrize("bad", BAD_KEYS.values(), ids=BAD_KEYS.keys())
    def test_purge_rejects_an_invalid_key_and_deletes_nothing(
        self, queue: Queue, qname: str, bad: Any
    ) -> None:
        one_job_per_state(queue, qname, keys=(None, "k1"))
        before = (queue.stats(qname), queue.list_jobs(qname, limit=1000))
        message = rejected(lambda: queue.purge(qname, key=bad), "key")
        if isinstance(bad, str):
            assert repr(bad[:40]) in message
        assert (queue.stats(qname), queue.list_jobs(qname, limit=1000)) == before
