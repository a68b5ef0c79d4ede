"""The ``kanal`` command line as a whole (help, version, ``demo``, passwords never shown), and a
tiny run of the benchmark harness so that it cannot rot. Each command group has its own
``test_cli_*.py``."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import click
import pytest
from click.testing import CliRunner, Result

import kanal
from kanal.cli import main

if TYPE_CHECKING:
    from cli_support import Cli

pytest_plugins = ["cli_support"]

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_ROW = re.compile(r"^\W*(jobs|completed|dead|retries)\W+(\d+)\W*$", re.MULTILINE)


def commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every command under ``group`` (``("dead", "list")`` ...), groups excluded."""
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


#: Every command but ``kanal worker``, which connects to its app's backend unless given --url
#: (tests/test_worker*.py test it).
COMMANDS = [path for path in commands(main) if path != ("worker",)]


def invoke(command: click.Command, *args: str) -> Result:
    return CliRunner().invoke(command, list(args))


def assert_usage_error(result: Result, *fragments: str) -> None:
    """Exit code 2, the fragments in the message, and no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output


def test_help_lists_every_command() -> None:
    result = invoke(main, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: kanal [OPTIONS] COMMAND" in result.output
    assert "--version" in result.output
    listed = re.findall(r"^  (\w+) ", result.output.split("Commands:")[1], re.MULTILINE)
    assert listed == sorted(main.commands)
    assert {path[0] for path in COMMANDS} == {
        *("cancel", "dead", "demo", "enqueue", "inspect", "jobs"),
        *("limits", "pause", "purge", "resume", "schema", "stats"),
    }


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example_and_the_url_option(path: tuple[str, ...]) -> None:
    result = invoke(main, *path, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: kanal {' '.join(path)} [OPTIONS]")
    assert re.search(r"^  Examples?:\n    kanal ", result.output, re.MULTILINE), result.output
    words = " ".join(result.output.split())
    assert "--url TEXT" in words
    assert "[env var: KANAL_URL; default: sqlite:///kanal.db]" in words
    if path != ("demo",):
        assert "--json Print machine-readable JSON" in words


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
    [
        ("bogus://somewhere", "'bogus'"),
        ("no-scheme-here", "expected scheme://"),
        ("bogus://user:s3cret@somewhere", "'bogus://user:***@somewhere'"),
    ],
)
def test_demo_rejects_a_bad_url_with_a_usage_error(url: str, fragment: str) -> None:
    result = invoke(main, "demo", "--url", url)
    assert_usage_error(result, "--url", fragment)
    assert "s3cret" not in result.output


def test_demo_in_a_process_of_its_own(redis_cli: Cli) -> None:
    done = redis_cli.process("demo", "--jobs", "30", "--workers", "2")
    assert done.returncode == 0, done.stderr
    summary = {name: int(value) for name, value in SUMMARY_ROW.findall(done.stdout)}
    assert summary["jobs"] == 30
    assert summary["completed"] + summary["dead"] == 30


def test_a_password_is_never_shown(secret_cli: Cli, cli_queue: str) -> None:
    shown = secret_cli.url.replace(":s3cret@", ":***@")
    assert "postgres:***@" in shown
    outputs = [
        secret_cli("enqueue", cli_queue, "1"),
        secret_cli("pause", cli_queue),
        secret_cli("stats", cli_queue),
    ]
    outputs += [secret_cli("purge", cli_queue, input="n\n"), secret_cli("stats", "--help")]
    assert [result.exit_code for result in outputs] == [0, 0, 0, 1, 0]
    assert shown in outputs[1].stdout
    assert shown in "".join(outputs[2].stdout.split())
    assert f"Delete every job in queue {cli_queue} at {shown}" in outputs[3].stderr
    assert all("s3cret" not in result.output for result in outputs)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql://postgres:s3cret@127.0.0.1:1/test", "postgresql://postgres:***@127.0.0.1:1/test"),
        ("redis://:s3cret@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
        ("bogus://user:s3cret@somewhere", "bogus://user:***@somewhere"),
    ],
)
def test_a_password_is_never_shown_in_errors(cli: Cli, url: str, redacted: str) -> None:
    for args in (["stats"], ["inspect", "email", "x"], ["limits", "get", "email"]):
        message = cli.error(*args, "--url", url)
        assert redacted in message
        assert "s3cret" not in message


def test_python_m_kanal_is_the_command_line(cli: Cli) -> None:
    done = cli.process("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"kanal, version {kanal.__version__}\n", "")


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
