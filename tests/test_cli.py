"""The ``kanal`` command line, and a tiny run of the benchmark harness so that it cannot rot."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from types import ModuleType

import click
import pytest
from click.testing import CliRunner, Result

import kanal
from kanal.cli import main

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_ROW = re.compile(r"^\W*(jobs|completed|dead|retries)\W+(\d+)\W*$", re.MULTILINE)


def invoke(command: click.Command, *args: str) -> Result:
    return CliRunner().invoke(command, list(args))


def assert_usage_error(result: Result, *fragments: str) -> None:
    """Exit code 2, the fragments in the message, and no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--help"], ["Usage: kanal [OPTIONS] COMMAND", "--version", "demo"]),
        (
            ["demo", "--help"],
            ["Usage: kanal demo [OPTIONS]", "--jobs", "--workers", "--url", "sqlite:///kanal.db"],
        ),
    ],
)
def test_help_describes_commands_and_options(args: list[str], expected: list[str]) -> None:
    result = invoke(main, *args)
    assert result.exit_code == 0, result.output
    for text in expected:
        assert text in result.output


def test_version_prints_the_package_version() -> None:
    result = invoke(main, "--version")
    assert result.exit_code == 0
    assert result.output == f"kanal, version {kanal.__version__}\n"


def test_demo_finishes_by_itself_with_every_job_completed_or_dead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KANAL_URL", raising=False)
    result = invoke(main, "demo", "--jobs", "200", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "sqlite:///kanal.db" in result.output
    assert (tmp_path / "kanal.db").is_file()  # the embedded default keeps jobs in a file
    summary = {name: int(value) for name, value in SUMMARY_ROW.findall(result.output)}
    assert summary["jobs"] == 200
    assert summary["completed"] + summary["dead"] == 200
    assert summary["dead"] > 0
    assert summary["retries"] > 0
    assert "simulated failure on attempt 3" in result.output


@pytest.mark.parametrize(
    ("url", "fragment"),
    [("bogus://somewhere", "'bogus'"), ("no-scheme-here", "expected scheme://")],
)
def test_demo_rejects_a_bad_url_with_a_usage_error(url: str, fragment: str) -> None:
    result = invoke(main, "demo", "--url", url)
    assert_usage_error(result, "--url", fragment)


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The benchmark runner (``benchmarks/run.py``), imported from the repository root."""
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("benchmarks.run")


def test_benchmark_runs_every_workload_on_memory_and_writes_json(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "results" / "tiny.json"
    args = ["-n", "20", "--rounds", "1", "--latency-jobs", "20", "--warmup", "5", "--json", str(out)]
    result = invoke(bench.main, *args)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    systems = ["kanal:memory://", "kanal-async:memory://"]
    assert doc["systems"] == systems
    assert {"python", "cpu_count", "platform"} <= set(doc["machine"])
    assert isinstance(doc["command"], str)
    assert doc["command"]
    assert doc["config"]["n"] == 20
    assert [w["name"] for w in doc["workloads"]] == [w.name for w in bench.harness.WORKLOADS if w.default]
    for workload in doc["workloads"]:
        assert workload["name"] in result.output
        for metric in workload["metrics"]:
            assert list(metric["results"]) == systems
            for system, series in metric["results"].items():
                assert len(series["rounds"]) == 1
                assert series["rounds"][0] > 0
                assert series["min"] == series["median"] == series["max"] == series["rounds"][0]
                assert len(series["ratios"]) == 1
                if system == systems[0]:
                    assert series["ratio_median"] == 1.0


def test_benchmark_rejects_an_unknown_system(bench: ModuleType) -> None:
    result = invoke(bench.main, "--system", "nosuch:memory://", "-n", "1", "--rounds", "1")
    assert_usage_error(result, "unknown benchmark system 'nosuch'", "kanal-async")
