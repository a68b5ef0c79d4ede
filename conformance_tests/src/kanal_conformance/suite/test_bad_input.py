"""Bad input: a clear error from one hierarchy, raised before anything is written.

Every rejected call must raise a :class:`kanal.InvalidArgument` (so also a ``ValueError``)
whose message names what was wrong, and the backend must look exactly as before.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import kanal
from kanal import EACH_KEY, Job, JobSpec, JobState, Lease, Queue, RateLimit
from kanal_conformance.suite.base import LONG, MakeQueue, SuiteBase

OnQueue = Callable[[Queue, str], object]
OnName = Callable[[Queue, Any], object]
OnJobId = Callable[[Queue, str, Any], object]
OnLease = Callable[[Queue, Lease], object]
Submit = Callable[[Queue, str, Any, dict[str, Any]], object]

NAN, INF = math.nan, math.inf
#: A token that is not a string, typed loosely so that a test can forge a lease with it.
NO_TOKEN: Any = None
#: The id of the ready job that :func:`populate` stores.
PRESENT = "present-1"

#: Not a queue name: too short or long, key separators, hash-tag braces, SQL, non-ASCII,
#: whitespace, control characters, and values that are not strings at all.
BAD_QUEUE_NAMES: dict[str, Any] = {
    "empty": "",
    "129-chars": "q" * 129,
    "colon": "a:b",
    "braces": "{x}",
    "sql": "q';DROP TABLE jobs;--",
    "non-ascii": "é",
    "space": "a b",
    "nul": "a\x00b",
    "newline": "a\nb",
    "int": 5,
    "none": None,
    "bytes": b"q",
}
#: Not a job id or key (these allow ``: @ + =`` too, so a colon is fine here).
BAD_IDENTIFIERS: dict[str, Any] = {
    "empty": "",
    "129-chars": "i" * 129,
    "braces": "{x}",
    "sql": "j';DROP TABLE jobs;--",
    "non-ascii": "é",
    "space": "a b",
    "slash": "a/b",
    "nul": "a\x00b",
    "newline": "a\nb",
    "int": 5,
    "bytes": b"j",
}
#: Not a duration in seconds where zero is allowed (None has its own meaning per argument).
BAD_SECONDS: dict[str, Any] = {
    "negative": -1,
    "tiny-negative": -0.001,
    "nan": NAN,
    "inf": INF,
    "-inf": -INF,
    "bool": True,
    "str": "5",
    "negative-timedelta": timedelta(seconds=-1),
}
#: Not a duration where it must be positive (lease timeouts).
BAD_POSITIVE_SECONDS: dict[str, Any] = {
    **BAD_SECONDS,
    "zero": 0,
    "zero-float": 0.0,
    "zero-timedelta": timedelta(0),
}
#: Not a batch size (1 to 1000).
BAD_LIMITS: dict[str, Any] = {
    "zero": 0,
    "negative": -1,
    "1001": 1001,
    "bool": True,
    "float": 1.5,
    "none": None,
    "str": "10",
}
BAD_OFFSETS: dict[str, Any] = {"negative": -1, "bool": True, "float": 1.5, "huge": 2**31 + 1, "none": None}
BAD_STATES: dict[str, Any] = {
    "unknown": "running",
    "one-unknown": ["ready", "bogus"],
    "int": 5,
    "none-in-list": [JobState.READY, None],
}
BAD_PRIORITIES: dict[str, Any] = {
    "true": True,
    "false": False,
    "float": 1.5,
    "above-int32": 2**31,
    "below-int32": -(2**31) - 1,
    "str": "1",
    "none": None,
}
BAD_MAX_ATTEMPTS: dict[str, Any] = {
    "zero": 0,
    "negative": -1,
    "bool": True,
    "float": 1.5,
    "str": "5",
    "above-int32": 2**31,
}
BAD_CONCURRENCY: dict[str, Any] = {
    "zero": 0,
    "negative": -1,
    "bool": True,
    "float": 1.5,
    "above-int32": 2**31,
    "str": "3",
}
#: Not a bool: values that are only truthy or falsy.
BAD_FLAGS: dict[str, Any] = {"one": 1, "zero": 0, "str": "yes", "none": None}
NAIVE = datetime(2030, 1, 1, 12, 0)
AWARE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


#: Values JSON cannot carry, nested at ``['a'][1]``: (value, what the message names, path).
UNSERIALIZABLE: dict[str, tuple[Any, str, str]] = {
    "set": ({"a": [1, {1, 2}]}, "set", "['a'][1]"),
    "bytes": ({"a": [1, b"raw"]}, "bytes", "['a'][1]"),
    "nan": ({"a": [1, NAN]}, "nan", "['a'][1]"),
    "inf": ({"a": [1, INF]}, "inf", "['a'][1]"),
    "datetime": ({"a": [1, AWARE]}, "datetime", "['a'][1]"),
    "decimal": ({"a": [1, Decimal("1.5")]}, "Decimal", "['a'][1]"),
    "object": ({"a": [1, object()]}, "object", "['a'][1]"),
    "circular": ({"a": [1, _circular()]}, "circular", "['a'][1][0]"),
    "tuple-key": ({"a": [1, {(1, 2): "v"}]}, "tuple", "['a'][1]"),
}


def rejected(
    call: Callable[[], object], *fragments: str, error: type[Exception] = kanal.InvalidArgument
) -> str:
    """``call`` raises ``error`` (an InvalidArgument, so a ValueError) naming every fragment."""
    with pytest.raises(error) as caught:
        call()
    assert isinstance(caught.value, kanal.InvalidArgument)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} is not named in {message!r}"
    return message


def queue_names(queue: Queue) -> set[str]:
    return {stats.queue for stats in queue.queues()}


def assert_untouched(queue: Queue, qname: str) -> None:
    """Nothing was written for ``qname``: the queue does not exist and holds no job."""
    assert qname not in queue_names(queue)
    assert queue.stats(qname).total == 0
    assert queue.list_jobs(qname) == []


def populate(queue: Queue, qname: str) -> None:
    """A queue with limits on two scopes, a ready job (``PRESENT``) and a scheduled one."""
    queue.set_rate_limit(qname, RateLimit(rate=5.0, burst=2.0))
    queue.set_rate_limit(qname, RateLimit(rate=7.0), key=EACH_KEY)
    queue.set_concurrency_limit(qname, 3)
    queue.set_concurrency_limit(qname, 4, key=EACH_KEY)
    queue.enqueue(qname, {"keep": True}, id=PRESENT, key="k1", priority=2, lease_timeout=LONG)
    queue.enqueue(qname, "later", id="later-1", delay=LONG)


def snapshot(queue: Queue, qname: str) -> tuple[object, ...]:
    """Everything observable about ``qname``: counts, jobs and limits."""
    return (
        queue.stats(qname),
        queue.list_jobs(qname, limit=1000),
        queue.get_rate_limit(qname),
        queue.get_rate_limit(qname, key=EACH_KEY),
        queue.get_concurrency_limit(qname),
        queue.get_concurrency_limit(qname, key=EACH_KEY),
    )


def lease_one(queue: Queue, qname: str) -> Lease:
    queue.enqueue(qname, {"work": 1}, lease_timeout=LONG)
    [lease] = queue.dequeue(qname)
    return lease


def assert_lease_intact(queue: Queue, lease: Lease, before: Job | None) -> None:
    """The leased job is as it was, and the lease is still current: ack succeeds with it."""
    assert before is not None
    assert before.state is JobState.LEASED
    assert queue.get(lease.queue, lease.id) == before
    done = queue.ack(lease, "ok")
    assert (done.state, done.result, done.attempts) == (JobState.COMPLETED, "ok", 1)


def cases(name: str, make: Callable[[Any], Any], fragment: str, values: dict[str, Any]) -> list[Any]:
    """One parameter set per bad value: ``(call, fragment)`` with id ``name-label``."""
    return [pytest.param(make(value), fragment, id=f"{name}-{label}") for label, value in values.items()]


#: Every operation that takes a queue name, called with that name and otherwise valid arguments.
QUEUE_NAME_OPS: dict[str, OnName] = {
    "enqueue": lambda q, name: q.enqueue(name, "x"),
    "enqueue_many": lambda q, name: q.enqueue_many(name, ["x"]),
    "dequeue": lambda q, name: q.dequeue(name),
    "dequeue-list": lambda q, name: q.dequeue([name]),
    "reschedule": lambda q, name: q.reschedule(name, "job-1", delay=1),
    "cancel": lambda q, name: q.cancel(name, "job-1"),
    "get": lambda q, name: q.get(name, "job-1"),
    "wait": lambda q, name: q.wait(name, "job-1", timeout=0),
    "list_jobs": lambda q, name: q.list_jobs(name),
    "dead_letters": lambda q, name: q.dead_letters(name),
    "redrive": lambda q, name: q.redrive(name),
    "purge": lambda q, name: q.purge(name),
    "set_rate_limit": lambda q, name: q.set_rate_limit(name, RateLimit(1.0)),
    "get_rate_limit": lambda q, name: q.get_rate_limit(name),
    "set_concurrency_limit": lambda q, name: q.set_concurrency_limit(name, 1),
    "get_concurrency_limit": lambda q, name: q.get_concurrency_limit(name),
    "pause": lambda q, name: q.pause(name),
    "resume": lambda q, name: q.resume(name),
    "stats": lambda q, name: q.stats(name),
    "recover": lambda q, name: q.recover(name),
}
#: Where None is valid: every queue.
NONE_MEANS_ALL = {"stats", "recover"}
QUEUE_NAME_CASES = [
    pytest.param(op, bad, id=f"{op}-{label}")
    for op in QUEUE_NAME_OPS
    for label, bad in BAD_QUEUE_NAMES.items()
    if not (bad is None and op in NONE_MEANS_ALL)
]

#: Every operation that takes a job id, called on a populated queue with that id.
JOB_ID_OPS: dict[str, OnJobId] = {
    "reschedule": lambda q, qname, job_id: q.reschedule(qname, job_id, delay=LONG),
    "cancel": lambda q, qname, job_id: q.cancel(qname, job_id),
    "get": lambda q, qname, job_id: q.get(qname, job_id),
    "wait": lambda q, qname, job_id: q.wait(qname, job_id, timeout=0),
    "redrive": lambda q, qname, job_id: q.redrive(qname, [job_id]),
}
JOB_ID_CASES = [
    pytest.param(op, bad, id=f"{op}-{label}")
    for op in JOB_ID_OPS
    for label, bad in {**BAD_IDENTIFIERS, "none": None}.items()
]

#: Every operation that takes a limit scope (``key``), where ``"*"`` is valid.
KEY_OPS: dict[str, OnJobId] = {
    "set_rate_limit": lambda q, qname, key: q.set_rate_limit(qname, RateLimit(1.0), key=key),
    "get_rate_limit": lambda q, qname, key: q.get_rate_limit(qname, key=key),
    "set_concurrency_limit": lambda q, qname, key: q.set_concurrency_limit(qname, 1, key=key),
    "get_concurrency_limit": lambda q, qname, key: q.get_concurrency_limit(qname, key=key),
}
KEY_CASES = [
    pytest.param(op, bad, id=f"{op}-{label}") for op in KEY_OPS for label, bad in BAD_IDENTIFIERS.items()
]

#: Adding jobs, one at a time or as the bad one in the middle of a good batch.
SUBMIT: dict[str, Submit] = {
    "enqueue": lambda q, qname, payload, options: q.enqueue(qname, payload, **options),
    "enqueue_many": lambda q, qname, payload, options: q.enqueue_many(
        qname, ["good-1", JobSpec(payload, **options), "good-2"]
    ),
}

#: Bad job options for enqueue and JobSpec: (options, what the message names).
BAD_JOB_OPTIONS = [
    *cases("id", lambda v: {"id": v}, "job id", BAD_IDENTIFIERS),
    *cases("key", lambda v: {"key": v}, "key", {**BAD_IDENTIFIERS, "each-key": EACH_KEY}),
    *cases("delay", lambda v: {"delay": v}, "delay", BAD_SECONDS),
    *cases("lease_timeout", lambda v: {"lease_timeout": v}, "lease_timeout", BAD_POSITIVE_SECONDS),
    *cases("lease_timeout", lambda v: {"lease_timeout": v}, "lease_timeout", {"none": None}),
    *cases("priority", lambda v: {"priority": v}, "priority", BAD_PRIORITIES),
    *cases("max_attempts", lambda v: {"max_attempts": v}, "max_attempts", BAD_MAX_ATTEMPTS),
    pytest.param({"run_at": NAIVE}, "timezone", id="run_at-naive"),
    pytest.param({"run_at": 1_900_000_000.0}, "run_at", id="run_at-float"),
    pytest.param({"run_at": "2030-01-01T00:00:00Z"}, "run_at", id="run_at-str"),
    pytest.param({"delay": 5, "run_at": AWARE}, "not both", id="delay-and-run_at"),
]

#: Bad arguments to the operations on a populated queue: (call, what the message names).
BAD_QUEUE_CALLS = [
    *cases("dequeue-limit", lambda v: lambda q, n: q.dequeue(n, limit=v), "limit", BAD_LIMITS),
    *cases("dequeue-wait", lambda v: lambda q, n: q.dequeue(n, wait=v), "wait", BAD_SECONDS),
    *cases(
        "dequeue-lease_timeout",
        lambda v: lambda q, n: q.dequeue(n, lease_timeout=v),
        "lease_timeout",
        BAD_POSITIVE_SECONDS,
    ),
    pytest.param(lambda q, n: q.dequeue([]), "at least one queue", id="dequeue-no-queues"),
    pytest.param(lambda q, n: q.dequeue([n, n]), "repeat", id="dequeue-repeated-queue"),
    *cases(
        "reschedule-delay", lambda v: lambda q, n: q.reschedule(n, PRESENT, delay=v), "delay", BAD_SECONDS
    ),
    pytest.param(lambda q, n: q.reschedule(n, PRESENT, run_at=NAIVE), "timezone", id="reschedule-naive"),
    pytest.param(
        lambda q, n: q.reschedule(n, PRESENT, delay=5, run_at=AWARE), "not both", id="reschedule-both"
    ),
    pytest.param(lambda q, n: q.reschedule(n, PRESENT), "delay or run_at", id="reschedule-neither"),
    *cases("cancel-force", lambda v: lambda q, n: q.cancel(n, PRESENT, force=v), "force", BAD_FLAGS),
    *cases("wait-timeout", lambda v: lambda q, n: q.wait(n, PRESENT, timeout=v), "timeout", BAD_SECONDS),
    *cases("list_jobs-limit", lambda v: lambda q, n: q.list_jobs(n, limit=v), "limit", BAD_LIMITS),
    *cases("list_jobs-offset", lambda v: lambda q, n: q.list_jobs(n, offset=v), "offset", BAD_OFFSETS),
    *cases("list_jobs-states", lambda v: lambda q, n: q.list_jobs(n, states=v), "states", BAD_STATES),
    *cases("dead_letters-limit", lambda v: lambda q, n: q.dead_letters(n, limit=v), "limit", BAD_LIMITS),
    *cases("dead_letters-offset", lambda v: lambda q, n: q.dead_letters(n, offset=v), "offset", BAD_OFFSETS),
    *cases("redrive-limit", lambda v: lambda q, n: q.redrive(n, limit=v), "limit", BAD_LIMITS),
    *cases(
        "redrive-job_ids",
        lambda v: lambda q, n: q.redrive(n, v),
        "job_ids",
        {"str": PRESENT, "bytes": b"present-1", "int": 5},
    ),
    *cases("purge-states", lambda v: lambda q, n: q.purge(n, states=v), "states", BAD_STATES),
    *cases(
        "set_rate_limit",
        lambda v: lambda q, n: q.set_rate_limit(n, v),
        "RateLimit",
        {"int": 5, "float": 1.0, "str": "10/s", "tuple": (1.0, 1.0), "dict": {"rate": 1.0}},
    ),
    *cases(
        "set_concurrency_limit",
        lambda v: lambda q, n: q.set_concurrency_limit(n, v),
        "limit",
        BAD_CONCURRENCY,
    ),
    *cases(
        "set_concurrency_limit-each-key",
        lambda v: lambda q, n: q.set_concurrency_limit(n, v, key=EACH_KEY),
        "limit",
        BAD_CONCURRENCY,
    ),
    *cases(
        "enqueue_many-items",
        lambda v: lambda q, n: q.enqueue_many(n, v),
        "iterable",
        {"str": "abc", "bytes": b"abc", "int": 5, "none": None, "dict": {"a": 1}},
    ),
    pytest.param(lambda q, n: q.enqueue_many(n, range(1001)), "at most 1000", id="enqueue_many-1001"),
]

#: The four operations that take a lease, otherwise called correctly.
LEASE_OPS: dict[str, Callable[[Queue, Any], object]] = {
    "ack": lambda q, lease: q.ack(lease),
    "requeue": lambda q, lease: q.requeue(lease),
    "fail": lambda q, lease: q.fail(lease, "boom"),
    "extend": lambda q, lease: q.extend(lease),
}
#: Things passed where a Lease belongs, made from a real lease.
NOT_LEASES: dict[str, Callable[[Lease], object]] = {
    "none": lambda lease: None,
    "job": lambda lease: lease.job,
    "token": lambda lease: lease.token,
    "dict": lambda lease: {"id": lease.id, "queue": lease.queue, "token": lease.token},
    "tuple": lambda lease: (lease.job, lease.token, lease.expires_at),
}
#: A Lease rebuilt by hand (e.g. passed between processes) whose fields are not valid.
FORGED_LEASES: dict[str, tuple[Callable[[Lease], Lease], str]] = {
    "queue-colon": (
        lambda lease: dataclasses.replace(lease, job=dataclasses.replace(lease.job, queue="a:b")),
        "queue",
    ),
    "queue-sql": (
        lambda lease: dataclasses.replace(
            lease, job=dataclasses.replace(lease.job, queue="q';DROP TABLE jobs;--")
        ),
        "queue",
    ),
    "id-braces": (
        lambda lease: dataclasses.replace(lease, job=dataclasses.replace(lease.job, id="{x}")),
        "job id",
    ),
    "id-empty": (
        lambda lease: dataclasses.replace(lease, job=dataclasses.replace(lease.job, id="")),
        "job id",
    ),
    "token-none": (lambda lease: dataclasses.replace(lease, token=NO_TOKEN), "token"),
}
#: Bad arguments besides the lease: (call, what the message names).
BAD_LEASE_CALLS = [
    *cases(
        "ack-result_ttl",
        lambda v: lambda q, lease: q.ack(lease, "r", result_ttl=v),
        "result_ttl",
        BAD_SECONDS,
    ),
    *cases("requeue-delay", lambda v: lambda q, lease: q.requeue(lease, delay=v), "delay", BAD_SECONDS),
    *cases(
        "requeue-error",
        lambda v: lambda q, lease: q.requeue(lease, error=v),
        "error",
        {"empty": "", "int": 5, "bytes": b"boom", "list": ["boom"]},
    ),
    *cases(
        "fail-error",
        lambda v: lambda q, lease: q.fail(lease, v),
        "error",
        {"empty": "", "none": None, "int": 5, "bytes": b"boom", "list": ["boom"]},
    ),
    *cases("extend-timeout", lambda v: lambda q, lease: q.extend(lease, v), "timeout", BAD_POSITIVE_SECONDS),
]


class BadInputTests(SuiteBase):
    """Bad input: a clear error from one hierarchy, raised before anything is written."""

    # ------------------------------------------------------------------ names

    @pytest.mark.parametrize(("op", "bad"), QUEUE_NAME_CASES)
    def test_every_operation_rejects_an_invalid_queue_name(self, queue: Queue, op: str, bad: Any) -> None:
        message = rejected(lambda: QUEUE_NAME_OPS[op](queue, bad), "queue")
        if isinstance(bad, str):
            assert repr(bad[:40]) in message
        assert bad not in queue_names(queue)

    @pytest.mark.parametrize("bad", BAD_QUEUE_NAMES.values(), ids=BAD_QUEUE_NAMES.keys())
    def test_dequeue_checks_every_queue_name_before_leasing_from_any(
        self, queue: Queue, qname: str, bad: Any
    ) -> None:
        job = queue.enqueue(qname, "waiting", lease_timeout=LONG)
        rejected(lambda: queue.dequeue([qname, bad], limit=5), "queue")
        assert queue.get(qname, job.id) == job
        assert [lease.id for lease in queue.dequeue(qname)] == [job.id]

    @pytest.mark.parametrize(("op", "bad"), JOB_ID_CASES)
    def test_every_operation_rejects_an_invalid_job_id(
        self, queue: Queue, qname: str, op: str, bad: Any
    ) -> None:
        populate(queue, qname)
        before = snapshot(queue, qname)
        message = rejected(lambda: JOB_ID_OPS[op](queue, qname, bad), "job id")
        if isinstance(bad, str):
            assert repr(bad[:40]) in message
        assert snapshot(queue, qname) == before

    @pytest.mark.parametrize(("op", "bad"), KEY_CASES)
    def test_every_limit_operation_rejects_an_invalid_key(
        self, queue: Queue, qname: str, op: str, bad: Any
    ) -> None:
        message = rejected(lambda: KEY_OPS[op](queue, qname, bad), "key")
        if isinstance(bad, str):
            assert repr(bad[:40]) in message
        assert_untouched(queue, qname)

    def test_names_at_the_limits_of_the_patterns_are_accepted(self, queue: Queue, qname: str) -> None:
        long_name = (qname + "-_." + "q" * 128)[:128]
        odd_id, long_id, odd_key = "user:42@example.com+x=y", "i" * 128, "tenant:7@a.b+c=d"
        job = queue.enqueue(long_name, "edge", id=odd_id, key=odd_key)
        other = queue.enqueue(long_name, "long", id=long_id)
        assert (job.queue, job.id, job.key, other.id) == (long_name, odd_id, odd_key, long_id)
        assert queue.get(long_name, odd_id) == job
        queue.set_concurrency_limit(long_name, 2, key=odd_key)
        assert queue.get_concurrency_limit(long_name, key=odd_key) == 2
        assert long_name in queue_names(queue)

    # ------------------------------------------------------------ job options

    @pytest.mark.parametrize("via", SUBMIT)
    @pytest.mark.parametrize(("options", "fragment"), BAD_JOB_OPTIONS)
    def test_enqueue_rejects_bad_job_options_and_writes_nothing(
        self, queue: Queue, qname: str, via: str, options: dict[str, Any], fragment: str
    ) -> None:
        rejected(lambda: SUBMIT[via](queue, qname, "payload", options), fragment)
        assert_untouched(queue, qname)

    def test_option_values_at_their_limits_are_accepted(self, queue: Queue, qname: str) -> None:
        top = queue.enqueue(qname, "top", priority=-(2**31), max_attempts=1, lease_timeout=0.25)
        bottom = queue.enqueue(qname, "bottom", priority=2**31 - 1, max_attempts=None, delay=timedelta(0))
        later = queue.enqueue(qname, "later", delay=0.0, lease_timeout=timedelta(seconds=LONG))
        assert (top.priority, top.max_attempts, top.lease_timeout) == (-(2**31), 1, 0.25)
        assert (bottom.priority, bottom.max_attempts, bottom.state) == (2**31 - 1, None, JobState.READY)
        assert later.lease_timeout == LONG
        assert [lease.payload for lease in queue.dequeue(qname, limit=1000)] == ["top", "later", "bottom"]

    # ---------------------------------------------------- other operations

    @pytest.mark.parametrize(("call", "fragment"), BAD_QUEUE_CALLS)
    def test_operations_reject_bad_arguments_and_change_nothing(
        self, queue: Queue, qname: str, call: OnQueue, fragment: str
    ) -> None:
        populate(queue, qname)
        before = snapshot(queue, qname)
        rejected(lambda: call(queue, qname), fragment)
        assert snapshot(queue, qname) == before

    def test_redrive_checks_every_id_before_moving_any(self, queue: Queue, qname: str) -> None:
        queue.enqueue(qname, "doomed", id="dead-1")
        [lease] = queue.dequeue(qname)
        dead = queue.fail(lease, "boom")
        rejected(lambda: queue.redrive(qname, ["dead-1", "{bad}"]), "job id", "'{bad}'")
        assert queue.get(qname, "dead-1") == dead
        assert queue.dead_letters(qname) == [dead]

    # ------------------------------------------------------------------ leases

    @pytest.mark.parametrize("op", LEASE_OPS)
    @pytest.mark.parametrize("make", NOT_LEASES.values(), ids=NOT_LEASES.keys())
    def test_lease_operations_reject_what_is_not_a_lease(
        self, queue: Queue, qname: str, op: str, make: Callable[[Lease], object]
    ) -> None:
        lease = lease_one(queue, qname)
        before = queue.get(qname, lease.id)
        not_a_lease = make(lease)
        rejected(lambda: LEASE_OPS[op](queue, not_a_lease), "Lease", type(not_a_lease).__name__)
        assert_lease_intact(queue, lease, before)

    @pytest.mark.parametrize("op", LEASE_OPS)
    @pytest.mark.parametrize(("forge", "fragment"), FORGED_LEASES.values(), ids=FORGED_LEASES.keys())
    def test_lease_operations_reject_a_lease_with_invalid_fields(
        self, queue: Queue, qname: str, op: str, forge: Callable[[Lease], Lease], fragment: str
    ) -> None:
        lease = lease_one(queue, qname)
        before = queue.get(qname, lease.id)
        rejected(lambda: LEASE_OPS[op](queue, forge(lease)), fragment)
        assert_lease_intact(queue, lease, before)

    @pytest.mark.parametrize(("call", "fragment"), BAD_LEASE_CALLS)
    def test_lease_operations_reject_bad_arguments_and_keep_the_lease(
        self, queue: Queue, qname: str, call: OnLease, fragment: str
    ) -> None:
        lease = lease_one(queue, qname)
        before = queue.get(qname, lease.id)
        rejected(lambda: call(queue, lease), fragment)
        assert_lease_intact(queue, lease, before)

    # ---------------------------------------------------------- serialization

    @pytest.mark.parametrize("via", SUBMIT)
    @pytest.mark.parametrize(("value", "names", "path"), UNSERIALIZABLE.values(), ids=UNSERIALIZABLE.keys())
    def test_unserializable_payload_names_type_and_path(
        self, queue: Queue, qname: str, via: str, value: Any, names: str, path: str
    ) -> None:
        rejected(
            lambda: SUBMIT[via](queue, qname, value, {}),
            "payload",
            names,
            path,
            error=kanal.SerializationError,
        )
        assert_untouched(queue, qname)

    @pytest.mark.parametrize(("value", "names", "path"), UNSERIALIZABLE.values(), ids=UNSERIALIZABLE.keys())
    def test_unserializable_result_names_type_and_path_and_keeps_the_lease(
        self, queue: Queue, qname: str, value: Any, names: str, path: str
    ) -> None:
        lease = lease_one(queue, qname)
        before = queue.get(qname, lease.id)
        rejected(lambda: queue.ack(lease, value), "result", names, path, error=kanal.SerializationError)
        assert_lease_intact(queue, lease, before)

    @pytest.mark.parametrize("via", SUBMIT)
    def test_payload_over_max_payload_bytes_is_rejected(
        self, make_queue: MakeQueue, api: str, qname: str, via: str
    ) -> None:
        small = make_queue(api, max_payload_bytes=100)
        # JSON adds two quotes: 99 characters encode to 101 bytes, 98 to exactly 100.
        rejected(
            lambda: SUBMIT[via](small, qname, "x" * 99, {}),
            "payload",
            "101 bytes",
            "100",
            "max_payload_bytes",
            error=kanal.PayloadTooLarge,
        )
        assert_untouched(small, qname)
        assert small.enqueue(qname, "x" * 98).payload == "x" * 98

    def test_result_over_max_payload_bytes_is_rejected_and_keeps_the_lease(
        self, make_queue: MakeQueue, api: str, qname: str
    ) -> None:
        small = make_queue(api, max_payload_bytes=100)
        lease = lease_one(small, qname)
        before = small.get(qname, lease.id)
        rejected(
            lambda: small.ack(lease, "y" * 99), "result", "101 bytes", "100", error=kanal.PayloadTooLarge
        )
        assert_lease_intact(small, lease, before)

    # -------------------------------------------------------------- RateLimit

    @pytest.mark.parametrize(
        ("make", "fragment"),
        [
            *cases("rate", lambda v: lambda: RateLimit(v), "rate", {**BAD_SECONDS, "zero": 0, "none": None}),
            *cases(
                "burst",
                lambda v: lambda: RateLimit(1.0, v),
                "burst",
                {**BAD_SECONDS, "zero": 0, "below-one": 0.5, "none": None},
            ),
            *cases("every", lambda v: lambda: RateLimit.every(v), "interval", {**BAD_SECONDS, "zero": 0}),
        ],
    )
    def test_rate_limit_rejects_bad_rate_or_burst(self, make: Callable[[], RateLimit], fragment: str) -> None:
        rejected(make, fragment)
