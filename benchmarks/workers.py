r"""The worker drain benchmark: each system's real worker runs N ready no-op jobs (see README.md).

    uv run --group bench python benchmarks/workers.py \
        --system "kanal:redis://127.0.0.1:6379/0?prefix=kbench" --system rq:redis://127.0.0.1:6379/0 \
        -n 2000 --rounds 3 --json benchmarks/results/workers-redis.json
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import json
import os
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.progress import Progress

from benchmarks import drain, report
from benchmarks.drain import runner
from benchmarks.drain.base import Drain


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--system",
    "specs",
    multiple=True,
    metavar="NAME:URL",
    help="A worker to run, e.g. kanal:redis://127.0.0.1:6379/0 (repeat). The first system on each "
    "backend is the base of that backend's ratios.",
)
@click.option(
    "-n", "--jobs", "n", type=click.IntRange(2), default=2000, show_default=True, help="Jobs per drain."
)
@click.option("--rounds", type=click.IntRange(1), default=3, show_default=True)
@click.option(
    "-c",
    "--concurrency",
    "concurrencies",
    multiple=True,
    type=click.IntRange(1),
    help="Concurrency of the workers that have the setting (repeat). Default: 1 and 10.",
)
@click.option(
    "--warmup",
    type=click.IntRange(0),
    default=200,
    show_default=True,
    help="Jobs in one untimed drain first.",
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results here."
)
@click.option("--list", "list_only", is_flag=True, help="List the systems, then exit.")
def main(
    specs: tuple[str, ...],
    n: int,
    rounds: int,
    concurrencies: tuple[int, ...],
    warmup: int,
    json_path: Path | None,
    list_only: bool,
) -> None:
    """Time each system's worker draining N ready no-op jobs, side by side."""
    out = Console()
    if not out.is_terminal:  # a file or a pipe: do not squeeze the table
        out = Console(width=200)
    if list_only:
        out.print("systems: " + ", ".join(drain.names()))
        return
    if not specs:
        raise click.UsageError("give at least one --system NAME:URL (--list shows the names)")
    config = runner.Config(n=n, rounds=rounds, concurrencies=concurrencies or (1, 10), warmup=warmup)
    started, machine = datetime.now(UTC), report.machine_info()
    built = _build(specs)
    try:
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("draining", total=runner.steps(built, config))
            results = runner.run(
                built, config, on_step=lambda step: progress.update(task, advance=1, description=step)
            )
    except runner.BenchmarkError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for system in built.values():
            system.close()
    machine["load_average_end"] = list(os.getloadavg())
    out.print(runner.table(results))
    out.print(report.machine_line(machine) + f" (at the end: {machine['load_average_end'][0]:.2f})")
    if json_path is not None:
        document = {
            "command": report.command_line(),
            "cwd": os.getcwd(),
            "started_at": started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "machine": machine,
            **results.to_dict(),
        }
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(document, indent=2) + "\n")
        out.print(f"wrote {json_path}")


def _build(specs: tuple[str, ...]) -> dict[str, Drain]:
    """Each spec's system, labelled by the spec; a repeated spec is an error (labels must be unique)."""
    built: dict[str, Drain] = {}
    try:
        for spec in specs:
            if spec in built:
                raise ValueError(f"{spec} is given twice")
            built[spec] = drain.create(spec)
    except Exception as exc:
        for system in built.values():
            system.close()
        raise click.BadParameter(str(exc), param_hint="--system") from exc
    return built


if __name__ == "__main__":
    main()
