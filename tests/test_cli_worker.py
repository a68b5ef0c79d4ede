"""``kanal worker`` through click's test runner: loading the app, options, --json, misuse.

Real worker processes (kill, SIGTERM, cron across processes) are in test_worker_processes.py.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import kanal
from kanal.cli import main

HERE = Path(__file__).parent


@pytest.fixture
def worker_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test app (tests/worker_app.py) on a SQLite file, imported afresh."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    monkeypatch.chdir(HERE)
    monkeypatch.setenv("KANAL_URL", url)
    monkeypatch.setenv("KANAL_TEST_QUEUE", "cli-worker")
    monkeypatch.setenv("KANAL_TEST_LOG", str(tmp_path / "runs.log"))
    monkeypatch.delitem(sys.modules, "worker_app", raising=False)
    yield url
    sys.modules.pop("worker_app", None)


def test_a_burst_worker_runs_the_jobs_and_reports_json(worker_env: str) -> None:
    with kanal.connect(worker_env) as queue:
        queue.enqueue_many("cli-worker", [{"task": "hold", "args": [0.01], "kwargs": {}}] * 3)
        queue.enqueue("cli-worker", {"task": "missing"})
    result = CliRunner().invoke(
        main, ["worker", "worker_app:app", "--burst", "--json", "--log-level", "error"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "completed": 3,
        "retried": 0,
        "dead": 1,
        "lost": 0,
        "given_back": 0,
        "processed": 4,
    }
    with kanal.connect(worker_env) as queue:
        (dead,) = queue.dead_letters("cli-worker")
    assert dead.last_error is not None
    assert "unknown task 'missing'" in dead.last_error


def test_json_logs_carry_the_job_fields(worker_env: str) -> None:
    with kanal.connect(worker_env) as queue:
        job = queue.enqueue("cli-worker", {"task": "hold", "args": [0], "kwargs": {}})
    result = CliRunner().invoke(main, ["worker", "worker_app", "--burst", "--log-format", "json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines()]
    started = [r for r in records if r["message"].endswith(": started")]
    assert started == [
        {
            "time": started[0]["time"],
            "level": "INFO",
            "logger": "kanal.worker",
            "message": f"hold cli-worker/{job.id} #1: started",
            "job_id": job.id,
            "queue": "cli-worker",
            "task": "hold",
            "attempt": 1,
        }
    ]


@pytest.mark.parametrize(
    ("app_path", "message"),
    [
        ("no_such_module", "cannot import 'no_such_module'"),
        ("worker_app:nothing", "worker_app:nothing is not a kanal.App (got NoneType)"),
        ("worker_app:note", "worker_app:note is not a kanal.App (got function)"),
    ],
)
def test_an_app_that_cannot_be_loaded_is_a_usage_error(worker_env: str, app_path: str, message: str) -> None:
    result = CliRunner().invoke(main, ["worker", app_path, "--burst"])
    assert result.exit_code == 2
    assert message in result.output


def test_bad_options_are_usage_errors(worker_env: str) -> None:
    result = CliRunner().invoke(main, ["worker", "worker_app", "--concurrency", "0"])
    assert result.exit_code == 2
    assert "--concurrency" in result.output
    result = CliRunner().invoke(main, ["worker", "worker_app", "--queue", "bad name", "--burst"])
    assert result.exit_code == 1
    assert "invalid queue name 'bad name'" in result.output


def test_an_unreachable_backend_is_one_line_without_the_password(worker_env: str) -> None:
    url = "postgresql://kanal:s3cret@127.0.0.1:1/nowhere"
    result = CliRunner().invoke(main, ["worker", "worker_app", "--burst", "--url", url])
    assert result.exit_code == 1
    assert "s3cret" not in result.output
    assert result.output.startswith("Error: the database at postgresql://kanal:***@127.0.0.1:1/nowhere")
    assert result.output.count("\n") == 1


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(main, ["worker", "--help"])
    assert result.exit_code == 0
    assert "kanal worker myapp.tasks:app --concurrency 20" in result.output


def test_url_serves_an_app_made_without_one(worker_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KANAL_URL")
    with kanal.connect(worker_env) as queue:
        queue.enqueue("cli-worker", {"task": "hold", "args": [0], "kwargs": {}})
    result = CliRunner().invoke(main, ["worker", "worker_app", "--burst", "--json", "--url", worker_env])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["completed"] == 1
