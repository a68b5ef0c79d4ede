"""A stateful property test: random operation sequences checked against a reference model.

Hypothesis drives a backend with random enqueues, dequeues, acks (current and stale),
requeues, fails, extends, cancels, reschedules, redrives, pauses and (where the clock can
be moved) the passage of time, and checks every reply and the queue's counts against
:class:`Model`, a few dozen lines of plain Python that state the protocol's rules.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from kanal import InvalidTransition, JobNotFound, JobState, Lease, Queue, StaleLease
from kanal.spi import Capabilities
from kanal_conformance.harness import unique_name
from kanal_conformance.suite.base import LONG, Advance, SuiteBase

S = JobState


@dataclass
class ModelJob:
    """What the model knows of one job."""

    id: str
    priority: int
    max_attempts: int | None
    lease_timeout: float
    state: JobState = S.SCHEDULED
    run_at: float = 0.0
    seq: int = 0
    attempts: int = 0
    token: str | None = None
    expires: float = 0.0
    settled_by: str | None = None


@dataclass
class Model:
    """The protocol's rules for one queue, on a clock that moves only when told."""

    now: float = 0.0
    paused: bool = False
    jobs: dict[str, ModelJob] = field(default_factory=dict)
    order: itertools.count[int] = field(default_factory=itertools.count)

    def tick(self) -> None:
        """What time alone changes: due jobs become ready, expired leases come back or die."""
        due = [j for j in self.jobs.values() if j.state is S.SCHEDULED and j.run_at <= self.now]
        for job in sorted(due, key=lambda j: (j.run_at, j.seq)):
            job.state, job.seq = S.READY, next(self.order)
        expired = [j for j in self.jobs.values() if j.state is S.LEASED and j.expires <= self.now]
        for job in sorted(expired, key=lambda j: (j.expires, j.seq)):
            if job.max_attempts is not None and job.attempts >= job.max_attempts:
                job.state, job.settled_by = S.DEAD, None
            else:
                self.schedule(job, job.expires)

    def schedule(self, job: ModelJob, run_at: float) -> None:
        job.run_at, job.seq = run_at, next(self.order)
        job.state = S.READY if run_at <= self.now else S.SCHEDULED

    def ready_in_order(self) -> list[ModelJob]:
        ready = [j for j in self.jobs.values() if j.state is S.READY]
        return sorted(ready, key=lambda j: (j.priority, j.run_at, j.seq))

    def holder(self, lease: Lease, replay: JobState | None) -> ModelJob | None:
        """The job ``lease`` holds (or settled as ``replay``), or None if it is stale."""
        job = self.jobs.get(lease.id)
        if job is None or job.token != lease.token:
            return None
        if job.state is S.LEASED or (job.state is replay and job.settled_by == lease.token):
            return job
        return None

    def counts(self) -> Counter[str]:
        return Counter(j.state.value for j in self.jobs.values())


class ModelTests(SuiteBase):
    @pytest.fixture
    def model_settings(self) -> dict[str, int]:
        """Overrides of the Hypothesis profile (``max_examples``, ``stateful_step_count``).

        A fast backend may raise them: rare interleavings need many long sequences.
        """
        return {}

    def test_random_operations_match_the_reference_model(
        self, queue: Queue, advance: Advance, capabilities: Capabilities, model_settings: dict[str, int]
    ) -> None:
        run_state_machine_as_test(
            _machine(queue, advance, capabilities.controllable_clock),
            settings=settings(settings(), **model_settings),  # type: ignore[arg-type]
        )


def _machine(queue: Queue, advance: Advance, movable: bool) -> type[RuleBasedStateMachine]:
    """A state machine bound to one client. Without a movable clock, nothing ever falls due."""
    lease_timeout = 10.0 if movable else LONG
    delays = st.sampled_from([0.0, 5.0, 20.0] if movable else [0.0, LONG])

    class QueueMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.name = unique_name("model")
            self.model = Model()
            self.leases: list[Lease] = []
            self.ids = (f"j{i}" for i in itertools.count())

        def pick_id(self, index: int) -> str:
            known = list(self.model.jobs)
            return known[index % len(known)] if known else "never-enqueued"

        def check_state(self, job_id: str) -> None:
            stored = queue.get(self.name, job_id)
            expected = self.model.jobs.get(job_id)
            assert (stored and stored.state) == (expected and expected.state)

        def settle_with(self, lease: Lease, outcome: str) -> JobState:
            if outcome == "ack":
                return queue.ack(lease, result=1).state
            return queue.fail(lease, "boom").state

        @rule(priority=st.integers(0, 2), delay=delays, max_attempts=st.sampled_from([1, 2, None]))
        def enqueue(self, priority: int, delay: float, max_attempts: int | None) -> None:
            self.model.tick()
            job_id = next(self.ids)
            job = queue.enqueue(
                self.name,
                {"id": job_id},
                id=job_id,
                priority=priority,
                delay=delay,
                max_attempts=max_attempts,
                lease_timeout=lease_timeout,
            )
            model_job = ModelJob(job_id, priority, max_attempts, lease_timeout)
            self.model.jobs[job_id] = model_job
            self.model.schedule(model_job, self.model.now + delay)
            assert (job.id, job.state, job.payload) == (job_id, model_job.state, {"id": job_id})

        @precondition(lambda self: self.model.jobs)
        @rule(index=st.integers(0, 99), priority=st.integers(0, 2))
        def enqueue_existing_id(self, index: int, priority: int) -> None:
            self.model.tick()
            job_id = self.pick_id(index)
            job = queue.enqueue(self.name, "ignored", id=job_id, priority=priority)
            expected = self.model.jobs[job_id]
            assert (job.state, job.priority, job.payload) == (
                expected.state,
                expected.priority,
                {"id": job_id},
            )

        @rule(limit=st.integers(1, 4))
        def dequeue(self, limit: int) -> None:
            self.model.tick()
            expected = [] if self.model.paused else self.model.ready_in_order()[:limit]
            leases = queue.dequeue(self.name, limit=limit)
            assert [lease.id for lease in leases] == [j.id for j in expected]
            for lease, job in zip(leases, expected, strict=True):
                job.state, job.attempts, job.token = S.LEASED, job.attempts + 1, lease.token
                job.expires, job.seq, job.settled_by = (
                    self.model.now + lease_timeout,
                    next(self.model.order),
                    None,
                )
                assert lease.job.attempts == job.attempts
                self.leases.append(lease)

        @precondition(lambda self: self.leases)
        @rule(index=st.integers(0, 99), outcome=st.sampled_from(["ack", "fail"]))
        def settle(self, index: int, outcome: str) -> None:
            self.model.tick()
            lease = self.leases[index % len(self.leases)]
            final = S.COMPLETED if outcome == "ack" else S.DEAD
            job = self.model.holder(lease, replay=final)
            if job is None:
                with pytest.raises(StaleLease):
                    self.settle_with(lease, outcome)
                return
            assert self.settle_with(lease, outcome) is final
            job.state, job.settled_by = final, lease.token

        @precondition(lambda self: self.leases)
        @rule(index=st.integers(0, 99), delay=delays)
        def requeue(self, index: int, delay: float) -> None:
            self.model.tick()
            lease = self.leases[index % len(self.leases)]
            job = self.model.holder(lease, replay=None)
            if job is None:
                with pytest.raises(StaleLease):
                    queue.requeue(lease, delay=delay)
                return
            returned = queue.requeue(lease, delay=delay)
            if job.max_attempts is not None and job.attempts >= job.max_attempts:
                job.state, job.settled_by = S.DEAD, None
            else:
                self.model.schedule(job, self.model.now + delay)
            assert returned.state is job.state

        @precondition(lambda self: self.leases)
        @rule(index=st.integers(0, 99))
        def extend(self, index: int) -> None:
            self.model.tick()
            lease = self.leases[index % len(self.leases)]
            job = self.model.holder(lease, replay=None)
            if job is None:
                with pytest.raises(StaleLease):
                    queue.extend(lease)
                return
            renewed = queue.extend(lease)
            job.expires, job.seq = self.model.now + lease_timeout, next(self.model.order)
            assert (renewed.token, renewed.id) == (lease.token, lease.id)

        @rule(index=st.integers(0, 99))
        def cancel(self, index: int) -> None:
            self.model.tick()
            job_id = self.pick_id(index)
            job = self.model.jobs.get(job_id)
            if job is None:
                with pytest.raises(JobNotFound):
                    queue.cancel(self.name, job_id)
            elif job.state in (S.SCHEDULED, S.READY, S.CANCELLED):
                assert queue.cancel(self.name, job_id).state is S.CANCELLED
                job.state = S.CANCELLED
            else:
                with pytest.raises(InvalidTransition):
                    queue.cancel(self.name, job_id)
            self.check_state(job_id)

        @rule(index=st.integers(0, 99), delay=delays)
        def reschedule(self, index: int, delay: float) -> None:
            self.model.tick()
            job_id = self.pick_id(index)
            job = self.model.jobs.get(job_id)
            if job is None:
                with pytest.raises(JobNotFound):
                    queue.reschedule(self.name, job_id, delay=delay)
            elif job.state in (S.SCHEDULED, S.READY):
                self.model.schedule(job, self.model.now + delay)
                assert queue.reschedule(self.name, job_id, delay=delay).state is job.state
            else:
                with pytest.raises(InvalidTransition):
                    queue.reschedule(self.name, job_id, delay=delay)

        @rule()
        def redrive(self) -> None:
            self.model.tick()
            dead = [j for j in self.model.jobs.values() if j.state is S.DEAD]
            for job in dead:
                job.attempts, job.settled_by = 0, None
                self.model.schedule(job, self.model.now)
            assert queue.redrive(self.name) == len(dead)

        @rule(paused=st.booleans())
        def pause_or_resume(self, paused: bool) -> None:
            (queue.pause if paused else queue.resume)(self.name)
            self.model.paused = paused

        @precondition(lambda self: movable)
        @rule(seconds=st.sampled_from([1.0, 6.0, 11.0]))
        def let_time_pass(self, seconds: float) -> None:
            advance(seconds)
            self.model.now += seconds

        @rule(index=st.integers(0, 99))
        def get(self, index: int) -> None:
            self.model.tick()
            job_id = self.pick_id(index)
            job = self.model.jobs.get(job_id)
            stored = queue.get(self.name, job_id)
            if job is None:
                assert stored is None
            else:
                assert stored is not None
                assert (stored.state, stored.attempts, stored.priority) == (
                    job.state,
                    job.attempts,
                    job.priority,
                )

        @invariant()
        def counts_match(self) -> None:
            self.model.tick()
            stats = queue.stats(self.name)
            counts = self.model.counts()
            assert {s.value: stats[s] for s in S} == {s.value: counts[s.value] for s in S}
            assert stats.paused is self.model.paused

    return QueueMachine
