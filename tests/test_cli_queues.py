"""``kanal stats``, ``pause``, ``resume``, ``purge`` and ``limits``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

import kanal
from kanal.cli import queues

if TYPE_CHECKING:
    from cli_support import Cli

pytest_plugins = ["cli_support"]

ZERO = {"scheduled": 0, "ready": 0, "leased": 0, "completed": 0, "dead": 0, "cancelled": 0, "total": 0}


def test_stats_limits_pause_resume_and_purge(any_cli: Cli, cli_queue: str) -> None:
    with any_cli.queue() as queue:
        queue.enqueue_many(cli_queue, ["a", kanal.JobSpec("b", key="k1"), kanal.JobSpec("c", delay=60)])

    limits = any_cli.json("limits", "set", cli_queue, "--key", "k1", "--rate", "2", "--burst", "3")
    assert limits == {
        "queue": cli_queue,
        "key": "k1",
        "rate": {"rate": 2.0, "burst": 3.0},
        "concurrency": None,
    }
    limits = any_cli.json("limits", "set", cli_queue, "--key", "k1", "--concurrency", "4")
    assert (limits["rate"], limits["concurrency"]) == ({"rate": 2.0, "burst": 3.0}, 4)
    assert any_cli.json("limits", "get", cli_queue, "--key", "k1") == limits
    assert any_cli.json("limits", "get", cli_queue) == {
        "queue": cli_queue,
        "key": None,
        "rate": None,
        "concurrency": None,
    }

    assert any_cli.json("pause", cli_queue) == {"queue": cli_queue, "paused": True}
    [stats] = any_cli.json("stats", cli_queue)
    assert stats == {
        "queue": cli_queue,
        "paused": True,
        **ZERO,
        "scheduled": 1,
        "ready": 2,
        "total": 3,
        "keys": {"k1": {**ZERO, "ready": 1, "total": 1}},
    }
    assert cli_queue in [s["queue"] for s in any_cli.json("stats")]
    resumed = any_cli("resume", cli_queue)
    assert resumed.exit_code == 0
    assert resumed.stdout == f"queue {cli_queue} at {any_cli.url} is running\n"
    assert any_cli.json("stats", cli_queue)[0]["paused"] is False

    assert any_cli.json("purge", cli_queue, "--state", "ready", "--yes") == {
        "queue": cli_queue,
        "purged": 2,
    }
    assert any_cli.json("stats", cli_queue)[0]["total"] == 1


def test_stats_table_shows_queues_keys_and_the_paused_flag(cli: Cli) -> None:
    with cli.queue() as queue:
        queue.enqueue_many("email", [kanal.JobSpec(n, key="tenant-1") for n in range(3)])
        queue.enqueue("reports", "r")
        queue.set_concurrency_limit("email", 1, key="tenant-1")
        queue.pause("reports")
    result = cli("stats")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"queuesat{cli.url}" in "".join(result.stdout.split())  # the title, wrapped to the table
    assert [line.split() for line in lines if line.startswith((" email", "   key", " reports"))] == [
        ["email", "0", "3", "0", "0", "0", "0", "3"],
        ["key", "tenant-1", "0", "3", "0", "0", "0", "0", "3"],
        ["reports", "(paused)", "0", "1", "0", "0", "0", "0", "1"],
    ]


def test_stats_watch_refreshes_until_ctrl_c(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:
            raise KeyboardInterrupt
        with cli.queue() as queue:
            queue.enqueue("email", len(naps))

    monkeypatch.setattr(queues, "sleep", nap)
    result = cli("stats", "email", "--watch", "0.5")
    assert result.exit_code == 0, result.output
    assert naps == [0.5, 0.5, 0.5]
    assert "every 0.5 s; Ctrl-C to stop" in result.stdout
    [row] = [line.split() for line in result.stdout.splitlines() if line.startswith(" email")]
    assert row == ["email", "0", "2", "0", "0", "0", "0", "2"]  # the last refresh is shown


def test_stats_of_no_queue_is_an_empty_list(cli: Cli) -> None:
    assert cli.json("stats") == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["stats", "--watch", "--json"], "--watch shows a live table"),
        (["stats", "--watch", "0"], "Invalid value for '--watch'"),
        (["limits", "set", "email"], "nothing to set"),
        (["limits", "set", "email", "--rate", "1", "--every", "2"], "either --rate or --every"),
        (["limits", "set", "email", "--clear-rate", "--rate", "1"], "--clear-rate cannot be combined"),
        (["limits", "set", "email", "--burst", "5"], "--burst goes with --rate or --every"),
        (["limits", "set", "email", "--rate", "0"], "Invalid value for '--rate'"),
        (["limits", "set", "email", "--rate", "inf"], "'inf' is not a finite number"),
        (["limits", "set", "email", "--rate", "1", "--burst", "0.5"], "Invalid value for '--burst'"),
        (["limits", "set", "email", "--every", "1e-320"], "rate must be a positive finite number"),
        (["limits", "set", "email", "--concurrency", "0"], "Invalid value for '--concurrency'"),
        (["limits", "set", "email", "--concurrency", "1", "--clear-concurrency"], "either --concurrency or"),
        (["purge", "email", "--state", "lost"], "Invalid value for '--state'"),
    ],
)
def test_misuse_is_a_usage_error_and_changes_nothing(cli: Cli, args: list[str], fragment: str) -> None:
    with cli.queue() as queue:
        queue.enqueue("email", 1)
    assert fragment in cli.usage_error(*args)
    with cli.queue() as queue:
        assert queue.get_rate_limit("email") is None
        assert queue.get_concurrency_limit("email") is None
        assert queue.stats("email").ready == 1


def test_limits_every_and_clear(cli: Cli) -> None:
    limits = cli.json("limits", "set", "email", "--key", "*", "--every", "4", "--concurrency", "2")
    assert (limits["key"], limits["rate"], limits["concurrency"]) == ("*", {"rate": 0.25, "burst": 1.0}, 2)
    shown = cli("limits", "get", "email", "--key", "*")
    assert shown.exit_code == 0
    assert "0.25/s, burst 1" in shown.stdout
    assert "limits of queue email, key *" in shown.stdout
    cleared = cli.json("limits", "set", "email", "--key", "*", "--clear-rate", "--clear-concurrency")
    assert (cleared["rate"], cleared["concurrency"]) == (None, None)
    assert "invalid key" in cli.error("limits", "set", "email", "--key", "a b", "--rate", "1")


def test_purge_asks_first(cli: Cli) -> None:
    with cli.queue() as queue:
        queue.enqueue_many("email", [kanal.JobSpec(1, key="a"), kanal.JobSpec(2, key="b")])
    declined = cli("purge", "email", "--key", "a", input="n\n")
    assert declined.exit_code == 1
    assert f"Delete every job of key a in queue email at {cli.url}? [y/N]" in declined.stderr
    assert "Aborted!" in declined.stderr
    with cli.queue() as queue:
        assert queue.stats("email").total == 2

    confirmed = cli("purge", "email", "--key", "a", "--json", input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert json.loads(confirmed.stdout) == {"queue": "email", "purged": 1}  # the prompt went to stderr
    assert cli("purge", "email", "--yes").stdout == "purged 1 job from queue email\n"


def test_stats_in_a_process_of_its_own(redis_cli: Cli, cli_queue: str) -> None:
    with redis_cli.queue() as queue:
        queue.enqueue(cli_queue, "x")
        queue.pause(cli_queue)
    done = redis_cli.process("stats", cli_queue, "--json")
    assert done.returncode == 0, done.stderr
    [stats] = json.loads(done.stdout)
    assert (stats["queue"], stats["ready"], stats["paused"]) == (cli_queue, 1, True)
