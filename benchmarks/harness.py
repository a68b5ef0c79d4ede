"""The fixed workloads, run round by round with the systems interleaved, and their statistics."""

from __future__ import annotations

import gc
import math
import statistics
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

from benchmarks.systems.base import Payload, System

T = TypeVar("T")

#: Filler that gives every throughput job the same ~100-byte JSON payload.
BODY = "x" * 64


@dataclass(frozen=True, slots=True)
class Config:
    """Sizes of one benchmark run (the defaults finish a memory run in well under a minute)."""

    n: int = 2000
    rounds: int = 5
    chunk: int = 100
    batch: int = 100
    latency_n: int = 500
    rate: float = 1000.0
    wait: float = 1.0
    warmup: int = 200
    small_backlog: int = 1000
    large_backlog: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("n", "rounds", "chunk", "batch", "latency_n", "small_backlog", "large_backlog"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.warmup < 0 or not self.rate > 0 or not self.wait > 0:
            raise ValueError("warmup must be >= 0, rate and wait > 0")


@dataclass(frozen=True, slots=True)
class Metric:
    """One number a workload reports per round."""

    name: str
    unit: str
    higher_is_better: bool


#: Runs one workload once on a fresh queue and returns {metric name: value}.
Measure = Callable[[System, str, Config], dict[str, float]]


@dataclass(frozen=True, slots=True)
class Workload:
    """A named measurement and the metrics it reports.

    ``needs`` names an optional :class:`System` method; systems without it skip the workload.
    Workloads that are not ``default`` run only when asked for by name (they take long).
    """

    name: str
    title: str
    metrics: tuple[Metric, ...]
    measure: Measure
    needs: str | None = None
    default: bool = True

    def applies(self, system: System) -> bool:
        """Whether ``system`` can run this workload."""
        return self.needs is None or getattr(system, self.needs, None) is not None


class BenchmarkError(RuntimeError):
    """A system failed (or misbehaved) during a workload."""


def payloads(n: int) -> list[Payload]:
    """``n`` throughput payloads of fixed shape."""
    return [{"n": i, "body": BODY} for i in range(n)]


def timed(action: Callable[[], T]) -> tuple[T, float]:
    """``action()`` and the seconds it took, after a garbage collection outside the timing."""
    gc.collect()
    start = time.perf_counter()
    value = action()
    return value, time.perf_counter() - start


def percentile(samples: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``samples``."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


THROUGHPUT = (Metric("ops/s", "ops/s", higher_is_better=True),)
BACKLOG = (*THROUGHPUT, Metric("bytes/job", "B", higher_is_better=False))
#: Jobs per bulk enqueue when filling a backlog.
BACKLOG_CHUNK = 1000
QUANTILES = (50, 95, 99)
LATENCY = tuple(Metric(f"p{q}", "ms", higher_is_better=False) for q in QUANTILES)


def _enqueue_each(system: System, queue: str, cfg: Config) -> dict[str, float]:
    jobs = payloads(cfg.n)
    _, seconds = timed(lambda: system.enqueue_each(queue, jobs))
    return {"ops/s": cfg.n / seconds}


def _enqueue_bulk(system: System, queue: str, cfg: Config) -> dict[str, float]:
    jobs = payloads(cfg.n)
    _, seconds = timed(lambda: system.enqueue_bulk(queue, jobs, cfg.chunk))
    return {"ops/s": cfg.n / seconds}


def _dequeue_ack(batch: Callable[[Config], int]) -> Measure:
    def measure(system: System, queue: str, cfg: Config) -> dict[str, float]:
        system.enqueue_bulk(queue, payloads(cfg.n), cfg.chunk)
        done, seconds = timed(lambda: system.dequeue_ack(queue, cfg.n, batch(cfg)))
        if done != cfg.n:
            raise BenchmarkError(f"dequeue_ack handled {done} of {cfg.n} jobs")
        return {"ops/s": cfg.n / seconds}

    return measure


def _worker_step(system: System, queue: str, cfg: Config) -> dict[str, float]:
    system.enqueue_bulk(queue, payloads(cfg.n), cfg.chunk)
    done, seconds = timed(lambda: system.worker_step(queue, cfg.n))  # type: ignore[attr-defined]
    if done != cfg.n:
        raise BenchmarkError(f"worker_step handled {done} of {cfg.n} jobs")
    return {"ops/s": cfg.n / seconds}


def _backlog(size: Callable[[Config], int]) -> Measure:
    """Drain N jobs one by one from a queue that keeps ``size`` more waiting; bytes per waiting job."""

    def measure(system: System, queue: str, cfg: Config) -> dict[str, float]:
        waiting = size(cfg)
        before = system.memory()  # type: ignore[attr-defined]
        for start in range(0, waiting + cfg.n, BACKLOG_CHUNK):
            count = min(BACKLOG_CHUNK, waiting + cfg.n - start)
            system.enqueue_bulk(queue, [{"n": i, "body": BODY} for i in range(count)], BACKLOG_CHUNK)
        used = system.memory() - before  # type: ignore[attr-defined]
        done, seconds = timed(lambda: system.dequeue_ack(queue, cfg.n, 1))
        if done != cfg.n:
            raise BenchmarkError(f"dequeue_ack handled {done} of {cfg.n} jobs")
        return {"ops/s": cfg.n / seconds, "bytes/job": used / (waiting + cfg.n)}

    return measure


def _latency(system: System, queue: str, cfg: Config) -> dict[str, float]:
    samples = system.latency(queue, cfg.latency_n, cfg.rate, cfg.wait)
    if len(samples) != cfg.latency_n:
        raise BenchmarkError(f"latency consumer saw {len(samples)} of {cfg.latency_n} jobs")
    return {f"p{q}": percentile(samples, q) * 1000 for q in QUANTILES}


WORKLOADS = (
    Workload("enqueue-each", "enqueue N, one call per job", THROUGHPUT, _enqueue_each),
    Workload("enqueue-bulk", "enqueue N, enqueue_many per chunk", THROUGHPUT, _enqueue_bulk),
    Workload(
        "dequeue-ack-each", "dequeue + ack N, one job per dequeue", THROUGHPUT, _dequeue_ack(lambda c: 1)
    ),
    Workload(
        "dequeue-ack-batch",
        "dequeue + ack N, a batch per dequeue",
        THROUGHPUT,
        _dequeue_ack(lambda c: c.batch),
    ),
    Workload("latency", "end-to-end latency, steady producer", LATENCY, _latency),
    Workload(
        "worker-step",
        "dequeue 1, then ack + dequeue the next in one call (N jobs)",
        THROUGHPUT,
        _worker_step,
        needs="worker_step",
    ),
    Workload(
        "backlog-small",
        "dequeue + ack N one by one, small_backlog more waiting",
        BACKLOG,
        _backlog(lambda c: c.small_backlog),
        needs="memory",
        default=False,
    ),
    Workload(
        "backlog-large",
        "dequeue + ack N one by one, large_backlog more waiting",
        BACKLOG,
        _backlog(lambda c: c.large_backlog),
        needs="memory",
        default=False,
    ),
)


@dataclass(slots=True)
class Series:
    """One metric of one workload on one system: a value per round, and ratios to the first system."""

    values: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rounds": self.values,
            "median": statistics.median(self.values),
            "min": min(self.values),
            "max": max(self.values),
            "ratios": self.ratios,
            "ratio_median": statistics.median(self.ratios) if self.ratios else None,
        }


@dataclass(slots=True)
class Results:
    """Everything one run measured, keyed by (workload, metric, system label)."""

    config: Config
    systems: list[str]
    workloads: list[Workload]
    series: dict[tuple[str, str, str], Series] = field(default_factory=dict)

    def get(self, workload: str, metric: str, system: str) -> Series:
        return self.series[workload, metric, system]

    def ran(self, workload: str, system: str) -> bool:
        """Whether ``system`` ran ``workload`` (it skips workloads it cannot run)."""
        return any(key[0] == workload and key[2] == system for key in self.series)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: config, systems and, per workload and metric, each system's series."""
        return {
            "config": asdict(self.config),
            "systems": self.systems,
            "workloads": [
                {
                    "name": w.name,
                    "title": w.title,
                    "metrics": [
                        {
                            **asdict(m),
                            "results": {
                                s: self.get(w.name, m.name, s).to_dict()
                                for s in self.systems
                                if self.ran(w.name, s)
                            },
                        }
                        for m in w.metrics
                    ],
                }
                for w in self.workloads
            ],
        }


def run(
    systems: Mapping[str, System],
    config: Config,
    workloads: Sequence[Workload] = WORKLOADS,
    on_step: Callable[[str], None] | None = None,
) -> Results:
    """Run every workload ``config.rounds`` times on every system, interleaved.

    Each round runs each workload on every system in turn (A, B, A, B ...), so that
    noise from a shared machine hits the systems alike; ratios are taken within a round.
    An untimed warm-up pass with ``config.warmup`` jobs comes first.
    """
    labels = list(systems)
    results = Results(config, labels, list(workloads))
    if config.warmup:
        small = replace(
            config, n=min(config.n, config.warmup), latency_n=min(config.latency_n, config.warmup)
        )
        for workload in workloads:
            for label in labels:
                if workload.applies(systems[label]) and workload.default:
                    _measure(workload, label, systems[label], small, "warm-up")
    for number in range(1, config.rounds + 1):
        for workload in workloads:
            for label in labels:
                if not workload.applies(systems[label]):
                    continue
                measured = _measure(workload, label, systems[label], config, f"round {number}")
                for metric, value in measured.items():
                    results.series.setdefault((workload.name, metric, label), Series()).values.append(value)
                if on_step is not None:
                    on_step(f"round {number}: {workload.name} on {label}")
    for (workload_name, metric, _), series in results.series.items():
        if results.ran(workload_name, labels[0]):
            first = results.get(workload_name, metric, labels[0]).values
            series.ratios = [value / base for value, base in zip(series.values, first, strict=True)]
    return results


def _measure(workload: Workload, label: str, system: System, config: Config, when: str) -> dict[str, float]:
    queue = f"bench-{workload.name}-{uuid.uuid4().hex[:12]}"
    try:
        try:
            measured = workload.measure(system, queue, config)
        finally:
            system.purge(queue)
    except Exception as exc:
        raise BenchmarkError(f"{label} failed in {workload.name} ({when}): {exc!r}") from exc
    expected = {m.name for m in workload.metrics}
    if set(measured) != expected:
        raise BenchmarkError(
            f"{workload.name} on {label} reported {sorted(measured)}, not {sorted(expected)}"
        )
    return measured
