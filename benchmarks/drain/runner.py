"""Rounds of timed drains with the systems interleaved, their statistics, the table and the JSON."""

from __future__ import annotations

import gc
import statistics
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.table import Table

from benchmarks.drain import backend_of, split
from benchmarks.drain.base import PROBE, Drain


@dataclass(frozen=True, slots=True)
class Config:
    """Sizes of one run: N jobs per drain, rounds, the concurrencies, an untimed warm-up drain."""

    n: int = 2000
    rounds: int = 3
    concurrencies: tuple[int, ...] = (1, 10)
    warmup: int = 200

    def __post_init__(self) -> None:
        if self.n < 2 or self.rounds < 1 or self.warmup < 0:
            raise ValueError("n must be at least 2, rounds at least 1, warmup at least 0")
        if not self.concurrencies or min(self.concurrencies) < 1:
            raise ValueError("give at least one concurrency, each at least 1")


@dataclass(frozen=True, slots=True)
class Run:
    """One timed drain of ``n`` jobs: ``time.perf_counter()`` at the worker's start, at the first
    and last no-op call, and when the worker had finished; ``cpu``: the CPU seconds this process
    (every thread) used in the whole drain call, worker setup and stop included."""

    n: int
    started: float
    first: float
    last: float
    ended: float
    cpu: float

    @property
    def rate(self) -> float:
        """Jobs/s from the first job's call to the last's (N - 1 jobs): the drain itself."""
        return (self.n - 1) / (self.last - self.first)

    @property
    def whole(self) -> float:
        """Jobs/s over the whole run: worker start to worker end."""
        return self.n / (self.ended - self.started)

    @property
    def startup_ms(self) -> float:
        """From the worker's start to the first job's call."""
        return (self.first - self.started) * 1000

    @property
    def cpu_us(self) -> float:
        """Client CPU per job: this process's CPU time over the drain call, per job (the server's
        CPU is not in it)."""
        return self.cpu / self.n * 1e6

    @property
    def tail_ms(self) -> float:
        """From the last job's call to the worker's end (its ack, the empty check, shutdown)."""
        return (self.ended - self.last) * 1000

    def to_dict(self) -> dict[str, float]:
        return {
            "jobs_per_s": self.rate,
            "whole_run_jobs_per_s": self.whole,
            "startup_ms": self.startup_ms,
            "tail_ms": self.tail_ms,
            "cpu_us_per_job": self.cpu_us,
            "seconds": self.ended - self.started,
        }


class BenchmarkError(RuntimeError):
    """A system failed, or did not run every job exactly once."""


#: (system label, concurrency); None for a system without a concurrency setting.
Key = tuple[str, int | None]


@dataclass(slots=True)
class Results:
    """Every timed run, by system and concurrency, in round order."""

    config: Config
    labels: list[str]
    knobs: dict[str, bool]
    runs: dict[Key, list[Run]] = field(default_factory=dict)

    def key(self, label: str, concurrency: int) -> Key:
        """Where ``label``'s runs at ``concurrency`` are (one series for a system without the setting)."""
        return (label, concurrency if self.knobs[label] else None)

    def backends(self) -> list[str]:
        """The backends, in the order their first system was given."""
        return list(dict.fromkeys(backend_of(label) for label in self.labels))

    def on(self, backend: str) -> list[str]:
        """The systems on ``backend``; the first is the base of their ratios."""
        return [label for label in self.labels if backend_of(label) == backend]

    def ratios(self, label: str, concurrency: int) -> list[float]:
        """Per round: this system's jobs/s over its backend's base at the same concurrency."""
        base = self.on(backend_of(label))[0]
        mine, theirs = self.runs[self.key(label, concurrency)], self.runs[self.key(base, concurrency)]
        return [a.rate / b.rate for a, b in zip(mine, theirs, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: config, systems, and per backend and concurrency every series."""
        groups = []
        for backend in self.backends():
            for concurrency in self.config.concurrencies:
                systems = {}
                for label in self.on(backend):
                    runs = self.runs[self.key(label, concurrency)]
                    ratios = self.ratios(label, concurrency)
                    systems[label] = {
                        "concurrency": concurrency if self.knobs[label] else "its default",
                        "rounds": [run.to_dict() for run in runs],
                        "median_jobs_per_s": statistics.median(run.rate for run in runs),
                        "median_whole_run_jobs_per_s": statistics.median(run.whole for run in runs),
                        "median_startup_ms": statistics.median(run.startup_ms for run in runs),
                        "median_cpu_us_per_job": statistics.median(run.cpu_us for run in runs),
                        "ratios": ratios,
                        "ratio_median": statistics.median(ratios),
                    }
                groups.append({"backend": backend, "concurrency": concurrency, "systems": systems})
        return {
            "config": asdict(self.config),
            "systems": [
                {"label": label, "backend": backend_of(label), "concurrency_setting": self.knobs[label]}
                for label in self.labels
            ],
            "groups": groups,
        }


def run(
    systems: Mapping[str, Drain], config: Config, on_step: Callable[[str], None] | None = None
) -> Results:
    """Drain N jobs ``config.rounds`` times on every system at every concurrency, interleaved.

    A round runs every system at the first concurrency, then at the next ...; a system without
    a concurrency setting runs once per round (at the first). A warm-up drain of
    ``config.warmup`` jobs per system comes first, untimed.
    """
    results = Results(config, list(systems), {label: s.knob for label, s in systems.items()})
    first = config.concurrencies[0]
    if config.warmup >= 2:
        for label, system in systems.items():
            _drain(label, system, config.warmup, first, "warm-up")
    for number in range(1, config.rounds + 1):
        for concurrency in config.concurrencies:
            for label, system in systems.items():
                if not system.knob and concurrency != first:
                    continue
                measured = _drain(label, system, config.n, concurrency, f"round {number}")
                results.runs.setdefault(results.key(label, concurrency), []).append(measured)
                if on_step is not None:
                    on_step(f"round {number}: {label} at concurrency {concurrency}")
    return results


def steps(systems: Mapping[str, Drain], config: Config) -> int:
    """How many timed drains :func:`run` makes (for a progress bar)."""
    per_round = sum(len(config.concurrencies) if s.knob else 1 for s in systems.values())
    return per_round * config.rounds


def _drain(label: str, system: Drain, n: int, concurrency: int, when: str) -> Run:
    queue = f"drain-{uuid.uuid4().hex[:12]}"
    try:
        try:
            system.fill(queue, n)
            PROBE.reset()
            gc.collect()
            cpu = time.process_time()
            started, ended = system.drain(queue, n, concurrency)
            cpu = time.process_time() - cpu
        finally:
            system.purge(queue)
    except Exception as exc:
        raise BenchmarkError(f"{label} failed at concurrency {concurrency} ({when}): {exc!r}") from exc
    if PROBE.count != n:
        raise BenchmarkError(f"{label} ran {PROBE.count} of {n} jobs at concurrency {concurrency} ({when})")
    return Run(n, started, PROBE.first, PROBE.last, ended, cpu)


def table(results: Results) -> Table:
    """Per backend and concurrency, a row per system: jobs/s, ratios to the backend's first system.

    A system is named without its URL where its name is unique on its backend (the JSON has both).
    """
    cfg = results.config
    grid = Table(
        title=f"worker drain: N={cfg.n} no-op jobs, {cfg.rounds} rounds",
        caption=(
            "jobs/s: from the first job's call to the last's; ratio: / the backend's first system at the "
            "same concurrency, per round, then the median; whole run: worker start to end; CPU: this "
            "process's CPU time per job (not the server's); "
            "C '-': no concurrency setting (its default, the same runs in every group)"
        ),
    )
    for column in ("backend", "C", "system"):
        grid.add_column(column, no_wrap=True)
    numbers = ("jobs/s", "min", "max", "ratio", "per-round ratios", "whole run", "startup ms", "tail ms")
    for column in (*numbers, "CPU µs/job"):
        grid.add_column(column, justify="right")
    for backend in results.backends():
        labels = results.on(backend)
        names = [split(label)[0] for label in labels]
        for concurrency in cfg.concurrencies:
            grid.add_section()
            for index, label in enumerate(labels):
                runs = results.runs[results.key(label, concurrency)]
                rates = [run.rate for run in runs]
                ratios = results.ratios(label, concurrency)
                base = index == 0
                grid.add_row(
                    backend if index == 0 else "",
                    str(concurrency) if results.knobs[label] else "-",
                    names[index] if names.count(names[index]) == 1 else label,
                    f"{statistics.median(rates):,.0f}",
                    f"{min(rates):,.0f}",
                    f"{max(rates):,.0f}",
                    "base" if base else f"{statistics.median(ratios):.2f}",
                    "" if base else " ".join(f"{r:.2f}" for r in ratios),
                    f"{statistics.median(run.whole for run in runs):,.0f}",
                    f"{statistics.median(run.startup_ms for run in runs):,.1f}",
                    f"{statistics.median(run.tail_ms for run in runs):,.1f}",
                    f"{statistics.median(run.cpu_us for run in runs):,.0f}",
                )
    return grid
