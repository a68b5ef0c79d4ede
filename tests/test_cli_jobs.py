"""``kanal enqueue``, ``inspect``, ``jobs`` and ``cancel``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cli_support import Cli

pytest_plugins = ["cli_support"]


def test_enqueue_inspect_list_and_cancel(any_cli: Cli, cli_queue: str) -> None:
    options = ["--id", "job-1", "--delay", "60", "--priority", "-3", "--key", "user-42"]
    options += ["--max-attempts", "2", "--lease-timeout", "9.5"]
    job = any_cli.json("enqueue", cli_queue, '{"to": "a@example.com"}', *options)
    assert {name: job[name] for name in ("id", "queue", "payload", "state", "priority", "key")} == {
        "id": "job-1",
        "queue": cli_queue,
        "payload": {"to": "a@example.com"},
        "state": "scheduled",
        "priority": -3,
        "key": "user-42",
    }
    assert (job["attempts"], job["max_attempts"], job["lease_timeout"]) == (0, 2, 9.5)
    run_at, enqueued_at = datetime.fromisoformat(job["run_at"]), datetime.fromisoformat(job["enqueued_at"])
    assert abs(run_at - enqueued_at - timedelta(seconds=60)) < timedelta(seconds=1)
    assert run_at.utcoffset() == timedelta(0)
    assert job["result"] is None
    assert job["finished_at"] is None

    plain = any_cli("enqueue", cli_queue, '"second"')
    assert plain.exit_code == 0, plain.output
    second_id = plain.stdout.strip()
    assert plain.stdout == f"{second_id}\n"
    assert len(second_id) == 26

    assert any_cli.json("inspect", cli_queue, "job-1") == job
    shown = any_cli("inspect", cli_queue, second_id)
    assert shown.exit_code == 0, shown.output
    for text in (second_id, '"second"', "ready", "max_attempts", "enqueued_at"):
        assert text in shown.stdout

    listed = any_cli.json("jobs", cli_queue)
    assert [j["id"] for j in listed] == ["job-1", second_id]
    assert [j["id"] for j in any_cli.json("jobs", cli_queue, "--state", "ready")] == [second_id]
    assert [j["id"] for j in any_cli.json("jobs", cli_queue, "--key", "user-42")] == ["job-1"]
    assert [j["id"] for j in any_cli.json("jobs", cli_queue, "--limit", "1", "--offset", "1")] == [second_id]
    table = any_cli("jobs", cli_queue)
    assert table.exit_code == 0
    assert "job-1" in table.stdout
    assert "user-42" in table.stdout
    assert "scheduled" in table.stdout

    cancelled = any_cli.json("cancel", cli_queue, "job-1")
    assert (cancelled["id"], cancelled["state"]) == ("job-1", "cancelled")
    with any_cli.queue() as queue:
        [lease] = queue.dequeue(cli_queue)
    assert "is leased" in any_cli.error("cancel", cli_queue, second_id)
    forced = any_cli("cancel", cli_queue, second_id, "--force")
    assert forced.exit_code == 0, forced.output
    assert forced.stdout == f"job {second_id} in queue {cli_queue} is cancelled\n"
    with any_cli.queue() as queue:
        stopped = queue.get(cli_queue, lease.id)
    assert stopped is not None
    assert stopped.state == "cancelled"


def test_inspect_of_a_missing_job_is_one_line_and_status_1(cli: Cli) -> None:
    assert cli.error("inspect", "email", "nope") == "no job 'nope' in queue 'email'"
    assert cli.error("cancel", "email", "nope") == "no job 'nope' in queue 'email'"


def test_a_kanal_error_is_one_line_and_status_1(cli: Cli) -> None:
    assert cli.error("enqueue", "bad name!", "1").startswith("invalid queue name 'bad name!'")
    assert cli.error("enqueue", "email", "1", "--key", "no spaces").startswith("invalid key 'no spaces'")
    assert cli.error("stats", "--url", "bogus://somewhere").startswith("no kanal backend handles 'bogus'")
    with cli.queue() as queue:
        assert queue.queues() == []


def test_enqueue_builds_a_task_call(cli: Cli) -> None:
    args = ["--task", "reports.weekly", "--arg", "2024", "--arg", '["a", "b"]']
    job = cli.json("enqueue", "reports", *args, "--kwarg", 'fmt="pdf"', "--kwarg", "pages=3")
    assert job["payload"] == {
        "task": "reports.weekly",
        "args": [2024, ["a", "b"]],
        "kwargs": {"fmt": "pdf", "pages": 3},
    }
    assert cli.json("enqueue", "reports", "--task", "ping")["payload"] == {
        "task": "ping",
        "args": [],
        "kwargs": {},
    }


def test_enqueue_reads_one_value_or_one_per_line_from_stdin(cli: Cli) -> None:
    one = cli.json("enqueue", "email", "-", input='{\n  "to": "a@example.com"\n}\n')
    assert one["payload"] == {"to": "a@example.com"}

    many = cli("enqueue", "bulk", "-", "--lines", "--key", "k", input='{"n": 1}\n\n"two"\n3\n')
    assert many.exit_code == 0, many.output
    ids = many.stdout.split()
    assert many.stderr == ""  # no progress bar where stderr is not a terminal
    jobs = cli.json("jobs", "bulk")
    assert [j["id"] for j in jobs] == ids
    assert [(j["payload"], j["key"]) for j in jobs] == [({"n": 1}, "k"), ("two", "k"), (3, "k")]


def test_enqueue_lines_go_in_batches_with_a_progress_bar(cli: Cli) -> None:
    lines = "".join(f'{{"n": {n}}}\n' for n in range(1500))
    result = cli("enqueue", "bulk", "-", "--lines", "--json", input=lines, env={"FORCE_COLOR": "1"})
    assert result.exit_code == 0, result.output
    jobs = json.loads(result.stdout)
    assert [job["payload"]["n"] for job in jobs] == list(range(1500))
    assert "enqueueing to bulk" in result.stderr
    assert "1500/1500" in result.stderr
    with cli.queue() as queue:
        assert queue.stats("bulk").ready == 1500


@pytest.mark.parametrize(
    ("args", "stdin", "fragments"),
    [
        (["hello"], None, ["Invalid value for PAYLOAD", "not valid JSON", "a string needs quotes"]),
        (["NaN"], None, ["NaN is not valid JSON"]),
        (['{"a": Infinity}'], None, ["Infinity is not valid JSON"]),
        (["-"], "{oops", ["PAYLOAD (stdin)", "not valid JSON"]),
        (["-", "--lines"], '{"n": 1}\n\n{"n": 3\n', ["PAYLOAD (stdin line 3)"]),
        (["1", "--lines"], None, ["--lines reads stdin"]),
        (["-", "--lines", "--id", "x"], "1\n", ["--id names one job"]),
        ([], None, ["missing PAYLOAD"]),
        (["1", "--task", "t"], None, ["either --task or a PAYLOAD"]),
        (["1", "--arg", "2"], None, ["--arg and --kwarg go with --task"]),
        (["--task", "t", "--arg", "nope"], None, ["Invalid value for --arg", "not valid JSON"]),
        (["--task", "t", "--kwarg", "nope"], None, ["'nope' is not NAME=JSON"]),
        (["--task", "no spaces"], None, ["Invalid value for --task: 'no spaces'"]),
        (["--task", "t", "--kwarg", "a=1", "--kwarg", "a=2"], None, ["'a' is given twice"]),
        (["1", "--delay", "-1"], None, ["Invalid value for '--delay'"]),
        (["1", "--delay", "nan"], None, ["'nan' is not a finite number"]),
        (["1", "--lease-timeout", "0"], None, ["Invalid value for '--lease-timeout'"]),
        (["1", "--max-attempts", "0"], None, ["Invalid value for '--max-attempts'"]),
        (["1", "--priority", str(2**31)], None, ["Invalid value for '--priority'"]),
    ],
)
def test_bad_input_is_a_usage_error_and_writes_nothing(
    cli: Cli, args: list[str], stdin: str | None, fragments: list[str]
) -> None:
    output = cli.usage_error("enqueue", "email", *args, input=stdin)
    for fragment in fragments:
        assert fragment in output
    with cli.queue() as queue:
        assert queue.queues() == []


def test_an_oversized_line_rejects_the_whole_input(cli: Cli) -> None:
    lines = "1\n" * 1500 + json.dumps("x" * (1024 * 1024)) + "\n"
    output = cli.usage_error("enqueue", "bulk", "-", "--lines", input=lines)
    assert "payload 1501 is 1048578 bytes encoded, over the limit of 1048576" in output
    with cli.queue() as queue:
        assert queue.queues() == []


def test_max_attempts_may_be_unlimited(cli: Cli) -> None:
    assert cli.json("enqueue", "email", "1", "--max-attempts", "unlimited")["max_attempts"] is None


def test_enqueue_in_a_process_of_its_own(redis_cli: Cli, cli_queue: str) -> None:
    done = redis_cli.process(
        "enqueue", cli_queue, "-", "--lines", "--priority", "2", input='{"n": 1}\n"two"\n'
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    with redis_cli.queue() as queue:
        jobs = queue.list_jobs(cli_queue)
    assert done.stdout == "".join(f"{job.id}\n" for job in jobs)
    assert [(job.payload, job.priority) for job in jobs] == [({"n": 1}, 2), ("two", 2)]
