"""Presenting results: a rich table for people, JSON (with machine info) for the record."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

import kanal
from benchmarks.harness import Metric, Results

ROOT = Path(__file__).resolve().parents[1]


def table(results: Results) -> Table:
    """One row per (workload, metric, system): median, min, max and ratios to the first system."""
    cfg, base = results.config, results.systems[0]
    grid = Table(
        title=(
            f"n={cfg.n}, rounds={cfg.rounds}, chunk/batch={cfg.chunk}/{cfg.batch}, "
            f"latency: {cfg.latency_n} jobs at {cfg.rate:g}/s"
        ),
        caption=(
            f"ratio = system / {base} within a round (median, then per round); "
            "ops/s: higher is better, ms: lower is better"
        ),
    )
    for column in ("workload", "metric", "system"):
        grid.add_column(column, no_wrap=True)
    for column in ("median", "min", "max", "ratio", "per-round ratios"):
        grid.add_column(column, justify="right")
    for workload in results.workloads:
        grid.add_section()
        for m_index, metric in enumerate(workload.metrics):
            ran = [system for system in results.systems if results.ran(workload.name, system)]
            for s_index, system in enumerate(ran):
                series = results.get(workload.name, metric.name, system)
                summary = series.to_dict()
                first_row = m_index == 0 and s_index == 0
                ratio = summary["ratio_median"]
                grid.add_row(
                    workload.name if first_row else "",
                    _label(metric) if s_index == 0 else "",
                    system,
                    *(_number(summary[k], metric) for k in ("median", "min", "max")),
                    "base" if system == base else ("" if ratio is None else f"{ratio:.2f}"),
                    "" if system == base else " ".join(f"{r:.2f}" for r in series.ratios),
                )
    return grid


def _label(metric: Metric) -> str:
    return metric.name if metric.name == metric.unit else f"{metric.name} {metric.unit}"


def _number(value: float, metric: Metric) -> str:
    return f"{value:,.0f}" if metric.unit in ("ops/s", "B") else f"{value:.3f}"


def machine_info() -> dict[str, Any]:
    """What the numbers depend on besides the code: interpreter, CPUs, OS, load, commit."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "kanal": kanal.__version__,
        "git_commit": _git_commit(),
    }


def machine_line(info: dict[str, Any]) -> str:
    """A one-line summary of :func:`machine_info` for under the table."""
    load = info["load_average"]
    return (
        f"{info['implementation']} {info['python']} on {info['platform']}, "
        f"{info['cpu_count']} CPUs ({info['cpus_usable']} usable)" + (f", load {load[0]:.2f}" if load else "")
    )


def command_line() -> str:
    """The exact command that started this process."""
    return shlex.join(sys.orig_argv)


def write_json(path: Path, results: Results, machine: dict[str, Any], started: datetime) -> None:
    """Write results, machine info, the command line and timestamps to ``path``."""
    document = {
        "command": command_line(),
        "cwd": os.getcwd(),
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": machine,
        **results.to_dict(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None
