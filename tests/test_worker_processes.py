"""``kanal worker`` processes on every shared backend: killed, stopped, and three at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import kanal

HERE = Path(__file__).parent


class Workers:
    """Starts ``kanal worker worker_app`` processes for one test and reaps them."""

    def __init__(self, url: str, queue: str, log: Path) -> None:
        self.queue = queue
        self.log = log
        self.env = {**os.environ, "KANAL_URL": url, "KANAL_TEST_QUEUE": queue, "KANAL_TEST_LOG": str(log)}
        self.started: list[subprocess.Popen[str]] = []

    def start(self, *options: str, cron: str | None = None) -> subprocess.Popen[str]:
        env = {**self.env, **({"KANAL_TEST_CRON": cron} if cron else {})}
        command = [sys.executable, "-m", "kanal", "worker", "worker_app", "--poll", "0.1", "--json", *options]
        process = subprocess.Popen(
            command, cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.started.append(process)
        return process

    def lines(self, prefix: str) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [line.split() for line in self.log.read_text().splitlines() if line.startswith(prefix)]

    def wait_for(self, prefix: str, count: int, timeout: float = 20.0) -> list[list[str]]:
        deadline = time.monotonic() + timeout
        while len(found := self.lines(prefix)) < count:
            assert time.monotonic() < deadline, f"only {len(found)} of {count} {prefix!r} lines: {found}"
            for process in self.started:
                assert process.returncode is not None or process.poll() is None, process.communicate()[1]
            time.sleep(0.05)
        return found

    def kill(self, process: subprocess.Popen[str]) -> None:
        process.kill()
        process.communicate()

    def stop(self, process: subprocess.Popen[str], timeout: float = 15.0) -> tuple[int, str, str]:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=timeout)
        return process.returncode, out, err

    def reap(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.communicate()


@pytest.fixture
def workers(shared_url: str, queue_name: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(shared_url, queue_name, tmp_path / "runs.log")
    yield started
    started.reap()
    with kanal.connect(shared_url) as queue:
        queue.purge(queue_name)


def enqueue_holds(workers: Workers, *seconds: float) -> list[str]:
    with kanal.connect(workers.env["KANAL_URL"]) as queue:
        specs = [{"task": "hold", "args": [s], "kwargs": {}} for s in seconds]
        return [
            job.id
            for job in queue.enqueue_many(workers.queue, [kanal.JobSpec(p, lease_timeout=1.0) for p in specs])
        ]


def test_jobs_of_a_killed_worker_are_completed_by_another(workers: Workers) -> None:
    ids = enqueue_holds(workers, *[60.0] * 4)
    doomed = workers.start("--concurrency", "4")
    started = workers.wait_for("start", 4)
    assert {line[1] for line in started} == set(ids)
    workers.kill(doomed)
    rescuer = workers.start("--concurrency", "4")
    workers.wait_for("start", 8)
    with kanal.connect(workers.env["KANAL_URL"]) as queue:
        jobs = [queue.wait(workers.queue, job_id, timeout=20) for job_id in ids]
    code, out, _ = workers.stop(rescuer)
    assert code == 0
    assert [(job.state, job.attempts, job.result) for job in jobs] == [
        (kanal.JobState.COMPLETED, 2, "held 60.0")
    ] * 4
    pids = {line[3] for line in workers.lines("start")}
    assert pids == {str(doomed.pid), str(rescuer.pid)}
    assert json.loads(out)["completed"] == 4


def test_sigterm_finishes_running_jobs_and_gives_back_the_rest(workers: Workers) -> None:
    short_a, short_b, long, waiting_a, waiting_b = enqueue_holds(workers, 0.5, 0.5, 60.0, 0.1, 0.1)
    worker = workers.start("--concurrency", "3", "--grace", "2")
    workers.wait_for("start", 3)
    stopping = time.monotonic()
    code, out, err = workers.stop(worker)
    assert time.monotonic() - stopping < 8, "the worker waited for more than its grace period"
    assert code == 0, err
    assert json.loads(out) == {
        "completed": 2,
        "retried": 0,
        "dead": 0,
        "lost": 0,
        "given_back": 1,
        "processed": 3,
    }
    with kanal.connect(workers.env["KANAL_URL"]) as queue:
        jobs = [queue.get(workers.queue, job_id) for job_id in (short_a, short_b, long, waiting_a, waiting_b)]
    found = [job for job in jobs if job is not None]
    assert len(found) == 5
    summary = [(job.state.value, job.attempts, job.last_error) for job in found]
    shut_down = "the worker shut down before the job finished"
    assert summary == [
        ("completed", 1, None),
        ("completed", 1, None),
        ("ready", 1, shut_down),
        ("ready", 0, None),
        ("ready", 0, None),
    ], "the long job was not given back at once, or a waiting one was touched"
