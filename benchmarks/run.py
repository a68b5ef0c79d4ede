r"""Run the benchmark workloads against one or more systems and compare them (see README.md).

    uv run python benchmarks/run.py --system kanal:memory:// --system kanal-async:memory:// \
        -n 2000 --rounds 5 --json benchmarks/results/memory.json
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datetime import UTC, datetime

import click
from rich.console import Console
from rich.progress import Progress

from benchmarks import harness, report, systems
from benchmarks.systems.base import System

DEFAULT_SYSTEMS = ("kanal:memory://", "kanal-async:memory://")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--system",
    "specs",
    multiple=True,
    metavar="NAME:TARGET",
    help="A system to run, e.g. kanal:redis://localhost (repeat; the first is the base of ratios). "
    f"Default: {' '.join(DEFAULT_SYSTEMS)}.",
)
@click.option(
    "-n", "--jobs", "n", type=click.IntRange(1), default=2000, show_default=True, help="Jobs per workload."
)
@click.option("--rounds", type=click.IntRange(1), default=5, show_default=True)
@click.option(
    "--latency-jobs",
    type=click.IntRange(1),
    default=500,
    show_default=True,
    help="Jobs in the latency workload.",
)
@click.option(
    "--rate", type=click.FloatRange(min=1), default=1000.0, show_default=True, help="Latency jobs/s."
)
@click.option(
    "--warmup", type=click.IntRange(0), default=200, show_default=True, help="Jobs per untimed warm-up."
)
@click.option(
    "--backlog",
    type=click.IntRange(1),
    default=1_000_000,
    show_default=True,
    help="Jobs waiting in the backlog-large workload (backlog-small: 1000).",
)
@click.option(
    "--workload",
    "only",
    multiple=True,
    type=click.Choice([w.name for w in harness.WORKLOADS]),
    help="Run only this workload (repeat); default: all but the backlog ones.",
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results here."
)
@click.option("--list", "list_only", is_flag=True, help="List the systems and workloads, then exit.")
def main(
    specs: tuple[str, ...],
    n: int,
    rounds: int,
    latency_jobs: int,
    rate: float,
    warmup: int,
    backlog: int,
    only: tuple[str, ...],
    json_path: Path | None,
    list_only: bool,
) -> None:
    """Benchmark kanal (and later baselines and peers) side by side on a fixed workload."""
    out = Console()
    if not out.is_terminal:  # a file or a pipe: do not squeeze the table into 80 columns
        out = Console(width=150)
    if list_only:
        out.print("systems: " + ", ".join(systems.names()))
        out.print("workloads:")
        for workload in harness.WORKLOADS:
            out.print(f"  {workload.name}: {workload.title}")
        return
    config = harness.Config(
        n=n, rounds=rounds, latency_n=latency_jobs, rate=rate, warmup=warmup, large_backlog=backlog
    )
    workloads = [w for w in harness.WORKLOADS if w.name in only or (not only and w.default)]
    started, machine = datetime.now(UTC), report.machine_info()
    built = _build(specs or DEFAULT_SYSTEMS)
    try:
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("benchmarking", total=rounds * len(workloads) * len(built))
            results = harness.run(
                built,
                config,
                workloads,
                on_step=lambda step: progress.update(task, advance=1, description=step),
            )
    except harness.BenchmarkError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for system in built.values():
            system.close()
    out.print(report.table(results))
    out.print(report.machine_line(machine))
    if json_path is not None:
        report.write_json(json_path, results, machine, started)
        out.print(f"wrote {json_path}")


def _build(specs: tuple[str, ...]) -> dict[str, System]:
    """Each spec's system, labelled by the spec (``#2``, ``#3`` ... for repeats: an A/A run)."""
    built: dict[str, System] = {}
    try:
        for spec in specs:
            label, copy = spec, 1
            while label in built:
                copy += 1
                label = f"{spec} #{copy}"
            built[label] = systems.create(spec)
    except Exception as exc:
        for system in built.values():
            system.close()
        raise click.BadParameter(str(exc), param_hint="--system") from exc
    return built


if __name__ == "__main__":
    main()
