"""Atomicity under concurrency: a recorded history of many producers and consumers, checked.

Producers and consumers run in threads, each with its own client. Consumers ack, crash
(drop the lease), requeue, or stall past their lease and then try to ack. The history is
then checked the way Jepsen's ``total-queue`` and Queen's lease checks do: nothing lost,
nothing unexpected, each job completed by exactly one token, no two deliveries of a job
under overlapping unexpired leases, and no stale ack that changed anything.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from kanal import JobState, Lease, StaleLease
from kanal.spi import Capabilities
from kanal_conformance.suite.base import MARGIN, SHORT, Advance, MakeQueue, SuiteBase

PRODUCERS = 2
CONSUMERS = 3
JOBS_PER_PRODUCER = 60
#: Wall-clock bound for the whole run (it normally takes a few lease timeouts).
DEADLINE = 30.0


@dataclass(frozen=True)
class Delivery:
    """One dequeue of one job, and what the consumer then did with it."""

    lease: Lease
    outcome: str  # "acked", "stale-ack", "crashed", "requeued", "stale-requeue"


class AtomicityTests(SuiteBase):
    def test_a_concurrent_history_loses_nothing_and_never_overlaps_leases(
        self, make_queue: MakeQueue, api: str, qname: str, advance: Advance, capabilities: Capabilities
    ) -> None:
        deliveries: list[Delivery] = []
        acked_by: defaultdict[str, list[str]] = defaultdict(list)
        enqueued: set[str] = set()
        record = threading.Lock()
        errors: list[BaseException] = []
        done = threading.Event()

        def produce(p: int) -> None:
            client = make_queue("sync")
            for i in range(JOBS_PER_PRODUCER):
                job = client.enqueue(
                    qname, {"p": p, "i": i}, id=f"p{p}-{i}", lease_timeout=SHORT, max_attempts=None
                )
                with record:
                    enqueued.add(job.id)

        def consume(c: int) -> None:
            client, rng = make_queue(api), random.Random(c)
            while not done.is_set():
                for lease in client.dequeue(qname, limit=4, wait=0.05):
                    roll = rng.random()
                    if roll < 0.1:
                        outcome = "crashed"
                    elif roll < 0.2:
                        try:
                            client.requeue(lease)
                            outcome = "requeued"
                        except StaleLease:
                            outcome = "stale-requeue"
                    else:
                        if roll < 0.3:  # stall past the lease, then try to finish anyway
                            stall_until = time.monotonic() + SHORT + MARGIN
                            while time.monotonic() < stall_until and not done.is_set():
                                time.sleep(0.02)
                        try:
                            client.ack(lease)
                            outcome = "acked"
                        except StaleLease:
                            outcome = "stale-ack"
                    with record:
                        deliveries.append(Delivery(lease, outcome))
                        if outcome == "acked":
                            acked_by[lease.id].append(lease.token)

        def guarded(target: Callable[[int], None], arg: int) -> threading.Thread:
            def run() -> None:
                try:
                    target(arg)
                except BaseException as exc:
                    errors.append(exc)
                    done.set()

            return threading.Thread(target=run, daemon=True)

        observer = make_queue("sync")
        threads = [guarded(produce, p) for p in range(PRODUCERS)] + [
            guarded(consume, c) for c in range(CONSUMERS)
        ]
        for thread in threads:
            thread.start()
        total = PRODUCERS * JOBS_PER_PRODUCER
        started = time.monotonic()
        while not done.is_set() and time.monotonic() - started < DEADLINE:
            if capabilities.controllable_clock:
                advance(SHORT / 4)  # let leases expire on the fake clock too
            time.sleep(0.02)
            if observer.stats(qname).completed == total:
                done.set()
        done.set()
        for thread in threads:
            thread.join(DEADLINE)
        assert not errors, f"a worker failed: {errors[0]!r}"

        # total-queue: what went in came out, exactly once completed, nothing unexpected
        stats = observer.stats(qname)
        assert len(enqueued) == total
        assert stats.completed == total, f"lost or unfinished: {stats}"
        delivered = {d.lease.id for d in deliveries}
        assert delivered <= enqueued, f"unexpected jobs: {sorted(delivered - enqueued)[:5]}"
        assert set(acked_by) == enqueued
        twice = {job_id: tokens for job_id, tokens in acked_by.items() if len(tokens) != 1}
        assert not twice, f"jobs acked successfully more than once: {dict(list(twice.items())[:3])}"
        for job_id in enqueued:
            job = observer.get(qname, job_id)
            assert job is not None
            assert job.state is JobState.COMPLETED

        # leases: every delivery has its own token; a job is never handed out again while a
        # lease that was not settled is still unexpired (server time on both sides)
        tokens = [d.lease.token for d in deliveries]
        assert len(tokens) == len(set(tokens))
        by_job: defaultdict[str, list[Delivery]] = defaultdict(list)
        for delivery in deliveries:
            by_job[delivery.lease.id].append(delivery)
        for job_id, history in by_job.items():
            history.sort(key=lambda d: d.lease.job.attempts)
            attempts = [d.lease.job.attempts for d in history]
            assert attempts == sorted(set(attempts)), f"{job_id}: attempts repeat or go back: {attempts}"
            last = history[-1]
            assert (last.outcome, acked_by[job_id]) == ("acked", [last.lease.token]), (
                f"{job_id} was completed through a lease other than its current one: "
                f"{[(d.lease.job.attempts, d.outcome) for d in history]}"
            )
            for first, second in itertools.pairwise(history):
                if first.outcome in ("crashed", "stale-ack", "stale-requeue"):
                    again = second.lease.job.last_dequeued_at
                    assert again is not None
                    assert again >= first.lease.expires_at, (
                        f"{job_id} delivered again at {again} under a lease valid until "
                        f"{first.lease.expires_at}"
                    )
        assert any(d.outcome in ("crashed", "stale-ack") for d in deliveries), "no fault was exercised"
