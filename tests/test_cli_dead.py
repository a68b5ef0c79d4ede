"""``kanal dead list``, ``redrive`` and ``purge``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import kanal
from kanal.cli import dead

if TYPE_CHECKING:
    from cli_support import Cli

pytest_plugins = ["cli_support"]


def make_dead(queue: kanal.Queue, name: str, count: int) -> list[str]:
    """Enqueue ``count`` jobs and fail each; their ids, oldest first."""
    jobs = queue.enqueue_many(name, [kanal.JobSpec({"row": n}, id=f"row-{n}") for n in range(count)])
    for lease in queue.dequeue(name, limit=count):
        queue.fail(lease, f"row {lease.payload['row']} is invalid")
    return [job.id for job in jobs]


def test_dead_list_redrive_and_purge(any_cli: Cli, cli_queue: str) -> None:
    with any_cli.queue() as queue:
        make_dead(queue, cli_queue, 4)
    listed = any_cli.json("dead", "list", cli_queue)
    assert [(j["id"], j["state"], j["last_error"]) for j in listed] == [
        (f"row-{n}", "dead", f"row {n} is invalid") for n in range(4)
    ]
    assert [j["id"] for j in any_cli.json("dead", "list", cli_queue, "--limit", "2", "--offset", "1")] == [
        "row-1",
        "row-2",
    ]
    table = any_cli("dead", "list", cli_queue)
    assert table.exit_code == 0
    assert "row-3" in table.stdout
    assert "row 3 is invalid" in table.stdout

    assert any_cli.json("dead", "redrive", cli_queue, "row-0", "row-9") == {
        "queue": cli_queue,
        "redriven": 1,
    }
    assert any_cli.json("dead", "redrive", cli_queue, "row-0") == {"queue": cli_queue, "redriven": 0}
    redriven = any_cli("dead", "redrive", cli_queue, "--limit", "1")
    assert redriven.stdout == f"redrove 1 dead job of queue {cli_queue} back to ready\n"

    declined = any_cli("dead", "purge", cli_queue, input="n\n")
    assert declined.exit_code == 1
    assert "Aborted!" in declined.stderr
    assert f"Delete the dead jobs in queue {cli_queue} at {any_cli.url}? [y/N]" in declined.stderr
    assert (
        any_cli("dead", "purge", cli_queue, input="y\n").stdout == f"purged 2 jobs from queue {cli_queue}\n"
    )
    with any_cli.queue() as queue:
        stats = queue.stats(cli_queue)
        assert (stats.ready, stats.dead, stats.total) == (2, 0, 2)
        redriven_job = queue.get(cli_queue, "row-0")
    assert redriven_job is not None
    assert (redriven_job.state, redriven_job.attempts) == ("ready", 0)  # a redriven job starts afresh


def test_redrive_all_and_limit_go_in_batches(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dead, "MAX_BATCH", 2)
    with cli.queue() as queue:
        make_dead(queue, "import", 7)
    assert cli.json("dead", "redrive", "import", "--limit", "3")["redriven"] == 3
    assert cli.json("dead", "redrive", "import", "--all")["redriven"] == 4
    assert cli.json("dead", "redrive", "import", "--all")["redriven"] == 0
    with cli.queue() as queue:
        for lease in queue.dequeue("import", limit=7):
            queue.fail(lease, "again")
    assert cli.json("dead", "redrive", "import", *(f"row-{n}" for n in range(7)))["redriven"] == 7


@pytest.mark.parametrize(
    "args",
    [[], ["row-0", "--all"], ["--all", "--limit", "2"], ["row-0", "--limit", "1"], ["--limit", "0"]],
)
def test_redrive_needs_exactly_one_selection(cli: Cli, args: list[str]) -> None:
    with cli.queue() as queue:
        make_dead(queue, "import", 1)
    assert "Usage: kanal dead redrive" in cli.usage_error("dead", "redrive", "import", *args)
    with cli.queue() as queue:
        assert queue.stats("import").dead == 1


def test_redrive_checks_every_id_before_the_first_batch(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dead, "MAX_BATCH", 1)
    with cli.queue() as queue:
        make_dead(queue, "import", 2)
    assert cli.error("dead", "redrive", "import", "row-0", "row 1").startswith("invalid job id 'row 1'")
    with cli.queue() as queue:
        assert queue.stats("import").dead == 2


def test_dead_purge_asks_in_a_process_of_its_own(redis_cli: Cli, cli_queue: str) -> None:
    with redis_cli.queue() as queue:
        make_dead(queue, cli_queue, 1)
    declined = redis_cli.process("dead", "purge", cli_queue, input="n\n")
    assert (declined.returncode, declined.stdout) == (1, "")
    assert declined.stderr.endswith("[y/N]: Aborted!\n")
    with redis_cli.queue() as queue:
        assert queue.stats(cli_queue).dead == 1
