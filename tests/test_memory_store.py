"""Memory-backend specifics that the shared suite cannot see: what the store keeps."""

from __future__ import annotations

import kanal
from kanal.memory import MemoryBackend


def test_idle_keys_leave_no_token_buckets_behind() -> None:
    clock = kanal.FakeClock()
    backend = MemoryBackend(clock=clock)
    q = kanal.Queue(backend)
    q.set_rate_limit("tenants", kanal.RateLimit(rate=1.0, burst=2), key=kanal.EACH_KEY)
    q.enqueue_many("tenants", [kanal.JobSpec(i, key=f"tenant-{i}") for i in range(500)])
    leases = q.dequeue("tenants", limit=1000)
    assert len(leases) == 500
    store_queue = backend.store._queues["tenants"]
    assert len(store_queue.buckets) == 500  # each key spent a token
    clock.advance(1.0)  # every bucket is full again
    assert q.dequeue("tenants") == []
    q.set_rate_limit("tenants", kanal.RateLimit(rate=1.0, burst=2), key=kanal.EACH_KEY)
    assert store_queue.buckets == {}


def test_a_finished_job_is_forgotten_after_its_ttl() -> None:
    clock = kanal.FakeClock()
    backend = MemoryBackend(clock=clock)
    q = kanal.Queue(backend)
    job = q.enqueue("q", 1)
    q.ack(q.dequeue("q")[0], result_ttl=10)
    clock.advance(10)
    assert q.get("q", job.id) is None
    assert backend.store._queues["q"].jobs == {}
